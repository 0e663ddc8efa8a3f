/* Few channels and many positions, in both layouts, for every entry point:
 * shapes where any per-position read of scratch memory that the call did
 * not allocate lands far past the end of the allocation (and crashes), and
 * where float sums run over tens of thousands of terms. Results are
 * compared with the double-precision reference of reference.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "entry_call.h"
#include "reference.h"
#include "reliability_tests.h"

enum { N = 1, C = 3, S = 65536, HIDDEN = 2, ROWS = 2, NCS = N * C * S };

static void transpose(const float *src, float *dst, int to_last) {
  int64_t c, s;
  for (c = 0; c < C; c++) {
    for (s = 0; s < S; s++) {
      if (to_last) dst[s * C + c] = src[c * S + s];
      else dst[c * S + s] = src[s * C + c];
    }
  }
}

static ref_mode mode_of(entry e) {
  switch (e % 3) {
    case 0: return REF_CSE;
    case 1: return REF_SSE;
    default: return REF_SCSE_SUM;
  }
}

void test_many_positions(void) {
  float *x = tbuf_new(NCS), *gy = tbuf_new(NCS), *xl = tbuf_new(NCS), *gyl = tbuf_new(NCS);
  float *out = tbuf_new(NCS), *back = tbuf_new(NCS);
  float w1[HIDDEN * C], b1[HIDDEN], w2[C * HIDDEN], b2[C], ws[ROWS * C], bs[1];
  float gw1[HIDDEN * C], gb1[HIDDEN], gw2[C * HIDDEN], gb2[C], gws[ROWS * C], gbs[1];
  ref_problem p;
  ref_result r[3];
  uint32_t seed = 31337u;
  int e, layout, m;

  check_context = "many positions";
  fill_uniform(x, NCS, -1.0f, 1.0f, &seed);
  fill_uniform(gy, NCS, -1.0f, 1.0f, &seed);
  fill_uniform(w1, HIDDEN * C, -1.0f, 1.0f, &seed);
  fill_uniform(b1, HIDDEN, 0.5f, 1.0f, &seed); /* keeps the ReLUs away from 0 */
  fill_uniform(w2, C * HIDDEN, -1.0f, 1.0f, &seed);
  fill_uniform(b2, C, -1.0f, 1.0f, &seed);
  fill_uniform(ws, ROWS * C, -1.0f, 1.0f, &seed);
  fill_uniform(bs, 1, -1.0f, 1.0f, &seed);
  transpose(x, xl, 1);
  transpose(gy, gyl, 1);
  memset(&p, 0, sizeof p);
  p.n = N; p.c = C; p.s = S; p.hidden = HIDDEN; p.rows = ROWS;
  p.x = x; p.grad_y = gy; p.w1 = w1; p.b1 = b1; p.w2 = w2; p.b2 = b2; p.ws = ws; p.bs = bs;
  for (m = 0; m < 3; m++) {
    ref_alloc(&p, &r[m]);
    ref_run(&p, (ref_mode)m, &r[m]);
    CHECK(r[m].fragile == 0, "reference data has %d fragile values", r[m].fragile);
  }

  CHECK_STATUS(scse_set_num_threads(2), SCSE_STATUS_SUCCESS, "set 2 threads");
  for (e = 0; e < ENTRY_COUNT; e++) {
    for (layout = 0; layout < 2; layout++) {
      const ref_result *want = &r[mode_of((entry)e)]; /* REF_CSE, REF_SSE, REF_SCSE_SUM are 0-2 */
      entry_call a;
      char what[120];
      memset(&a, 0, sizeof a);
      a.e = (entry)e; a.n = N; a.c = C; a.s = S; a.hidden = HIDDEN; a.rows = ROWS;
      a.layout = (scse_layout)layout;
      a.aggregate = SCSE_AGGREGATE_SUM;
      a.p[SLOT_X] = layout ? xl : x; a.p[SLOT_GRAD_Y] = layout ? gyl : gy; a.p[SLOT_OUT] = out;
      a.p[SLOT_FC1_WEIGHT] = w1; a.p[SLOT_FC1_BIAS] = b1; a.p[SLOT_FC2_WEIGHT] = w2;
      a.p[SLOT_FC2_BIAS] = b2; a.p[SLOT_SPATIAL_WEIGHT] = ws; a.p[SLOT_SPATIAL_BIAS] = bs;
      a.p[SLOT_GRAD_FC1_WEIGHT] = gw1; a.p[SLOT_GRAD_FC1_BIAS] = gb1;
      a.p[SLOT_GRAD_FC2_WEIGHT] = gw2; a.p[SLOT_GRAD_FC2_BIAS] = gb2;
      a.p[SLOT_GRAD_SPATIAL_WEIGHT] = gws; a.p[SLOT_GRAD_SPATIAL_BIAS] = gbs;
      snprintf(what, sizeof what, "%s 1x%dx%d %s", entry_name((entry)e), C, S,
               layout ? "channels-last" : "channels-first");
      tbuf_poison(out, NCS);
      CHECK_STATUS(entry_invoke(&a), SCSE_STATUS_SUCCESS, what);
      CHECK(tbuf_guard_intact(out, NCS), "%s: wrote past the output", what);
      if (layout) transpose(out, back, 0);
      else memcpy(back, out, NCS * sizeof(float));
      CHECK_CLOSE(back, entry_is_backward((entry)e) ? want->grad_x : want->y, NCS, what);
      if (entry_is_backward((entry)e) && entry_has_channel_gate((entry)e)) {
        CHECK_CLOSE(gw1, want->gw1, HIDDEN * C, "fc1.weight grad");
        CHECK_CLOSE(gb1, want->gb1, HIDDEN, "fc1.bias grad");
        CHECK_CLOSE(gw2, want->gw2, C * HIDDEN, "fc2.weight grad");
        CHECK_CLOSE(gb2, want->gb2, C, "fc2.bias grad");
      }
      if (entry_is_backward((entry)e) && entry_has_spatial_gate((entry)e)) {
        CHECK_CLOSE(gws, want->gws, ROWS * C, "spatial weight grad");
        CHECK_CLOSE(gbs, &want->gbs, 1, "spatial bias grad");
      }
    }
  }
  CHECK_STATUS(scse_set_num_threads(0), SCSE_STATUS_SUCCESS, "reset threads");
  for (m = 0; m < 3; m++) ref_free(&r[m]);
  tbuf_free(x); tbuf_free(gy); tbuf_free(xl); tbuf_free(gyl); tbuf_free(out); tbuf_free(back);
}
