#include "call_arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Same signalling-NaN pattern as the guarded buffers of check.c. */
static const uint32_t canary = 0x7FA5A5A5u;

static int is_canary(const float *f) { return memcmp(f, &canary, sizeof canary) == 0; }

static entry_call sized_call(entry e) {
  entry_call a;
  memset(&a, 0, sizeof a);
  a.e = e;
  a.n = ARENA_N; a.c = ARENA_C; a.s = ARENA_S;
  a.hidden = ARENA_HIDDEN; a.rows = ARENA_ROWS;
  a.layout = SCSE_LAYOUT_CHANNELS_FIRST;
  a.aggregate = SCSE_AGGREGATE_SUM;
  return a;
}

static void *must_alloc(size_t bytes) {
  void *p = calloc(1, bytes);
  if (p == NULL) {
    fprintf(stderr, "call_arena: out of memory\n");
    exit(2);
  }
  return p;
}

void arena_refill(call_arena *ar) {
  const entry_call a = sized_call(ENTRY_SCSE_BACKWARD);
  uint32_t seed = 20240u;
  size_t i;
  int s;
  for (i = 0; i < ar->floats; i++) memcpy(&ar->mem[i], &canary, sizeof canary);
  for (s = 0; s < SLOT_COUNT; s++) {
    if (!slot_is_output((slot)s)) fill_uniform(ar->home[s], slot_floats(&a, (slot)s), -1.0f, 1.0f, &seed);
  }
}

void arena_open(call_arena *ar, entry e) {
  const entry_call sizes = sized_call(ENTRY_SCSE_BACKWARD);
  entry_call base;
  size_t used = ARENA_ROOM;
  int s;
  memset(ar, 0, sizeof *ar);
  for (s = 0; s < SLOT_COUNT; s++) used += slot_floats(&sizes, (slot)s) + ARENA_ROOM;
  ar->floats = used;
  ar->mem = must_alloc(used * sizeof(float));
  ar->before = must_alloc(used * sizeof(float));
  used = ARENA_ROOM;
  for (s = 0; s < SLOT_COUNT; s++) {
    ar->home[s] = ar->mem + used;
    used += slot_floats(&sizes, (slot)s) + ARENA_ROOM;
  }
  base = arena_base_call(ar, e);
  if (arena_run(ar, &base) != SCSE_STATUS_SUCCESS) {
    check_that(0, __FILE__, __LINE__, "%s: the base call failed", entry_name(e));
  }
  for (s = 0; s < SLOT_COUNT; s++) {
    if (base.p[s] != NULL && slot_is_output((slot)s)) {
      size_t n = slot_floats(&base, (slot)s);
      ar->expected[s] = must_alloc(n * sizeof(float));
      memcpy(ar->expected[s], base.p[s], n * sizeof(float));
    }
  }
}

void arena_close(call_arena *ar) {
  int s;
  for (s = 0; s < SLOT_COUNT; s++) free(ar->expected[s]);
  free(ar->mem);
  free(ar->before);
  memset(ar, 0, sizeof *ar);
}

entry_call arena_base_call(const call_arena *ar, entry e) {
  entry_call a = sized_call(e);
  int s;
  for (s = 0; s < SLOT_COUNT; s++) a.p[s] = entry_uses_slot(e, (slot)s) ? ar->home[s] : NULL;
  return a;
}

scse_status arena_run(call_arena *ar, const entry_call *a) {
  arena_refill(ar);
  memcpy(ar->before, ar->mem, ar->floats * sizeof(float));
  return entry_invoke(a);
}

int arena_unchanged(const call_arena *ar) {
  return memcmp(ar->before, ar->mem, ar->floats * sizeof(float)) == 0;
}

static int inside_output(const entry_call *a, const float *f) {
  int s;
  for (s = 0; s < SLOT_COUNT; s++) {
    const float *p = a->p[s];
    if (slot_is_output((slot)s) && entry_call_passes(a, (slot)s) &&
        (uintptr_t)f - (uintptr_t)p < slot_floats(a, (slot)s) * sizeof(float)) {
      return 1;
    }
  }
  return 0;
}

int arena_unchanged_outside_outputs(const call_arena *ar, const entry_call *a) {
  size_t i;
  for (i = 0; i < ar->floats; i++) {
    if (memcmp(ar->before + i * sizeof(float), &ar->mem[i], sizeof(float)) != 0 &&
        !inside_output(a, &ar->mem[i])) {
      return 0;
    }
  }
  return 1;
}

int arena_output_written(const entry_call *a, slot s) {
  size_t i, n = slot_floats(a, s);
  for (i = 0; i < n; i++) {
    if (is_canary(&a->p[s][i])) return 0;
  }
  return 1;
}

int arena_output_as_expected(const call_arena *ar, const entry_call *a, slot s) {
  return ar->expected[s] != NULL &&
         memcmp(a->p[s], ar->expected[s], slot_floats(a, s) * sizeof(float)) == 0;
}
