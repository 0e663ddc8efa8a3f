// Passes over one tile of one sample in channels-last order: element (s, c)
// of sample n is at (n * S + s) * C + c. Vectors run along channels; the
// per-channel accumulators of a tile (C floats) stay in L1.
import ScseCore

extension BlockKernel {
  @inline(__always) private func position(_ n: Int, _ s: Int) -> Int {
    (n * plan.spatial + s) * plan.channels
  }

  /// Forward statistics: per-tile channel sums and the tile's spatial gates.
  func forwardStatisticsChannelsLast(_ n: Int, _ t: Int) {
    let channels = plan.channels
    let positions = plan.tiling.range(t, spatial: plan.spatial)
    let hasChannel = plan.channelGate != nil, hasSpatial = plan.spatialGate != nil
    let w = UnsafePointer(workspace.spatialWeight)
    let z = spatialGate(n)
    let sums = tileSums(n, t)
    if hasChannel { sums.initialize(repeating: 0, count: channels) }
    for s in positions {
      let px = x + position(n, s)
      switch (hasChannel, hasSpatial) {
      case (true, true):
        var acc = Vec(), total = Cascade()
        blockedChunks(channels, { i, lanes in
          let v = load(px + i, lanes)
          store(load(sums + i, lanes) + v, sums + i, lanes)
          acc = mulAdd(load(w + i, lanes), v, acc)
        }, endBlock: { total.add(acc); acc = Vec() })
        z[s] = total.total
      case (true, false):
        addInPlace(px, sums, channels)
      default:
        z[s] = dot(w, px, channels)
      }
    }
    if hasSpatial { finishSpatialGates(n, positions) }
  }

  /// Writes y for the positions `positionRange` (all channels).
  func forwardApplyChannelsLast(_ n: Int, positionRange: Range<Int>) {
    let channels = plan.channels
    let gs = spatialGate(n)
    let gc = UnsafePointer(channelGate(n))
    let mode = combine
    for s in positionRange {
      let px = x + position(n, s), dst = out + position(n, s)
      // Without a spatial gate there is no gate buffer to read.
      let gsv = mode == .channelOnly ? Vec() : Vec(repeating: gs[s])
      switch mode {
      case .channelOnly:
        chunks(channels) { i, lanes in store(load(px + i, lanes) * load(gc + i, lanes), dst + i, lanes) }
      case .spatialOnly:
        chunks(channels) { i, lanes in store(load(px + i, lanes) * gsv, dst + i, lanes) }
      case .sum:
        chunks(channels) { i, lanes in
          let v = load(px + i, lanes)
          store(v * load(gc + i, lanes) + v * gsv, dst + i, lanes)
        }
      case .max:
        chunks(channels) { i, lanes in
          let v = load(px + i, lanes)
          store(maximumPropagatingNaN(v * load(gc + i, lanes), v * gsv), dst + i, lanes)
        }
      }
    }
  }

  /// Backward statistics for cSE, sSE and scSE-sum (see the channels-first twin).
  func backwardStatisticsChannelsLast(_ n: Int, _ t: Int) {
    let channels = plan.channels
    let positions = plan.tiling.range(t, spatial: plan.spatial)
    let hasChannel = plan.channelGate != nil, hasSpatial = plan.spatialGate != nil
    let w = UnsafePointer(workspace.spatialWeight)
    let z = spatialGate(n), q = spatialGrad(n)
    let sums = tileSums(n, t), dots = tileDots(n, t)
    if hasChannel {
      sums.initialize(repeating: 0, count: channels)
      dots.initialize(repeating: 0, count: channels)
    }
    for s in positions {
      let px = x + position(n, s), pdy = gradY! + position(n, s)
      switch (hasChannel, hasSpatial) {
      case (true, true):
        var accZ = Vec(), accQ = Vec(), totalZ = Cascade(), totalQ = Cascade()
        blockedChunks(channels, { i, lanes in
          let v = load(px + i, lanes), dv = load(pdy + i, lanes)
          let product = dv * v
          store(load(sums + i, lanes) + v, sums + i, lanes)
          store(load(dots + i, lanes) + product, dots + i, lanes)
          accZ = mulAdd(load(w + i, lanes), v, accZ)
          accQ += product
        }, endBlock: { totalZ.add(accZ); totalQ.add(accQ); accZ = Vec(); accQ = Vec() })
        z[s] = totalZ.total
        q[s] = totalQ.total
      case (true, false):
        chunks(channels) { i, lanes in
          let v = load(px + i, lanes), dv = load(pdy + i, lanes)
          store(load(sums + i, lanes) + v, sums + i, lanes)
          store(mulAdd(dv, v, load(dots + i, lanes)), dots + i, lanes)
        }
      default:
        var accZ = Vec(), accQ = Vec(), totalZ = Cascade(), totalQ = Cascade()
        blockedChunks(channels, { i, lanes in
          let v = load(px + i, lanes)
          accZ = mulAdd(load(w + i, lanes), v, accZ)
          accQ = mulAdd(load(pdy + i, lanes), v, accQ)
        }, endBlock: { totalZ.add(accZ); totalQ.add(accQ); accZ = Vec(); accQ = Vec() })
        z[s] = totalZ.total
        q[s] = totalQ.total
      }
    }
    if hasSpatial {
      finishSpatialGates(n, positions)
      finishSpatialGrads(n, positions)
    }
  }

