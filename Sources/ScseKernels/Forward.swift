// Forward pass orchestration. Per sample: one pass that gathers the channel
// sums and the spatial logits of each tile, the tiny channel MLP, then one
// pass that writes y, visiting tiles in reverse so the most recently read
// ones are still cached.
import ScseCore

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

  /// Runs the forward statistics of sample `n`, items spread by `run`.
  func forwardStatistics(_ n: Int, run: Runner) {
    run(statisticsItems, plan.channels * plan.spatial) { item in forwardStatistics(n, item: item) }
    for t in 0 ..< plan.tiling.count { finishForwardStatistics(n, t) }
  }

  /// Channel gate of samples `samples` from their tile sums; `run` spreads the MLP's rows.
  func forwardChannelGate(_ samples: Range<Int>, run: Runner) {
    guard let gate = plan.channelGate else { return }
    channelGateForward(gate, channels: plan.channels, spatial: plan.spatial, samples: samples,
                       sums: { n in UnsafePointer(reduceTiles(tileSums, n)) },
                       mean: workspace.mean, hidden: workspace.hidden, gate: workspace.channelGate,
                       logit: gradY != nil ? workspace.channelLogitGrad : nil, run: run)
  }

  /// Whether the per-sample path may read the MLP weights once per sample:
  /// when they are no larger than a sample or small enough to stay in cache
  /// (256 KiB). Otherwise calls run in phases over the whole batch, so the
  /// weights are read once per call.
  var weightsFitPerSample: Bool {
    2 * plan.channels * plan.hidden <= Swift.max(plan.channels * plan.spatial, 64 * 1024)
  }

  /// Runs `body(n, run)` for every sample: spread over samples when there
  /// are at least `threads` of them (each sample's items then run
  /// sequentially), else sample by sample with each sample's items spread.
  /// `work` is the floats one sample's step reads or writes.
  func forEachSample(threads: Int, work: Int, _ body: (Int, Runner) -> Void) {
    if plan.batch >= threads {
      parallelFor(plan.batch, threads: threads, work: plan.batch * work) { n in body(n, serially) }
    } else {
      for n in 0 ..< plan.batch {
        body(n) { count, work, step in parallelFor(count, threads: threads, work: work, step) }
      }
    }
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
    forwardChannelGate(n ..< n + 1, run: serially)
    for t in (0 ..< plan.tiling.count).reversed() { forwardApply(n, t) }
  }
}

/// Calls `step(i)` for each `i` in `0 ..< count` on the calling thread.
@inline(__always)
func serially(_ count: Int, _ work: Int, _ step: (Int) -> Void) {
  for i in 0 ..< count { step(i) }
}

/// Runs the forward pass of a validated plan.
/// - Returns: `false` when the workspace could not be allocated (nothing written).
/// - Complexity: two reads of x and one write of y.
package func runForward(_ plan: BlockPlan, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) -> Bool {
  guard let workspace = Workspace.make(for: plan, backward: false) else { return false }
  defer { workspace.release() }
  let kernel = BlockKernel(plan: plan, workspace: workspace, x: x, gradY: nil, out: y)
  kernel.prepareSpatialWeight()
  let sample = plan.channels * plan.spatial
  // A call too small for two threads takes the one-thread path whatever the
  // setting, so a second thread can never make it slower.
  let threads = Swift.min(ThreadCount.current, threadsWorth(work: 3 * plan.batch * sample))
  if plan.batch >= threads && kernel.weightsFitPerSample {
    parallelFor(plan.batch, threads: threads, work: 3 * plan.batch * sample) { n in kernel.forwardSample(n) }
    return true
  }
  // Phases over the batch: statistics, the MLP as matrix products, then y.
  kernel.forEachSample(threads: threads, work: sample) { n, run in kernel.forwardStatistics(n, run: run) }
  kernel.forwardChannelGate(0 ..< plan.batch) { count, work, step in
    parallelFor(count, threads: threads, work: work, step)
  }
  // More parts than channels (positions) would only add empty work.
  let parts = Swift.min(4 * threads, plan.channelsLast ? plan.spatial : plan.channels)
  kernel.forEachSample(threads: threads, work: 2 * sample) { n, run in
    run(parts, 2 * sample) { part in kernel.forwardApply(n, part: part, of: parts) }
  }
  return true
}
