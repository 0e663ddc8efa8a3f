#include "entry_call.h"

const char *entry_name(entry e) {
  static const char *const names[ENTRY_COUNT] = {
      "scse_cse_forward", "scse_sse_forward", "scse_scse_forward",
      "scse_cse_backward", "scse_sse_backward", "scse_scse_backward"};
  return (unsigned)e < ENTRY_COUNT ? names[e] : "?";
}

const char *slot_name(slot s) {
  static const char *const names[SLOT_COUNT] = {
      "x", "grad_y", "out", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias",
      "spatial weight", "spatial bias", "fc1_weight_out", "fc1_bias_out", "fc2_weight_out",
      "fc2_bias_out", "spatial weight_out", "spatial bias_out"};
  return (unsigned)s < SLOT_COUNT ? names[s] : "?";
}

int entry_is_backward(entry e) { return e >= ENTRY_CSE_BACKWARD; }

int entry_has_channel_gate(entry e) {
  return e == ENTRY_CSE_FORWARD || e == ENTRY_SCSE_FORWARD || e == ENTRY_CSE_BACKWARD ||
         e == ENTRY_SCSE_BACKWARD;
}

int entry_has_spatial_gate(entry e) {
  return e == ENTRY_SSE_FORWARD || e == ENTRY_SCSE_FORWARD || e == ENTRY_SSE_BACKWARD ||
         e == ENTRY_SCSE_BACKWARD;
}

int entry_has_aggregate(entry e) { return e == ENTRY_SCSE_FORWARD || e == ENTRY_SCSE_BACKWARD; }

int entry_uses_slot(entry e, slot s) {
  switch (s) {
    case SLOT_X: case SLOT_OUT: return 1;
    case SLOT_GRAD_Y: return entry_is_backward(e);
    case SLOT_FC1_WEIGHT: case SLOT_FC1_BIAS: case SLOT_FC2_WEIGHT: case SLOT_FC2_BIAS:
      return entry_has_channel_gate(e);
    case SLOT_SPATIAL_WEIGHT: case SLOT_SPATIAL_BIAS: return entry_has_spatial_gate(e);
    case SLOT_GRAD_FC1_WEIGHT: case SLOT_GRAD_FC1_BIAS: case SLOT_GRAD_FC2_WEIGHT:
    case SLOT_GRAD_FC2_BIAS:
      return entry_is_backward(e) && entry_has_channel_gate(e);
    case SLOT_GRAD_SPATIAL_WEIGHT: case SLOT_GRAD_SPATIAL_BIAS:
      return entry_is_backward(e) && entry_has_spatial_gate(e);
    case SLOT_COUNT: break;
  }
  return 0;
}

int slot_is_output(slot s) { return s == SLOT_OUT || s >= SLOT_GRAD_FC1_WEIGHT; }

int entry_call_passes(const entry_call *a, slot s) {
  if (a->p[s] == NULL || !entry_uses_slot(a->e, s)) return 0;
  switch (s) {
    case SLOT_FC1_WEIGHT: case SLOT_FC1_BIAS: case SLOT_FC2_WEIGHT: case SLOT_FC2_BIAS:
      return !a->null_channel_gate;
    case SLOT_SPATIAL_WEIGHT: case SLOT_SPATIAL_BIAS: return !a->null_spatial_gate;
    case SLOT_GRAD_FC1_WEIGHT: case SLOT_GRAD_FC1_BIAS: case SLOT_GRAD_FC2_WEIGHT:
    case SLOT_GRAD_FC2_BIAS:
      return !a->null_channel_grads;
    case SLOT_GRAD_SPATIAL_WEIGHT: case SLOT_GRAD_SPATIAL_BIAS: return !a->null_spatial_grads;
    default: return 1;
  }
}

