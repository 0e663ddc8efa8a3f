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
    default:
      // A switch, not `==`: comparing through Equatable emits a weak witness
      // table accessor that every kernel variant would define.
      switch plan.aggregate {
      case .sum: return .sum
      case .max: return .max
      }
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

  /// Spatial logits `z + b` of sample `n`, kept by the backward pass for `1 - g`.
  @inline(__always) func spatialLogit(_ n: Int) -> UnsafeMutablePointer<Float> {
    workspace.spatialLogit + n * plan.spatial
  }

  /// Turns a tile's accumulated logits into gates: `g = sigmoid(z + b)`; the
  /// backward pass first keeps `z + b` for `finishSpatialGrads`.
  func finishSpatialGates(_ n: Int, _ positions: Range<Int>) {
    let z = spatialGate(n) + positions.lowerBound
    if gradY != nil {
      let logit = spatialLogit(n) + positions.lowerBound
      let b = Vec(repeating: spatialBias)
      chunks(positions.count) { i, lanes in
        let v = load(z + i, lanes) + b
        store(v, logit + i, lanes)
        store(sigmoid(v), z + i, lanes)
      }
    } else {
      sigmoidInPlace(z, positions.count, bias: spatialBias)
    }
  }

  /// Turns a tile's `sum_c dy*x` into logit gradients: `q * (1 - g) * g`,
  /// with `1 - g = sigmoid(-z)` from the logit, which stays accurate where g
  /// rounds to (nearly) 1 in float32.
  func finishSpatialGrads(_ n: Int, _ positions: Range<Int>) {
    let q = spatialGrad(n) + positions.lowerBound
    let g = UnsafePointer(spatialGate(n) + positions.lowerBound)
    let logit = UnsafePointer(spatialLogit(n) + positions.lowerBound)
    chunks(positions.count) { i, lanes in
      let oneMinusG = sigmoid(-load(logit + i, lanes))
      store(load(q + i, lanes) * oneMinusG * load(g + i, lanes), q + i, lanes)
    }
  }

  /// Adds the per-tile channel partials of sample `n` pairwise (a fixed tree)
  /// into tile 0's buffer and returns it.
  func reduceTiles(_ tiles: (Int, Int) -> UnsafeMutablePointer<Float>,
                   _ n: Int) -> UnsafeMutablePointer<Float> {
    sumPairwise(plan.tiling.count, length: plan.channels) { t in tiles(n, t) }
    return tiles(n, 0)
  }
}
