// Vectorised logistic function. Accuracy is measured by the test suite
// against a Float64 reference over the whole float range (see README).

/// `exp(t)` for 16 lanes: Cody-Waite range reduction by ln 2 and a degree-8
/// polynomial on |r| <= ln2/2, then a scale by 2^n applied in two halves so
/// that results near overflow and in the subnormal range stay correct.
@inline(__always)
func exp(_ t: Vec) -> Vec {
  let log2e: Float = 1.44269504088896341
  let ln2Hi: Float = 0.693359375
  let ln2Lo: Float = -2.12194440e-4
  // Outside this range the result is 0 or +inf anyway; clamping keeps the
  // integer exponent arithmetic in range.
  let t = t.clamped(lowerBound: Vec(repeating: -104), upperBound: Vec(repeating: 89))
  let n = (t * log2e).rounded(.toNearestOrEven)
  var r = fma(n, Vec(repeating: -ln2Hi), t)
  r = fma(n, Vec(repeating: -ln2Lo), r)
  var p = Vec(repeating: 1.0 / 40320)
  p = fma(p, r, Vec(repeating: 1.0 / 5040))
  p = fma(p, r, Vec(repeating: 1.0 / 720))
  p = fma(p, r, Vec(repeating: 1.0 / 120))
  p = fma(p, r, Vec(repeating: 1.0 / 24))
  p = fma(p, r, Vec(repeating: 1.0 / 6))
  p = fma(p, r, Vec(repeating: 0.5))
  p = fma(p, r, Vec(repeating: 1))
  p = fma(p, r, Vec(repeating: 1))
  let k = SIMD16<Int32>(n, rounding: .towardZero)
  let k1 = k &>> 1
  let k2 = k &- k1
  let s1 = unsafeBitCast((k1 &+ 127) &<< 23, to: Vec.self)
  let s2 = unsafeBitCast((k2 &+ 127) &<< 23, to: Vec.self)
  return p * s1 * s2
}

/// `1 / (1 + exp(-v))` for 16 lanes; NaN stays NaN, +-inf give 1 and 0.
@inline(__always)
func sigmoid(_ v: Vec) -> Vec {
  var r = 1 / (1 + exp(-v))
  r.replace(with: v, where: v .!= v)
  return r
}

/// Scalar logistic function with the same arithmetic as the vector one, so a
/// value gets the same gate whichever path computes it.
@inline(__always)
func sigmoid(_ v: Float) -> Float {
  sigmoid(Vec(repeating: v))[0]
}

/// Applies `sigmoid` in place to `count` floats.
@inline(__always)
func sigmoidInPlace(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
  var i = 0
  while i + vecWidth <= count {
    storeVec(sigmoid(loadVec(p + i)), p + i)
    i += vecWidth
  }
  if i < count {
    var tail = Vec()
    for j in 0 ..< count - i { tail[j] = p[i + j] }
    tail = sigmoid(tail)
    for j in 0 ..< count - i { p[i + j] = tail[j] }
  }
}
