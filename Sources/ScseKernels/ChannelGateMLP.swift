// The channel gate's bottleneck MLP over a range of samples, forward and
// backward, as matrix products: the weight rows (or column blocks) are the
// outer loop and the samples the inner one, so each weight is read from
// memory once per call, not once per sample; `run` spreads the row blocks
// over threads. Every output element is one fixed-order sum whatever the
// split, so the split never changes a result.
import ScseCore

/// Runs `step(i)` for `i` in `0 ..< count`, sequentially or spread over threads;
/// `work` is the floats the whole loop reads or writes.
typealias Runner = (_ count: Int, _ work: Int, _ step: (Int) -> Void) -> Void

/// Rows of fc1 (hidden units) and fc2 (channels) per work item.
private let rowBlock = 16
/// Output columns per work item of the transposed products in backward.
private let columnBlock = 4 * vecWidth

/// Forward of the channel gate for samples `samples`.
///
/// `mean[n, c] = sums(n)[c] / spatial`, `hidden[n] = relu(W1 mean[n] + b1)`,
/// `gate[n] = sigmoid(W2 hidden[n] + b2)`; `logit[n]` (when given) keeps
/// `W2 hidden[n] + b2` for the backward pass. Buffers are `[N, C]` / `[N, hidden]`.
/// - Complexity: O(samples * channels * hidden).
func channelGateForward(_ p: ChannelGateParameters, channels: Int, spatial: Int, samples: Range<Int>,
                        sums: (Int) -> UnsafePointer<Float>, mean: UnsafeMutablePointer<Float>,
                        hidden: UnsafeMutablePointer<Float>, gate: UnsafeMutablePointer<Float>,
                        logit: UnsafeMutablePointer<Float>?, run: Runner) {
  let divisor = Float(spatial), width = p.hidden
  for n in samples {
    let s = sums(n), m = mean + n * channels
    for c in 0 ..< channels { m[c] = s[c] / divisor }
  }
  let work = samples.count * channels * width
  run((width + rowBlock - 1) / rowBlock, work) { block in
    rowProducts(p.fc1Weight!, columns: channels,
                rows: block * rowBlock ..< Swift.min((block + 1) * rowBlock, width),
                samples: samples, vectors: mean, out: hidden, outStride: width) { j, pre in
      let biased = pre + (p.fc1Bias?[j] ?? 0)
      // relu that keeps NaN, as torch.relu does.
      return biased > 0 || biased.isNaN ? biased : 0
    }
  }
  run((channels + rowBlock - 1) / rowBlock, work) { block in
    let rows = block * rowBlock ..< Swift.min((block + 1) * rowBlock, channels)
    if width > 0 {
      rowProducts(p.fc2Weight!, columns: width, rows: rows, samples: samples, vectors: hidden,
                  out: gate, outStride: channels) { c, out in out + (p.fc2Bias?[c] ?? 0) }
    } else {
      for n in samples {
        for c in rows { gate[n * channels + c] = p.fc2Bias?[c] ?? 0 }
      }
    }
    for n in samples {
      let g = gate + n * channels + rows.lowerBound
      logit?.advanced(by: n * channels + rows.lowerBound).update(from: g, count: rows.count)
      sigmoidInPlace(g, rows.count)
    }
  }
}

/// `out[n * outStride + r] = finish(r, m[r] . vectors[n])` for rows `rows`
/// of the row-major matrix `m` (`columns` wide) and samples `samples`
/// (`vectors + n * columns`): four rows at a time, each row read once for
/// all samples.
@inline(__always)
private func rowProducts(_ m: UnsafePointer<Float>, columns: Int, rows: Range<Int>,
                         samples: Range<Int>, vectors: UnsafePointer<Float>,
                         out: UnsafeMutablePointer<Float>, outStride: Int,
                         finish: (Int, Float) -> Float) {
  var r = rows.lowerBound
  while r + 4 <= rows.upperBound {
    for n in samples {
      let (d0, d1, d2, d3) = dots4(m + r * columns, stride: columns, vectors + n * columns, columns)
      let o = out + n * outStride + r
      o[0] = finish(r, d0); o[1] = finish(r + 1, d1); o[2] = finish(r + 2, d2); o[3] = finish(r + 3, d3)
    }
    r += 4
  }
  while r < rows.upperBound {
    for n in samples {
      out[n * outStride + r] = finish(r, dot(m + r * columns, vectors + n * columns, columns))
    }
    r += 1
  }
}

/// Backward of the channel gate for samples `samples`.
///
/// - Parameters:
///   - gateGrad: d loss / d gate of sample n, per channel (`sum_s dy * x` of the branch).
///   - gate, hidden: saved by `channelGateForward`.
///   - logitGrad: on entry the logits `W2 h + b2` saved by `channelGateForward`;
///     on return d loss / d (W2 h + b2), per channel.
///   - hiddenGrad: d loss / d (W1 mean + b1), per hidden unit (0 where relu was inactive).
///   - inputGrad: d loss / d x[c, s] through the mean (the same for every s).
/// - Complexity: O(samples * channels * hidden).
func channelGateBackward(_ p: ChannelGateParameters, channels: Int, spatial: Int, samples: Range<Int>,
                         gateGrad: (Int) -> UnsafePointer<Float>, gate: UnsafePointer<Float>,
                         hidden: UnsafePointer<Float>, logitGrad: UnsafeMutablePointer<Float>,
                         hiddenGrad: UnsafeMutablePointer<Float>,
                         inputGrad: UnsafeMutablePointer<Float>, run: Runner) {
  for n in samples {
    // sigmoid'(z) in torch's order, (grad * (1 - g)) * g, with 1 - g =
    // sigmoid(-z) from the logit, which stays accurate where g rounds to
    // (nearly) 1 in float32.
    let dg = gateGrad(n), g = gate + n * channels, dz = logitGrad + n * channels
    chunks(channels) { c, lanes in
      let oneMinusG = sigmoid(-load(dz + c, lanes))
      store(load(dg + c, lanes) * oneMinusG * load(g + c, lanes), dz + c, lanes)
    }
  }
  let width = p.hidden
  guard width > 0 else {
    for n in samples { (inputGrad + n * channels).initialize(repeating: 0, count: channels) }
    return
  }
  let work = samples.count * channels * width
  // hiddenGrad[n] = W2^T dz[n]: column blocks of W2 outside, samples inside,
  // so a block (C x 64 floats) is read from memory once and from cache after.
  run((width + columnBlock - 1) / columnBlock, work) { block in
    let columns = block * columnBlock ..< Swift.min((block + 1) * columnBlock, width)
    for n in samples {
      let dh = hiddenGrad + n * width, h = hidden + n * width
      vectorTimesMatrix(logitGrad + n * channels, rows: channels, p.fc2Weight!, rowStride: width,
                        columns: columns, dh)
      // relu passes no gradient where its output is <= 0 (also at exactly 0);
      // a NaN output passes it on, as torch's threshold_backward does.
      for j in columns where h[j] <= 0 { dh[j] = 0 }
    }
  }
  let divisor = Float(spatial)
  run((channels + columnBlock - 1) / columnBlock, work) { block in
    let columns = block * columnBlock ..< Swift.min((block + 1) * columnBlock, channels)
    for n in samples {
      let dm = inputGrad + n * channels
      vectorTimesMatrix(hiddenGrad + n * width, rows: width, p.fc1Weight!, rowStride: channels,
                        columns: columns, dm)
      for c in columns { dm[c] /= divisor }
    }
  }
}
