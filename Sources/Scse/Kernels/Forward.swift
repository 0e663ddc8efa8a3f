// Forward pass orchestration. Per sample: one pass that gathers the channel
// sums and the spatial logits of each tile, the tiny channel MLP, then one
// pass that writes y, visiting tiles in reverse so the most recently read
// ones are still cached.

extension BlockKernel {
  /// Averages the spatial gate's weight rows (`torch.mean(weights, dim=0)`).
  func prepareSpatialWeight() {
    guard let gate = plan.spatialGate else { return }
    let channels = plan.channels
    let w = workspace.spatialWeight
    w.update(from: gate.weight, count: channels)
    guard gate.rows > 1 else { return }
    for k in 1 ..< gate.rows { addInPlace(gate.weight + k * channels, w, channels) }
    let rows = Float(gate.rows)
    for c in 0 ..< channels { w[c] /= rows }
  }

  /// Statistics work items of one sample: tiles x channel blocks
  /// (channels-last tiles are not split by channel).
  var statisticsItems: Int {
    plan.tiling.count * (plan.channelsLast ? 1 : plan.tiling.channelBlocks)
  }

  /// Forward statistics of item `item` (tile-major) of sample `n`.
  func forwardStatistics(_ n: Int, item: Int) {
    let blocks = plan.tiling.channelBlocks
    if plan.channelsLast {
      forwardStatisticsChannelsLast(n, item)
    } else {
      forwardStatisticsChannelsFirst(n, item / blocks, block: item % blocks)
    }
  }

  /// Finishes the forward statistics of tile `t` once all its items are done.
  func finishForwardStatistics(_ n: Int, _ t: Int) {
    if !plan.channelsLast { finishForwardStatisticsChannelsFirst(n, t) }
  }

  /// Runs the forward statistics of sample `n`, items spread by `run`
  /// (`run(count, step)` calls `step` for each of `0 ..< count`).
  func forwardStatistics(_ n: Int, run: (Int, (Int) -> Void) -> Void) {
    run(statisticsItems) { item in forwardStatistics(n, item: item) }
    for t in 0 ..< plan.tiling.count { finishForwardStatistics(n, t) }
  }

  /// Channel gate of sample `n` from its tile sums.
  func forwardChannelGate(_ n: Int) {
    guard let gate = plan.channelGate else { return }
    let channels = plan.channels
    let sums = reduceTiles(tileSums, n)
    channelGateForward(gate, channels: channels, spatial: plan.spatial, sums: sums,
                       meanOut: workspace.mean + n * channels,
                       hiddenOut: workspace.hidden + n * gate.hidden,
                       gateOut: channelGate(n),
                       logitOut: gradY != nil ? workspace.channelLogitGrad + n * channels : nil)
  }

  /// Writes y for the tile `t` of sample `n`.
  func forwardApply(_ n: Int, _ t: Int) {
    let positions = plan.tiling.range(t, spatial: plan.spatial)
    if plan.channelsLast {
      forwardApplyChannelsLast(n, positionRange: positions)
    } else {
      forwardApplyChannelsFirst(n, channelRange: 0 ..< plan.channels, positionRange: positions)
    }
  }

  /// Writes y for a `part`-th of sample `n` out of `parts` (any split is
  /// exact: the apply pass is element-wise).
  func forwardApply(_ n: Int, part: Int, of parts: Int) {
    if plan.channelsLast {
      let s = plan.spatial
      forwardApplyChannelsLast(n, positionRange: part * s / parts ..< (part + 1) * s / parts)
    } else {
      let c = plan.channels
      forwardApplyChannelsFirst(n, channelRange: part * c / parts ..< (part + 1) * c / parts,
                                positionRange: 0 ..< plan.spatial)
    }
  }

  /// The whole forward pass of sample `n` on the calling thread.
  func forwardSample(_ n: Int) {
    forwardStatistics(n, run: serially)
    forwardChannelGate(n)
    for t in (0 ..< plan.tiling.count).reversed() { forwardApply(n, t) }
  }
}

/// Calls `step(i)` for each `i` in `0 ..< count` on the calling thread.
@inline(__always)
func serially(_ count: Int, _ step: (Int) -> Void) {
  for i in 0 ..< count { step(i) }
}

/// Runs the forward pass of a validated plan.
/// - Returns: `false` when the workspace could not be allocated (nothing written).
/// - Complexity: two reads of x and one write of y.
func runForward(_ plan: BlockPlan, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) -> Bool {
  guard let workspace = Workspace.make(for: plan, backward: false) else { return false }
  defer { workspace.release() }
  let kernel = BlockKernel(plan: plan, workspace: workspace, x: x, gradY: nil, out: y)
  kernel.prepareSpatialWeight()
  let threads = ThreadCount.current
  let sample = plan.channels * plan.spatial
  if plan.batch >= threads {
    parallelFor(plan.batch, threads: threads, work: 3 * plan.batch * sample) { n in kernel.forwardSample(n) }
  } else {
    // Fewer samples than threads: spread each sample over the threads.
    for n in 0 ..< plan.batch {
      kernel.forwardStatistics(n) { count, step in parallelFor(count, threads: threads, work: sample, step) }
      kernel.forwardChannelGate(n)
      // More parts than channels (positions) would only add empty work.
      let parts = Swift.min(4 * threads, plan.channelsLast ? plan.spatial : plan.channels)
      parallelFor(parts, threads: threads, work: 2 * sample) { part in kernel.forwardApply(n, part: part, of: parts) }
    }
  }
  return true
}
