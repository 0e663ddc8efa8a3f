// Passes over one tile of one sample in channels-first order: element (c, s)
// of sample n is at (n * C + c) * S + s. Each channel row of the tile is read
// once per pass; per-position accumulators (logits, dy.x) stay in L1.
import ScseCore

extension BlockKernel {
  /// Forward statistics: per-tile channel sums and the tile's spatial gates.
  func forwardStatisticsChannelsFirst(_ n: Int, _ t: Int) {
    let channels = plan.channels, spatial = plan.spatial
    let positions = plan.tiling.range(t, spatial: spatial)
    let length = positions.count
    let rows = x + n * channels * spatial + positions.lowerBound
    let hasChannel = plan.channelGate != nil, hasSpatial = plan.spatialGate != nil
    let sums = hasChannel ? tileSums(n, t) : nil
    let z = spatialGate(n) + positions.lowerBound
    let w = UnsafePointer(workspace.spatialWeight)
    if hasSpatial { z.initialize(repeating: 0, count: length) }
    var c = 0
    if hasSpatial {
      // Four rows per sweep: the logits are loaded and stored once per four
      // channels; they still accumulate in channel order.
      while c + 4 <= channels {
        let r0 = rows + c * spatial, r1 = r0 + spatial, r2 = r1 + spatial, r3 = r2 + spatial
        let w0 = Vec(repeating: w[c]), w1 = Vec(repeating: w[c + 1])
        let w2 = Vec(repeating: w[c + 2]), w3 = Vec(repeating: w[c + 3])
        var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
        chunks(length) { i, lanes in
          let v0 = load(r0 + i, lanes), v1 = load(r1 + i, lanes)
          let v2 = load(r2 + i, lanes), v3 = load(r3 + i, lanes)
          a0 += v0; a1 += v1; a2 += v2; a3 += v3
          var acc = load(z + i, lanes)
          acc = mulAdd(w0, v0, acc); acc = mulAdd(w1, v1, acc)
          acc = mulAdd(w2, v2, acc); acc = mulAdd(w3, v3, acc)
          store(acc, z + i, lanes)
        }
        if let sums {
          sums[c] = a0.sum(); sums[c + 1] = a1.sum(); sums[c + 2] = a2.sum(); sums[c + 3] = a3.sum()
        }
        c += 4
      }
    }
    while c < channels {
      let row = rows + c * spatial
      if hasSpatial {
        let wc = Vec(repeating: w[c])
        var acc = Vec()
        chunks(length) { i, lanes in
          let v = load(row + i, lanes)
          acc += v
          store(mulAdd(wc, v, load(z + i, lanes)), z + i, lanes)
        }
        if let sums { sums[c] = acc.sum() }
      } else {
        sums![c] = sum(row, length)
      }
      c += 1
    }
    if hasSpatial { finishSpatialGates(n, positions) }
  }

  /// Writes y for channels `channelRange` x positions `positionRange`.
  func forwardApplyChannelsFirst(_ n: Int, channelRange: Range<Int>, positionRange: Range<Int>) {
    let spatial = plan.spatial
    let s0 = positionRange.lowerBound, length = positionRange.count
    let gs = UnsafePointer(spatialGate(n) + s0)
    let gc = UnsafePointer(channelGate(n))
    let mode = combine
    for c in channelRange {
      let offset = (n * plan.channels + c) * spatial + s0
      let row = x + offset, dst = out + offset
      switch mode {
      case .channelOnly:
        let g = Vec(repeating: gc[c])
        chunks(length) { i, lanes in store(load(row + i, lanes) * g, dst + i, lanes) }
      case .spatialOnly:
        chunks(length) { i, lanes in store(load(row + i, lanes) * load(gs + i, lanes), dst + i, lanes) }
      case .sum:
        // x * gc + x * gs as a multiply-add (one rounding fewer where fused).
        let g = Vec(repeating: gc[c])
        chunks(length) { i, lanes in
          let v = load(row + i, lanes)
          store(mulAdd(v, g, v * load(gs + i, lanes)), dst + i, lanes)
        }
      case .max:
        let g = Vec(repeating: gc[c])
        chunks(length) { i, lanes in
          let v = load(row + i, lanes)
          store(maximumPropagatingNaN(v * g, v * load(gs + i, lanes)), dst + i, lanes)
        }
      }
    }
  }

  /// Backward statistics when the branch gradients do not depend on the gates
  /// (cSE, sSE, scSE-sum): channel sums of x and of dy*x, spatial logits and
  /// `sum_c dy*x`, all in one read of x and dy.
  func backwardStatisticsChannelsFirst(_ n: Int, _ t: Int) {
    let channels = plan.channels, spatial = plan.spatial
    let positions = plan.tiling.range(t, spatial: spatial)
    let length = positions.count
    let base = n * channels * spatial + positions.lowerBound
    let hasChannel = plan.channelGate != nil, hasSpatial = plan.spatialGate != nil
    let z = spatialGate(n) + positions.lowerBound
    let q = spatialGrad(n) + positions.lowerBound
    let w = UnsafePointer(workspace.spatialWeight)
    if hasSpatial {
      z.initialize(repeating: 0, count: length)
      q.initialize(repeating: 0, count: length)
    }
    let sums = hasChannel ? tileSums(n, t) : nil
    let dots = hasChannel ? tileDots(n, t) : nil
    for c in 0 ..< channels {
      let row = x + base + c * spatial, dyRow = gradY! + base + c * spatial
      if hasSpatial {
        let wc = Vec(repeating: w[c])
        var accX = Vec(), accDot = Vec()
        chunks(length) { i, lanes in
          let v = load(row + i, lanes)
          let dv = load(dyRow + i, lanes)
          let product = dv * v
          accX += v
          accDot += product
          store(mulAdd(wc, v, load(z + i, lanes)), z + i, lanes)
          store(load(q + i, lanes) + product, q + i, lanes)
        }
        if hasChannel { sums![c] = accX.sum(); dots![c] = accDot.sum() }
      } else {
        var accX = Vec(), accDot = Vec()
        chunks(length) { i, lanes in
          let v = load(row + i, lanes)
          accX += v
          accDot = mulAdd(load(dyRow + i, lanes), v, accDot)
        }
        sums![c] = accX.sum(); dots![c] = accDot.sum()
      }
    }
    if hasSpatial {
      finishSpatialGates(n, positions)
      finishSpatialGrads(n, positions)
    }
  }

