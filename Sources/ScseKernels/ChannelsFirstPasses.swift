// Passes over one tile of one sample in channels-first order: element (c, s)
// of sample n is at (n * C + c) * S + s. Each channel row of the tile is read
// once per pass; per-position accumulators (logits, dy.x) stay in L1.
import ScseCore

extension BlockKernel {
  /// Where channel block `b` of sample `n` accumulates its partial spatial
  /// logits (block 0 straight into the gate buffer).
  @inline(__always) func partialLogits(_ n: Int, _ b: Int) -> UnsafeMutablePointer<Float> {
    b == 0 ? spatialGate(n)
      : workspace.partialLogits + (n * (plan.tiling.channelBlocks - 1) + b - 1) * plan.spatial
  }

  /// The same for the partial `sum_c dy*x` of the backward pass.
  @inline(__always) func partialGrads(_ n: Int, _ b: Int) -> UnsafeMutablePointer<Float> {
    b == 0 ? spatialGrad(n)
      : workspace.partialGrads + (n * (plan.tiling.channelBlocks - 1) + b - 1) * plan.spatial
  }

  /// Adds the channel blocks' partial sums over `positions` pairwise into block 0's buffer.
  func reduceChannelBlocks(_ positions: Range<Int>,
                           _ partial: (Int) -> UnsafeMutablePointer<Float>) {
    sumPairwise(plan.tiling.channelBlocks, length: positions.count) { b in
      partial(b) + positions.lowerBound
    }
  }

  /// Forward statistics of tile `t`, channel block `b`: the channels' tile
  /// sums and the block's partial spatial logits.
  func forwardStatisticsChannelsFirst(_ n: Int, _ t: Int, block b: Int) {
    let channels = plan.channels, spatial = plan.spatial
    let positions = plan.tiling.range(t, spatial: spatial)
    let length = positions.count
    let rows = x + n * channels * spatial + positions.lowerBound
    let hasChannel = plan.channelGate != nil, hasSpatial = plan.spatialGate != nil
    let sums = hasChannel ? tileSums(n, t) : nil
    let z = partialLogits(n, b) + positions.lowerBound
    let w = UnsafePointer(workspace.spatialWeight)
    let block = plan.tiling.channelRange(b, channels: channels)
    if hasSpatial { z.initialize(repeating: 0, count: length) }
    var c = block.lowerBound
    if hasSpatial {
      // Four rows per sweep: the logits are loaded and stored once per four
      // channels; they still accumulate in channel order.
      while c + 4 <= block.upperBound {
        let r0 = rows + c * spatial, r1 = r0 + spatial, r2 = r1 + spatial, r3 = r2 + spatial
        let w0 = Vec(repeating: w[c]), w1 = Vec(repeating: w[c + 1])
        let w2 = Vec(repeating: w[c + 2]), w3 = Vec(repeating: w[c + 3])
        var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec()
        var s0 = Cascade(), s1 = Cascade(), s2 = Cascade(), s3 = Cascade()
        blockedChunks(length, { i, lanes in
          let v0 = load(r0 + i, lanes), v1 = load(r1 + i, lanes)
          let v2 = load(r2 + i, lanes), v3 = load(r3 + i, lanes)
          a0 += v0; a1 += v1; a2 += v2; a3 += v3
          var acc = load(z + i, lanes)
          acc = mulAdd(w0, v0, acc); acc = mulAdd(w1, v1, acc)
          acc = mulAdd(w2, v2, acc); acc = mulAdd(w3, v3, acc)
          store(acc, z + i, lanes)
        }, endBlock: {
          s0.add(a0); s1.add(a1); s2.add(a2); s3.add(a3)
          a0 = Vec(); a1 = Vec(); a2 = Vec(); a3 = Vec()
        })
        if let sums {
          sums[c] = s0.total; sums[c + 1] = s1.total; sums[c + 2] = s2.total; sums[c + 3] = s3.total
        }
        c += 4
      }
    }
    while c < block.upperBound {
      let row = rows + c * spatial
      if hasSpatial {
        let wc = Vec(repeating: w[c])
        var acc = Vec(), total = Cascade()
        blockedChunks(length, { i, lanes in
          let v = load(row + i, lanes)
          acc += v
          store(mulAdd(wc, v, load(z + i, lanes)), z + i, lanes)
        }, endBlock: { total.add(acc); acc = Vec() })
        if let sums { sums[c] = total.total }
      } else {
        sums![c] = sum(row, length)
      }
      c += 1
    }
  }

