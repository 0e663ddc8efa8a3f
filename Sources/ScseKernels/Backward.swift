// Backward pass orchestration. For cSE, sSE and scSE-sum the branch
// gradients do not depend on the gates, so one pass gathers everything
// (channel sums, dy.x per channel and per position); scSE-max needs the gates
// first and so spends one more read of x and dy. Then one pass writes grad x
// and the spatial weight partials. Parameter gradients are reduced over the
// batch in a fixed order at the end.
import ScseCore

extension BlockKernel {
  /// Everything before the grad-x pass for `samples`: `eachSample(body)`
  /// runs `body(n, run)` for every sample (`run` spreads that sample's
  /// items); `run` spreads the MLP's rows.
  func backwardGather(_ samples: Range<Int>, eachSample: ((Int, Runner) -> Void) -> Void, run: Runner) {
    if plan.isMax {
      eachSample { n, items in forwardStatistics(n, run: items) }
      forwardChannelGate(samples, run: run)
    }
    eachSample { n, items in
      items(statisticsItems, 2 * plan.channels * plan.spatial) { item in backwardStatistics(n, item: item) }
      if !plan.channelsLast {
        for t in 0 ..< plan.tiling.count { finishBackwardStatisticsChannelsFirst(n, t) }
      }
    }
    if !plan.isMax { forwardChannelGate(samples, run: run) }
    backwardChannelGate(samples, run: run)
  }

  /// Backward statistics of item `item` (tile-major) of sample `n`: for
  /// scSE-max the branch split (the gates are known), otherwise everything
  /// in one read of x and dy.
  func backwardStatistics(_ n: Int, item: Int) {
    let blocks = plan.tiling.channelBlocks
    switch (plan.isMax, plan.channelsLast) {
    case (true, true): backwardMaxDotsChannelsLast(n, item)
    case (true, false): backwardMaxDotsChannelsFirst(n, item / blocks, block: item % blocks)
    case (false, true): backwardStatisticsChannelsLast(n, item)
    case (false, false): backwardStatisticsChannelsFirst(n, item / blocks, block: item % blocks)
    }
  }

  /// Backward of the channel MLP of `samples` from their tile dots.
  func backwardChannelGate(_ samples: Range<Int>, run: Runner) {
    guard let gate = plan.channelGate else { return }
    channelGateBackward(gate, channels: plan.channels, spatial: plan.spatial, samples: samples,
                        gateGrad: { n in UnsafePointer(reduceTiles(tileDots, n)) },
                        gate: workspace.channelGate, hidden: workspace.hidden,
                        logitGrad: workspace.channelLogitGrad, hiddenGrad: workspace.hiddenGrad,
                        inputGrad: workspace.channelInputGrad, run: run)
  }

  /// Writes grad x for item `item` (tile-major, as the statistics items) of sample `n`.
  func backwardApply(_ n: Int, item: Int) {
    let blocks = plan.tiling.channelBlocks
    if plan.channelsLast {
      backwardApplyChannelsLast(n, item)
    } else {
      backwardApplyChannelsFirst(n, item / blocks, block: item % blocks)
    }
  }

  /// The whole backward pass of sample `n` on the calling thread.
  func backwardSample(_ n: Int) {
    backwardGather(n ..< n + 1, eachSample: { body in body(n, serially) }, run: serially)
    for item in (0 ..< statisticsItems).reversed() { backwardApply(n, item: item) }
  }

