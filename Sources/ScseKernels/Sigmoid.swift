// Vectorised logistic function. Accuracy is measured by the test suite
// against a Float64 reference over the whole float range (see README).

/// `exp(t)` for each lane of a `Vec`: Cody-Waite range reduction by ln 2 and a degree-8
/// polynomial on |r| <= ln2/2, then a scale by 2^n applied in two halves so
/// that results near overflow and in the subnormal range stay correct.
@inline(__always)
func exp(_ t: Vec) -> Vec {
  let log2e: Float = 1.44269504088896341
  let ln2Hi: Float = 0.693359375
  let ln2Lo: Float = -2.12194440e-4
  // Outside this range the result is 0 or +inf anyway; clamping keeps the
  // integer exponent arithmetic in range.
  // Compare-and-blend clamps compile to two vector instructions each, where
  // the stdlib's `clamped` goes lane by lane.
  let low = Vec(repeating: -104), high = Vec(repeating: 89)
  let t = t.replacing(with: low, where: t .< low).replacing(with: high, where: t .> high)
  // Adding 1.5 * 2^23 rounds t * log2(e) to the nearest integer n and leaves
  // n in the low mantissa bits, so n is read without a float-to-int
  // conversion (|n| <= 151 is far inside the 2^22 this allows).
  let magic = Vec(repeating: 12582912)
  let shifted = mulAdd(t, Vec(repeating: log2e), magic)
  let n = shifted - magic
  var r = mulAdd(n, Vec(repeating: -ln2Hi), t)
  r = mulAdd(n, Vec(repeating: -ln2Lo), r)
  var p = Vec(repeating: 1.0 / 40320)
  p = mulAdd(p, r, Vec(repeating: 1.0 / 5040))
  p = mulAdd(p, r, Vec(repeating: 1.0 / 720))
  p = mulAdd(p, r, Vec(repeating: 1.0 / 120))
  p = mulAdd(p, r, Vec(repeating: 1.0 / 24))
  p = mulAdd(p, r, Vec(repeating: 1.0 / 6))
  p = mulAdd(p, r, Vec(repeating: 0.5))
  p = mulAdd(p, r, Vec(repeating: 1))
  p = mulAdd(p, r, Vec(repeating: 1))
  let k = unsafeBitCast(shifted, to: VecInt32.self) &- unsafeBitCast(magic, to: VecInt32.self)
  let k1 = k &>> 1
  let k2 = k &- k1
  let s1 = unsafeBitCast((k1 &+ 127) &<< 23, to: Vec.self)
  let s2 = unsafeBitCast((k2 &+ 127) &<< 23, to: Vec.self)
  return p * s1 * s2
}

/// `1 / (1 + exp(-v))` for each lane of a `Vec`; NaN stays NaN, +-inf give 1 and 0.
@inline(__always)
func sigmoid(_ v: Vec) -> Vec {
  var r = 1 / (1 + exp(-v))
  r.replace(with: v, where: v .!= v)
  return r
}

/// Applies `sigmoid(v + bias)` in place to `count` floats.
@inline(__always)
func sigmoidInPlace(_ p: UnsafeMutablePointer<Float>, _ count: Int, bias: Float = 0) {
  let b = Vec(repeating: bias)
  chunks(count) { i, lanes in store(sigmoid(load(p + i, lanes) + b), p + i, lanes) }
}
