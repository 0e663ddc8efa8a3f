/* Output values: cases worked out by hand, a double-precision reference,
 * layouts, in-place calls and thread-count independence. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "reference.h"
#include "tests.h"

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static const char *mode_name(ref_mode mode) {
  switch (mode) {
    case REF_CSE: return "cSE";
    case REF_SSE: return "sSE";
    case REF_SCSE_SUM: return "scSE-sum";
    case REF_SCSE_MAX: return "scSE-max";
  }
  return "?";
}

static size_t count(int64_t a, int64_t b, int64_t c) { return (size_t)(a * b * c); }

/* dst (n, s, c) <- src (n, c, s), and back. */
static void to_channels_last(const float *src, float *dst, int64_t N, int64_t C, int64_t S) {
  int64_t n, c, s;
  for (n = 0; n < N; n++)
    for (c = 0; c < C; c++)
      for (s = 0; s < S; s++) dst[(n * S + s) * C + c] = src[(n * C + c) * S + s];
}

static void to_channels_first(const float *src, float *dst, int64_t N, int64_t C, int64_t S) {
  int64_t n, c, s;
  for (n = 0; n < N; n++)
    for (c = 0; c < C; c++)
      for (s = 0; s < S; s++) dst[(n * C + c) * S + s] = src[(n * S + s) * C + c];
}

/* Library results in channels-first order; unused gradients stay poisoned. */
typedef struct lib_out {
  float *y, *grad_x, *gw1, *gb1, *gw2, *gb2, *gws, *gbs;
} lib_out;

static void lib_out_alloc(const ref_problem *p, lib_out *o) {
  o->y = tbuf_new(count(p->n, p->c, p->s));
  o->grad_x = tbuf_new(count(p->n, p->c, p->s));
  o->gw1 = tbuf_new(count(p->hidden, p->c, 1));
  o->gb1 = tbuf_new(count(p->hidden, 1, 1));
  o->gw2 = tbuf_new(count(p->c, p->hidden, 1));
  o->gb2 = tbuf_new(count(p->c, 1, 1));
  o->gws = tbuf_new(count(p->rows, p->c, 1));
  o->gbs = tbuf_new(1);
}

static void lib_out_free(lib_out *o) {
  tbuf_free(o->y); tbuf_free(o->grad_x); tbuf_free(o->gw1); tbuf_free(o->gb1);
  tbuf_free(o->gw2); tbuf_free(o->gb2); tbuf_free(o->gws); tbuf_free(o->gbs);
}

/* Runs forward and backward of `mode` through the library in `layout`. The
 * gradient buffers start poisoned (NaN), so accumulating into them instead
 * of overwriting them shows up as NaN. */
