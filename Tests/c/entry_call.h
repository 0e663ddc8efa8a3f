/* One description for a call of any of the six forward/backward entry
 * points, with every buffer argument in a numbered slot, so that the
 * argument tests can null, resize, misplace or overlap any buffer of any
 * entry point with the same code. */
#ifndef SCSE_TEST_ENTRY_CALL_H
#define SCSE_TEST_ENTRY_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "scse.h"

typedef enum entry {
  ENTRY_CSE_FORWARD, ENTRY_SSE_FORWARD, ENTRY_SCSE_FORWARD,
  ENTRY_CSE_BACKWARD, ENTRY_SSE_BACKWARD, ENTRY_SCSE_BACKWARD,
  ENTRY_COUNT
} entry;

/* Buffer arguments. OUT is y_out in forward and grad_x_out in backward. */
typedef enum slot {
  SLOT_X, SLOT_GRAD_Y, SLOT_OUT,
  SLOT_FC1_WEIGHT, SLOT_FC1_BIAS, SLOT_FC2_WEIGHT, SLOT_FC2_BIAS,
  SLOT_SPATIAL_WEIGHT, SLOT_SPATIAL_BIAS,
  SLOT_GRAD_FC1_WEIGHT, SLOT_GRAD_FC1_BIAS, SLOT_GRAD_FC2_WEIGHT, SLOT_GRAD_FC2_BIAS,
  SLOT_GRAD_SPATIAL_WEIGHT, SLOT_GRAD_SPATIAL_BIAS,
  SLOT_COUNT
} slot;

typedef struct entry_call {
  entry e;
  int64_t n, c, s;
  int64_t hidden, rows;
  scse_layout layout;
  scse_aggregate aggregate;
  float *p[SLOT_COUNT];
  /* Pass NULL instead of the address of the corresponding struct. */
  int null_channel_gate, null_spatial_gate, null_channel_grads, null_spatial_grads;
} entry_call;

const char *entry_name(entry e);
const char *slot_name(slot s);
int entry_is_backward(entry e);
int entry_has_channel_gate(entry e);
int entry_has_spatial_gate(entry e);
int entry_has_aggregate(entry e);
/* 1 when entry e reads or writes slot s at all. */
int entry_uses_slot(entry e, slot s);
/* 1 for an output slot (written by the call). */
int slot_is_output(slot s);
/* 1 when call a hands a non-NULL pointer for slot s to the library (the slot
 * is used and neither it nor the struct holding it is NULL). */
int entry_call_passes(const entry_call *a, slot s);
/* Floats in slot s for the call's sizes (which must be small and valid). */
size_t slot_floats(const entry_call *a, slot s);

/* Builds the gate structs from the slots and calls the entry point. */
scse_status entry_invoke(const entry_call *a);

#endif