  /// Finishes tile `t` after all its channel blocks: logits to gates.
  func finishForwardStatisticsChannelsFirst(_ n: Int, _ t: Int) {
    guard plan.spatialGate != nil else { return }
    let positions = plan.tiling.range(t, spatial: plan.spatial)
    reduceChannelBlocks(positions) { b in partialLogits(n, b) }
    finishSpatialGates(n, positions)
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
  /// (cSE, sSE, scSE-sum), tile `t`, channel block `b`: channel sums of x and
  /// of dy*x, the block's partial spatial logits and `sum_c dy*x`, all in one
  /// read of x and dy.
  func backwardStatisticsChannelsFirst(_ n: Int, _ t: Int, block b: Int) {
    let channels = plan.channels, spatial = plan.spatial
    let positions = plan.tiling.range(t, spatial: spatial)
    let length = positions.count
    let base = n * channels * spatial + positions.lowerBound
    let hasChannel = plan.channelGate != nil, hasSpatial = plan.spatialGate != nil
    let z = partialLogits(n, b) + positions.lowerBound
    let q = partialGrads(n, b) + positions.lowerBound
    let w = UnsafePointer(workspace.spatialWeight)
    if hasSpatial {
      z.initialize(repeating: 0, count: length)
      q.initialize(repeating: 0, count: length)
    }
    let sums = hasChannel ? tileSums(n, t) : nil
    let dots = hasChannel ? tileDots(n, t) : nil
    for c in plan.tiling.channelRange(b, channels: channels) {
      let row = x + base + c * spatial, dyRow = gradY! + base + c * spatial
      var accX = Vec(), accDot = Vec(), totalX = Cascade(), totalDot = Cascade()
      let endBlock = {
        totalX.add(accX); totalDot.add(accDot)
        accX = Vec(); accDot = Vec()
      }
      if hasSpatial {
        let wc = Vec(repeating: w[c])
        blockedChunks(length, { i, lanes in
          let v = load(row + i, lanes)
          let dv = load(dyRow + i, lanes)
          let product = dv * v
          accX += v
          accDot += product
          store(mulAdd(wc, v, load(z + i, lanes)), z + i, lanes)
          store(load(q + i, lanes) + product, q + i, lanes)
        }, endBlock: endBlock)
      } else {
        blockedChunks(length, { i, lanes in
          let v = load(row + i, lanes)
          accX += v
          accDot = mulAdd(load(dyRow + i, lanes), v, accDot)
        }, endBlock: endBlock)
      }
      if hasChannel { sums![c] = totalX.total; dots![c] = totalDot.total }
    }
  }

  /// Finishes backward tile `t` after all its channel blocks: the gates and
  /// logits (unless scSE-max already has them) and the logit gradients.
  func finishBackwardStatisticsChannelsFirst(_ n: Int, _ t: Int) {
    guard plan.spatialGate != nil else { return }
    let positions = plan.tiling.range(t, spatial: plan.spatial)
    if !plan.isMax {
      reduceChannelBlocks(positions) { b in partialLogits(n, b) }
      finishSpatialGates(n, positions)
    }
    reduceChannelBlocks(positions) { b in partialGrads(n, b) }
    finishSpatialGrads(n, positions)
  }

  /// scSE-max backward, tile `t`, channel block `b`: splits dy between the
  /// branches as torch.maximum does and accumulates `sum_s dy_c*x` per
  /// channel and the block's partial `sum_c dy_s*x` per position. Needs both gates.
  func backwardMaxDotsChannelsFirst(_ n: Int, _ t: Int, block b: Int) {
    let channels = plan.channels, spatial = plan.spatial
    let positions = plan.tiling.range(t, spatial: spatial)
    let length = positions.count
    let base = n * channels * spatial + positions.lowerBound
    let gs = UnsafePointer(spatialGate(n) + positions.lowerBound)
    let gc = UnsafePointer(channelGate(n))
    let q = partialGrads(n, b) + positions.lowerBound
    q.initialize(repeating: 0, count: length)
    let dots = tileDots(n, t)
    for c in plan.tiling.channelRange(b, channels: channels) {
      let row = x + base + c * spatial, dyRow = gradY! + base + c * spatial
      let g = Vec(repeating: gc[c])
      var accDot = Vec(), total = Cascade()
      blockedChunks(length, { i, lanes in
        let v = load(row + i, lanes)
        let (da, db) = maxBranchGrads(v * g, v * load(gs + i, lanes), load(dyRow + i, lanes))
        accDot = mulAdd(da, v, accDot)
        store(mulAdd(db, v, load(q + i, lanes)), q + i, lanes)
      }, endBlock: { total.add(accDot); accDot = Vec() })
      dots[c] = total.total
    }
  }

  /// Writes grad x for tile `t`, channel block `b`, and the tile's spatial
  /// weight partials for those channels (block 0 also the bias partial).
  func backwardApplyChannelsFirst(_ n: Int, _ t: Int, block b: Int) {
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
    for c in plan.tiling.channelRange(b, channels: channels) {
      let row = x + base + c * spatial, dyRow = gradY! + base + c * spatial
      let dst = out + base + c * spatial
      switch mode {
      case .channelOnly:
        let g = Vec(repeating: gc[c]), m = Vec(repeating: dm[c])
        chunks(length) { i, lanes in store(load(dyRow + i, lanes) * g + m, dst + i, lanes) }
      case .spatialOnly:
        let wc = Vec(repeating: w[c])
        var accW = Vec(), totalW = Cascade()
        blockedChunks(length, { i, lanes in
          let v = load(row + i, lanes), dz = load(dzs + i, lanes)
          accW = mulAdd(dz, v, accW)
          store(load(dyRow + i, lanes) * load(gs + i, lanes) + dz * wc, dst + i, lanes)
        }, endBlock: { totalW.add(accW); accW = Vec() })
        weightGrad![c] = totalW.total
      case .sum:
        let g = Vec(repeating: gc[c]), m = Vec(repeating: dm[c]), wc = Vec(repeating: w[c])
        var accW = Vec(), totalW = Cascade()
        blockedChunks(length, { i, lanes in
          let v = load(row + i, lanes), dz = load(dzs + i, lanes), dv = load(dyRow + i, lanes)
          accW = mulAdd(dz, v, accW)
          store((dv * g + dv * load(gs + i, lanes)) + mulAdd(dz, wc, m), dst + i, lanes)
        }, endBlock: { totalW.add(accW); accW = Vec() })
        weightGrad![c] = totalW.total
      case .max:
        let g = Vec(repeating: gc[c]), m = Vec(repeating: dm[c]), wc = Vec(repeating: w[c])
        var accW = Vec(), totalW = Cascade()
        blockedChunks(length, { i, lanes in
          let v = load(row + i, lanes), dz = load(dzs + i, lanes), gsv = load(gs + i, lanes)
          let (da, db) = maxBranchGrads(v * g, v * gsv, load(dyRow + i, lanes))
          accW = mulAdd(dz, v, accW)
          store((da * g + db * gsv) + mulAdd(dz, wc, m), dst + i, lanes)
        }, endBlock: { totalW.add(accW); accW = Vec() })
        weightGrad![c] = totalW.total
      }
    }
    if hasSpatial && b == 0 {
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