static void run_library(const ref_problem *p, ref_mode mode, scse_layout layout, lib_out *o) {
  const int64_t N = p->n, C = p->c, S = p->s;
  const size_t ncs = count(N, C, S);
  float *x = tbuf_new(ncs), *gy = tbuf_new(ncs), *y = tbuf_new(ncs), *gx = tbuf_new(ncs);
  scse_channel_gate cg;
  scse_spatial_gate sg;
  scse_channel_gate_grad cgr;
  scse_spatial_gate_grad sgr;
  scse_status st_f = SCSE_STATUS_SUCCESS, st_b = SCSE_STATUS_SUCCESS;

  cg.hidden = p->hidden; cg.fc1_weight = p->w1; cg.fc1_bias = p->b1;
  cg.fc2_weight = p->w2; cg.fc2_bias = p->b2;
  sg.weight_rows = p->rows; sg.weight = p->ws; sg.bias = p->bs;
  tbuf_poison(o->gw1, count(p->hidden, C, 1)); tbuf_poison(o->gb1, count(p->hidden, 1, 1));
  tbuf_poison(o->gw2, count(C, p->hidden, 1)); tbuf_poison(o->gb2, (size_t)C);
  tbuf_poison(o->gws, count(p->rows, C, 1)); tbuf_poison(o->gbs, 1);
  cgr.fc1_weight_out = o->gw1; cgr.fc1_bias_out = p->b1 ? o->gb1 : NULL;
  cgr.fc2_weight_out = o->gw2; cgr.fc2_bias_out = p->b2 ? o->gb2 : NULL;
  sgr.weight_out = o->gws; sgr.bias_out = p->bs ? o->gbs : NULL;

  if (layout == SCSE_LAYOUT_CHANNELS_LAST) {
    to_channels_last(p->x, x, N, C, S);
    to_channels_last(p->grad_y, gy, N, C, S);
  } else {
    memcpy(x, p->x, ncs * sizeof(float));
    memcpy(gy, p->grad_y, ncs * sizeof(float));
  }

  switch (mode) {
    case REF_CSE:
      st_f = scse_cse_forward(N, C, S, layout, &cg, x, y);
      st_b = scse_cse_backward(N, C, S, layout, &cg, x, gy, gx, &cgr);
      break;
    case REF_SSE:
      st_f = scse_sse_forward(N, C, S, layout, &sg, x, y);
      st_b = scse_sse_backward(N, C, S, layout, &sg, x, gy, gx, &sgr);
      break;
    case REF_SCSE_SUM:
    case REF_SCSE_MAX: {
      scse_aggregate agg = mode == REF_SCSE_SUM ? SCSE_AGGREGATE_SUM : SCSE_AGGREGATE_MAX;
      st_f = scse_scse_forward(N, C, S, layout, agg, &cg, &sg, x, y);
      st_b = scse_scse_backward(N, C, S, layout, agg, &cg, &sg, x, gy, gx, &cgr, &sgr);
      break;
    }
  }
  CHECK_STATUS(st_f, SCSE_STATUS_SUCCESS, "forward");
  CHECK_STATUS(st_b, SCSE_STATUS_SUCCESS, "backward");
  CHECK(tbuf_guard_intact(y, ncs), "forward wrote past the end of y_out");
  CHECK(tbuf_guard_intact(gx, ncs), "backward wrote past the end of grad_x_out");
  CHECK(tbuf_guard_intact(o->gw1, count(p->hidden, C, 1)), "wrote past fc1_weight_out");
  CHECK(tbuf_guard_intact(o->gb1, count(p->hidden, 1, 1)), "wrote past fc1_bias_out");
  CHECK(tbuf_guard_intact(o->gw2, count(C, p->hidden, 1)), "wrote past fc2_weight_out");
  CHECK(tbuf_guard_intact(o->gb2, (size_t)C), "wrote past fc2_bias_out");
  CHECK(tbuf_guard_intact(o->gws, count(p->rows, C, 1)), "wrote past weight_out");
  CHECK(tbuf_guard_intact(o->gbs, 1), "wrote past bias_out");

  if (layout == SCSE_LAYOUT_CHANNELS_LAST) {
    to_channels_first(y, o->y, N, C, S);
    to_channels_first(gx, o->grad_x, N, C, S);
  } else {
    memcpy(o->y, y, ncs * sizeof(float));
    memcpy(o->grad_x, gx, ncs * sizeof(float));
  }
  tbuf_free(x); tbuf_free(gy); tbuf_free(y); tbuf_free(gx);
}

/* Compares library results with double-precision expectations (the
 * reference, or values worked out by hand in the same ref_result form). */
