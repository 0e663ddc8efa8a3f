import CScse

enum Layout: CaseIterable, Sendable, CustomStringConvertible {
  case channelsFirst, channelsLast

  var abi: scse_layout {
    switch self {
    case .channelsFirst: SCSE_LAYOUT_CHANNELS_FIRST
    case .channelsLast: SCSE_LAYOUT_CHANNELS_LAST
    }
  }

  var description: String { self == .channelsFirst ? "NCS" : "NSC" }
}

enum Aggregate: Sendable {
  case sum, max

  var abi: scse_aggregate { self == .sum ? SCSE_AGGREGATE_SUM : SCSE_AGGREGATE_MAX }
}

enum Operation: Sendable, Equatable, CustomStringConvertible {
  case cse, sse, scse(Aggregate)

  static let all: [Operation] = [.cse, .sse, .scse(.sum), .scse(.max)]

  var usesChannelGate: Bool { self != .sse }
  var usesSpatialGate: Bool { self != .cse }

  var description: String {
    switch self {
    case .cse: "cSE"
    case .sse: "sSE"
    case .scse(.sum): "scSE-sum"
    case .scse(.max): "scSE-max"
    }
  }
}

/// The parameter and input tensors a gradient can be taken for.
enum Slot: String, CaseIterable, Sendable {
  case x, w1, b1, w2, b2, sw, sb
}

struct Dims: Sendable {
  let batch: Int
  let channels: Int
  let spatial: Int

  var count: Int { batch * channels * spatial }

  /// Element (n, c, s) of an activation tensor, as include/scse.h defines it.
  func index(_ n: Int, _ c: Int, _ s: Int, _ layout: Layout) -> Int {
    switch layout {
    case .channelsFirst: (n * channels + c) * spatial + s
    case .channelsLast: (n * spatial + s) * channels + c
    }
  }
}

struct ProblemSpec: Sendable, CustomStringConvertible {
  var op: Operation
  var layout: Layout
  var batch: Int
  var channels: Int
  var spatial: Int
  var hidden: Int
  /// Rows K of the spatial gate's weight (K > 1: few-shot averaged weights).
  var rows: Int = 1
  var bias: Bool = true
  var seed: UInt64 = 1
  /// Share of exact zeros in x; they are exact ties of the max aggregate.
  var zeroFraction: Double = 0.1

  var dims: Dims { Dims(batch: batch, channels: channels, spatial: spatial) }

  var description: String {
    "\(op) \(layout) N=\(batch) C=\(channels) S=\(spatial) hidden=\(hidden) K=\(rows)"
      + " bias=\(bias) seed=\(seed)"
  }
}

/// Inputs and parameters of one call. Parameters are keyed by slot; bias
/// slots are absent for a layer without bias.
struct Problem<T: Sendable>: Sendable {
  var spec: ProblemSpec
  var x: [T]
  var gy: [T]
  var params: [Slot: [T]]

  func map<U: Sendable>(_ convert: (T) -> U) -> Problem<U> {
    Problem<U>(spec: spec, x: x.map(convert), gy: gy.map(convert),
               params: params.mapValues { $0.map(convert) })
  }

  /// The slots the operation has gradients for.
  var gradientSlots: [Slot] {
    var slots: [Slot] = [.x]
    if spec.op.usesChannelGate { slots += [.w1, .w2] + (spec.bias ? [.b1, .b2] : []) }
    if spec.op.usesSpatialGate { slots += [.sw] + (spec.bias ? [.sb] : []) }
    return slots
  }

  subscript(slot: Slot) -> [T] {
    get { slot == .x ? x : params[slot]! }
    set { if slot == .x { x = newValue } else { params[slot] = newValue } }
  }
}

extension Problem where T == Float {
  var reference: Problem<Double> { map { Double($0) } }

  /// Random inputs and parameters for `spec`. Parameters are drawn at roughly
  /// PyTorch's initialisation scale; x gets a per-(n, c) offset so channel
  /// means are not all near zero.
  static func random(_ spec: ProblemSpec) -> Problem<Float> {
    var rng = SplitMix64(seed: spec.seed &* 0x2545_F491_4F6C_DD1D &+ 17)
    let d = spec.dims
    let (c, h, k) = (spec.channels, spec.hidden, spec.rows)
    let offsets = rng.uniformArray(d.batch * c, -1, 1)
    var x = [Float](repeating: 0, count: d.count)
    for n in 0..<d.batch {
      for ch in 0..<c {
        for s in 0..<d.spatial {
          let zero = Double(rng.next() >> 11) * 0x1p-53 < spec.zeroFraction
          let value = offsets[n * c + ch] + rng.uniform(-1, 1)
          x[d.index(n, ch, s, spec.layout)] = zero ? 0 : value
        }
      }
    }
    let gy = rng.uniformArray(d.count, -1, 1)
    let k1 = 1.5 / Double(c).squareRoot()
    let k2 = 2 / Double(max(h, 1)).squareRoot()
    var params: [Slot: [Float]] = [
      .w1: rng.uniformArray(h * c, -k1, k1),
      .w2: rng.uniformArray(c * h, -k2, k2),
      .sw: rng.uniformArray(k * c, -k1, k1),
    ]
    if spec.bias {
      params[.b1] = rng.uniformArray(h, -0.5, 0.5)
      params[.b2] = rng.uniformArray(c, -1, 1)
      params[.sb] = rng.uniformArray(1, -1, 1)
    }
    return Problem(spec: spec, x: x, gy: gy, params: params)
  }

  /// A random problem away from the points where float32 and float64 could
  /// legitimately disagree on a branch: ReLU inputs near 0 and near-ties of
  /// the max aggregate (x is set to exactly 0 there, an exact tie in both
  /// precisions). Exact kinks are tested separately on purpose. The margins
  /// are relative to the size of the terms; float32 results are within about
  /// 1e-6 of that, and finite differences step 1e-6.
  static func wellConditioned(
    _ spec: ProblemSpec, reluMargin: Double = 1e-3, tieMargin: Double = 1e-4
  ) -> Problem<Float> {
    var attemptSpec = spec
    for attempt in 0..<200 {
      attemptSpec.seed = spec.seed &+ UInt64(attempt) &* 1_000_003
      var problem = random(attemptSpec)
      for _ in 0..<50 {
        let nearTies = Reference.nearTies(problem.reference, margin: tieMargin)
        if nearTies.isEmpty { break }
        for i in nearTies { problem.x[i] = 0 }
      }
      let ref = problem.reference
      if Reference.nearTies(ref, margin: tieMargin).isEmpty
        && Reference.reluMargin(ref) >= reluMargin
      {
        return problem
      }
    }
    fatalError("no well-conditioned problem found for \(spec)")
  }
}
