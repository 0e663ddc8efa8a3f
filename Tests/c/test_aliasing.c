/* The aliasing rules of every forward/backward entry point, exhaustively
 * over pairs of buffers: each output moved onto, partly over and right next
 * to every other buffer of the call, and inputs overlapping one another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_arena.h"
#include "check.h"
#include "reliability_tests.h"

static call_arena ar;

/* Outputs of one call, copied out of the arena. */
typedef struct saved_outputs {
  float *v[SLOT_COUNT];
} saved_outputs;

static void save_outputs(const entry_call *a, saved_outputs *o) {
  int s;
  for (s = 0; s < SLOT_COUNT; s++) {
    size_t n = slot_floats(a, (slot)s);
    o->v[s] = NULL;
    if (!slot_is_output((slot)s) || !entry_call_passes(a, (slot)s)) continue;
    o->v[s] = malloc(n * sizeof(float) + 1);
    if (o->v[s] == NULL) exit(2);
    memcpy(o->v[s], a->p[s], n * sizeof(float));
  }
}

static int same_outputs(const entry_call *a, const saved_outputs *o) {
  int s;
  for (s = 0; s < SLOT_COUNT; s++) {
    if (o->v[s] != NULL && memcmp(o->v[s], a->p[s], slot_floats(a, (slot)s) * sizeof(float)) != 0) {
      return 0;
    }
  }
  return 1;
}

static void free_outputs(saved_outputs *o) {
  int s;
  for (s = 0; s < SLOT_COUNT; s++) free(o->v[s]);
}

/* A call that must be rejected, or accepted with the base call's outputs. */
static void expect(const entry_call *a, scse_status want, const char *what) {
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
    CHECK(arena_output_as_expected(&ar, a, (slot)s), "%s: %s differs from the base call", label,
          slot_name((slot)s));
  }
}

static slot in_place_partner(entry e) { return entry_is_backward(e) ? SLOT_GRAD_Y : SLOT_X; }

/* Output o placed at offsets from buffer t that overlap it (rejected unless
 * it is exactly the in-place partner) and that just touch it (accepted). */
static void output_against(entry e, slot o, slot t) {
  const entry_call base = arena_base_call(&ar, e);
  const ptrdiff_t lo = (ptrdiff_t)slot_floats(&base, o), lt = (ptrdiff_t)slot_floats(&base, t);
  const struct { ptrdiff_t offset; const char *how; } overlapping[] = {
      {0, "starts where %s starts"},
      {1, "starts 1 float into %s"},
      {-1, "starts 1 float before %s"},
      {lt - 1, "starts on the last float of %s"},
      {-(lo - 1), "ends on the first float of %s"},
  }, touching[] = {
      {lt, "starts right after %s"},
      {-lo, "ends right before %s"},
  };
  entry_call a = base;
  char how[120], what[160];
  size_t i;
  for (i = 0; i < sizeof overlapping / sizeof overlapping[0]; i++) {
    int allowed = o == SLOT_OUT && t == in_place_partner(e) && overlapping[i].offset == 0;
    /* One float before or after a one-float buffer is no overlap. */
    if ((overlapping[i].offset == 1 && lt < 2) || (overlapping[i].offset == -1 && lo < 2)) continue;
    a.p[o] = ar.home[t] + overlapping[i].offset;
    snprintf(how, sizeof how, overlapping[i].how, slot_name(t));
    snprintf(what, sizeof what, "%s %s%s", slot_name(o), how, allowed ? " (in place)" : "");
    expect(&a, allowed ? SCSE_STATUS_SUCCESS : SCSE_STATUS_ALIASING, what);
  }
  for (i = 0; i < sizeof touching / sizeof touching[0]; i++) {
    a.p[o] = ar.home[t] + touching[i].offset;
    snprintf(how, sizeof how, touching[i].how, slot_name(t));
    snprintf(what, sizeof what, "%s %s", slot_name(o), how);
    expect(&a, SCSE_STATUS_SUCCESS, what);
  }
}

/* Inputs may share memory: input a placed inside input b gives the same
 * outputs as a separate copy of the same floats. */
static void input_inside_input(entry e, slot in, slot host) {
  const entry_call base = arena_base_call(&ar, e);
  const size_t n = slot_floats(&base, in), m = slot_floats(&base, host);
  size_t at[2];
  int k;
  at[0] = 0;
  at[1] = m - n;
  for (k = 0; k < 2; k++) {
    entry_call a = base;
    saved_outputs separate;
    char what[160];
    float *copy = malloc(n * sizeof(float));
    if (copy == NULL) exit(2);
    arena_refill(&ar);
    memcpy(copy, ar.home[host] + at[k], n * sizeof(float));
    a.p[in] = copy;
    snprintf(what, sizeof what, "%s inside %s at %zu, separate copy", slot_name(in),
             slot_name(host), at[k]);
    CHECK_STATUS(arena_run(&ar, &a), SCSE_STATUS_SUCCESS, what);
    save_outputs(&a, &separate);
    a.p[in] = ar.home[host] + at[k];
    snprintf(what, sizeof what, "%s: %s inside %s at %zu", entry_name(e), slot_name(in),
             slot_name(host), at[k]);
    CHECK_STATUS(arena_run(&ar, &a), SCSE_STATUS_SUCCESS, what);
    CHECK(arena_unchanged_outside_outputs(&ar, &a), "%s: wrote outside its outputs", what);
    CHECK(same_outputs(&a, &separate), "%s: outputs differ from the call with a copy", what);
    free_outputs(&separate);
    free(copy);
  }
}

