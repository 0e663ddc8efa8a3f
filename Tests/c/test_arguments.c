/* Every argument of every forward/backward entry point, one fault at a time:
 * NULL for each required and each optional pointer, sizes out of range,
 * element and byte counts that overflow, buffers running off the end of the
 * address space and unknown enum values. A failing call must return the
 * documented status and leave every byte of the arena as it was; a call
 * that succeeds must write all its outputs and nothing else. */
#include <stdio.h>
#include <string.h>

#include "call_arena.h"
#include "check.h"
#include "reliability_tests.h"

static call_arena ar;

/* With `same_values`, the call has the base call's inputs and must give its
 * outputs bit for bit. */
static void expect(const entry_call *a, scse_status want, int same_values, const char *what) {
  char label[200];
  scse_status got;
  int s;
  snprintf(label, sizeof label, "%s: %s", entry_name(a->e), what);
  got = arena_run(&ar, a);
  CHECK_STATUS(got, want, label);
  if (got != SCSE_STATUS_SUCCESS) {
    CHECK(arena_unchanged(&ar), "%s: memory changed by a call that failed", label);
    return;
  }
  CHECK(arena_unchanged_outside_outputs(&ar, a), "%s: wrote outside its outputs", label);
  /* A call wrongly accepted has nothing to compare with. */
  if (want != SCSE_STATUS_SUCCESS) return;
  for (s = 0; s < SLOT_COUNT; s++) {
    if (!slot_is_output((slot)s) || !entry_call_passes(a, (slot)s)) continue;
    CHECK(arena_output_written(a, (slot)s), "%s: %s not (fully) written", label,
          slot_name((slot)s));
    if (same_values) {
      CHECK(arena_output_as_expected(&ar, a, (slot)s), "%s: %s differs from the base call",
            label, slot_name((slot)s));
    }
  }
}

