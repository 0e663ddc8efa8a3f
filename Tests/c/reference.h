/* Straightforward double-precision scSE forward and backward, channels-first,
 * written from the formulas in scse.h; the tests compare the library to it. */
#ifndef SCSE_TEST_REFERENCE_H
#define SCSE_TEST_REFERENCE_H

#include <stdint.h>

typedef enum ref_mode { REF_CSE, REF_SSE, REF_SCSE_SUM, REF_SCSE_MAX } ref_mode;

typedef struct ref_problem {
  int64_t n, c, s, hidden, rows;
  const float *x, *grad_y;      /* [n, c, s] */
  const float *w1, *b1;         /* [hidden, c], [hidden] or NULL */
  const float *w2, *b2;         /* [c, hidden], [c] or NULL */
  const float *ws, *bs;         /* [rows, c], [1] or NULL */
} ref_problem;

typedef struct ref_result {
  double *y, *grad_x;           /* [n, c, s] */
  double *gw1, *gb1, *gw2, *gb2; /* parameter shapes */
  double *gws;                  /* [rows, c] */
  double gbs;
  /* Values so close to a decision point (a max tie or a ReLU kink) that
   * float rounding could flip it; test data must have none. */
  int fragile;
} ref_result;

/* Allocates every array of r for problem p (free with ref_free). */
void ref_alloc(const ref_problem *p, ref_result *r);
void ref_free(ref_result *r);
void ref_run(const ref_problem *p, ref_mode mode, ref_result *r);

#endif
