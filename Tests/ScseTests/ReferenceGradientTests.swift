import Testing

/// Proves the float64 reference's analytic backward by central finite
/// differences of its own forward, so the library is judged against a model
/// that is itself checked.
@Suite struct ReferenceGradientTests {
  static let step = 1e-6

  static let specs: [ProblemSpec] = {
    // (N, C, S, hidden, K): odd sizes, hidden 0, C = 1, S = 1, few-shot K.
    let shapes = [(2, 4, 5, 2, 1), (1, 1, 3, 1, 1), (2, 3, 1, 0, 2), (3, 5, 4, 3, 3)]
    var specs: [ProblemSpec] = []
    var seed: UInt64 = 100
    for op in Operation.all {
      for layout in Layout.allCases {
        for bias in [true, false] {
          for (n, c, s, h, k) in shapes {
            seed += 1
            specs.append(
              ProblemSpec(
                op: op, layout: layout, batch: n, channels: c, spatial: s, hidden: h, rows: k,
                bias: bias, seed: seed))
          }
        }
      }
    }
    return specs
  }()

  /// Central difference of the loss sum(gy * y) for every element of every
  /// slot; returns the worst violation ratio (<= 1 passes).
  static func checkFiniteDifferences(
    _ p: Problem<Double>, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let analytic = Reference.backward(p)
    let magnitudes = Reference.backward(p, magnitudes: true)
    for slot in p.gradientSlots {
      for i in 0..<p[slot].count {
        var plus = p
        plus[slot][i] += step
        var minus = p
        minus[slot][i] -= step
        let numeric = (Reference.loss(plus) - Reference.loss(minus)) / (2 * step)
        let exact = analytic[slot]![i]
        // Truncation (step^2) and rounding (1e-16 / step) errors are both far
        // below this; a wrong formula is off by orders of magnitude more.
        let allowed = 2e-7 * (1 + magnitudes[slot]![i])
        #expect(
          abs(numeric - exact) <= allowed,
          "\(p.spec) d\(slot.rawValue)[\(i)]: analytic \(exact), numeric \(numeric)",
          sourceLocation: sourceLocation)
      }
    }
  }

  @Test(arguments: specs)
  func analyticGradientsMatchFiniteDifferences(_ spec: ProblemSpec) {
    let p = Problem.wellConditioned(spec, tieMargin: 1e-3).reference
    if spec.op == .scse(.max) {
      // The exact zeros in x are ties; the central difference there averages
      // the two one-sided slopes, which is the half-and-half split.
      #expect(p.x.contains(0) || p.x.count < 10, "\(spec): no tie in the data")
    }
    Self.checkFiniteDifferences(p)
  }

  /// Every element a tie: channel gate sigmoid(0) (no hidden units, no bias)
  /// and spatial gate sigmoid(0 . x) (zero weight, no bias) are both 1/2.
  static func allTies(_ layout: Layout) -> Problem<Float> {
    let spec = ProblemSpec(
      op: .scse(.max), layout: layout, batch: 2, channels: 3, spatial: 4, hidden: 0, rows: 2,
      bias: false, seed: 7, zeroFraction: 0)
    var p = Problem.random(spec)
    p.params[.sw] = [Float](repeating: 0, count: spec.rows * spec.channels)
    return p
  }

  @Test(arguments: Layout.allCases)
  func maxTiesSplitTheGradientInHalf(_ layout: Layout) {
    let p = Self.allTies(layout).reference
    let both = Reference.backward(p)
    var channelOnly = p
    channelOnly.spec.op = .cse
    var spatialOnly = p
    spatialOnly.spec.op = .sse
    let dc = Reference.backward(channelOnly)
    let ds = Reference.backward(spatialOnly)
    for i in 0..<p.x.count {
      #expect(abs(both[.x]![i] - 0.5 * (dc[.x]![i] + ds[.x]![i])) < 1e-15)
    }
    for i in 0..<p.params[.sw]!.count {
      #expect(abs(both[.sw]![i] - 0.5 * ds[.sw]![i]) < 1e-15)
      #expect(ds[.sw]![i] != 0, "the spatial weight gradient must not vanish here")
    }
    Self.checkFiniteDifferences(p)
  }

  /// A hidden unit with ReLU input exactly 0 but nonzero weights: PyTorch
  /// passes no gradient through it. x is dyadic so every float summation
  /// order gives the same exact zero.
  static func deadUnit(_ op: Operation, _ layout: Layout) -> Problem<Float> {
    let spec = ProblemSpec(
      op: op, layout: layout, batch: 1, channels: 2, spatial: 4, hidden: 2, rows: 1,
      bias: true, seed: 9)
    var p = Problem.random(spec)
    let rows: [[Float]] = [[0.5, 1.5, 1.25, 0.75], [2, -1, 0.5, 2.5]]  // means 1 and 1
    for c in 0..<2 {
      for s in 0..<4 { p.x[spec.dims.index(0, c, s, layout)] = rows[c][s] }
    }
    p.params[.w1] = [0.5, -0.5, 0.25, 0.5]  // pre = [0, 0.75 + b1[1]]
    p.params[.b1] = [0, 0.125]
    return p
  }

  @Test(arguments: [Operation.cse, .scse(.sum)], Layout.allCases)
  func reluPassesNoGradientAtZero(_ op: Operation, _ layout: Layout) {
    let p = Self.deadUnit(op, layout).reference
    #expect(Reference.channelState(p).pre[0] == 0)
    let g = Reference.backward(p)
    #expect(g[.w1]![0] == 0 && g[.w1]![1] == 0 && g[.b1]![0] == 0)
    #expect(g[.w2]![0] == 0 && g[.w2]![2] == 0)
    // The kink is real: from the right the unit does pass gradient.
    var right = p
    right.params[.b1]![0] += Self.step
    let slope = (Reference.loss(right) - Reference.loss(p)) / Self.step
    #expect(abs(slope) > 1e-3, "one-sided slope \(slope) should be clearly nonzero")
  }

  /// The two layouts describe the same tensor; the reference must give the
  /// same numbers for both (it sums in the same order, so exactly).
  @Test(arguments: Operation.all)
  func layoutsGiveTheSameReferenceResults(_ op: Operation) {
    let spec = ProblemSpec(
      op: op, layout: .channelsFirst, batch: 2, channels: 3, spatial: 5, hidden: 2, rows: 2)
    let first = Problem.wellConditioned(spec).reference
    let d = spec.dims
    var last = first
    last.spec.layout = .channelsLast
    for n in 0..<d.batch {
      for c in 0..<d.channels {
        for s in 0..<d.spatial {
          last.x[d.index(n, c, s, .channelsLast)] = first.x[d.index(n, c, s, .channelsFirst)]
          last.gy[d.index(n, c, s, .channelsLast)] = first.gy[d.index(n, c, s, .channelsFirst)]
        }
      }
    }
    let (yf, yl) = (Reference.forward(first).y, Reference.forward(last).y)
    let (gf, gl) = (Reference.backward(first), Reference.backward(last))
    for n in 0..<d.batch {
      for c in 0..<d.channels {
        for s in 0..<d.spatial {
          let (f, l) = (d.index(n, c, s, .channelsFirst), d.index(n, c, s, .channelsLast))
          #expect(yf[f] == yl[l] && gf[.x]![f] == gl[.x]![l])
        }
      }
    }
    for slot in first.gradientSlots where slot != .x { #expect(gf[slot] == gl[slot]) }
  }
}
