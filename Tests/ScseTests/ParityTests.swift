import CScse
import Testing

/// The library's float32 forward and backward against the float64 reference
/// over many shapes, both layouts, with and without biases.
@Suite struct ParityTests {
  /// (N, C, S, hidden, K). Sizes are odd on purpose, so no vector width or
  /// thread split divides them.
  static let shapes: [(Int, Int, Int, Int, Int)] = [
    (1, 1, 1, 0, 1), (1, 1, 1, 1, 1), (1, 2, 1, 1, 2), (2, 1, 5, 0, 1),
    (1, 3, 7, 1, 1), (3, 4, 9, 2, 3), (2, 5, 3, 0, 1), (2, 8, 16, 4, 1),
    (1, 7, 17, 3, 2), (3, 16, 1, 8, 1), (1, 17, 31, 8, 5), (2, 9, 65, 4, 1),
    (5, 6, 11, 6, 1), (2, 3, 5, 7, 1), (4, 32, 49, 2, 1), (1, 64, 3, 32, 1),
    (1, 3, 1000, 1, 1), (2, 128, 25, 8, 1), (2, 33, 130, 16, 4), (3, 64, 257, 16, 1),
    // Long rows and wide channels, so a sample spans several cache tiles.
    (1, 2, 8500, 1, 1), (2, 3, 8300, 2, 2), (1, 520, 270, 8, 1),
  ]

  static func specs(bias: Bool) -> [ProblemSpec] {
    var specs: [ProblemSpec] = []
    var seed: UInt64 = bias ? 1000 : 2000
    for (n, c, s, h, k) in shapes {
      for op in Operation.all {
        for layout in Layout.allCases {
          seed += 1
          specs.append(
            ProblemSpec(
              op: op, layout: layout, batch: n, channels: c, spatial: s, hidden: h, rows: k,
              bias: bias, seed: seed))
        }
      }
    }
    return specs
  }

  static let all = specs(bias: true) + specs(bias: false)

  @Test(arguments: all)
  func forwardMatchesReference(_ spec: ProblemSpec) {
    let p = Problem.wellConditioned(spec)
    expectMatchesReference(Library.forward(p), p, backward: false)
  }

  @Test(arguments: all)
  func backwardMatchesReference(_ spec: ProblemSpec) {
    let p = Problem.wellConditioned(spec)
    expectMatchesReference(Library.backward(p), p, backward: true)
  }

  /// With hidden == 0 the weight pointers may be NULL (the default above) or
  /// point anywhere; both must give sigmoid(fc2_bias).
  @Test(arguments: [Operation.cse, .scse(.sum), .scse(.max)], [true, false])
  func emptyHiddenLayerWithNonNullWeights(_ op: Operation, _ bias: Bool) {
    let spec = ProblemSpec(
      op: op, layout: .channelsFirst, batch: 2, channels: 5, spatial: 6, hidden: 0, bias: bias,
      seed: 31)
    let p = Problem.wellConditioned(spec)
    expectMatchesReference(Library.forward(p, nullEmptyWeights: false), p, backward: false)
    expectMatchesReference(Library.backward(p, nullEmptyWeights: false), p, backward: true)
  }

  /// Every element an exact tie of the max aggregate: the gradient must be
  /// split in half between the branches.
  @Test(arguments: Layout.allCases)
  func maxAggregateSplitsTiesInHalf(_ layout: Layout) {
    let p = ReferenceGradientTests.allTies(layout)
    expectMatchesReference(Library.forward(p), p, backward: false)
    expectMatchesReference(Library.backward(p), p, backward: true)
  }

  /// A hidden unit whose ReLU input is exactly 0 passes no gradient.
  @Test(arguments: [Operation.cse, .scse(.sum)], Layout.allCases)
  func reluPassesNoGradientAtZero(_ op: Operation, _ layout: Layout) {
    let p = ReferenceGradientTests.deadUnit(op, layout)
    let r = Library.backward(p)
    expectMatchesReference(r, p, backward: true)
    let (dw1, db1, dw2) = (r.outputs[.w1]!, r.outputs[.b1]!, r.outputs[.w2]!)
    #expect(dw1[0] == 0 && dw1[1] == 0, "dw1 row of the dead unit: \(dw1[0]), \(dw1[1])")
    #expect(db1[0] == 0, "db1 of the dead unit: \(db1[0])")
    #expect(dw2[0] == 0 && dw2[2] == 0, "dw2 column of the dead unit: \(dw2[0]), \(dw2[2])")
  }
}