static void compare(const ref_problem *p, ref_mode mode, const lib_out *o, const ref_result *r) {
  const size_t ncs = count(p->n, p->c, p->s);
  CHECK_CLOSE(o->y, r->y, ncs, "y");
  CHECK_CLOSE(o->grad_x, r->grad_x, ncs, "grad_x");
  if (mode != REF_SSE) {
    CHECK_CLOSE(o->gw1, r->gw1, count(p->hidden, p->c, 1), "fc1.weight grad");
    CHECK_CLOSE(o->gw2, r->gw2, count(p->c, p->hidden, 1), "fc2.weight grad");
    if (p->b1) CHECK_CLOSE(o->gb1, r->gb1, count(p->hidden, 1, 1), "fc1.bias grad");
    if (p->b2) CHECK_CLOSE(o->gb2, r->gb2, (size_t)p->c, "fc2.bias grad");
  }
  if (mode != REF_CSE) {
    CHECK_CLOSE(o->gws, r->gws, count(p->rows, p->c, 1), "sSE weight grad");
    if (p->bs) CHECK_CLOSE(o->gbs, &r->gbs, 1, "sSE bias grad");
  }
}

/* Runs the library in both layouts and the reference, and compares all three
 * with `want` (which may be the reference result itself). */
static void run_and_compare(const ref_problem *p, ref_mode mode, const ref_result *want,
                            const char *label) {
  const size_t ncs = count(p->n, p->c, p->s);
  char context[160];
  lib_out o[2];
  ref_result r;
  int layout;
  ref_alloc(p, &r);
  ref_run(p, mode, &r);
  snprintf(context, sizeof context, "%s, %s, reference", label, mode_name(mode));
  check_context = context;
  CHECK(r.fragile == 0, "test data has %d values at a max tie or ReLU kink; choose other data",
        r.fragile);
  if (want != NULL) {
    /* The hand-worked values also validate the reference. */
    float *ry = tbuf_new(ncs);
    size_t i;
    for (i = 0; i < ncs; i++) ry[i] = (float)r.y[i];
    CHECK_CLOSE(ry, want->y, ncs, "reference y vs hand-worked y");
    for (i = 0; i < ncs; i++) ry[i] = (float)r.grad_x[i];
    CHECK_CLOSE(ry, want->grad_x, ncs, "reference grad_x vs hand-worked grad_x");
    tbuf_free(ry);
  }
  for (layout = 0; layout < 2; layout++) {
    snprintf(context, sizeof context, "%s, %s, %s", label, mode_name(mode),
             layout ? "channels-last" : "channels-first");
    check_context = context;
    lib_out_alloc(p, &o[layout]);
    run_library(p, mode, (scse_layout)layout, &o[layout]);
    compare(p, mode, &o[layout], want ? want : &r);
  }
  {
    /* Channels-last results (transposed back) against channels-first ones. */
    double *first = malloc(2 * ncs * sizeof(double));
    size_t i;
    if (first == NULL) exit(2);
    for (i = 0; i < ncs; i++) {
      first[i] = o[0].y[i];
      first[ncs + i] = o[0].grad_x[i];
    }
    snprintf(context, sizeof context, "%s, %s, channels-last vs channels-first", label,
             mode_name(mode));
    check_context = context;
    CHECK_CLOSE(o[1].y, first, ncs, "y");
    CHECK_CLOSE(o[1].grad_x, first + ncs, ncs, "grad_x");
    free(first);
  }
  ref_free(&r);
  lib_out_free(&o[0]);
  lib_out_free(&o[1]);
}

/* All-zero parameters make both gates exactly sigmoid(0) = 0.5, so
 * cSE(x) = sSE(x) = x / 2 and scSE-sum gives y = x bit for bit. */
