#include "reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static double *zeros(int64_t n) {
  double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
  if (p == NULL) {
    fprintf(stderr, "reference: out of memory\n");
    exit(2);
  }
  return p;
}

void ref_alloc(const ref_problem *p, ref_result *r) {
  int64_t ncs = p->n * p->c * p->s;
  r->y = zeros(ncs);
  r->grad_x = zeros(ncs);
  r->gw1 = zeros(p->hidden * p->c);
  r->gb1 = zeros(p->hidden);
  r->gw2 = zeros(p->c * p->hidden);
  r->gb2 = zeros(p->c);
  r->gws = zeros(p->rows * p->c);
}

void ref_free(ref_result *r) {
  free(r->y);
  free(r->grad_x);
  free(r->gw1);
  free(r->gb1);
  free(r->gw2);
  free(r->gb2);
  free(r->gws);
}

void ref_run(const ref_problem *p, ref_mode mode, ref_result *r) {
  const int64_t N = p->n, C = p->c, S = p->s, H = p->hidden, K = p->rows;
  double *m = zeros(N * C), *a1 = zeros(N * H), *gc = zeros(N * C), *dgc = zeros(N * C);
  double *dz2 = zeros(N * C), *da1 = zeros(N * H), *dm = zeros(N * C);
  double *weff = zeros(C), *gs = zeros(N * S), *dgs = zeros(N * S), *dzs = zeros(N * S);
  int64_t n, c, s, j, k;

  r->fragile = 0;
  r->gbs = 0.0;

  /* Channel gate forward. */
  for (n = 0; n < N; n++) {
    for (c = 0; c < C; c++) {
      double sum = 0.0;
      for (s = 0; s < S; s++) sum += p->x[(n * C + c) * S + s];
      m[n * C + c] = sum / (double)S;
    }
    for (j = 0; j < H; j++) {
      double a = p->b1 ? p->b1[j] : 0.0;
      for (c = 0; c < C; c++) a += (double)p->w1[j * C + c] * m[n * C + c];
      a1[n * H + j] = a;
      if (a != 0.0 && fabs(a) < 1e-5) r->fragile++;
    }
    for (c = 0; c < C; c++) {
      double z = p->b2 ? p->b2[c] : 0.0;
      for (j = 0; j < H; j++) z += (double)p->w2[c * H + j] * fmax(a1[n * H + j], 0.0);
      gc[n * C + c] = sigmoid(z);
    }
  }

  /* Spatial gate forward; K weight rows are averaged. */
  for (c = 0; c < C; c++) {
    double sum = 0.0;
    for (k = 0; k < K; k++) sum += p->ws[k * C + c];
    weff[c] = sum / (double)K;
  }
  for (n = 0; n < N; n++) {
    for (s = 0; s < S; s++) {
      double z = p->bs ? p->bs[0] : 0.0;
      for (c = 0; c < C; c++) z += weff[c] * p->x[(n * C + c) * S + s];
      gs[n * S + s] = sigmoid(z);
    }
  }

  /* Combination, and the split of grad_y between the two branches. */
  for (n = 0; n < N; n++) {
    for (c = 0; c < C; c++) {
      for (s = 0; s < S; s++) {
        int64_t i = (n * C + c) * S + s;
        double x = p->x[i], gy = p->grad_y[i];
        double yc = x * gc[n * C + c], ys = x * gs[n * S + s];
        double gyc = 0.0, gys = 0.0;
        switch (mode) {
          case REF_CSE: r->y[i] = yc; gyc = gy; break;
          case REF_SSE: r->y[i] = ys; gys = gy; break;
          case REF_SCSE_SUM: r->y[i] = yc + ys; gyc = gy; gys = gy; break;
          case REF_SCSE_MAX:
            if (yc != ys && fabs(yc - ys) <= 1e-5 * (fabs(yc) + fabs(ys))) r->fragile++;
            if (yc > ys) {
              r->y[i] = yc; gyc = gy;
            } else if (ys > yc) {
              r->y[i] = ys; gys = gy;
            } else {
              r->y[i] = yc; gyc = 0.5 * gy; gys = 0.5 * gy;
            }
            break;
        }
        dgc[n * C + c] += gyc * x;
        dgs[n * S + s] += gys * x;
        r->grad_x[i] = gyc * gc[n * C + c] + gys * gs[n * S + s];
      }
    }
  }

  /* Channel gate backward (ReLU passes nothing at 0). */
  for (n = 0; n < N; n++) {
    for (c = 0; c < C; c++) {
      double g = gc[n * C + c];
      dz2[n * C + c] = dgc[n * C + c] * g * (1.0 - g);
    }
    for (j = 0; j < H; j++) {
      double dh = 0.0;
      for (c = 0; c < C; c++) dh += (double)p->w2[c * H + j] * dz2[n * C + c];
      da1[n * H + j] = a1[n * H + j] > 0.0 ? dh : 0.0;
    }
    for (c = 0; c < C; c++) {
      double d = 0.0;
      for (j = 0; j < H; j++) d += (double)p->w1[j * C + c] * da1[n * H + j];
      dm[n * C + c] = d;
    }
  }
  for (c = 0; c < C; c++) {
    for (j = 0; j < H; j++) {
      double sum = 0.0;
      for (n = 0; n < N; n++) sum += dz2[n * C + c] * fmax(a1[n * H + j], 0.0);
      r->gw2[c * H + j] = sum;
    }
    r->gb2[c] = 0.0;
    for (n = 0; n < N; n++) r->gb2[c] += dz2[n * C + c];
  }
  for (j = 0; j < H; j++) {
    r->gb1[j] = 0.0;
    for (n = 0; n < N; n++) r->gb1[j] += da1[n * H + j];
    for (c = 0; c < C; c++) {
      double sum = 0.0;
      for (n = 0; n < N; n++) sum += da1[n * H + j] * m[n * C + c];
      r->gw1[j * C + c] = sum;
    }
  }

  /* Spatial gate backward; each weight row gets 1/K of the effective weight's gradient. */
  for (n = 0; n < N; n++) {
    for (s = 0; s < S; s++) {
      double g = gs[n * S + s];
      dzs[n * S + s] = dgs[n * S + s] * g * (1.0 - g);
      r->gbs += dzs[n * S + s];
    }
  }
  for (c = 0; c < C; c++) {
    double sum = 0.0;
    for (n = 0; n < N; n++) {
      for (s = 0; s < S; s++) sum += dzs[n * S + s] * p->x[(n * C + c) * S + s];
    }
    for (k = 0; k < K; k++) r->gws[k * C + c] = sum / (double)K;
  }

  /* grad_x: the paths through the channel means and the spatial logits. */
  for (n = 0; n < N; n++) {
    for (c = 0; c < C; c++) {
      for (s = 0; s < S; s++) {
        int64_t i = (n * C + c) * S + s;
        r->grad_x[i] += dm[n * C + c] / (double)S + dzs[n * S + s] * weff[c];
      }
    }
  }

  free(m); free(a1); free(gc); free(dgc); free(dz2); free(da1); free(dm);
  free(weff); free(gs); free(dgs); free(dzs);
}