/* hidden == 0 makes the fc weight gradients empty: they overlap nothing. */
static void empty_outputs(entry e) {
  entry_call a = arena_base_call(&ar, e);
  char what[120];
  if (!entry_is_backward(e) || !entry_has_channel_gate(e)) return;
  a.hidden = 0;
  a.p[SLOT_FC1_WEIGHT] = NULL; a.p[SLOT_FC2_WEIGHT] = NULL;
  a.p[SLOT_FC1_BIAS] = NULL; a.p[SLOT_GRAD_FC1_BIAS] = NULL;
  a.p[SLOT_GRAD_FC1_WEIGHT] = ar.home[SLOT_X];
  a.p[SLOT_GRAD_FC2_WEIGHT] = ar.home[SLOT_OUT] + 1;
  snprintf(what, sizeof what, "%s: hidden 0, empty weight gradients inside x and grad_x",
           entry_name(e));
  CHECK_STATUS(arena_run(&ar, &a), SCSE_STATUS_SUCCESS, what);
  CHECK(arena_unchanged_outside_outputs(&ar, &a), "%s: wrote outside its outputs", what);
}

void test_aliasing(void) {
  int e, o, t;
  check_context = "aliasing";
  CHECK_STATUS(scse_set_num_threads(1), SCSE_STATUS_SUCCESS, "set 1 thread");
  for (e = 0; e < ENTRY_COUNT; e++) {
    arena_open(&ar, (entry)e);
    for (o = 0; o < SLOT_COUNT; o++) {
      if (!slot_is_output((slot)o) || !entry_uses_slot((entry)e, (slot)o)) continue;
      for (t = 0; t < SLOT_COUNT; t++) {
        if (t != o && entry_uses_slot((entry)e, (slot)t)) output_against((entry)e, (slot)o, (slot)t);
      }
    }
    for (o = 0; o < SLOT_COUNT; o++) {
      for (t = 0; t < SLOT_COUNT; t++) {
        entry_call sizes = arena_base_call(&ar, (entry)e);
        if (o == t || slot_is_output((slot)o) || slot_is_output((slot)t) ||
            !entry_uses_slot((entry)e, (slot)o) || !entry_uses_slot((entry)e, (slot)t) ||
            slot_floats(&sizes, (slot)o) > slot_floats(&sizes, (slot)t)) {
          continue;
        }
        input_inside_input((entry)e, (slot)o, (slot)t);
      }
    }
    empty_outputs((entry)e);
    arena_close(&ar);
  }
  CHECK_STATUS(scse_set_num_threads(0), SCSE_STATUS_SUCCESS, "reset threads");
}

/* In place, the output may be its partner (x in forward, grad_y in backward)
 * and nothing else: by the header, another input sharing the partner's
 * memory is an overlap between the output and that input. */
void test_in_place_sharing(void) {
  static const slot params[] = {SLOT_FC1_WEIGHT, SLOT_FC1_BIAS, SLOT_FC2_WEIGHT, SLOT_FC2_BIAS,
                                SLOT_SPATIAL_WEIGHT, SLOT_SPATIAL_BIAS};
  int e;
  size_t i;
  check_context = "in place, another input on the partner";
  CHECK_STATUS(scse_set_num_threads(1), SCSE_STATUS_SUCCESS, "set 1 thread");
  for (e = 0; e < ENTRY_COUNT; e++) {
    const slot partner = in_place_partner((entry)e);
    entry_call a;
    char what[120];
    arena_open(&ar, (entry)e);
    a = arena_base_call(&ar, (entry)e);
    a.p[SLOT_OUT] = a.p[partner];
    for (i = 0; i < sizeof params / sizeof params[0]; i++) {
      entry_call b = a;
      if (!entry_uses_slot((entry)e, params[i])) continue;
      b.p[params[i]] = b.p[partner];
      snprintf(what, sizeof what, "out == %s == %s", slot_name(partner), slot_name(params[i]));
      expect(&b, SCSE_STATUS_ALIASING, what);
      b.p[params[i]] = b.p[partner] + 1;
      snprintf(what, sizeof what, "out == %s, %s at %s + 1", slot_name(partner),
               slot_name(params[i]), slot_name(partner));
      expect(&b, SCSE_STATUS_ALIASING, what);
    }
    if (entry_is_backward((entry)e)) {
      entry_call b = a;
      b.p[SLOT_X] = b.p[SLOT_GRAD_Y];
      expect(&b, SCSE_STATUS_ALIASING, "grad_x_out == grad_y == x");
    }
    arena_close(&ar);
  }
  CHECK_STATUS(scse_set_num_threads(0), SCSE_STATUS_SUCCESS, "reset threads");
}
