import CScse
import Testing

/// In-place calls (y_out == x, grad_x_out == grad_y) and NULL gradient
/// outputs, which mean "not wanted".
@Suite struct InPlaceAndOptionalGradientTests {
  static let specs: [ProblemSpec] = {
    let shapes = [(1, 1, 1, 1, 1), (2, 5, 9, 2, 3), (3, 24, 67, 6, 1), (2, 70, 300, 5, 2)]
    var specs: [ProblemSpec] = []
    var seed: UInt64 = 3000
    for (n, c, s, h, k) in shapes {
      for op in Operation.all {
        for layout in Layout.allCases {
          seed += 1
          specs.append(
            ProblemSpec(
              op: op, layout: layout, batch: n, channels: c, spatial: s, hidden: h, rows: k,
              bias: seed % 3 != 0, seed: seed))
        }
      }
    }
    return specs
  }()

  @Test(arguments: specs)
  func inPlaceForward(_ spec: ProblemSpec) {
    let p = Problem.wellConditioned(spec)
    expectMatchesReference(Library.forward(p, inPlace: true), p, backward: false)
  }

  @Test(arguments: specs)
  func inPlaceBackward(_ spec: ProblemSpec) {
    let p = Problem.wellConditioned(spec)
    expectMatchesReference(Library.backward(p, inPlace: true), p, backward: true)
  }

  /// Each parameter gradient alone, none at all (as NULL struct pointers and
  /// as structs of NULLs), and all but one.
  static func wantedSets(_ spec: ProblemSpec) -> [Wanted] {
    let p = Problem.random(spec)
    let slots = p.gradientSlots.filter { $0 != .x }
    let all = Wanted(slots.map { Wanted.of($0) })
    return [[]] + slots.map { Wanted.of($0) } + slots.map { all.subtracting(.of($0)) }
  }

  @Test(arguments: specs.filter { $0.batch == 2 })
  func unwantedGradientsMayBeNull(_ spec: ProblemSpec) {
    let p = Problem.wellConditioned(spec)
    let expected = Expected(p, backward: true)
    for wanted in Self.wantedSets(spec) {
      for nullStructs in [false, true] {
        let r = Library.backward(p, wanted: wanted, nullEmptyStructs: nullStructs)
        expectMatchesReference(r, p, backward: true, wanted: wanted, expected: expected)
      }
    }
    let r = Library.backward(p, wanted: [], inPlace: true, nullEmptyStructs: true)
    expectMatchesReference(r, p, backward: true, wanted: [], expected: expected)
  }
}
