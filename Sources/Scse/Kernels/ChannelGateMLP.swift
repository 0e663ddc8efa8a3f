// The channel gate's bottleneck MLP for one sample, forward and backward.
// It works on C + hidden values per sample, so it is cheap next to the passes
// over the tensor; it is kept in plain, fixed-order loops.

/// Forward of the channel gate for one sample.
///
/// `mean[c] = sums[c] / spatial`, `hiddenOut = relu(W1 mean + b1)`,
/// `gateOut = sigmoid(W2 hiddenOut + b2)`.
/// - Complexity: O(channels * hidden).
func channelGateForward(_ p: ChannelGateParameters, channels: Int, spatial: Int,
                        sums: UnsafePointer<Float>, meanOut: UnsafeMutablePointer<Float>,
                        hiddenOut: UnsafeMutablePointer<Float>, gateOut: UnsafeMutablePointer<Float>,
                        logitOut: UnsafeMutablePointer<Float>?) {
  let divisor = Float(spatial)
  for c in 0 ..< channels { meanOut[c] = sums[c] / divisor }
  let hidden = p.hidden
  for j in 0 ..< hidden {
    var pre = dot(p.fc1Weight! + j * channels, meanOut, channels)
    if let b1 = p.fc1Bias { pre += b1[j] }
    // relu that keeps NaN, as torch.relu does.
    hiddenOut[j] = pre > 0 || pre.isNaN ? pre : 0
  }
  for c in 0 ..< channels {
    var out: Float = hidden > 0 ? dot(p.fc2Weight! + c * hidden, hiddenOut, hidden) : 0
    if let b2 = p.fc2Bias { out += b2[c] }
    gateOut[c] = out
  }
  logitOut?.update(from: gateOut, count: channels)
  sigmoidInPlace(gateOut, channels)
}

/// Backward of the channel gate for one sample.
///
/// - Parameters:
///   - gateGrad: d loss / d gate, per channel (`sum_s dy * x` of the branch).
///   - gate, hidden, mean: saved by `channelGateForward`.
///   - logitGradOut: on entry the logits `W2 h + b2` saved by `channelGateForward`;
///     on return d loss / d (W2 h + b2), per channel.
///   - hiddenGradOut: d loss / d (W1 mean + b1), per hidden unit (0 where relu was inactive).
///   - inputGradOut: d loss / d x[c, s] through the mean (the same for every s).
/// - Complexity: O(channels * hidden).
func channelGateBackward(_ p: ChannelGateParameters, channels: Int, spatial: Int,
                         gateGrad: UnsafePointer<Float>, gate: UnsafePointer<Float>,
                         hidden: UnsafePointer<Float>,
                         logitGradOut: UnsafeMutablePointer<Float>,
                         hiddenGradOut: UnsafeMutablePointer<Float>,
                         inputGradOut: UnsafeMutablePointer<Float>) {
  // sigmoid'(z) in torch's order, (grad * (1 - g)) * g, with 1 - g =
  // sigmoid(-z) from the logit (left in logitGradOut by the forward), which
  // stays accurate where g rounds to (nearly) 1 in float32.
  chunks(channels) { c, lanes in
    let oneMinusG = sigmoid(-load(logitGradOut + c, lanes))
    store(load(gateGrad + c, lanes) * oneMinusG * load(gate + c, lanes), logitGradOut + c, lanes)
  }
  let width = p.hidden
  guard width > 0 else {
    inputGradOut.initialize(repeating: 0, count: channels)
    return
  }
  vectorTimesMatrix(logitGradOut, rows: channels, p.fc2Weight!, rowStride: width,
                    columns: 0 ..< width, hiddenGradOut)
  // relu passes no gradient where its output is <= 0 (also at exactly 0);
  // a NaN output passes it on, as torch's threshold_backward does.
  for j in 0 ..< width where hidden[j] <= 0 { hiddenGradOut[j] = 0 }
  vectorTimesMatrix(hiddenGradOut, rows: width, p.fc1Weight!, rowStride: channels,
                    columns: 0 ..< channels, inputGradOut)
  let divisor = Float(spatial)
  for c in 0 ..< channels { inputGradOut[c] /= divisor }
}
