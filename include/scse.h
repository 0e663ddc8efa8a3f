/*
 * scse.h — C ABI of libscse: the Concurrent Spatial and Channel Squeeze &
 * Excitation block (scSE, Roy et al., MICCAI 2018) and its two parts, the
 * channel gate (cSE, the SENet block) and the spatial gate (sSE).
 *
 * This header is the single source of truth for the ABI. The library
 * implements every declaration below, and its implementation is checked
 * against this file by the compiler.
 *
 * Conventions
 * - Every tensor is a dense float32 buffer. An activation tensor has `batch`
 *   samples, `channels` channels and `spatial` positions (the product of the
 *   1 to 3 spatial extents). With SCSE_LAYOUT_CHANNELS_FIRST element
 *   (n, c, s) is at index (n * channels + c) * spatial + s (PyTorch's
 *   default, "NCHW"); with SCSE_LAYOUT_CHANNELS_LAST it is at index
 *   (n * spatial + s) * channels + c ("NHWC", PyTorch's channels_last).
 * - Matrices are row-major and use PyTorch's nn.Linear layout [out, in].
 * - Every entry point is stateless and reentrant. It validates every argument
 *   before it touches any output; on any status other than SCSE_STATUS_SUCCESS
 *   no output byte has been written.
 * - Buffers need only float alignment (4 bytes); no stronger alignment is
 *   assumed.
 * - The only process-wide setting is the thread count (scse_set_num_threads),
 *   held atomically. Results are bitwise identical for every thread count.
 */
#ifndef SCSE_H
#define SCSE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this header; scse_version() reports the library's. */
#define SCSE_VERSION_MAJOR 0
#define SCSE_VERSION_MINOR 1
#define SCSE_VERSION_PATCH 0

/*
 * Symbol visibility: the library is built with hidden visibility by default
 * and exports exactly the functions marked SCSE_API.
 */
#if defined(_WIN32)
#  define SCSE_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#  define SCSE_API __attribute__((visibility("default")))
#else
#  define SCSE_API
#endif

/** Result of every fallible call. 0 means success. */
typedef enum scse_status {
  /** The call succeeded and wrote its outputs. */
  SCSE_STATUS_SUCCESS = 0,
  /** A required pointer argument (input, output or parameter) was NULL. */
  SCSE_STATUS_NULL_POINTER = 1,
  /** A size was out of range: batch, channels, spatial or a spatial gate's
   *  weight_rows below 1, or a channel gate's hidden width below 0. */
  SCSE_STATUS_INVALID_SHAPE = 2,
  /** A buffer's element count or byte count does not fit in int64_t or in
   *  the address space. */
  SCSE_STATUS_SIZE_OVERFLOW = 3,
  /** An enum argument (layout or aggregate) had an unknown value. */
  SCSE_STATUS_INVALID_ENUM = 4,
  /** The arguments are inconsistent: a gradient buffer was given for a
   *  parameter the gate does not have (e.g. a bias gradient for a gate
   *  without bias), or a thread count was negative. */
  SCSE_STATUS_INVALID_ARGUMENT = 5,
  /** Buffers overlap in a way this header does not allow (see each call's
   *  aliasing rule). */
  SCSE_STATUS_ALIASING = 6,
  /** The scratch memory for the call could not be allocated. */
  SCSE_STATUS_OUT_OF_MEMORY = 7
} scse_status;

/** Memory order of an activation tensor (see Conventions). */
typedef enum scse_layout {
  /** (N, C, *spatial): PyTorch's contiguous default. */
  SCSE_LAYOUT_CHANNELS_FIRST = 0,
  /** (N, *spatial, C): PyTorch's channels_last / channels_last_3d. */
  SCSE_LAYOUT_CHANNELS_LAST = 1
} scse_layout;

