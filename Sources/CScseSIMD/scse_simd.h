/* Partial-vector loads and stores for the kernels' loop tails
 * (Sources/ScseKernels/Vector.swift). Header-only: each kernel variant
 * compiles these inline functions with its own target flags, so nothing is
 * shared between variants. Written in C because Swift's ways of building a
 * vector from smaller pieces (`lowHalf`, loads of SIMD4/SIMD8) are generic
 * standard-library code whose specialisations become out-of-line symbols
 * that every variant defines, and the linker would keep one copy for all;
 * inserting lane by lane instead costs a store-forwarding stall per lane. */
#ifndef SCSE_SIMD_H
#define SCSE_SIMD_H

/* Every function is inlined, so passing 32- and 64-byte vectors by value
 * never meets a calling convention; the baseline variant (no AVX) would
 * otherwise warn that such a call's ABI differs. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

/* Swift imports these as SIMD16<Float>, SIMD8<Float>, SIMD4<Float>. */
typedef float cscse_f16 __attribute__((ext_vector_type(16)));
typedef float cscse_f8 __attribute__((ext_vector_type(8)));
typedef float cscse_f4 __attribute__((ext_vector_type(4)));

/* The same with float alignment only, for unaligned whole-vector access. */
typedef float cscse_f8_unaligned __attribute__((ext_vector_type(8), aligned(4)));
typedef float cscse_f4_unaligned __attribute__((ext_vector_type(4), aligned(4)));

#define CSCSE_INLINE static inline __attribute__((always_inline))

/* The first `lanes` (0...3) floats at p, zero-filled. */
CSCSE_INLINE cscse_f4 cscse_load4_partial(const float *p, long lanes) {
  cscse_f4 v = 0;
  if (lanes >= 1) v.x = p[0];
  if (lanes >= 2) v.y = p[1];
  if (lanes >= 3) v.z = p[2];
  return v;
}

/* The first `lanes` (0...7) floats at p, zero-filled. */
CSCSE_INLINE cscse_f8 cscse_load8_partial(const float *p, long lanes) {
  cscse_f4 lo = 0, hi = 0;
  if (lanes >= 4) {
    lo = *(const cscse_f4_unaligned *)p;
    hi = cscse_load4_partial(p + 4, lanes - 4);
  } else {
    lo = cscse_load4_partial(p, lanes);
  }
  return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7);
}

/* The first `lanes` (0...15) floats at p, zero-filled; reads nothing beyond
 * them. */
CSCSE_INLINE cscse_f16 cscse_load16_partial(const float *p, long lanes) {
  cscse_f8 lo = 0, hi = 0;
  if (lanes >= 8) {
    lo = *(const cscse_f8_unaligned *)p;
    hi = cscse_load8_partial(p + 8, lanes - 8);
  } else {
    lo = cscse_load8_partial(p, lanes);
  }
  return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/* Stores the first `lanes` (0...15) lanes of v at p; writes nothing beyond
 * them. */
CSCSE_INLINE void cscse_store16_partial(cscse_f16 v, float *p, long lanes) {
  cscse_f8 half = v.lo;
  if (lanes >= 8) {
    *(cscse_f8_unaligned *)p = half;
    half = v.hi;
    p += 8;
    lanes -= 8;
  }
  cscse_f4 quarter = half.lo;
  if (lanes >= 4) {
    *(cscse_f4_unaligned *)p = quarter;
    quarter = half.hi;
    p += 4;
    lanes -= 4;
  }
  if (lanes >= 1) p[0] = quarter.x;
  if (lanes >= 2) p[1] = quarter.y;
  if (lanes >= 3) p[2] = quarter.z;
}

#pragma clang diagnostic pop

#endif
