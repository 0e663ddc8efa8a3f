/* SCSE_STATUS_OUT_OF_MEMORY, provoked by making the scratch allocation fail.
 *
 * libscse takes each call's scratch memory from posix_memalign. This file
 * defines posix_memalign in the test executable, which the dynamic linker
 * binds libscse's calls to (ELF symbol interposition), and fails it on
 * request. If libscse stops using posix_memalign the test says so and fails
 * rather than passing without having provoked anything. */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tests.h"

#if defined(__linux__)
#include <dlfcn.h>

static int (*real_posix_memalign)(void **, size_t, size_t);
/* Defined (weakly) by the AddressSanitizer and ThreadSanitizer runtimes. In a
 * sanitized build the real allocator is the sanitizer's: blocks taken from
 * libc behind its back would make its free() report a bad free. */
extern int __interceptor_posix_memalign(void **, size_t, size_t) __attribute__((weak));
static volatile int fail_allocations;
static volatile int failed_allocations;

int posix_memalign(void **out, size_t alignment, size_t size) {
  if (fail_allocations) {
    failed_allocations++;
    return ENOMEM;
  }
  if (real_posix_memalign == NULL && __interceptor_posix_memalign != NULL) {
    real_posix_memalign = __interceptor_posix_memalign;
  }
  if (real_posix_memalign == NULL) {
    /* The POSIX-blessed way to store dlsym's result in a function pointer. */
    *(void **)&real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    if (real_posix_memalign == NULL) return ENOMEM;
  }
  return real_posix_memalign(out, alignment, size);
}

enum { N = 2, C = 3, S = 4, NCS = N * C * S };

void test_out_of_memory(void) {
  float x[NCS], gy[NCS], out[NCS + GUARD_FLOATS], gb2[C + GUARD_FLOATS];
  float w1[C] = {0.5f, -0.25f, 1.0f}, b1[1] = {0.125f}, w2[C] = {1.0f, -1.0f, 0.5f};
  float b2[C] = {0.0f, 0.25f, -0.5f}, ws[C] = {0.25f, 0.5f, -0.75f}, bs[1] = {0.5f};
  scse_channel_gate cg;
  scse_spatial_gate sg;
  scse_channel_gate_grad cgr;
  scse_spatial_gate_grad sgr;
  uint32_t seed = 11;
  int call;
  void *probe = NULL;

  check_context = "out of memory";
  fill_uniform(x, NCS, -1.0f, 1.0f, &seed);
  fill_uniform(gy, NCS, -1.0f, 1.0f, &seed);
  cg.hidden = 1; cg.fc1_weight = w1; cg.fc1_bias = b1; cg.fc2_weight = w2; cg.fc2_bias = b2;
  sg.weight_rows = 1; sg.weight = ws; sg.bias = bs;
  memset(&cgr, 0, sizeof cgr);
  cgr.fc2_bias_out = gb2;
  memset(&sgr, 0, sizeof sgr);
  /* Resolve the real function before any call can run on another thread. */
  if (posix_memalign(&probe, 64, 64) == 0) free(probe);
  CHECK_STATUS(scse_set_num_threads(1), SCSE_STATUS_SUCCESS, "set 1 thread");

  for (call = 0; call < 6; call++) {
    static const char *const names[] = {"scse_cse_forward", "scse_sse_forward",
                                        "scse_scse_forward", "scse_cse_backward",
                                        "scse_sse_backward", "scse_scse_backward"};
    scse_status st = SCSE_STATUS_SUCCESS;
    tbuf_poison(out, NCS);
    tbuf_poison(gb2, C);
    failed_allocations = 0;
    fail_allocations = 1;
    switch (call) {
      case 0: st = scse_cse_forward(N, C, S, SCSE_LAYOUT_CHANNELS_FIRST, &cg, x, out); break;
      case 1: st = scse_sse_forward(N, C, S, SCSE_LAYOUT_CHANNELS_FIRST, &sg, x, out); break;
      case 2:
        st = scse_scse_forward(N, C, S, SCSE_LAYOUT_CHANNELS_LAST, SCSE_AGGREGATE_MAX, &cg, &sg,
                               x, out);
        break;
      case 3:
        st = scse_cse_backward(N, C, S, SCSE_LAYOUT_CHANNELS_FIRST, &cg, x, gy, out, &cgr);
        break;
      case 4:
        st = scse_sse_backward(N, C, S, SCSE_LAYOUT_CHANNELS_LAST, &sg, x, gy, out, &sgr);
        break;
      case 5:
        st = scse_scse_backward(N, C, S, SCSE_LAYOUT_CHANNELS_FIRST, SCSE_AGGREGATE_SUM, &cg,
                                &sg, x, gy, out, &cgr, &sgr);
        break;
    }
    fail_allocations = 0;
    CHECK(failed_allocations > 0,
          "%s made no posix_memalign call, so OUT_OF_MEMORY was not provoked; update this test "
          "to the library's allocator", names[call]);
    CHECK_STATUS(st, SCSE_STATUS_OUT_OF_MEMORY, names[call]);
    CHECK(tbuf_poisoned(out, NCS), "%s wrote its output although it failed", names[call]);
    CHECK(tbuf_poisoned(gb2, C), "%s wrote a gradient although it failed", names[call]);
  }
  CHECK_STATUS(scse_set_num_threads(0), SCSE_STATUS_SUCCESS, "reset threads");
}

#else

#include <stdio.h>

void test_out_of_memory(void) {
  printf("note: OUT_OF_MEMORY is provoked only on Linux (symbol interposition); not tested\n");
}

#endif