/** How scSE combines the channel-gated and the spatially gated tensors. */
typedef enum scse_aggregate {
  /** y = cSE(x) + sSE(x): the MICCAI paper. */
  SCSE_AGGREGATE_SUM = 0,
  /** y = max(cSE(x), sSE(x)) element-wise; in backward equal values split
   *  the gradient in half, as torch.max does. */
  SCSE_AGGREGATE_MAX = 1
} scse_aggregate;

/**
 * Parameters of the channel gate (cSE):
 *   m[n,c] = mean_s x[n,c,s]
 *   h      = relu(fc1_weight m + fc1_bias)          (hidden values)
 *   g[n,c] = sigmoid(fc2_weight h + fc2_bias)
 *   y      = x * g[n,c]
 * With hidden == 0 the gate is sigmoid(fc2_bias) (sigmoid(0) = 0.5 without
 * bias), as PyTorch computes a zero-width layer.
 */
typedef struct scse_channel_gate {
  /** Width of the bottleneck, >= 0 (channels // reduction_ratio in the
   *  reference modules). */
  int64_t hidden;
  /** [hidden, channels]; may be NULL only when hidden == 0. */
  const float *fc1_weight;
  /** [hidden], or NULL for a layer without bias. */
  const float *fc1_bias;
  /** [channels, hidden]; may be NULL only when hidden == 0. */
  const float *fc2_weight;
  /** [channels], or NULL for a layer without bias. */
  const float *fc2_bias;
} scse_channel_gate;

/**
 * Parameters of the spatial gate (sSE):
 *   w      = mean over the weight_rows rows of weight       ([channels])
 *   g[n,s] = sigmoid(sum_c w[c] x[n,c,s] + bias)
 *   y      = x * g[n,s]
 * weight_rows == 1 is the 1x1 convolution of the reference module; K > 1 is
 * its few-shot form, where K conditioner weights (K, C, 1, 1) are averaged
 * (and the reference passes no bias).
 */
typedef struct scse_spatial_gate {
  /** Number of weight rows K, >= 1. */
  int64_t weight_rows;
  /** [weight_rows, channels]. */
  const float *weight;
  /** [1], or NULL for no bias. */
  const float *bias;
} scse_spatial_gate;

/**
 * Gradient outputs for a channel gate, same shapes as scse_channel_gate.
 * Each pointer may be NULL when that gradient is not wanted; a non-NULL
 * pointer for a bias the gate does not have is SCSE_STATUS_INVALID_ARGUMENT.
 * With hidden == 0 the two weight gradients are empty and ignored.
 */
typedef struct scse_channel_gate_grad {
  float *fc1_weight_out;
  float *fc1_bias_out;
  float *fc2_weight_out;
  float *fc2_bias_out;
} scse_channel_gate_grad;

/**
 * Gradient outputs for a spatial gate, same shapes as scse_spatial_gate
 * (weight_out is [weight_rows, channels]). NULL means "not wanted"; a
 * non-NULL bias_out for a gate without bias is SCSE_STATUS_INVALID_ARGUMENT.
 */
typedef struct scse_spatial_gate_grad {
  float *weight_out;
  float *bias_out;
} scse_spatial_gate_grad;

/**
 * @brief Version of the library at run time, "MAJOR.MINOR.PATCH".
 * @return A static NUL-terminated string; never NULL.
 */
SCSE_API const char *scse_version(void);

/**
 * @brief A short English description of a status code.
 * @param[in] status Any value; unknown values get a generic message.
 * @return A static NUL-terminated string; never NULL.
 */
SCSE_API const char *scse_status_string(scse_status status);

/**
 * @brief Sets how many threads later calls may use.
 * @param[in] num_threads >= 1 for that many threads, 0 for the default: the
 *            SCSE_NUM_THREADS environment variable when it holds a positive
 *            integer, else the number of online processors.
 * @retval SCSE_STATUS_SUCCESS          The setting was stored.
 * @retval SCSE_STATUS_INVALID_ARGUMENT num_threads < 0; nothing changed.
 */
SCSE_API scse_status scse_set_num_threads(int32_t num_threads);

