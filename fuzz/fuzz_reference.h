/* Double-precision cSE / sSE / scSE forward and backward for the fuzzer,
 * written directly from the formulas in scse.h (either layout). Kept apart
 * from Tests/c/reference.c on purpose: two independent references. */
#ifndef SCSE_FUZZ_REFERENCE_H
#define SCSE_FUZZ_REFERENCE_H

#include <stdint.h>

typedef struct fuzz_problem {
  int channel_gate, spatial_gate, max_aggregate, channels_last;
  int64_t n, c, s, hidden, rows;
  const float *x, *gy;         /* [n*c*s] in the layout */
  const float *w1, *b1, *w2, *b2; /* b1, b2 may be NULL */
  const float *ws, *bs;        /* bs may be NULL */
} fuzz_problem;

typedef struct fuzz_result {
  double *y, *gx, *gw1, *gb1, *gw2, *gb2, *gws;
  double gbs;
  /* Values so near a ReLU kink or a max tie that float rounding may pick
   * the other side: the gradients are then not comparable. */
  int fragile;
} fuzz_result;

/* Computes everything into r, allocating its arrays (free with fuzz_result_free). */
void fuzz_reference(const fuzz_problem *p, fuzz_result *r);
void fuzz_result_free(fuzz_result *r);

#endif