static void null_pointer_cases(entry e) {
  static const slot required[] = {SLOT_X, SLOT_GRAD_Y, SLOT_OUT, SLOT_FC1_WEIGHT,
                                  SLOT_FC2_WEIGHT, SLOT_SPATIAL_WEIGHT};
  static const struct { slot bias, grad; } biases[] = {
      {SLOT_FC1_BIAS, SLOT_GRAD_FC1_BIAS},
      {SLOT_FC2_BIAS, SLOT_GRAD_FC2_BIAS},
      {SLOT_SPATIAL_BIAS, SLOT_GRAD_SPATIAL_BIAS}};
  const entry_call base = arena_base_call(&ar, e);
  const int bw = entry_is_backward(e);
  entry_call a;
  char what[120];
  size_t i;
  int s;

  expect(&base, SCSE_STATUS_SUCCESS, 1, "base call");
  for (i = 0; i < sizeof required / sizeof required[0]; i++) {
    if (!entry_uses_slot(e, required[i])) continue;
    a = base; a.p[required[i]] = NULL;
    snprintf(what, sizeof what, "required %s NULL", slot_name(required[i]));
    expect(&a, SCSE_STATUS_NULL_POINTER, 0, what);
  }
  if (entry_has_channel_gate(e)) {
    a = base; a.null_channel_gate = 1;
    expect(&a, SCSE_STATUS_NULL_POINTER, 0, "channel gate struct NULL");
    a = base; a.p[SLOT_FC1_WEIGHT] = NULL; a.p[SLOT_FC2_WEIGHT] = NULL;
    expect(&a, SCSE_STATUS_NULL_POINTER, 0, "both fc weights NULL with hidden 2");
  }
  if (entry_has_spatial_gate(e)) {
    a = base; a.null_spatial_gate = 1;
    expect(&a, SCSE_STATUS_NULL_POINTER, 0, "spatial gate struct NULL");
  }

  /* A missing bias is a layer without bias; asking for its gradient is not. */
  for (i = 0; i < sizeof biases / sizeof biases[0]; i++) {
    if (!entry_uses_slot(e, biases[i].bias)) continue;
    a = base; a.p[biases[i].bias] = NULL;
    if (bw) {
      snprintf(what, sizeof what, "%s NULL, its gradient requested", slot_name(biases[i].bias));
      expect(&a, SCSE_STATUS_INVALID_ARGUMENT, 0, what);
      a.p[biases[i].grad] = NULL;
      snprintf(what, sizeof what, "%s NULL, its gradient not requested", slot_name(biases[i].bias));
      expect(&a, SCSE_STATUS_SUCCESS, 0, what);
      a.p[biases[i].grad] = base.p[biases[i].grad];
      if (entry_has_channel_gate(e) && biases[i].grad != SLOT_GRAD_SPATIAL_BIAS) {
        a.null_channel_grads = 1;
        snprintf(what, sizeof what, "%s NULL, channel grad struct NULL", slot_name(biases[i].bias));
        expect(&a, SCSE_STATUS_SUCCESS, 0, what);
      } else {
        a.null_spatial_grads = 1;
        snprintf(what, sizeof what, "%s NULL, spatial grad struct NULL", slot_name(biases[i].bias));
        expect(&a, SCSE_STATUS_SUCCESS, 0, what);
      }
    } else {
      snprintf(what, sizeof what, "optional %s NULL", slot_name(biases[i].bias));
      expect(&a, SCSE_STATUS_SUCCESS, 0, what);
    }
  }
  a = base;
  for (i = 0; i < sizeof biases / sizeof biases[0]; i++) {
    a.p[biases[i].bias] = NULL;
    a.p[biases[i].grad] = NULL;
  }
  expect(&a, SCSE_STATUS_SUCCESS, 0, "no bias anywhere, no bias gradients");

  if (!bw) return;
  /* Every parameter gradient is optional; the others keep their values. */
  for (s = SLOT_GRAD_FC1_WEIGHT; s < SLOT_COUNT; s++) {
    if (!entry_uses_slot(e, (slot)s)) continue;
    a = base; a.p[s] = NULL;
    snprintf(what, sizeof what, "optional %s NULL", slot_name((slot)s));
    expect(&a, SCSE_STATUS_SUCCESS, 1, what);
  }
  a = base;
  for (s = SLOT_GRAD_FC1_WEIGHT; s < SLOT_COUNT; s++) a.p[s] = NULL;
  expect(&a, SCSE_STATUS_SUCCESS, 1, "every gradient field NULL");
  a = base; a.null_channel_grads = 1; a.null_spatial_grads = 1;
  expect(&a, SCSE_STATUS_SUCCESS, 1, "gradient structs NULL");
  if (e == ENTRY_SCSE_BACKWARD) {
    a = base; a.null_channel_grads = 1;
    expect(&a, SCSE_STATUS_SUCCESS, 1, "channel gradient struct NULL");
    a = base; a.null_spatial_grads = 1;
    expect(&a, SCSE_STATUS_SUCCESS, 1, "spatial gradient struct NULL");
  }
}

/* hidden == 0: the fc weights may be NULL (or not) and are never read; the
 * weight gradients are empty and never written. */
static void zero_width_cases(entry e) {
  entry_call a = arena_base_call(&ar, e), b;
  if (!entry_has_channel_gate(e)) return;
  a.hidden = 0;
  expect(&a, SCSE_STATUS_SUCCESS, 0, "hidden 0 with fc weights and fc1 bias given");
  b = a;
  b.p[SLOT_FC1_WEIGHT] = NULL; b.p[SLOT_FC2_WEIGHT] = NULL;
  b.p[SLOT_FC1_BIAS] = NULL; b.p[SLOT_GRAD_FC1_BIAS] = NULL;
  expect(&b, SCSE_STATUS_SUCCESS, 0, "hidden 0, fc weights and fc1 bias NULL");
  if (entry_is_backward(e)) {
    b.p[SLOT_GRAD_FC1_BIAS] = ar.home[SLOT_GRAD_FC1_BIAS];
    expect(&b, SCSE_STATUS_INVALID_ARGUMENT, 0, "hidden 0, fc1 bias NULL, its gradient requested");
  }
}