  /// scSE-max backward branch split (see the channels-first twin).
  func backwardMaxDotsChannelsLast(_ n: Int, _ t: Int) {
    let channels = plan.channels
    let positions = plan.tiling.range(t, spatial: plan.spatial)
    let gs = spatialGate(n), q = spatialGrad(n)
    let gc = UnsafePointer(channelGate(n))
    let dots = tileDots(n, t)
    dots.initialize(repeating: 0, count: channels)
    for s in positions {
      let px = x + position(n, s), pdy = gradY! + position(n, s)
      let gsv = Vec(repeating: gs[s])
      var accQ = Vec(), total = Cascade()
      blockedChunks(channels, { i, lanes in
        let v = load(px + i, lanes)
        let (da, db) = maxBranchGrads(v * load(gc + i, lanes), v * gsv, load(pdy + i, lanes))
        store(mulAdd(da, v, load(dots + i, lanes)), dots + i, lanes)
        accQ = mulAdd(db, v, accQ)
      }, endBlock: { total.add(accQ); accQ = Vec() })
      q[s] = total.total
    }
    finishSpatialGrads(n, positions)
  }

  /// Writes grad x for one tile and the tile's spatial weight/bias partials.
  func backwardApplyChannelsLast(_ n: Int, _ t: Int) {
    let channels = plan.channels
    let positions = plan.tiling.range(t, spatial: plan.spatial)
    let hasSpatial = plan.spatialGate != nil
    let gs = spatialGate(n), dzs = spatialGrad(n)
    let gc = UnsafePointer(channelGate(n)), dm = UnsafePointer(channelInputGrad(n))
    let w = UnsafePointer(workspace.spatialWeight)
    let weightGrad = tileWeightGrad(n, t)
    if hasSpatial { weightGrad.initialize(repeating: 0, count: channels) }
    let mode = combine
    for s in positions {
      let px = x + position(n, s), pdy = gradY! + position(n, s), dst = out + position(n, s)
      let gsv = hasSpatial ? Vec(repeating: gs[s]) : Vec()
      let dz = hasSpatial ? Vec(repeating: dzs[s]) : Vec()
      switch mode {
      case .channelOnly:
        chunks(channels) { i, lanes in
          store(load(pdy + i, lanes) * load(gc + i, lanes) + load(dm + i, lanes), dst + i, lanes)
        }
      case .spatialOnly:
        chunks(channels) { i, lanes in
          let v = load(px + i, lanes)
          store(mulAdd(dz, v, load(weightGrad + i, lanes)), weightGrad + i, lanes)
          store(load(pdy + i, lanes) * gsv + dz * load(w + i, lanes), dst + i, lanes)
        }
      case .sum:
        chunks(channels) { i, lanes in
          let v = load(px + i, lanes), dv = load(pdy + i, lanes)
          store(mulAdd(dz, v, load(weightGrad + i, lanes)), weightGrad + i, lanes)
          let direct = dv * load(gc + i, lanes) + dv * gsv
          store(direct + mulAdd(dz, load(w + i, lanes), load(dm + i, lanes)), dst + i, lanes)
        }
      case .max:
        chunks(channels) { i, lanes in
          let v = load(px + i, lanes), gcv = load(gc + i, lanes)
          let (da, db) = maxBranchGrads(v * gcv, v * gsv, load(pdy + i, lanes))
          store(mulAdd(dz, v, load(weightGrad + i, lanes)), weightGrad + i, lanes)
          store((da * gcv + db * gsv) + mulAdd(dz, load(w + i, lanes), load(dm + i, lanes)), dst + i, lanes)
        }
      }
    }
    if hasSpatial {
      workspace.tileBiasGrad[n * plan.tiling.count + t] =
        sum(UnsafePointer(dzs + positions.lowerBound), positions.count)
    }
  }
}