/**
 * @brief The number of threads calls will use (the resolved default when
 *        none was set), always >= 1.
 */
SCSE_API int32_t scse_get_num_threads(void);

/**
 * @brief The instruction set of the kernels this process runs: "avx2"
 *        (x86-64-v3: AVX2 and FMA) or "baseline" (any x86-64 CPU; NEON on
 *        aarch64).
 *
 * The library holds one variant of its kernels per instruction set and
 * picks, once per process, the strongest one the CPU supports. The
 * SCSE_CPU_ISA environment variable ("baseline" or "avx2"), read at that
 * moment, caps the choice; a variant the CPU lacks falls back to the best
 * one it has, and an unknown value caps nothing. Results of the variants
 * differ by rounding only (the avx2 variant fuses multiply-adds).
 *
 * @return A static NUL-terminated string; never NULL.
 */
SCSE_API const char *scse_cpu_isa(void);

/**
 * @brief Channel gate (cSE) forward: y = x * sigmoid(fc2(relu(fc1(mean(x))))).
 *
 * Aliasing: y_out may be x itself (in place); any other overlap between
 * y_out and an input is SCSE_STATUS_ALIASING.
 *
 * @param[in]  batch    N >= 1.
 * @param[in]  channels C >= 1.
 * @param[in]  spatial  S >= 1, product of the spatial extents.
 * @param[in]  layout   Memory order of x and y_out.
 * @param[in]  gate     Channel gate parameters.
 * @param[in]  x        Input, N*C*S floats.
 * @param[out] y_out    Output, N*C*S floats.
 * @retval SCSE_STATUS_SUCCESS       y_out written.
 * @retval SCSE_STATUS_NULL_POINTER  gate, x, y_out or a required weight is NULL.
 * @retval SCSE_STATUS_INVALID_SHAPE A size is out of range.
 * @retval SCSE_STATUS_SIZE_OVERFLOW A buffer size overflows.
 * @retval SCSE_STATUS_INVALID_ENUM  Unknown layout.
 * @retval SCSE_STATUS_ALIASING      Disallowed overlap.
 * @retval SCSE_STATUS_OUT_OF_MEMORY Scratch allocation failed.
 */
SCSE_API scse_status scse_cse_forward(int64_t batch, int64_t channels, int64_t spatial,
                                      scse_layout layout, const scse_channel_gate *gate,
                                      const float *x, float *y_out);

/**
 * @brief Spatial gate (sSE) forward: y = x * sigmoid(w . x[n,:,s] + b).
 *
 * Aliasing: y_out may be x itself (in place); any other overlap between
 * y_out and an input is SCSE_STATUS_ALIASING.
 *
 * @param[in]  batch    N >= 1.
 * @param[in]  channels C >= 1.
 * @param[in]  spatial  S >= 1.
 * @param[in]  layout   Memory order of x and y_out.
 * @param[in]  gate     Spatial gate parameters.
 * @param[in]  x        Input, N*C*S floats.
 * @param[out] y_out    Output, N*C*S floats.
 * @retval SCSE_STATUS_SUCCESS       y_out written.
 * @retval SCSE_STATUS_NULL_POINTER  gate, gate->weight, x or y_out is NULL.
 * @retval SCSE_STATUS_INVALID_SHAPE A size is out of range.
 * @retval SCSE_STATUS_SIZE_OVERFLOW A buffer size overflows.
 * @retval SCSE_STATUS_INVALID_ENUM  Unknown layout.
 * @retval SCSE_STATUS_ALIASING      Disallowed overlap.
 * @retval SCSE_STATUS_OUT_OF_MEMORY Scratch allocation failed.
 */
SCSE_API scse_status scse_sse_forward(int64_t batch, int64_t channels, int64_t spatial,
                                      scse_layout layout, const scse_spatial_gate *gate,
                                      const float *x, float *y_out);

