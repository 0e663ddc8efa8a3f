// What one call's passes share: the plan, the caller's tensors and the
// workspace. Pass implementations live in the ChannelsFirst*/ChannelsLast*
// files; Forward.swift and Backward.swift order them.
import ScseCore

/// How the gated branches become the output.
enum Combine {
  case channelOnly, spatialOnly, sum, max
}

struct BlockKernel: @unchecked Sendable {
  let plan: BlockPlan
  let workspace: Workspace
  /// Forward input.
  let x: UnsafePointer<Float>
  /// Backward only: gradient with respect to the output.
  let gradY: UnsafePointer<Float>?
  /// y (forward) or grad x (backward).
  let out: UnsafeMutablePointer<Float>

  var combine: Combine {
    switch (plan.channelGate != nil, plan.spatialGate != nil) {
    case (true, false): return .channelOnly
    case (false, true): return .spatialOnly
    default: return plan.aggregate == .sum ? .sum : .max
    }
  }

  // Per-sample / per-tile views into the workspace.

  @inline(__always) func tileSums(_ n: Int, _ t: Int) -> UnsafeMutablePointer<Float> {
    workspace.tileSums + (n * plan.tiling.count + t) * plan.channels
  }
  @inline(__always) func tileDots(_ n: Int, _ t: Int) -> UnsafeMutablePointer<Float> {
    workspace.tileDots + (n * plan.tiling.count + t) * plan.channels
  }
  @inline(__always) func tileWeightGrad(_ n: Int, _ t: Int) -> UnsafeMutablePointer<Float> {
    workspace.tileWeightGrad + (n * plan.tiling.count + t) * plan.channels
  }
  @inline(__always) func channelGate(_ n: Int) -> UnsafeMutablePointer<Float> {
    workspace.channelGate + n * plan.channels
  }
  @inline(__always) func channelInputGrad(_ n: Int) -> UnsafeMutablePointer<Float> {
    workspace.channelInputGrad + n * plan.channels
  }
  /// Spatial gates of sample `n` (logits until the tile is finished).
  @inline(__always) func spatialGate(_ n: Int) -> UnsafeMutablePointer<Float> {
    workspace.spatialGate + n * plan.spatial
  }
  /// Spatial logit gradients of sample `n` (`sum_c dy*x` until finished).
  @inline(__always) func spatialGrad(_ n: Int) -> UnsafeMutablePointer<Float> {
    workspace.spatialGrad + n * plan.spatial
  }
  @inline(__always) var spatialBias: Float { plan.spatialGate?.bias?.pointee ?? 0 }

  /// Turns a tile's accumulated logits into gates: `g = sigmoid(z + b)`.
  func finishSpatialGates(_ n: Int, _ positions: Range<Int>) {
    sigmoidInPlace(spatialGate(n) + positions.lowerBound, positions.count, bias: spatialBias)
  }

  /// Turns a tile's `sum_c dy*x` into logit gradients: `q * (1 - g) * g`.
  func finishSpatialGrads(_ n: Int, _ positions: Range<Int>) {
    let q = spatialGrad(n) + positions.lowerBound
    let g = UnsafePointer(spatialGate(n) + positions.lowerBound)
    chunks(positions.count) { i, lanes in
      let gv = load(g + i, lanes)
      store(load(q + i, lanes) * (1 - gv) * gv, q + i, lanes)
    }
  }

  /// Sums the per-tile channel partials of sample `n` in tile order into
  /// `destination` (which may be the first tile's buffer).
  func reduceTiles(_ tiles: (Int, Int) -> UnsafeMutablePointer<Float>, _ n: Int,
                   into destination: UnsafeMutablePointer<Float>) {
    let first = tiles(n, 0)
    if destination != first {
      destination.update(from: first, count: plan.channels)
    }
    for t in 1 ..< plan.tiling.count {
      addInPlace(tiles(n, t), destination, plan.channels)
    }
  }
}