static void test_zero_weights(void) {
  enum { N = 2, C = 3, S = 5, H = 1, K = 2 };
  float x[N * C * S], gy[N * C * S], w1[H * C] = {0}, b1[H] = {0}, w2[C * H] = {0},
        b2[C] = {0}, ws[K * C] = {0}, bs[1] = {0};
  ref_problem p = {N, C, S, H, K, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  uint32_t seed = 7;
  lib_out o;
  int layout;
  fill_uniform(x, N * C * S, -2.0f, 2.0f, &seed);
  fill_uniform(gy, N * C * S, -1.0f, 1.0f, &seed);
  p.x = x; p.grad_y = gy; p.w1 = w1; p.b1 = b1; p.w2 = w2; p.b2 = b2; p.ws = ws; p.bs = bs;
  lib_out_alloc(&p, &o);
  for (layout = 0; layout < 2; layout++) {
    float half_x[N * C * S], half_gy[N * C * S];
    size_t i;
    for (i = 0; i < N * C * S; i++) {
      half_x[i] = 0.5f * x[i];
      half_gy[i] = 0.5f * gy[i];
    }
    check_context = layout ? "zero weights, channels-last" : "zero weights, channels-first";
    run_library(&p, REF_SCSE_SUM, (scse_layout)layout, &o);
    CHECK_SAME(o.y, x, N * C * S, "scSE-sum y == x");
    CHECK_SAME(o.grad_x, gy, N * C * S, "scSE-sum grad_x == grad_y");
    run_library(&p, REF_SCSE_MAX, (scse_layout)layout, &o);
    CHECK_SAME(o.y, half_x, N * C * S, "scSE-max y == x/2");
    /* Every element is a tie: each branch gets half of grad_y, times 0.5. */
    CHECK_SAME(o.grad_x, half_gy, N * C * S, "scSE-max grad_x == grad_y/2");
    run_library(&p, REF_CSE, (scse_layout)layout, &o);
    CHECK_SAME(o.y, half_x, N * C * S, "cSE y == x/2");
    CHECK_SAME(o.grad_x, half_gy, N * C * S, "cSE grad_x == grad_y/2");
    run_library(&p, REF_SSE, (scse_layout)layout, &o);
    CHECK_SAME(o.y, half_x, N * C * S, "sSE y == x/2");
    CHECK_SAME(o.grad_x, half_gy, N * C * S, "sSE grad_x == grad_y/2");
  }
  lib_out_free(&o);
  /* The parameter gradients (non-trivial here) against the reference. */
  run_and_compare(&p, REF_SCSE_SUM, NULL, "zero weights");
  run_and_compare(&p, REF_SCSE_MAX, NULL, "zero weights");
}

/* One sample, one channel, one position, worked out by hand. With
 *   x = 2, grad_y = 1.5, fc1 = 0.5 x + 0.25, fc2 = -0.5 h + 0.125,
 *   sSE logit = 0.125 x + 0.25
 * every value is exact in binary: m = 2, a1 = 1.25 = h, z2 = -0.5, zs = 0.5.
 * With p = sigmoid(0.5) and q = p (1 - p) = sigmoid'(0.5) = sigmoid'(-0.5):
 *   cSE: gate 1 - p; y = 2 (1 - p); dz2 = grad_y x q = 3q;
 *        d fc2.w = 3q h = 3.75q, d fc2.b = 3q; dh = -0.5 * 3q = -1.5q = d fc1.b;
 *        d fc1.w = -1.5q m = -3q; dm = 0.5 dh = -0.75q;
 *        grad_x = 1.5 (1 - p) - 0.75q.
 *   sSE: gate p; y = 2p; dzs = 3q = d bias; d weight = 3q x = 6q;
 *        grad_x = 1.5p + 0.125 * 3q = 1.5p + 0.375q.
 *   scSE-sum: y = 2 exactly in real arithmetic; grad_x = 1.5 - 0.375q.
 *   scSE-max: 2p > 2 (1 - p), so only the sSE branch counts and every cSE
 *        parameter gradient is 0. */
static void test_single_element_by_hand(void) {
  float x[1] = {2.0f}, gy[1] = {1.5f};
  float w1[1] = {0.5f}, b1[1] = {0.25f}, w2[1] = {-0.5f}, b2[1] = {0.125f};
  float ws[1] = {0.125f}, bs[1] = {0.25f};
  ref_problem p = {1, 1, 1, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  const double P = sigmoid(0.5), q = P * (1.0 - P);
  double y[1], gx[1], gw1[1], gb1[1], gw2[1], gb2[1], gws[1];
  ref_result want;
  want.y = y; want.grad_x = gx; want.gw1 = gw1; want.gb1 = gb1; want.gw2 = gw2;
  want.gb2 = gb2; want.gws = gws; want.fragile = 0;
  p.x = x; p.grad_y = gy; p.w1 = w1; p.b1 = b1; p.w2 = w2; p.b2 = b2; p.ws = ws; p.bs = bs;

  gw1[0] = -3.0 * q; gb1[0] = -1.5 * q; gw2[0] = 3.75 * q; gb2[0] = 3.0 * q;
  gws[0] = 6.0 * q; want.gbs = 3.0 * q;

  y[0] = 2.0 * (1.0 - P); gx[0] = 1.5 * (1.0 - P) - 0.75 * q;
  run_and_compare(&p, REF_CSE, &want, "1x1x1 by hand");
  y[0] = 2.0 * P; gx[0] = 1.5 * P + 0.375 * q;
  run_and_compare(&p, REF_SSE, &want, "1x1x1 by hand");
  y[0] = 2.0; gx[0] = 1.5 - 0.375 * q;
  run_and_compare(&p, REF_SCSE_SUM, &want, "1x1x1 by hand");
  y[0] = 2.0 * P; gx[0] = 1.5 * P + 0.375 * q;
  gw1[0] = 0.0; gb1[0] = 0.0; gw2[0] = 0.0; gb2[0] = 0.0;
  run_and_compare(&p, REF_SCSE_MAX, &want, "1x1x1 by hand");
}

/* ReLU at exactly 0 passes no gradient: fc1 = 0.5 x - 1 with x = 2 gives
 * a1 = 0, so h = 0, the gate is sigmoid(0.125), and fc1's gradients and the
 * path through the mean vanish: grad_x = 1.5 sigmoid(0.125). */
static void test_relu_kink_by_hand(void) {
  float x[1] = {2.0f}, gy[1] = {1.5f};
  float w1[1] = {0.5f}, b1[1] = {-1.0f}, w2[1] = {-0.5f}, b2[1] = {0.125f};
  float ws[1] = {0.125f}, bs[1] = {0.25f};
  ref_problem p = {1, 1, 1, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  const double g = sigmoid(0.125);
  double y[1], gx[1], gw1[1] = {0.0}, gb1[1] = {0.0}, gw2[1] = {0.0}, gb2[1], gws[1] = {0.0};
  ref_result want;
  want.y = y; want.grad_x = gx; want.gw1 = gw1; want.gb1 = gb1; want.gw2 = gw2;
  want.gb2 = gb2; want.gws = gws; want.gbs = 0.0; want.fragile = 0;
  p.x = x; p.grad_y = gy; p.w1 = w1; p.b1 = b1; p.w2 = w2; p.b2 = b2; p.ws = ws; p.bs = bs;
  y[0] = 2.0 * g;
  gx[0] = 1.5 * g;
  gb2[0] = 1.5 * 2.0 * g * (1.0 - g); /* d fc2.w = dz2 * h = 0 */
  run_and_compare(&p, REF_CSE, &want, "ReLU at 0 by hand");
}

/* hidden == 0: the channel gate is sigmoid(fc2.bias), independent of x, so
 * grad_x = grad_y sigmoid(b) and d fc2.bias[c] = sigmoid'(b_c) sum_s grad_y x.
 * Without bias the gate is exactly 0.5. The empty weight gradients must not
 * be written (their buffers' guards are checked). */
static void test_hidden_zero(void) {
  enum { N = 1, C = 2, S = 3 };
  float x[N * C * S] = {1.0f, -2.0f, 0.5f, 3.0f, 0.25f, -1.0f};
  float gy[N * C * S] = {0.5f, 1.0f, -2.0f, 1.5f, -0.5f, 2.0f};
  float b2[C] = {0.75f, -1.5f}, ws[C] = {0.0f, 0.0f};
  ref_problem p = {N, C, S, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  double y[N * C * S], gx[N * C * S], gb2[C], none[1] = {0.0};
  ref_result want;
  int c, s;
  lib_out o;
  int layout;
  want.y = y; want.grad_x = gx; want.gw1 = none; want.gb1 = none; want.gw2 = none;
  want.gb2 = gb2; want.gws = none; want.gbs = 0.0; want.fragile = 0;
  p.x = x; p.grad_y = gy; p.b2 = b2; p.ws = ws;
  for (c = 0; c < C; c++) {
    double g = sigmoid(b2[c]), dot = 0.0;
    for (s = 0; s < S; s++) {
      y[c * S + s] = x[c * S + s] * g;
      gx[c * S + s] = gy[c * S + s] * g;
      dot += (double)gy[c * S + s] * x[c * S + s];
    }
    gb2[c] = dot * g * (1.0 - g);
  }
  run_and_compare(&p, REF_CSE, &want, "hidden 0 with bias");

  p.b2 = NULL;
  lib_out_alloc(&p, &o);
  for (layout = 0; layout < 2; layout++) {
    float half_x[N * C * S], half_gy[N * C * S];
    int i;
    for (i = 0; i < N * C * S; i++) {
      half_x[i] = 0.5f * x[i];
      half_gy[i] = 0.5f * gy[i];
    }
    check_context = "hidden 0 without bias";
    run_library(&p, REF_CSE, (scse_layout)layout, &o);
    CHECK_SAME(o.y, half_x, N * C * S, "y == x/2");
    CHECK_SAME(o.grad_x, half_gy, N * C * S, "grad_x == grad_y/2");
  }
  lib_out_free(&o);
}

typedef struct random_case {
  int64_t n, c, s, hidden, rows;
  int bias;
} random_case;

/* Random problem data kept alive for one case. */
typedef struct random_data {
  float *x, *gy, *w1, *b1, *w2, *b2, *ws, *bs;
} random_data;

static void random_problem(const random_case *rc, uint32_t seed, random_data *d,
                           ref_problem *p) {
  const size_t ncs = count(rc->n, rc->c, rc->s);
  d->x = tbuf_new(ncs); d->gy = tbuf_new(ncs);
  d->w1 = tbuf_new(count(rc->hidden, rc->c, 1)); d->b1 = tbuf_new(count(rc->hidden, 1, 1));
  d->w2 = tbuf_new(count(rc->c, rc->hidden, 1)); d->b2 = tbuf_new((size_t)rc->c);
  d->ws = tbuf_new(count(rc->rows, rc->c, 1)); d->bs = tbuf_new(1);
  fill_uniform(d->x, ncs, -2.0f, 2.0f, &seed);
  fill_uniform(d->gy, ncs, -1.0f, 1.0f, &seed);
  fill_uniform(d->w1, count(rc->hidden, rc->c, 1), -1.0f, 1.0f, &seed);
  fill_uniform(d->b1, count(rc->hidden, 1, 1), -0.5f, 0.5f, &seed);
  fill_uniform(d->w2, count(rc->c, rc->hidden, 1), -1.0f, 1.0f, &seed);
  fill_uniform(d->b2, (size_t)rc->c, -0.5f, 0.5f, &seed);
  fill_uniform(d->ws, count(rc->rows, rc->c, 1), -1.0f, 1.0f, &seed);
  fill_uniform(d->bs, 1, -0.5f, 0.5f, &seed);
  p->n = rc->n; p->c = rc->c; p->s = rc->s; p->hidden = rc->hidden; p->rows = rc->rows;
  p->x = d->x; p->grad_y = d->gy; p->w1 = d->w1; p->w2 = d->w2; p->ws = d->ws;
  p->b1 = rc->bias ? d->b1 : NULL;
  p->b2 = rc->bias ? d->b2 : NULL;
  p->bs = rc->bias ? d->bs : NULL;
}

static void random_free(random_data *d) {
  tbuf_free(d->x); tbuf_free(d->gy); tbuf_free(d->w1); tbuf_free(d->b1);
  tbuf_free(d->w2); tbuf_free(d->b2); tbuf_free(d->ws); tbuf_free(d->bs);
}

/* Random shapes and values against the reference, every mode, both layouts
 * (channels-last results are transposed back, so this also checks that
 * channels-last equals channels-first transposed). */
static void test_against_reference(void) {
  static const random_case cases[] = {
      {2, 6, 5, 3, 1, 1},   /* reduction ratio 2, with bias */
      {3, 16, 9, 1, 1, 0},  /* ratio 16, no bias */
      {1, 5, 7, 2, 3, 0},   /* few-shot sSE: 3 weight rows averaged */
      {2, 4, 1, 2, 1, 1},   /* a single position */
      {1, 1, 12, 4, 2, 1},  /* one channel, hidden wider than channels */
      {4, 33, 17, 8, 1, 1}, /* sizes that are not multiples of a vector width */
  };
  static const ref_mode modes[] = {REF_CSE, REF_SSE, REF_SCSE_SUM, REF_SCSE_MAX};
  size_t i, m;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    random_data d;
    ref_problem p;
    char label[96];
    random_problem(&cases[i], 1000u + (uint32_t)i, &d, &p);
    snprintf(label, sizeof label, "random N=%lld C=%lld S=%lld hidden=%lld rows=%lld bias=%d",
             (long long)p.n, (long long)p.c, (long long)p.s, (long long)p.hidden,
             (long long)p.rows, cases[i].bias);
    for (m = 0; m < sizeof modes / sizeof modes[0]; m++) run_and_compare(&p, modes[m], NULL, label);
    random_free(&d);
  }
}

/* y_out == x and grad_x_out == grad_y are allowed and give the same values. */
static void test_in_place(void) {
  static const random_case rc = {2, 8, 10, 4, 2, 1};
  const size_t ncs = count(rc.n, rc.c, rc.s);
  random_data d;
  ref_problem p;
  scse_channel_gate cg;
  scse_spatial_gate sg;
  float *y = tbuf_new(ncs), *gx = tbuf_new(ncs), *buf = tbuf_new(ncs);
  int layout;
  random_problem(&rc, 99u, &d, &p);
  cg.hidden = p.hidden; cg.fc1_weight = p.w1; cg.fc1_bias = p.b1;
  cg.fc2_weight = p.w2; cg.fc2_bias = p.b2;
  sg.weight_rows = p.rows; sg.weight = p.ws; sg.bias = p.bs;
  for (layout = 0; layout < 2; layout++) {
    scse_layout l = (scse_layout)layout;
    check_context = layout ? "in place, channels-last" : "in place, channels-first";
    memcpy(buf, d.x, ncs * sizeof(float));
    CHECK_STATUS(scse_scse_forward(p.n, p.c, p.s, l, SCSE_AGGREGATE_SUM, &cg, &sg, d.x, y),
                 SCSE_STATUS_SUCCESS, "scse forward");
    CHECK_STATUS(scse_scse_forward(p.n, p.c, p.s, l, SCSE_AGGREGATE_SUM, &cg, &sg, buf, buf),
                 SCSE_STATUS_SUCCESS, "scse forward in place");
    CHECK_SAME(buf, y, ncs, "in-place forward equals out-of-place");
    memcpy(buf, d.x, ncs * sizeof(float));
    CHECK_STATUS(scse_cse_forward(p.n, p.c, p.s, l, &cg, d.x, y), SCSE_STATUS_SUCCESS, "cse");
    CHECK_STATUS(scse_cse_forward(p.n, p.c, p.s, l, &cg, buf, buf), SCSE_STATUS_SUCCESS,
                 "cse in place");
    CHECK_SAME(buf, y, ncs, "in-place cSE forward equals out-of-place");
    memcpy(buf, d.x, ncs * sizeof(float));
    CHECK_STATUS(scse_sse_forward(p.n, p.c, p.s, l, &sg, d.x, y), SCSE_STATUS_SUCCESS, "sse");
    CHECK_STATUS(scse_sse_forward(p.n, p.c, p.s, l, &sg, buf, buf), SCSE_STATUS_SUCCESS,
                 "sse in place");
    CHECK_SAME(buf, y, ncs, "in-place sSE forward equals out-of-place");

    memcpy(buf, d.gy, ncs * sizeof(float));
    CHECK_STATUS(scse_scse_backward(p.n, p.c, p.s, l, SCSE_AGGREGATE_MAX, &cg, &sg, d.x, d.gy,
                                    gx, NULL, NULL),
                 SCSE_STATUS_SUCCESS, "scse backward");
    CHECK_STATUS(scse_scse_backward(p.n, p.c, p.s, l, SCSE_AGGREGATE_MAX, &cg, &sg, d.x, buf,
                                    buf, NULL, NULL),
                 SCSE_STATUS_SUCCESS, "scse backward in place");
    CHECK_SAME(buf, gx, ncs, "in-place backward equals out-of-place");
  }
  tbuf_free(y); tbuf_free(gx); tbuf_free(buf);
  random_free(&d);
}

/* The header promises bitwise identical results for every thread count. */
static void test_thread_count_independence(void) {
  static const random_case rc = {5, 48, 300, 6, 1, 1};
  static const int32_t threads[] = {2, 3, 7};
  random_data d;
  ref_problem p;
  lib_out base, other;
  size_t i;
  random_problem(&rc, 4242u, &d, &p);
  lib_out_alloc(&p, &base);
  lib_out_alloc(&p, &other);
  check_context = "thread count independence";
  CHECK_STATUS(scse_set_num_threads(1), SCSE_STATUS_SUCCESS, "set 1 thread");
  run_library(&p, REF_SCSE_MAX, SCSE_LAYOUT_CHANNELS_FIRST, &base);
  for (i = 0; i < sizeof threads / sizeof threads[0]; i++) {
    char what[64];
    CHECK_STATUS(scse_set_num_threads(threads[i]), SCSE_STATUS_SUCCESS, "set threads");
    CHECK(scse_get_num_threads() == threads[i], "get_num_threads() = %d after setting %d",
          (int)scse_get_num_threads(), (int)threads[i]);
    run_library(&p, REF_SCSE_MAX, SCSE_LAYOUT_CHANNELS_FIRST, &other);
    snprintf(what, sizeof what, "%d threads vs 1", (int)threads[i]);
    CHECK_SAME(other.y, base.y, count(p.n, p.c, p.s), what);
    CHECK_SAME(other.grad_x, base.grad_x, count(p.n, p.c, p.s), what);
    CHECK_SAME(other.gw1, base.gw1, count(p.hidden, p.c, 1), what);
    CHECK_SAME(other.gb1, base.gb1, (size_t)p.hidden, what);
    CHECK_SAME(other.gw2, base.gw2, count(p.c, p.hidden, 1), what);
    CHECK_SAME(other.gb2, base.gb2, (size_t)p.c, what);
    CHECK_SAME(other.gws, base.gws, (size_t)p.c, what);
    CHECK_SAME(other.gbs, base.gbs, 1, what);
  }
  CHECK_STATUS(scse_set_num_threads(0), SCSE_STATUS_SUCCESS, "reset to the default");
  CHECK(scse_get_num_threads() >= 1, "default thread count %d < 1", (int)scse_get_num_threads());
  lib_out_free(&base);
  lib_out_free(&other);
  random_free(&d);
}

void test_values(void) {
  test_zero_weights();
  test_single_element_by_hand();
  test_relu_kink_by_hand();
  test_hidden_zero();
  test_against_reference();
  test_in_place();
  test_thread_count_independence();
}
