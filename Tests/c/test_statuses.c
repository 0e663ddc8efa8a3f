/* Every status code, provoked through each entry point it applies to. Each
 * failing call must leave all memory it could reach untouched: all buffers
 * live in one arena, which is compared byte for byte before and after. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tests.h"

enum { N = 2, C = 4, S = 3, H = 2, K = 2, NCS = N * C * S, GAP = 4 };

typedef enum kind { KIND_CSE, KIND_SSE, KIND_SCSE } kind;

static float arena[GAP + 4 * (NCS + GAP) + 2 * (H * C + H + C * H + C + K * C + 1 + 6 * GAP)];
static float snapshot[sizeof arena / sizeof arena[0]];

static struct fixture {
  float *x, *gy, *y, *gx, *w1, *b1, *w2, *b2, *ws, *bs, *gw1, *gb1, *gw2, *gb2, *gws, *gbs;
  scse_channel_gate cg;
  scse_spatial_gate sg;
  scse_channel_gate_grad cgr;
  scse_spatial_gate_grad sgr;
} fx;

static float *carve(size_t *used, size_t n) {
  float *p = arena + *used;
  *used += n + GAP;
  return p;
}

/* Inputs get ordinary values, outputs and gaps keep the canary. */
static void fixture_init(void) {
  size_t used = GAP;
  uint32_t seed = 5;
  tbuf_poison(arena, sizeof arena / sizeof arena[0] - GUARD_FLOATS);
  fx.x = carve(&used, NCS); fx.gy = carve(&used, NCS);
  fx.y = carve(&used, NCS); fx.gx = carve(&used, NCS);
  fx.w1 = carve(&used, H * C); fx.b1 = carve(&used, H);
  fx.w2 = carve(&used, C * H); fx.b2 = carve(&used, C);
  fx.ws = carve(&used, K * C); fx.bs = carve(&used, 1);
  fx.gw1 = carve(&used, H * C); fx.gb1 = carve(&used, H);
  fx.gw2 = carve(&used, C * H); fx.gb2 = carve(&used, C);
  fx.gws = carve(&used, K * C); fx.gbs = carve(&used, 1);
  if (used > sizeof arena / sizeof arena[0]) {
    fprintf(stderr, "test_statuses: arena too small\n");
    check_that(0, __FILE__, __LINE__, "arena too small");
    return;
  }
  fill_uniform(fx.x, NCS, -1.0f, 1.0f, &seed);
  fill_uniform(fx.gy, NCS, -1.0f, 1.0f, &seed);
  fill_uniform(fx.w1, H * C, -1.0f, 1.0f, &seed);
  fill_uniform(fx.b1, H, -1.0f, 1.0f, &seed);
  fill_uniform(fx.w2, C * H, -1.0f, 1.0f, &seed);
  fill_uniform(fx.b2, C, -1.0f, 1.0f, &seed);
  fill_uniform(fx.ws, K * C, -1.0f, 1.0f, &seed);
  fill_uniform(fx.bs, 1, -1.0f, 1.0f, &seed);
  fx.cg.hidden = H; fx.cg.fc1_weight = fx.w1; fx.cg.fc1_bias = fx.b1;
  fx.cg.fc2_weight = fx.w2; fx.cg.fc2_bias = fx.b2;
  fx.sg.weight_rows = K; fx.sg.weight = fx.ws; fx.sg.bias = fx.bs;
  fx.cgr.fc1_weight_out = fx.gw1; fx.cgr.fc1_bias_out = fx.gb1;
  fx.cgr.fc2_weight_out = fx.gw2; fx.cgr.fc2_bias_out = fx.gb2;
  fx.sgr.weight_out = fx.gws; fx.sgr.bias_out = fx.gbs;
}

typedef struct call {
  kind k;
  int backward;
  int64_t n, c, s;
  scse_layout layout;
  scse_aggregate aggregate;
  const scse_channel_gate *cg;
  const scse_spatial_gate *sg;
  const float *x, *gy;
  float *out; /* y_out or grad_x_out */
  const scse_channel_gate_grad *cgr;
  const scse_spatial_gate_grad *sgr;
} call;

static call base_call(kind k, int backward) {
  call a;
  a.k = k; a.backward = backward;
  a.n = N; a.c = C; a.s = S;
  a.layout = SCSE_LAYOUT_CHANNELS_FIRST;
  a.aggregate = SCSE_AGGREGATE_SUM;
  a.cg = &fx.cg; a.sg = &fx.sg;
  a.x = fx.x; a.gy = fx.gy;
  a.out = backward ? fx.gx : fx.y;
  a.cgr = &fx.cgr; a.sgr = &fx.sgr;
  return a;
}

