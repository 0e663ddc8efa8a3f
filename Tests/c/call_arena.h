/* Every buffer of an entry_call inside one float arena, with free room
 * around each buffer, so that a test can move any buffer onto, into or next
 * to any other one and still check every byte the call could reach. */
#ifndef SCSE_TEST_CALL_ARENA_H
#define SCSE_TEST_CALL_ARENA_H

#include "entry_call.h"

/* The sizes of every arena call: small, odd and with hidden < channels. */
enum { ARENA_N = 2, ARENA_C = 3, ARENA_S = 5, ARENA_HIDDEN = 2, ARENA_ROWS = 3 };
/* Free floats before, between and after the buffers: more than the largest
 * buffer, so a buffer moved next to another one touches only that one. */
enum { ARENA_ROOM = 2 * ARENA_N * ARENA_C * ARENA_S };

typedef struct call_arena {
  float *mem;
  size_t floats;
  unsigned char *before; /* the arena's bytes before the last call */
  float *home[SLOT_COUNT];
  /* The outputs of the valid base call, per slot (NULL for inputs). */
  float *expected[SLOT_COUNT];
} call_arena;

/* Allocates the arena, fills inputs with data and everything else with the
 * canary, and runs the base call of entry e once to record its outputs. */
void arena_open(call_arena *ar, entry e);
void arena_close(call_arena *ar);
/* The base call: every slot e uses at home, SUM aggregate, channels-first. */
entry_call arena_base_call(const call_arena *ar, entry e);
/* Restores the inputs' data and the canary everywhere else. */
void arena_refill(call_arena *ar);
/* The entry point's status for call a; the arena is refilled first and the
 * state before the call kept for the checks below. */
scse_status arena_run(call_arena *ar, const entry_call *a);
/* 1 when no byte of the arena changed in the last arena_run. */
int arena_unchanged(const call_arena *ar);
/* 1 when no byte outside a's output buffers changed in the last run. */
int arena_unchanged_outside_outputs(const call_arena *ar, const entry_call *a);
/* 1 when the output in slot s of call a holds no canary float. */
int arena_output_written(const entry_call *a, slot s);
/* 1 when the output in slot s of call a equals the base call's bit for bit. */
int arena_output_as_expected(const call_arena *ar, const entry_call *a, slot s);

#endif