static void size_cases(entry e) {
  static const int64_t not_positive[] = {0, -1, INT32_MIN, INT64_MIN};
  static const int64_t negative[] = {-1, INT32_MIN, INT64_MIN};
  const int64_t p59 = INT64_C(1) << 59, p61 = INT64_C(1) << 61, p62 = INT64_C(1) << 62;
  const entry_call base = arena_base_call(&ar, e);
  entry_call a;
  char what[120];
  size_t i;

  for (i = 0; i < sizeof not_positive / sizeof not_positive[0]; i++) {
    long long v = (long long)not_positive[i];
    a = base; a.n = not_positive[i];
    snprintf(what, sizeof what, "batch %lld", v); expect(&a, SCSE_STATUS_INVALID_SHAPE, 0, what);
    a = base; a.c = not_positive[i];
    snprintf(what, sizeof what, "channels %lld", v); expect(&a, SCSE_STATUS_INVALID_SHAPE, 0, what);
    a = base; a.s = not_positive[i];
    snprintf(what, sizeof what, "spatial %lld", v); expect(&a, SCSE_STATUS_INVALID_SHAPE, 0, what);
    if (entry_has_spatial_gate(e)) {
      a = base; a.rows = not_positive[i];
      snprintf(what, sizeof what, "weight_rows %lld", v);
      expect(&a, SCSE_STATUS_INVALID_SHAPE, 0, what);
    }
  }
  for (i = 0; i < sizeof negative / sizeof negative[0] && entry_has_channel_gate(e); i++) {
    a = base; a.hidden = negative[i];
    snprintf(what, sizeof what, "hidden %lld", (long long)negative[i]);
    expect(&a, SCSE_STATUS_INVALID_SHAPE, 0, what);
  }
  if (entry_has_spatial_gate(e)) {
    a = base; a.rows = 1;
    expect(&a, SCSE_STATUS_SUCCESS, 0, "weight_rows 1");
  }

  /* Element counts past INT64_MAX (C = 3, S = 5, N = 2 in the base call). */
  a = base; a.n = INT64_MAX; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "batch INT64_MAX");
  a = base; a.c = INT64_MAX; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "channels INT64_MAX");
  a = base; a.s = INT64_MAX; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "spatial INT64_MAX");
  a = base; a.n = p61; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "batch 2^61: 15 * 2^61 elements");
  a = base; a.n = INT64_C(1) << 21; a.c = INT64_C(1) << 21; a.s = INT64_C(1) << 22;
  expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "2^21 x 2^21 x 2^22: each pair fits, all three do not");
  /* Element counts that fit, byte counts that do not. */
  a = base; a.n = p59; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "batch 2^59: 15 * 2^61 bytes");
  a = base; a.s = p59; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "spatial 2^59: 6 * 2^61 bytes");
  a = base; a.c = p59; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "channels 2^59: 10 * 2^61 bytes");
  a = base; a.n = 1; a.c = 1; a.s = p61;
  a.hidden = 0; a.rows = 1;
  expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "1 x 1 x 2^61: 2^63 bytes");
  if (entry_has_channel_gate(e)) {
    a = base; a.hidden = INT64_MAX; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "hidden INT64_MAX");
    a = base; a.hidden = p62; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "hidden 2^62: 3 * 2^62 weights");
    a = base; a.hidden = p61; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "hidden 2^61: 12 * 2^61 bytes");
  }
  if (entry_has_spatial_gate(e)) {
    a = base; a.rows = INT64_MAX; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "weight_rows INT64_MAX");
    a = base; a.rows = p62; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "weight_rows 2^62");
    a = base; a.rows = p61; expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "weight_rows 2^61: 12 * 2^61 bytes");
  }
}

/* Buffers whose last byte would lie past the end of the address space. The
 * pointers are never valid, so a library that does not reject them crashes. */