static scse_status invoke(const call *a) {
  if (!a->backward) {
    switch (a->k) {
      case KIND_CSE: return scse_cse_forward(a->n, a->c, a->s, a->layout, a->cg, a->x, a->out);
      case KIND_SSE: return scse_sse_forward(a->n, a->c, a->s, a->layout, a->sg, a->x, a->out);
      case KIND_SCSE:
        return scse_scse_forward(a->n, a->c, a->s, a->layout, a->aggregate, a->cg, a->sg, a->x,
                                 a->out);
    }
  } else {
    switch (a->k) {
      case KIND_CSE:
        return scse_cse_backward(a->n, a->c, a->s, a->layout, a->cg, a->x, a->gy, a->out, a->cgr);
      case KIND_SSE:
        return scse_sse_backward(a->n, a->c, a->s, a->layout, a->sg, a->x, a->gy, a->out, a->sgr);
      case KIND_SCSE:
        return scse_scse_backward(a->n, a->c, a->s, a->layout, a->aggregate, a->cg, a->sg, a->x,
                                  a->gy, a->out, a->cgr, a->sgr);
    }
  }
  return (scse_status)-1;
}

static void expect(const call *a, scse_status want, const char *what) {
  static const char *const kinds[] = {"scse_cse", "scse_sse", "scse_scse"};
  char label[160];
  scse_status got;
  snprintf(label, sizeof label, "%s_%s: %s", kinds[a->k], a->backward ? "backward" : "forward",
           what);
  memcpy(snapshot, arena, sizeof arena);
  got = invoke(a);
  CHECK_STATUS(got, want, label);
  if (want != SCSE_STATUS_SUCCESS) {
    CHECK(memcmp(snapshot, arena, sizeof arena) == 0, "%s: memory changed by a failing call",
          label);
  }
  memcpy(arena, snapshot, sizeof arena);
}

static void channel_gate_cases(kind k, int bw) {
  call a = base_call(k, bw);
  scse_channel_gate cg = fx.cg;
  scse_channel_gate_grad cgr = fx.cgr;
  a.cg = &cg;
  a.cgr = &cgr;

  a.cg = NULL; expect(&a, SCSE_STATUS_NULL_POINTER, "channel gate NULL"); a.cg = &cg;
  cg.fc1_weight = NULL; expect(&a, SCSE_STATUS_NULL_POINTER, "fc1_weight NULL"); cg = fx.cg;
  cg.fc2_weight = NULL; expect(&a, SCSE_STATUS_NULL_POINTER, "fc2_weight NULL"); cg = fx.cg;
  cg.hidden = -1; expect(&a, SCSE_STATUS_INVALID_SHAPE, "hidden -1"); cg = fx.cg;
  cg.hidden = INT64_MAX / 2; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, "hidden INT64_MAX/2");
  cg = fx.cg;

  /* Optional pointers: no bias; hidden 0 without weights. */
  cg.fc1_bias = NULL; cg.fc2_bias = NULL;
  cgr.fc1_bias_out = NULL; cgr.fc2_bias_out = NULL;
  expect(&a, SCSE_STATUS_SUCCESS, "no channel-gate bias");
  cg = fx.cg; cgr = fx.cgr;
  cg.hidden = 0; cg.fc1_weight = NULL; cg.fc2_weight = NULL; cg.fc1_bias = NULL;
  cgr.fc1_bias_out = NULL;
  expect(&a, SCSE_STATUS_SUCCESS, "hidden 0, weights NULL");
  cg = fx.cg; cgr = fx.cgr;

  /* An output overlapping a channel-gate parameter. */
  a.out = fx.w1 - (NCS - 1); expect(&a, SCSE_STATUS_ALIASING, "output ends on fc1_weight[0]");
  a.out = fx.b2 + 1; expect(&a, SCSE_STATUS_ALIASING, "output starts inside fc2_bias");
  a.out = bw ? fx.gx : fx.y;

  if (!bw) return;
  cg.fc1_bias = NULL; expect(&a, SCSE_STATUS_INVALID_ARGUMENT, "fc1 bias grad, no fc1 bias");
  cg = fx.cg;
  cg.fc2_bias = NULL; expect(&a, SCSE_STATUS_INVALID_ARGUMENT, "fc2 bias grad, no fc2 bias");
  cg = fx.cg;
  a.cgr = NULL; expect(&a, SCSE_STATUS_SUCCESS, "no channel-gate grads wanted"); a.cgr = &cgr;
  cgr.fc1_weight_out = NULL; cgr.fc2_bias_out = NULL;
  expect(&a, SCSE_STATUS_SUCCESS, "some channel-gate grads wanted"); cgr = fx.cgr;
  cgr.fc1_weight_out = fx.gw2; expect(&a, SCSE_STATUS_ALIASING, "fc1 and fc2 weight grads same");
  cgr = fx.cgr;
  cgr.fc2_bias_out = fx.gx + 2; expect(&a, SCSE_STATUS_ALIASING, "fc2 bias grad inside grad_x");
  cgr = fx.cgr;
  cgr.fc1_weight_out = fx.w1; expect(&a, SCSE_STATUS_ALIASING, "fc1 weight grad on fc1_weight");
  cgr = fx.cgr;
  cgr.fc1_bias_out = fx.x + 1; expect(&a, SCSE_STATUS_ALIASING, "fc1 bias grad inside x");
  cgr = fx.cgr;
}

