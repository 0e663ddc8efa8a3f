import Foundation

/// A naive float64 model of the block, written straight from the formulas
/// (PyTorch semantics) with plain loops, to judge the library against.
enum Reference {
  struct ChannelState {
    var mean: [Double]  // [N, C]
    var magnitudeOfMean: [Double]  // mean of |x|
    var pre: [Double]  // [N, hidden], before the ReLU
    var hidden: [Double]  // [N, hidden]
    var magnitudeOfPre: [Double]  // sum of |terms| of each pre value
    var gate: [Double]  // [N, C]
  }

  struct SpatialState {
    var weight: [Double]  // [C], mean of the K rows
    var magnitudeOfWeight: [Double]  // mean of |rows|
    var gate: [Double]  // [N, S]
  }

  static func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }

  static func channelState(_ p: Problem<Double>) -> ChannelState {
    let d = p.spec.dims
    let (nb, c, s, h) = (d.batch, d.channels, d.spatial, p.spec.hidden)
    let x = p.x
    let w1 = p.params[.w1]!, w2 = p.params[.w2]!
    let b1 = p.params[.b1], b2 = p.params[.b2]
    var mean = [Double](repeating: 0, count: nb * c)
    var meanMagnitude = mean
    for n in 0..<nb {
      for ch in 0..<c {
        var total = 0.0
        var magnitude = 0.0
        for i in 0..<s {
          total += x[d.index(n, ch, i, p.spec.layout)]
          magnitude += abs(x[d.index(n, ch, i, p.spec.layout)])
        }
        mean[n * c + ch] = total / Double(s)
        meanMagnitude[n * c + ch] = magnitude / Double(s)
      }
    }
    var pre = [Double](repeating: 0, count: nb * h)
    var magnitude = pre
    for n in 0..<nb {
      for j in 0..<h {
        var v = b1?[j] ?? 0
        var m = abs(v)
        for ch in 0..<c {
          v += w1[j * c + ch] * mean[n * c + ch]
          m += abs(w1[j * c + ch] * mean[n * c + ch])
        }
        pre[n * h + j] = v
        magnitude[n * h + j] = m
      }
    }
    let hidden = pre.map { max($0, 0) }
    var gate = [Double](repeating: 0, count: nb * c)
    for n in 0..<nb {
      for ch in 0..<c {
        var v = b2?[ch] ?? 0
        for j in 0..<h { v += w2[ch * h + j] * hidden[n * h + j] }
        gate[n * c + ch] = sigmoid(v)
      }
    }
    return ChannelState(
      mean: mean, magnitudeOfMean: meanMagnitude, pre: pre, hidden: hidden,
      magnitudeOfPre: magnitude, gate: gate)
  }

  static func spatialState(_ p: Problem<Double>) -> SpatialState {
    let d = p.spec.dims
    let (nb, c, s, k) = (d.batch, d.channels, d.spatial, p.spec.rows)
    let x = p.x
    let w = p.params[.sw]!
    let bias = p.params[.sb]?[0] ?? 0
    var weight = [Double](repeating: 0, count: c)
    var weightMagnitude = weight
    for ch in 0..<c {
      var total = 0.0
      var magnitude = 0.0
      for r in 0..<k {
        total += w[r * c + ch]
        magnitude += abs(w[r * c + ch])
      }
      weight[ch] = total / Double(k)
      weightMagnitude[ch] = magnitude / Double(k)
    }
    var gate = [Double](repeating: 0, count: nb * s)
    for n in 0..<nb {
      for i in 0..<s {
        var v = bias
        for ch in 0..<c { v += weight[ch] * x[d.index(n, ch, i, p.spec.layout)] }
        gate[n * s + i] = sigmoid(v)
      }
    }
    return SpatialState(weight: weight, magnitudeOfWeight: weightMagnitude, gate: gate)
  }

  /// The two branch outputs x * gc and x * gs at every element (nil when the
  /// operation lacks that branch).
  static func branches(_ p: Problem<Double>) -> (channel: [Double]?, spatial: [Double]?) {
    let d = p.spec.dims
    let x = p.x
    func gated(_ gate: [Double], _ gateIndex: (Int, Int, Int) -> Int) -> [Double] {
      var y = [Double](repeating: 0, count: d.count)
      for n in 0..<d.batch {
        for c in 0..<d.channels {
          for s in 0..<d.spatial {
            let i = d.index(n, c, s, p.spec.layout)
            y[i] = x[i] * gate[gateIndex(n, c, s)]
          }
        }
      }
      return y
    }
    let yc = p.spec.op.usesChannelGate
      ? gated(channelState(p).gate) { n, c, _ in n * d.channels + c } : nil
    let ys = p.spec.op.usesSpatialGate
      ? gated(spatialState(p).gate) { n, _, s in n * d.spatial + s } : nil
    return (yc, ys)
  }

  /// Forward output and, per element, the sum of the magnitudes of what was
  /// added to form it (the scale the float32 error is measured against).
  static func forward(_ p: Problem<Double>) -> (y: [Double], magnitude: [Double]) {
    let (yc, ys) = branches(p)
    switch p.spec.op {
    case .cse: return (yc!, yc!.map(abs))
    case .sse: return (ys!, ys!.map(abs))
    case .scse(.sum):
      return (zip(yc!, ys!).map { $0 + $1 }, zip(yc!, ys!).map { abs($0) + abs($1) })
    case .scse(.max):
      let y = zip(yc!, ys!).map { Swift.max($0, $1) }
      return (y, y.map(abs))
    }
  }

  /// The loss whose gradient backward computes: sum(gy * y).
  static func loss(_ p: Problem<Double>) -> Double {
    zip(forward(p).y, p.gy).reduce(0) { $0 + $1.0 * $1.1 }
  }

  /// Share of each element's upstream gradient that goes to the (channel,
  /// spatial) branch: 1/1 for sum, the larger branch for max, 1/2 each on a tie.
  static func routing(_ op: Operation, _ yc: Double?, _ ys: Double?) -> (Double, Double) {
    switch op {
    case .cse: return (1, 0)
    case .sse: return (0, 1)
    case .scse(.sum): return (1, 1)
    case .scse(.max): return yc! > ys! ? (1, 0) : yc! < ys! ? (0, 1) : (0.5, 0.5)
    }
  }

  /// Analytic gradients of sum(gy * y), as PyTorch autograd defines them
  /// (ReLU passes nothing at 0). With `magnitudes` every factor is replaced
  /// by its absolute value, and each forward quantity formed by a sum (channel
  /// mean, hidden value, averaged spatial weight) by the sum of the magnitudes
  /// of its terms. That yields for each gradient the scale of the rounding
  /// errors any float32 evaluation order makes in it.
  static func backward(_ p: Problem<Double>, magnitudes: Bool = false) -> [Slot: [Double]] {
    let f: (Double) -> Double = magnitudes ? { abs($0) } : { $0 }
    let d = p.spec.dims
    let (nb, c, s, layout) = (d.batch, d.channels, d.spatial, p.spec.layout)
    let (yc, ys) = branches(p)
    let x = p.x.map(f)
    var gyc = p.gy.map(f)
    var gys = gyc
    for i in 0..<d.count {
      let (rc, rs) = routing(p.spec.op, yc?[i], ys?[i])
      gyc[i] *= rc
      gys[i] *= rs
    }
    var dx = [Double](repeating: 0, count: d.count)
    var grads: [Slot: [Double]] = [:]

    if p.spec.op.usesChannelGate {
      let st = channelState(p)
      let h = p.spec.hidden
      let hidden =
        magnitudes ? zip(st.hidden, st.magnitudeOfPre).map { $0 > 0 ? $1 : 0 } : st.hidden
      let mean = magnitudes ? st.magnitudeOfMean : st.mean
      let w1 = p.params[.w1]!, w2 = p.params[.w2]!
      var da = [Double](repeating: 0, count: nb * c)
      for n in 0..<nb {
        for ch in 0..<c {
          var dgate = 0.0
          for i in 0..<s {
            let e = d.index(n, ch, i, layout)
            dgate += gyc[e] * x[e]
          }
          let g = st.gate[n * c + ch]
          da[n * c + ch] = dgate * g * (1 - g)
        }
      }
      var dw2 = [Double](repeating: 0, count: c * h)
      var db2 = [Double](repeating: 0, count: c)
      var dpre = [Double](repeating: 0, count: nb * h)
      for n in 0..<nb {
        for ch in 0..<c {
          db2[ch] += da[n * c + ch]
          for j in 0..<h { dw2[ch * h + j] += da[n * c + ch] * hidden[n * h + j] }
        }
        for j in 0..<h where st.pre[n * h + j] > 0 {
          for ch in 0..<c { dpre[n * h + j] += f(w2[ch * h + j]) * da[n * c + ch] }
        }
      }
      var dw1 = [Double](repeating: 0, count: h * c)
      var db1 = [Double](repeating: 0, count: h)
      var dmean = [Double](repeating: 0, count: nb * c)
      for n in 0..<nb {
        for j in 0..<h {
          db1[j] += dpre[n * h + j]
          for ch in 0..<c {
            dw1[j * c + ch] += dpre[n * h + j] * mean[n * c + ch]
            dmean[n * c + ch] += f(w1[j * c + ch]) * dpre[n * h + j]
          }
        }
      }
      for n in 0..<nb {
        for ch in 0..<c {
          for i in 0..<s {
            let e = d.index(n, ch, i, layout)
            dx[e] += gyc[e] * st.gate[n * c + ch] + dmean[n * c + ch] / Double(s)
          }
        }
      }
      grads[.w1] = dw1
      grads[.w2] = dw2
      if p.spec.bias {
        grads[.b1] = db1
        grads[.b2] = db2
      }
    }

    if p.spec.op.usesSpatialGate {
      let st = spatialState(p)
      let k = p.spec.rows
      let weight = magnitudes ? st.magnitudeOfWeight : st.weight
      var dz = [Double](repeating: 0, count: nb * s)
      for n in 0..<nb {
        for i in 0..<s {
          var dgate = 0.0
          for ch in 0..<c {
            let e = d.index(n, ch, i, layout)
            dgate += gys[e] * x[e]
          }
          let g = st.gate[n * s + i]
          dz[n * s + i] = dgate * g * (1 - g)
        }
      }
      var dweight = [Double](repeating: 0, count: c)
      var dbias = 0.0
      for n in 0..<nb {
        for i in 0..<s {
          dbias += dz[n * s + i]
          for ch in 0..<c {
            let e = d.index(n, ch, i, layout)
            dweight[ch] += dz[n * s + i] * x[e]
            dx[e] += gys[e] * st.gate[n * s + i] + dz[n * s + i] * weight[ch]
          }
        }
      }
      // w = mean of the K rows, so each row gets 1/K of the gradient.
      var dsw = [Double](repeating: 0, count: k * c)
      for r in 0..<k {
        for ch in 0..<c { dsw[r * c + ch] = dweight[ch] / Double(k) }
      }
      grads[.sw] = dsw
      if p.spec.bias { grads[.sb] = [dbias] }
    }
    grads[.x] = dx
    return grads
  }

  /// Elements (x != 0) where the two branches of the max aggregate are
  /// closer than `margin` relative to their size.
  static func nearTies(_ p: Problem<Double>, margin: Double) -> [Int] {
    guard p.spec.op == .scse(.max) else { return [] }
    let (yc, ys) = branches(p)
    let (a, b, x) = (yc!, ys!, p.x)
    return (0..<x.count).filter { i in
      x[i] != 0 && abs(a[i] - b[i]) <= margin * (abs(a[i]) + abs(b[i]))
    }
  }

  /// The smallest |ReLU input| relative to the size of its terms (infinity
  /// when the operation has no hidden units).
  static func reluMargin(_ p: Problem<Double>) -> Double {
    guard p.spec.op.usesChannelGate else { return .infinity }
    let st = channelState(p)
    var margin = Double.infinity
    for (v, m) in zip(st.pre, st.magnitudeOfPre) where m > 0 { margin = min(margin, abs(v) / m) }
    return margin
  }
}
