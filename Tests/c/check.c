#include "check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int check_failures = 0;
int check_total = 0;
const char *check_context = "";

/* A signalling-NaN bit pattern no computation produces. */
static const uint32_t canary_bits = 0x7FA5A5A5u;

void check_that(int ok, const char *file, int line, const char *fmt, ...) {
  va_list args;
  check_total++;
  if (ok) return;
  check_failures++;
  fprintf(stderr, "FAIL %s:%d [%s]: ", file, line, check_context);
  va_start(args, fmt);
  vfprintf(stderr, fmt, args);
  va_end(args);
  fputc('\n', stderr);
}

void check_status_at(scse_status got, scse_status want, const char *file, int line,
                     const char *what) {
  check_that(got == want, file, line, "%s: status %d (%s), expected %d (%s)", what, (int)got,
             scse_status_string(got), (int)want, scse_status_string(want));
}

void check_close_at(const float *got, const double *want, size_t n, const char *file,
                    int line, const char *what) {
  size_t i, bad = 0, first = 0;
  for (i = 0; i < n; i++) {
    double g = got[i];
    if (!(fabs(g - want[i]) <= 1e-5 + 1e-4 * fabs(want[i]))) {
      if (bad++ == 0) first = i;
    }
  }
  if (bad == 0) {
    check_that(1, file, line, "");
    return;
  }
  check_that(0, file, line, "%s: %zu of %zu values differ; first at [%zu]: got %.9g, expected %.9g",
             what, bad, n, first, (double)got[first], want[first]);
}

void check_same_at(const float *got, const float *want, size_t n, const char *file, int line,
                   const char *what) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      check_that(0, file, line, "%s: not bitwise equal at [%zu] of %zu: got %.9g, expected %.9g",
                 what, i, n, (double)got[i], (double)want[i]);
      return;
    }
  }
  check_that(1, file, line, "");
}

float *tbuf_new(size_t n) {
  float *b = malloc((n + GUARD_FLOATS) * sizeof(float));
  if (b == NULL) {
    fprintf(stderr, "test harness: out of memory\n");
    exit(2);
  }
  tbuf_poison(b, n);
  return b;
}

void tbuf_free(float *b) { free(b); }

void tbuf_poison(float *b, size_t n) {
  size_t i;
  for (i = 0; i < n + GUARD_FLOATS; i++) memcpy(&b[i], &canary_bits, sizeof(float));
}

static int holds_canary(const float *b, size_t from, size_t to) {
  size_t i;
  for (i = from; i < to; i++) {
    if (memcmp(&b[i], &canary_bits, sizeof(float)) != 0) return 0;
  }
  return 1;
}

int tbuf_guard_intact(const float *b, size_t n) { return holds_canary(b, n, n + GUARD_FLOATS); }

int tbuf_poisoned(const float *b, size_t n) { return holds_canary(b, 0, n + GUARD_FLOATS); }

void fill_uniform(float *b, size_t n, float lo, float hi, uint32_t *state) {
  size_t i;
  for (i = 0; i < n; i++) {
    /* 32-bit LCG (Numerical Recipes constants); the top 24 bits are exact in a float. */
    *state = *state * 1664525u + 1013904223u;
    b[i] = lo + (hi - lo) * (float)(*state >> 8) * (1.0f / 16777216.0f);
  }
}