static void spatial_gate_cases(kind k, int bw) {
  call a = base_call(k, bw);
  scse_spatial_gate sg = fx.sg;
  scse_spatial_gate_grad sgr = fx.sgr;
  a.sg = &sg;
  a.sgr = &sgr;

  a.sg = NULL; expect(&a, SCSE_STATUS_NULL_POINTER, "spatial gate NULL"); a.sg = &sg;
  sg.weight = NULL; expect(&a, SCSE_STATUS_NULL_POINTER, "spatial weight NULL"); sg = fx.sg;
  sg.weight_rows = 0; expect(&a, SCSE_STATUS_INVALID_SHAPE, "weight_rows 0"); sg = fx.sg;
  sg.weight_rows = -3; expect(&a, SCSE_STATUS_INVALID_SHAPE, "weight_rows -3"); sg = fx.sg;
  sg.weight_rows = INT64_MAX / 2;
  expect(&a, SCSE_STATUS_SIZE_OVERFLOW, "weight_rows INT64_MAX/2"); sg = fx.sg;
  sg.bias = NULL; sgr.bias_out = NULL; expect(&a, SCSE_STATUS_SUCCESS, "no spatial bias");
  sg = fx.sg; sgr = fx.sgr;

  a.out = fx.ws + 1; expect(&a, SCSE_STATUS_ALIASING, "output starts inside spatial weight");
  a.out = fx.bs - (NCS - 1); expect(&a, SCSE_STATUS_ALIASING, "output ends on spatial bias");
  a.out = bw ? fx.gx : fx.y;

  if (!bw) return;
  sg.bias = NULL; expect(&a, SCSE_STATUS_INVALID_ARGUMENT, "spatial bias grad, no bias");
  sg = fx.sg;
  a.sgr = NULL; expect(&a, SCSE_STATUS_SUCCESS, "no spatial grads wanted"); a.sgr = &sgr;
  sgr.weight_out = fx.ws; expect(&a, SCSE_STATUS_ALIASING, "weight grad on the weight");
  sgr = fx.sgr;
  sgr.bias_out = fx.gy + 5; expect(&a, SCSE_STATUS_ALIASING, "bias grad inside grad_y");
  sgr = fx.sgr;
  sgr.weight_out = fx.gx + 1; expect(&a, SCSE_STATUS_ALIASING, "weight grad inside grad_x");
  sgr = fx.sgr;
  if (k == KIND_SCSE) {
    sgr.bias_out = fx.gb2 + 1;
    expect(&a, SCSE_STATUS_ALIASING, "spatial bias grad inside fc2 bias grad");
    sgr = fx.sgr;
    a.sgr = NULL; a.cgr = NULL; expect(&a, SCSE_STATUS_SUCCESS, "no parameter grads wanted");
  }
}

