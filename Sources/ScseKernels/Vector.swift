// Unaligned SIMD loads and stores: the C ABI promises nothing beyond float
// alignment, so every vector access is unaligned (free on current x86/ARM).
internal import CScseSIMD

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

/// The sum of the lanes of `v` as a fixed tree (halves added lane-wise
/// until one lane is left): four dependent additions rather than fifteen,
/// which matters where thousands of short sums end in one (the gate MLP's
/// rows, the channel sums of small feature maps), and a tree's error grows
/// with log2(16) rather than 16. Written out rather than calling `sum()`:
/// its generic specialisation would be an out-of-line weak symbol defined by
/// every kernel variant, and the linker would keep one variant's code for all
/// (an AVX2 copy running on the baseline path is SIGILL on a pre-AVX CPU).
@inline(__always)
func horizontalSum(_ v: Vec) -> Float {
  let v8 = v.lowHalf + v.highHalf
  let v4 = v8.lowHalf + v8.highHalf
  let v2 = v4.lowHalf + v4.highHalf
  return v2[0] + v2[1]
}

/// `Float.maximum` semantics of torch.maximum: NaN in either operand wins.
@inline(__always)
func maximumPropagatingNaN(_ a: Vec, _ b: Vec) -> Vec {
  var r = a.replacing(with: b, where: a .< b)
  r.replace(with: b, where: b .!= b)
  return r
}

/// Floats per accumulation block: a vector accumulator takes at most 16
/// vectors before it is folded into a `Cascade`.
let blockLength = 16 * vecWidth

/// Lane-wise sum of many block sums, accurate at any length: each level adds
/// at most 16 values before it is folded into the next, so a lane's error
/// grows with the logarithm of the count (base 16) rather than with the
/// count, as in a pairwise sum. The order is fixed by the count alone.
struct Cascade {
  private var level1 = Vec(), level2 = Vec(), level3 = Vec(), level4 = Vec()
  private var blocks = 0

  /// Adds one block sum.
  @inline(__always)
  mutating func add(_ block: Vec) {
    blocks &+= 1
    // Most sums are one block long: then this is the only addition.
    if blocks == 1 {
      level1 = block
      return
    }
    level1 += block
    guard blocks & 15 == 0 else { return }
    level2 += level1
    level1 = Vec()
    guard blocks & 255 == 0 else { return }
    level3 += level2
    level2 = Vec()
    guard blocks & 4095 == 0 else { return }
    level4 += level3
    level3 = Vec()
  }

  /// The lane sums of everything added.
  @inline(__always)
  var lanes: Vec { blocks <= 16 ? level1 + level2 : level4 + (level3 + (level2 + level1)) }

  /// The sum of all lanes of everything added.
  @inline(__always)
  var total: Float { blocks <= 1 ? horizontalSum(level1) : horizontalSum(lanes) }
}

/// `chunks` over `0..<count` in blocks of `blockLength` floats, calling
/// `endBlock()` after each block (for folding a block accumulator into a
/// `Cascade`).
@inline(__always)
func blockedChunks(_ count: Int, _ body: (_ offset: Int, _ lanes: Int) -> Void,
                   endBlock: () -> Void) {
  var start = 0
  while start < count {
    let length = Swift.min(blockLength, count &- start)
    chunks(length) { i, lanes in body(start &+ i, lanes) }
    endBlock()
    start &+= length
  }
}

/// Sum of `count` floats; fixed order, accurate at any length (`Cascade`).
@inline(__always)
func sum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
  if count <= blockLength { return shortDot(p, nil, count) }
  var total = Cascade(), acc = Vec()
  blockedChunks(count, { i, lanes in acc += load(p + i, lanes) },
                endBlock: { total.add(acc); acc = Vec() })
  return total.total
}

/// Dot product of `count` floats; fixed order, accurate at any length (`Cascade`).
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
  if count <= blockLength { return shortDot(a, b, count) }
  // Whole blocks with two accumulators of 8 vectors each, folded as one
  // block sum; the last, partial block through the generic path.
  var total = Cascade(), i = 0
  while i + blockLength <= count {
    var acc0 = Vec(), acc1 = Vec()
    for k in Swift.stride(from: i, to: i + blockLength, by: 2 * vecWidth) {
      acc0 = mulAdd(loadVec(a + k), loadVec(b + k), acc0)
      acc1 = mulAdd(loadVec(a + k + vecWidth), loadVec(b + k + vecWidth), acc1)
    }
    total.add(acc0 + acc1)
    i += blockLength
  }
  if i < count {
    var acc = Vec()
    chunks(count - i) { k, lanes in acc = mulAdd(load(a + i + k, lanes), load(b + i + k, lanes), acc) }
    total.add(acc)
  }
  return total.total
}

/// The dot products of four rows `a`, `a + stride`, `a + 2 * stride`,
/// `a + 3 * stride` with `b`, `count` floats each: one load of `b` serves
/// four rows, and four independent streams keep more of the rows' memory in
/// flight than one. Each row sums in blocks of `blockLength` floats folded
/// into a `Cascade`, accurate at any length; the order is fixed by `count`.
@inline(__always)
func dots4(_ a: UnsafePointer<Float>, stride: Int, _ b: UnsafePointer<Float>,
           _ count: Int) -> (Float, Float, Float, Float) {
  let a1 = a + stride, a2 = a1 + stride, a3 = a2 + stride
  var t0 = Cascade(), t1 = Cascade(), t2 = Cascade(), t3 = Cascade()
  var s0 = Vec(), s1 = Vec(), s2 = Vec(), s3 = Vec()
  blockedChunks(count, { i, lanes in
    let v = load(b + i, lanes)
    s0 = mulAdd(load(a + i, lanes), v, s0)
    s1 = mulAdd(load(a1 + i, lanes), v, s1)
    s2 = mulAdd(load(a2 + i, lanes), v, s2)
    s3 = mulAdd(load(a3 + i, lanes), v, s3)
  }, endBlock: {
    t0.add(s0); t1.add(s1); t2.add(s2); t3.add(s3)
    s0 = Vec(); s1 = Vec(); s2 = Vec(); s3 = Vec()
  })
  return (t0.total, t1.total, t2.total, t3.total)
}