  /// Reduces the per-sample channel-gate gradients into the caller's buffers.
  func writeChannelGateGradients(_ grads: ChannelGateGradients, threads: Int) {
    guard let gate = plan.channelGate else { return }
    let batch = plan.batch, channels = plan.channels, hidden = gate.hidden
    let logitGrad = workspace.channelLogitGrad, hiddenGrad = workspace.hiddenGrad
    let mean = workspace.mean, hiddenAct = workspace.hidden
    if let db2 = grads.fc2Bias {
      db2.initialize(repeating: 0, count: channels)
      for n in 0 ..< batch { addInPlace(logitGrad + n * channels, db2, channels) }
    }
    if let db1 = grads.fc1Bias, hidden > 0 {
      db1.initialize(repeating: 0, count: hidden)
      for n in 0 ..< batch { addInPlace(hiddenGrad + n * hidden, db1, hidden) }
    }
    guard hidden > 0 else { return }
    if let dw2 = grads.fc2Weight {
      parallelFor(channels, threads: threads, work: batch * channels * hidden) { c in
        let row = dw2 + c * hidden
        scaledCopy(logitGrad[c], hiddenAct, row, hidden)
        for n in 1 ..< batch { axpy(logitGrad[n * channels + c], hiddenAct + n * hidden, row, hidden) }
      }
    }
    if let dw1 = grads.fc1Weight {
      parallelFor(hidden, threads: threads, work: batch * channels * hidden) { j in
        let row = dw1 + j * channels
        scaledCopy(hiddenGrad[j], mean, row, channels)
        for n in 1 ..< batch { axpy(hiddenGrad[n * hidden + j], mean + n * channels, row, channels) }
      }
    }
  }

  /// Reduces the per-tile spatial-gate gradients into the caller's buffers.
  func writeSpatialGateGradients(_ grads: SpatialGateGradients) {
    guard let gate = plan.spatialGate else { return }
    let channels = plan.channels, parts = plan.batch * plan.tiling.count
    if let dw = grads.weight {
      // The effective weight's gradient goes to row 0, then is shared out:
      // each of the K averaged rows gets 1/K of it.
      sumPairwise(parts, length: channels) { p in workspace.tileWeightGrad + p * channels }
      dw.update(from: workspace.tileWeightGrad, count: channels)
      if gate.rows > 1 {
        let rows = Float(gate.rows)
        for c in 0 ..< channels { dw[c] /= rows }
        for k in 1 ..< gate.rows { (dw + k * channels).update(from: dw, count: channels) }
      }
    }
    if let db = grads.bias {
      db.pointee = sum(workspace.tileBiasGrad, parts)
    }
  }
}

/// Runs the backward pass of a validated plan.
/// - Returns: `false` when the workspace could not be allocated (nothing written).
/// - Complexity: two reads of x and dy (three for scSE-max) and one write of grad x.
package func runBackward(_ plan: BlockPlan, x: UnsafePointer<Float>, gradY: UnsafePointer<Float>,
                 gradX: UnsafeMutablePointer<Float>, channelGrads: ChannelGateGradients,
                 spatialGrads: SpatialGateGradients) -> Bool {
  guard let workspace = Workspace.make(for: plan, backward: true) else { return false }
  defer { workspace.release() }
  let kernel = BlockKernel(plan: plan, workspace: workspace, x: x, gradY: gradY, out: gradX)
  kernel.prepareSpatialWeight()
  let sample = plan.channels * plan.spatial
  // A call too small for two threads takes the one-thread path whatever the
  // setting, so a second thread can never make it slower.
  let threads = Swift.min(ThreadCount.current, threadsWorth(work: 6 * plan.batch * sample))
  if plan.batch >= threads && kernel.weightsFitPerSample {
    parallelFor(plan.batch, threads: threads, work: 6 * plan.batch * sample) { n in kernel.backwardSample(n) }
  } else {
    // Phases over the batch, as in runForward.
    kernel.backwardGather(0 ..< plan.batch, eachSample: { body in
      kernel.forEachSample(threads: threads, work: 2 * sample, body)
    }, run: { count, work, step in parallelFor(count, threads: threads, work: work, step) })
    kernel.forEachSample(threads: threads, work: 3 * sample) { n, run in
      run(kernel.statisticsItems, 3 * sample) { item in kernel.backwardApply(n, item: item) }
    }
  }
  kernel.writeChannelGateGradients(channelGrads, threads: threads)
  kernel.writeSpatialGateGradients(spatialGrads)
  return true
}