static void common_cases(kind k, int bw) {
  const int64_t big = INT64_MAX / 2;
  call a = base_call(k, bw), b;

  expect(&a, SCSE_STATUS_SUCCESS, "valid call");
  b = a; b.layout = SCSE_LAYOUT_CHANNELS_LAST; expect(&b, SCSE_STATUS_SUCCESS, "channels-last");

  b = a; b.x = NULL; expect(&b, SCSE_STATUS_NULL_POINTER, "x NULL");
  b = a; b.out = NULL; expect(&b, SCSE_STATUS_NULL_POINTER, "output NULL");
  if (bw) { b = a; b.gy = NULL; expect(&b, SCSE_STATUS_NULL_POINTER, "grad_y NULL"); }

  b = a; b.n = 0; expect(&b, SCSE_STATUS_INVALID_SHAPE, "batch 0");
  b = a; b.n = -1; expect(&b, SCSE_STATUS_INVALID_SHAPE, "batch -1");
  b = a; b.c = 0; expect(&b, SCSE_STATUS_INVALID_SHAPE, "channels 0");
  b = a; b.c = -4; expect(&b, SCSE_STATUS_INVALID_SHAPE, "channels -4");
  b = a; b.s = 0; expect(&b, SCSE_STATUS_INVALID_SHAPE, "spatial 0");
  b = a; b.s = INT64_MIN; expect(&b, SCSE_STATUS_INVALID_SHAPE, "spatial INT64_MIN");

  b = a; b.n = big; expect(&b, SCSE_STATUS_SIZE_OVERFLOW, "batch INT64_MAX/2");
  b = a; b.s = big; expect(&b, SCSE_STATUS_SIZE_OVERFLOW, "spatial INT64_MAX/2");
  b = a; b.c = big; b.n = 1; b.s = 1;
  expect(&b, SCSE_STATUS_SIZE_OVERFLOW, "channels INT64_MAX/2");
  /* 2^62 elements fit in int64_t, their 2^64 bytes do not. */
  b = a; b.n = INT64_C(1) << 59; b.s = 2;
  expect(&b, SCSE_STATUS_SIZE_OVERFLOW, "2^62 elements");

  b = a; b.layout = (scse_layout)2; expect(&b, SCSE_STATUS_INVALID_ENUM, "layout 2");
  b = a; b.layout = (scse_layout)0x7fffffff;
  expect(&b, SCSE_STATUS_INVALID_ENUM, "layout 0x7fffffff");
  if (k == KIND_SCSE) {
    b = a; b.aggregate = SCSE_AGGREGATE_MAX; expect(&b, SCSE_STATUS_SUCCESS, "aggregate max");
    b = a; b.aggregate = (scse_aggregate)2; expect(&b, SCSE_STATUS_INVALID_ENUM, "aggregate 2");
    b = a; b.aggregate = (scse_aggregate)0x7fffffff;
    expect(&b, SCSE_STATUS_INVALID_ENUM, "aggregate 0x7fffffff");
  }

  /* Overlap between the activation buffers. */
  b = a; b.out = fx.x + 1; expect(&b, SCSE_STATUS_ALIASING, "output = x + 1");
  b = a; b.out = fx.x - 1; expect(&b, SCSE_STATUS_ALIASING, "output = x - 1");
  if (!bw) {
    b = a; b.out = fx.x; expect(&b, SCSE_STATUS_SUCCESS, "y_out == x (in place)");
  } else {
    b = a; b.out = fx.x; expect(&b, SCSE_STATUS_ALIASING, "grad_x_out == x");
    b = a; b.out = fx.gy; expect(&b, SCSE_STATUS_SUCCESS, "grad_x_out == grad_y (in place)");
    b = a; b.out = fx.gy + 1; expect(&b, SCSE_STATUS_ALIASING, "grad_x_out = grad_y + 1");
    b = a; b.out = fx.gy - 2; expect(&b, SCSE_STATUS_ALIASING, "grad_x_out = grad_y - 2");
  }
}

static void thread_count_cases(void) {
  check_context = "thread count";
  CHECK_STATUS(scse_set_num_threads(2), SCSE_STATUS_SUCCESS, "set 2");
  CHECK(scse_get_num_threads() == 2, "get_num_threads() = %d, expected 2",
        (int)scse_get_num_threads());
  CHECK_STATUS(scse_set_num_threads(-1), SCSE_STATUS_INVALID_ARGUMENT, "set -1");
  CHECK_STATUS(scse_set_num_threads(INT32_MIN), SCSE_STATUS_INVALID_ARGUMENT, "set INT32_MIN");
  CHECK(scse_get_num_threads() == 2, "a rejected count changed the setting to %d",
        (int)scse_get_num_threads());
  CHECK_STATUS(scse_set_num_threads(0), SCSE_STATUS_SUCCESS, "set 0 (default)");
  CHECK(scse_get_num_threads() >= 1, "default thread count %d", (int)scse_get_num_threads());
}

void test_statuses(void) {
  int k, bw;
  fixture_init();
  for (k = KIND_CSE; k <= KIND_SCSE; k++) {
    for (bw = 0; bw < 2; bw++) {
      check_context = bw ? "statuses, backward" : "statuses, forward";
      common_cases((kind)k, bw);
      if (k != KIND_SSE) channel_gate_cases((kind)k, bw);
      if (k != KIND_CSE) spatial_gate_cases((kind)k, bw);
    }
  }
  thread_count_cases();
}