static void address_wrap_cases(entry e) {
  const entry_call base = arena_base_call(&ar, e);
  const uintptr_t top = UINTPTR_MAX - 3; /* the last float-aligned address */
  entry_call a;
  char what[120];
  int s;
  for (s = 0; s < SLOT_COUNT; s++) {
    size_t n = slot_floats(&base, (slot)s);
    /* A single float at the top ends exactly at 2^64: not clearly outside. */
    if (base.p[s] == NULL || n < 2) continue;
    a = base;
    a.p[s] = (float *)(top - (n - 2) * sizeof(float));
    snprintf(what, sizeof what, "%s (%zu floats) ends 4 bytes past the address space", slot_name((slot)s), n);
    expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, what);
  }
  if (sizeof(void *) < 8) return;
  {
    /* Byte counts that fit in int64_t, from an address that makes them wrap.
     * Every other activation buffer sits at 2^62, where nothing is mapped,
     * and parameter gradients are not requested, so nothing else is wrong:
     * the inputs may overlap one another. */
    const int64_t n = INT64_C(1) << 36; /* 15 * 2^38 bytes per activation */
    const uintptr_t wrapping = UINTPTR_MAX - ((uintptr_t)1 << 40);
    const uintptr_t far = (uintptr_t)1 << 62;
    a = base; a.n = n;
    for (s = SLOT_GRAD_FC1_WEIGHT; s < SLOT_COUNT; s++) a.p[s] = NULL;
    a.p[SLOT_X] = (float *)far;
    if (a.p[SLOT_GRAD_Y] != NULL) a.p[SLOT_GRAD_Y] = (float *)far;
    a.p[SLOT_OUT] = (float *)(wrapping & ~(uintptr_t)3);
    expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "2^36 samples, output 1 TiB below the top");
    a.p[SLOT_OUT] = (float *)(far + ((uintptr_t)1 << 44));
    a.p[SLOT_X] = (float *)(wrapping & ~(uintptr_t)3);
    expect(&a, SCSE_STATUS_SIZE_OVERFLOW, 0, "2^36 samples, x 1 TiB below the top");
  }
}

static void enum_cases(entry e) {
  static const int bad[] = {2, 3, 255, -1, INT32_MAX, INT32_MIN};
  const entry_call base = arena_base_call(&ar, e);
  entry_call a;
  char what[80];
  size_t i;
  a = base; a.layout = SCSE_LAYOUT_CHANNELS_LAST;
  expect(&a, SCSE_STATUS_SUCCESS, 0, "channels-last");
  if (entry_has_aggregate(e)) {
    a = base; a.aggregate = SCSE_AGGREGATE_MAX;
    expect(&a, SCSE_STATUS_SUCCESS, 0, "aggregate max");
  }
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    a = base; a.layout = (scse_layout)bad[i];
    snprintf(what, sizeof what, "layout %d", bad[i]);
    expect(&a, SCSE_STATUS_INVALID_ENUM, 0, what);
    if (entry_has_aggregate(e)) {
      a = base; a.aggregate = (scse_aggregate)bad[i];
      snprintf(what, sizeof what, "aggregate %d", bad[i]);
      expect(&a, SCSE_STATUS_INVALID_ENUM, 0, what);
    }
  }
}


void test_arguments(void) {
  int e;
  for (e = 0; e < ENTRY_COUNT; e++) {
    check_context = "arguments";
    CHECK_STATUS(scse_set_num_threads(1), SCSE_STATUS_SUCCESS, "set 1 thread");
    arena_open(&ar, (entry)e);
    null_pointer_cases((entry)e);
    zero_width_cases((entry)e);
    size_cases((entry)e);
    address_wrap_cases((entry)e);
    enum_cases((entry)e);
    arena_close(&ar);
  }
}

/* INT32_MAX is a valid thread count; a call with it must still be quick (the
 * work does not grow) and give the bits of one thread. ctest runs this group
 * with a time limit. */
void test_huge_thread_count(void) {
  int e;
  for (e = 0; e < ENTRY_COUNT; e++) {
    entry_call base;
    check_context = "huge thread count";
    CHECK_STATUS(scse_set_num_threads(1), SCSE_STATUS_SUCCESS, "set 1 thread");
    arena_open(&ar, (entry)e);
    base = arena_base_call(&ar, (entry)e);
    CHECK_STATUS(scse_set_num_threads(INT32_MAX), SCSE_STATUS_SUCCESS, "set INT32_MAX threads");
    expect(&base, SCSE_STATUS_SUCCESS, 1, "INT32_MAX threads");
    arena_close(&ar);
  }
  CHECK_STATUS(scse_set_num_threads(0), SCSE_STATUS_SUCCESS, "reset threads");
}
