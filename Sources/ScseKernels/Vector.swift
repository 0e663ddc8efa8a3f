// Unaligned SIMD loads and stores: the C ABI promises nothing beyond float
// alignment, so every vector access is unaligned (free on current x86/ARM).

/// The vector type of the hot loops: 16 lanes, two AVX registers (more
/// independent work per iteration than one register; the four-row loops
/// spill a little, which measured cheaper than 8-lane vectors).
typealias Vec = SIMD16<Float>
/// Integer lanes matching `Vec`.
typealias VecInt32 = SIMD16<Int32>

/// Lanes per `Vec`.
let vecWidth = 16

@inline(__always)
func loadVec(_ p: UnsafePointer<Float>) -> Vec {
  UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always)
func storeVec(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// `a * b + c`: one FMA instruction (one rounding) in the variants built with
/// `SCSE_FMA` (x86-64-v3, aarch64), a multiply and an add (two roundings)
/// elsewhere. Without FMA hardware a fused result needs a libm call per lane.
@inline(__always)
func mulAdd(_ a: Vec, _ b: Vec, _ c: Vec) -> Vec {
  #if SCSE_FMA
  c.addingProduct(a, b)
  #else
  a * b + c
  #endif
}

/// `Float.maximum` semantics of torch.maximum: NaN in either operand wins.
@inline(__always)
func maximumPropagatingNaN(_ a: Vec, _ b: Vec) -> Vec {
  var r = a.replacing(with: b, where: a .< b)
  r.replace(with: b, where: b .!= b)
  return r
}

/// Sum of `count` floats; fixed order (two vectors of lane partial sums, then the tail).
@inline(__always)
func sum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
  var acc0 = Vec(), acc1 = Vec()
  var i = 0
  while i + 2 * vecWidth <= count {
    acc0 += loadVec(p + i)
    acc1 += loadVec(p + i + vecWidth)
    i += 2 * vecWidth
  }
  if i + vecWidth <= count {
    acc0 += loadVec(p + i)
    i += vecWidth
  }
  var total = (acc0 + acc1).sum()
  while i < count { total += p[i]; i += 1 }
  return total
}

/// Dot product of `count` floats; fixed order.
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
  var acc0 = Vec(), acc1 = Vec()
  var i = 0
  while i + 2 * vecWidth <= count {
    acc0 = mulAdd(loadVec(a + i), loadVec(b + i), acc0)
    acc1 = mulAdd(loadVec(a + i + vecWidth), loadVec(b + i + vecWidth), acc1)
    i += 2 * vecWidth
  }
  if i + vecWidth <= count {
    acc0 = mulAdd(loadVec(a + i), loadVec(b + i), acc0)
    i += vecWidth
  }
  var total = (acc0 + acc1).sum()
  while i < count { total = a[i] * b[i] + total; i += 1 }
  return total
}

/// `y[i] += alpha * x[i]` for `count` floats.
@inline(__always)
func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
  let a = Vec(repeating: alpha)
  var i = 0
  while i + vecWidth <= count {
    storeVec(mulAdd(a, loadVec(x + i), loadVec(y + i)), y + i)
    i += vecWidth
  }
  while i < count { y[i] = alpha * x[i] + y[i]; i += 1 }
}

/// `y[i] += x[i]` for `count` floats.
@inline(__always)
func addInPlace(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
  var i = 0
  while i + vecWidth <= count {
    storeVec(loadVec(x + i) + loadVec(y + i), y + i)
    i += vecWidth
  }
  while i < count { y[i] += x[i]; i += 1 }
}

/// Loads `lanes` (< vecWidth) floats, zero-filling the rest; for loop tails.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ lanes: Int) -> Vec {
  var v = Vec()
  for j in 0 ..< lanes { v[j] = p[j] }
  return v
}

/// Stores the first `lanes` (< vecWidth) lanes of `v`; for loop tails.
@inline(__always)
func storePartial(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
  for j in 0 ..< lanes { p[j] = v[j] }
}

/// Loads `lanes` floats (a full vector when `lanes == vecWidth`).
@inline(__always)
func load(_ p: UnsafePointer<Float>, _ lanes: Int) -> Vec {
  lanes == vecWidth ? loadVec(p) : loadPartial(p, lanes)
}

/// Stores `lanes` floats (a full vector when `lanes == vecWidth`).
@inline(__always)
func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
  if lanes == vecWidth { storeVec(v, p) } else { storePartial(v, p, lanes) }
}

/// Calls `body(offset, lanes)` over `0..<count` in vector-sized chunks; only
/// the last chunk may have fewer than vecWidth lanes. Zero-filled tail lanes add
/// nothing to sums and dot products.
@inline(__always)
func chunks(_ count: Int, _ body: (_ offset: Int, _ lanes: Int) -> Void) {
  // Wrapping adds: count is a validated buffer length, far from Int.max.
  var i = 0
  while i &+ vecWidth <= count {
    body(i, vecWidth)
    i &+= vecWidth
  }
  if i < count { body(i, count &- i) }
}