/// `dot(a, b, count)`, or the sum of `a` when `b` is nil, for at most
/// `blockLength` floats (one block: at most 16 additions per lane); short
/// tails are added one by one rather than through a partial vector.
@inline(__always)
func shortDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, _ count: Int) -> Float {
  var acc0 = Vec(), acc1 = Vec()
  var i = 0
  while i + 2 * vecWidth <= count {
    if let b {
      acc0 = mulAdd(loadVec(a + i), loadVec(b + i), acc0)
      acc1 = mulAdd(loadVec(a + i + vecWidth), loadVec(b + i + vecWidth), acc1)
    } else {
      acc0 += loadVec(a + i)
      acc1 += loadVec(a + i + vecWidth)
    }
    i += 2 * vecWidth
  }
  if i + vecWidth <= count {
    acc0 = b.map { mulAdd(loadVec(a + i), loadVec($0 + i), acc0) } ?? acc0 + loadVec(a + i)
    i += vecWidth
  }
  var total = i > 0 ? horizontalSum(acc0 + acc1) : 0
  while i < count {
    total = b.map { a[i] * $0[i] + total } ?? total + a[i]
    i += 1
  }
  return total
}

/// Adds the `count` buffers `buffer(0)`, ..., `buffer(count - 1)` of `length`
/// floats pairwise (a fixed tree: 1 into 0, 3 into 2, then 2 into 0, ...),
/// leaving the sum in `buffer(0)`. The others are overwritten.
@inline(__always)
func sumPairwise(_ count: Int, length: Int, _ buffer: (Int) -> UnsafeMutablePointer<Float>) {
  var stride = 1
  while stride < count {
    var t = 0
    while t + stride < count {
      addInPlace(buffer(t + stride), buffer(t), length)
      t += 2 * stride
    }
    stride *= 2
  }
}

/// `out[k] = sum_i a[i] * m[i * rowStride + k]` for `k` in `columns`: a row
/// vector times a row-major matrix, reading each matrix row's slice once.
/// Lanes run along columns and accumulate over rows with a `Cascade`, so the
/// sum is accurate for any number of rows; the order depends on the shape alone.
func vectorTimesMatrix(_ a: UnsafePointer<Float>, rows: Int, _ m: UnsafePointer<Float>,
                       rowStride: Int, columns: Range<Int>, _ out: UnsafeMutablePointer<Float>) {
  // Four column vectors per sweep: four independent FMA chains.
  var k0 = columns.lowerBound
  while k0 < columns.upperBound {
    let width = Swift.min(4 * vecWidth, columns.upperBound - k0)
    let l0 = Swift.min(width, vecWidth), l1 = Swift.min(Swift.max(width - vecWidth, 0), vecWidth)
    let l2 = Swift.min(Swift.max(width - 2 * vecWidth, 0), vecWidth)
    let l3 = Swift.max(width - 3 * vecWidth, 0)
    var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
    var t0 = Cascade(), t1 = Cascade(), t2 = Cascade(), t3 = Cascade()
    var i = 0
    while i < rows {
      let end = Swift.min(i + 16, rows)
      while i < end {
        let s = Vec(repeating: a[i]), row = m + i * rowStride + k0
        a0 = mulAdd(s, load(row, l0), a0)
        if l1 > 0 { a1 = mulAdd(s, load(row + vecWidth, l1), a1) }
        if l2 > 0 { a2 = mulAdd(s, load(row + 2 * vecWidth, l2), a2) }
        if l3 > 0 { a3 = mulAdd(s, load(row + 3 * vecWidth, l3), a3) }
        i += 1
      }
      t0.add(a0); t1.add(a1); t2.add(a2); t3.add(a3)
      a0 = Vec(); a1 = Vec(); a2 = Vec(); a3 = Vec()
    }
    let o = out + k0
    store(t0.lanes, o, l0)
    if l1 > 0 { store(t1.lanes, o + vecWidth, l1) }
    if l2 > 0 { store(t2.lanes, o + 2 * vecWidth, l2) }
    if l3 > 0 { store(t3.lanes, o + 3 * vecWidth, l3) }
    k0 += width
  }
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

/// `y[i] = alpha * x[i]` for `count` floats: the first term of a sum of
/// `axpy`s without zeroing `y` first (the same value: a fused `alpha * x + 0`
/// rounds as the product does).
@inline(__always)
func scaledCopy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
  let a = Vec(repeating: alpha)
  var i = 0
  while i + vecWidth <= count {
    storeVec(a * loadVec(x + i), y + i)
    i += vecWidth
  }
  while i < count { y[i] = alpha * x[i]; i += 1 }
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
/// Built from 8-, 4- and 1-float pieces in registers (Sources/CScseSIMD):
/// inserting lane by lane into a `Vec` compiles to a store and a whole-vector
/// reload per lane, a chain of store-forwarding stalls that made a row with
/// a tail several times slower than a row without one.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ lanes: Int) -> Vec {
  cscse_load16_partial(p, lanes)
}

/// Stores the first `lanes` (< vecWidth) lanes of `v`; for loop tails.
@inline(__always)
func storePartial(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
  cscse_store16_partial(v, p, lanes)
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