/**
 * @brief scSE forward: y = cSE(x) + sSE(x), or their element-wise maximum.
 *
 * Aliasing: y_out may be x itself (in place); any other overlap between
 * y_out and an input is SCSE_STATUS_ALIASING.
 *
 * @param[in]  batch        N >= 1.
 * @param[in]  channels     C >= 1.
 * @param[in]  spatial      S >= 1.
 * @param[in]  layout       Memory order of x and y_out.
 * @param[in]  aggregate    SCSE_AGGREGATE_SUM or SCSE_AGGREGATE_MAX.
 * @param[in]  channel_gate cSE parameters.
 * @param[in]  spatial_gate sSE parameters.
 * @param[in]  x            Input, N*C*S floats.
 * @param[out] y_out        Output, N*C*S floats.
 * @retval SCSE_STATUS_SUCCESS       y_out written.
 * @retval SCSE_STATUS_NULL_POINTER  A gate, a required weight, x or y_out is NULL.
 * @retval SCSE_STATUS_INVALID_SHAPE A size is out of range.
 * @retval SCSE_STATUS_SIZE_OVERFLOW A buffer size overflows.
 * @retval SCSE_STATUS_INVALID_ENUM  Unknown layout or aggregate.
 * @retval SCSE_STATUS_ALIASING      Disallowed overlap.
 * @retval SCSE_STATUS_OUT_OF_MEMORY Scratch allocation failed.
 */
SCSE_API scse_status scse_scse_forward(int64_t batch, int64_t channels, int64_t spatial,
                                       scse_layout layout, scse_aggregate aggregate,
                                       const scse_channel_gate *channel_gate,
                                       const scse_spatial_gate *spatial_gate,
                                       const float *x, float *y_out);

/**
 * @brief Channel gate (cSE) backward: gradients of sum(grad_y * y) with
 *        respect to x and to the gate's parameters, as PyTorch autograd
 *        computes them (ReLU passes no gradient at 0).
 *
 * Aliasing: grad_x_out may be grad_y itself (in place). No other output may
 * overlap any input or another output.
 *
 * @param[in]  batch      N >= 1.
 * @param[in]  channels   C >= 1.
 * @param[in]  spatial    S >= 1.
 * @param[in]  layout     Memory order of x, grad_y and grad_x_out.
 * @param[in]  gate       Channel gate parameters (as in forward).
 * @param[in]  x          Forward input, N*C*S floats.
 * @param[in]  grad_y     Gradient of the loss with respect to y, N*C*S floats.
 * @param[out] grad_x_out Gradient with respect to x, N*C*S floats.
 * @param[out] grad_out   Parameter gradients (overwritten, not accumulated);
 *                        NULL when none are wanted.
 * @retval SCSE_STATUS_SUCCESS          Outputs written.
 * @retval SCSE_STATUS_NULL_POINTER     gate, a required weight, x, grad_y or grad_x_out is NULL.
 * @retval SCSE_STATUS_INVALID_SHAPE    A size is out of range.
 * @retval SCSE_STATUS_SIZE_OVERFLOW    A buffer size overflows.
 * @retval SCSE_STATUS_INVALID_ENUM     Unknown layout.
 * @retval SCSE_STATUS_INVALID_ARGUMENT A bias gradient for a gate without bias.
 * @retval SCSE_STATUS_ALIASING         Disallowed overlap.
 * @retval SCSE_STATUS_OUT_OF_MEMORY    Scratch allocation failed.
 */
SCSE_API scse_status scse_cse_backward(int64_t batch, int64_t channels, int64_t spatial,
                                       scse_layout layout, const scse_channel_gate *gate,
                                       const float *x, const float *grad_y, float *grad_x_out,
                                       const scse_channel_gate_grad *grad_out);