  /// scSE-max backward: splits dy between the branches as torch.maximum does
  /// and accumulates `sum_s dy_c*x` per channel and `sum_c dy_s*x` per
  /// position. Needs both gates.
  func backwardMaxDotsChannelsFirst(_ n: Int, _ t: Int) {
    let channels = plan.channels, spatial = plan.spatial
    let positions = plan.tiling.range(t, spatial: spatial)
    let length = positions.count
    let base = n * channels * spatial + positions.lowerBound
    let gs = UnsafePointer(spatialGate(n) + positions.lowerBound)
    let gc = UnsafePointer(channelGate(n))
    let q = spatialGrad(n) + positions.lowerBound
    q.initialize(repeating: 0, count: length)
    let dots = tileDots(n, t)
    for c in 0 ..< channels {
      let row = x + base + c * spatial, dyRow = gradY! + base + c * spatial
      let g = Vec(repeating: gc[c])
      var accDot = Vec()
      chunks(length) { i, lanes in
        let v = load(row + i, lanes)
        let (da, db) = maxBranchGrads(v * g, v * load(gs + i, lanes), load(dyRow + i, lanes))
        accDot = mulAdd(da, v, accDot)
        store(mulAdd(db, v, load(q + i, lanes)), q + i, lanes)
      }
      dots[c] = accDot.sum()
    }
    finishSpatialGrads(n, positions)
  }

  /// Writes grad x for one tile and the tile's spatial weight/bias partials.
  func backwardApplyChannelsFirst(_ n: Int, _ t: Int) {
    let channels = plan.channels, spatial = plan.spatial
    let positions = plan.tiling.range(t, spatial: spatial)
    let length = positions.count
    let base = n * channels * spatial + positions.lowerBound
    let hasSpatial = plan.spatialGate != nil
    let gs = UnsafePointer(spatialGate(n) + positions.lowerBound)
    let dzs = UnsafePointer(spatialGrad(n) + positions.lowerBound)
    let gc = UnsafePointer(channelGate(n))
    let dm = UnsafePointer(channelInputGrad(n))
    let w = UnsafePointer(workspace.spatialWeight)
    let weightGrad = hasSpatial ? tileWeightGrad(n, t) : nil
    let mode = combine
    for c in 0 ..< channels {
      let row = x + base + c * spatial, dyRow = gradY! + base + c * spatial
      let dst = out + base + c * spatial
      switch mode {
      case .channelOnly:
        let g = Vec(repeating: gc[c]), m = Vec(repeating: dm[c])
        chunks(length) { i, lanes in store(load(dyRow + i, lanes) * g + m, dst + i, lanes) }
      case .spatialOnly:
        let wc = Vec(repeating: w[c])
        var accW = Vec()
        chunks(length) { i, lanes in
          let v = load(row + i, lanes), dz = load(dzs + i, lanes)
          accW = mulAdd(dz, v, accW)
          store(load(dyRow + i, lanes) * load(gs + i, lanes) + dz * wc, dst + i, lanes)
        }
        weightGrad![c] = accW.sum()
      case .sum:
        let g = Vec(repeating: gc[c]), m = Vec(repeating: dm[c]), wc = Vec(repeating: w[c])
        var accW = Vec()
        chunks(length) { i, lanes in
          let v = load(row + i, lanes), dz = load(dzs + i, lanes), dv = load(dyRow + i, lanes)
          accW = mulAdd(dz, v, accW)
          store((dv * g + dv * load(gs + i, lanes)) + mulAdd(dz, wc, m), dst + i, lanes)
        }
        weightGrad![c] = accW.sum()
      case .max:
        let g = Vec(repeating: gc[c]), m = Vec(repeating: dm[c]), wc = Vec(repeating: w[c])
        var accW = Vec()
        chunks(length) { i, lanes in
          let v = load(row + i, lanes), dz = load(dzs + i, lanes), gsv = load(gs + i, lanes)
          let (da, db) = maxBranchGrads(v * g, v * gsv, load(dyRow + i, lanes))
          accW = mulAdd(dz, v, accW)
          store((da * g + db * gsv) + mulAdd(dz, wc, m), dst + i, lanes)
        }
        weightGrad![c] = accW.sum()
      }
    }
    if hasSpatial {
      workspace.tileBiasGrad[n * plan.tiling.count + t] = sum(dzs, length)
    }
  }
}

/// torch.maximum's backward for `y = max(a, b)` with output gradient `dy`:
/// the larger operand gets dy, equal operands get dy / 2 each, and when the
/// comparison is unordered (NaN) both get dy.
@inline(__always)
func maxBranchGrads(_ a: Vec, _ b: Vec, _ dy: Vec) -> (Vec, Vec) {
  let shared = dy.replacing(with: dy * 0.5, where: a .== b)
  return (shared.replacing(with: 0, where: a .< b), shared.replacing(with: 0, where: a .> b))
}