size_t slot_floats(const entry_call *a, slot s) {
  const size_t n = (size_t)a->n, c = (size_t)a->c, sp = (size_t)a->s;
  const size_t h = (size_t)a->hidden, k = (size_t)a->rows;
  switch (s) {
    case SLOT_X: case SLOT_GRAD_Y: case SLOT_OUT: return n * c * sp;
    case SLOT_FC1_WEIGHT: case SLOT_FC2_WEIGHT:
    case SLOT_GRAD_FC1_WEIGHT: case SLOT_GRAD_FC2_WEIGHT: return h * c;
    case SLOT_FC1_BIAS: case SLOT_GRAD_FC1_BIAS: return h;
    case SLOT_FC2_BIAS: case SLOT_GRAD_FC2_BIAS: return c;
    case SLOT_SPATIAL_WEIGHT: case SLOT_GRAD_SPATIAL_WEIGHT: return k * c;
    case SLOT_SPATIAL_BIAS: case SLOT_GRAD_SPATIAL_BIAS: return 1;
    case SLOT_COUNT: break;
  }
  return 0;
}

scse_status entry_invoke(const entry_call *a) {
  scse_channel_gate cg;
  scse_spatial_gate sg;
  scse_channel_gate_grad cgr;
  scse_spatial_gate_grad sgr;
  const scse_channel_gate *pcg = a->null_channel_gate ? NULL : &cg;
  const scse_spatial_gate *psg = a->null_spatial_gate ? NULL : &sg;
  const scse_channel_gate_grad *pcgr = a->null_channel_grads ? NULL : &cgr;
  const scse_spatial_gate_grad *psgr = a->null_spatial_grads ? NULL : &sgr;
  cg.hidden = a->hidden;
  cg.fc1_weight = a->p[SLOT_FC1_WEIGHT]; cg.fc1_bias = a->p[SLOT_FC1_BIAS];
  cg.fc2_weight = a->p[SLOT_FC2_WEIGHT]; cg.fc2_bias = a->p[SLOT_FC2_BIAS];
  sg.weight_rows = a->rows;
  sg.weight = a->p[SLOT_SPATIAL_WEIGHT]; sg.bias = a->p[SLOT_SPATIAL_BIAS];
  cgr.fc1_weight_out = a->p[SLOT_GRAD_FC1_WEIGHT]; cgr.fc1_bias_out = a->p[SLOT_GRAD_FC1_BIAS];
  cgr.fc2_weight_out = a->p[SLOT_GRAD_FC2_WEIGHT]; cgr.fc2_bias_out = a->p[SLOT_GRAD_FC2_BIAS];
  sgr.weight_out = a->p[SLOT_GRAD_SPATIAL_WEIGHT]; sgr.bias_out = a->p[SLOT_GRAD_SPATIAL_BIAS];

  switch (a->e) {
    case ENTRY_CSE_FORWARD:
      return scse_cse_forward(a->n, a->c, a->s, a->layout, pcg, a->p[SLOT_X], a->p[SLOT_OUT]);
    case ENTRY_SSE_FORWARD:
      return scse_sse_forward(a->n, a->c, a->s, a->layout, psg, a->p[SLOT_X], a->p[SLOT_OUT]);
    case ENTRY_SCSE_FORWARD:
      return scse_scse_forward(a->n, a->c, a->s, a->layout, a->aggregate, pcg, psg, a->p[SLOT_X],
                               a->p[SLOT_OUT]);
    case ENTRY_CSE_BACKWARD:
      return scse_cse_backward(a->n, a->c, a->s, a->layout, pcg, a->p[SLOT_X],
                               a->p[SLOT_GRAD_Y], a->p[SLOT_OUT], pcgr);
    case ENTRY_SSE_BACKWARD:
      return scse_sse_backward(a->n, a->c, a->s, a->layout, psg, a->p[SLOT_X],
                               a->p[SLOT_GRAD_Y], a->p[SLOT_OUT], psgr);
    case ENTRY_SCSE_BACKWARD:
      return scse_scse_backward(a->n, a->c, a->s, a->layout, a->aggregate, pcg, psg,
                                a->p[SLOT_X], a->p[SLOT_GRAD_Y], a->p[SLOT_OUT], pcgr, psgr);
    case ENTRY_COUNT: break;
  }
  return (scse_status)-1;
}