/**
 * @brief Spatial gate (sSE) backward; see scse_cse_backward. The weight
 *        gradient has the shape [weight_rows, channels] of the weight: each
 *        row receives 1/weight_rows of the effective weight's gradient.
 *
 * Aliasing: grad_x_out may be grad_y itself (in place). No other output may
 * overlap any input or another output.
 *
 * @param[in]  batch      N >= 1.
 * @param[in]  channels   C >= 1.
 * @param[in]  spatial    S >= 1.
 * @param[in]  layout     Memory order of x, grad_y and grad_x_out.
 * @param[in]  gate       Spatial gate parameters (as in forward).
 * @param[in]  x          Forward input, N*C*S floats.
 * @param[in]  grad_y     Gradient with respect to y, N*C*S floats.
 * @param[out] grad_x_out Gradient with respect to x, N*C*S floats.
 * @param[out] grad_out   Parameter gradients, or NULL.
 * @retval SCSE_STATUS_SUCCESS          Outputs written.
 * @retval SCSE_STATUS_NULL_POINTER     gate, gate->weight, x, grad_y or grad_x_out is NULL.
 * @retval SCSE_STATUS_INVALID_SHAPE    A size is out of range.
 * @retval SCSE_STATUS_SIZE_OVERFLOW    A buffer size overflows.
 * @retval SCSE_STATUS_INVALID_ENUM     Unknown layout.
 * @retval SCSE_STATUS_INVALID_ARGUMENT A bias gradient for a gate without bias.
 * @retval SCSE_STATUS_ALIASING         Disallowed overlap.
 * @retval SCSE_STATUS_OUT_OF_MEMORY    Scratch allocation failed.
 */
SCSE_API scse_status scse_sse_backward(int64_t batch, int64_t channels, int64_t spatial,
                                       scse_layout layout, const scse_spatial_gate *gate,
                                       const float *x, const float *grad_y, float *grad_x_out,
                                       const scse_spatial_gate_grad *grad_out);

/**
 * @brief scSE backward; see scse_cse_backward. With SCSE_AGGREGATE_MAX the
 *        gradient goes to the larger branch and is split in half on ties.
 *
 * Aliasing: grad_x_out may be grad_y itself (in place). No other output may
 * overlap any input or another output.
 *
 * @param[in]  batch             N >= 1.
 * @param[in]  channels          C >= 1.
 * @param[in]  spatial           S >= 1.
 * @param[in]  layout            Memory order of x, grad_y and grad_x_out.
 * @param[in]  aggregate         As in forward.
 * @param[in]  channel_gate      cSE parameters.
 * @param[in]  spatial_gate      sSE parameters.
 * @param[in]  x                 Forward input, N*C*S floats.
 * @param[in]  grad_y            Gradient with respect to y, N*C*S floats.
 * @param[out] grad_x_out        Gradient with respect to x, N*C*S floats.
 * @param[out] channel_grad_out  cSE parameter gradients, or NULL.
 * @param[out] spatial_grad_out  sSE parameter gradients, or NULL.
 * @retval SCSE_STATUS_SUCCESS          Outputs written.
 * @retval SCSE_STATUS_NULL_POINTER     A gate, a required weight, x, grad_y or grad_x_out is NULL.
 * @retval SCSE_STATUS_INVALID_SHAPE    A size is out of range.
 * @retval SCSE_STATUS_SIZE_OVERFLOW    A buffer size overflows.
 * @retval SCSE_STATUS_INVALID_ENUM     Unknown layout or aggregate.
 * @retval SCSE_STATUS_INVALID_ARGUMENT A bias gradient for a gate without bias.
 * @retval SCSE_STATUS_ALIASING         Disallowed overlap.
 * @retval SCSE_STATUS_OUT_OF_MEMORY    Scratch allocation failed.
 */
SCSE_API scse_status scse_scse_backward(int64_t batch, int64_t channels, int64_t spatial,
                                        scse_layout layout, scse_aggregate aggregate,
                                        const scse_channel_gate *channel_gate,
                                        const scse_spatial_gate *spatial_gate,
                                        const float *x, const float *grad_y, float *grad_x_out,
                                        const scse_channel_gate_grad *channel_grad_out,
                                        const scse_spatial_gate_grad *spatial_grad_out);

#ifdef __cplusplus
}
#endif

#endif /* SCSE_H */
