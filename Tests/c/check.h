/* Minimal test harness for the C API tests: checks that report what failed
 * and keep going, and guarded float buffers that reveal stray writes. */
#ifndef SCSE_TEST_CHECK_H
#define SCSE_TEST_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "scse.h"

/* Failed checks so far; main() turns a non-zero count into exit status 1. */
extern int check_failures;
extern int check_total;
/* What is being tested, printed with every failure. */
extern const char *check_context;

void check_that(int ok, const char *file, int line, const char *fmt, ...);
void check_status_at(scse_status got, scse_status want, const char *file, int line,
                     const char *what);
void check_close_at(const float *got, const double *want, size_t n, const char *file,
                    int line, const char *what);
void check_same_at(const float *got, const float *want, size_t n, const char *file,
                   int line, const char *what);

#define CHECK(ok, ...) check_that((ok) != 0, __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_STATUS(got, want, what) check_status_at((got), (want), __FILE__, __LINE__, (what))
/* |got - want| <= 1e-5 + 1e-4 |want| element-wise: float against a double reference. */
#define CHECK_CLOSE(got, want, n, what) check_close_at((got), (want), (n), __FILE__, __LINE__, (what))
/* Bitwise equality. */
#define CHECK_SAME(got, want, n, what) check_same_at((got), (want), (n), __FILE__, __LINE__, (what))

/* Guarded buffers: n floats followed by GUARD_FLOATS canary floats. */
#define GUARD_FLOATS 8
float *tbuf_new(size_t n);
void tbuf_free(float *b);
/* Fills the n floats and the guard with the canary pattern. */
void tbuf_poison(float *b, size_t n);
/* 1 when the guard after n floats still holds the canary. */
int tbuf_guard_intact(const float *b, size_t n);
/* 1 when the n floats and the guard all still hold the canary. */
int tbuf_poisoned(const float *b, size_t n);

/* Deterministic pseudo-random floats in [lo, hi). */
void fill_uniform(float *b, size_t n, float lo, float hi, uint32_t *state);

#endif
