import CScse
import Foundation
import Testing

/// Allowed float32 error of an element i of an output array:
///   |library_i - reference_i| <= rtol * magnitude_i + atol * mean(magnitude)
/// where magnitude_i is the sum of the magnitudes of the terms that make up
/// reference_i (see Reference.backward(_:magnitudes:)). The relative part
/// covers rounding in each term; the mean part covers elements whose terms
/// cancel, whose error is set by the data around them.
struct Tolerance: Sendable {
  var rtol: Double
  var atol: Double

  static let forward = Tolerance(rtol: 1e-5, atol: 1e-6)
  static let backward = Tolerance(rtol: 3e-5, atol: 3e-6)
}

/// Set SCSE_TEST_PRINT_ERRORS=1 to print the worst error/bound ratio of
/// every comparison (used to calibrate the tolerances above).
private let printErrors = ProcessInfo.processInfo.environment["SCSE_TEST_PRINT_ERRORS"] == "1"

/// Records an issue unless every element of `actual` is within tolerance of
/// `expected`; returns the worst ratio of error to allowed error.
@discardableResult
func expectClose(
  _ actual: [Float]?, _ expected: [Double], magnitude: [Double], _ tolerance: Tolerance,
  _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
) -> Double {
  guard let actual, actual.count == expected.count else {
    Issue.record(
      "\(what()): got \(actual?.count ?? -1) elements, expected \(expected.count)",
      sourceLocation: sourceLocation)
    return .infinity
  }
  let meanMagnitude = magnitude.isEmpty ? 0 : magnitude.reduce(0, +) / Double(magnitude.count)
  var worst = 0.0
  var worstIndex = -1
  for i in 0..<actual.count {
    let error = abs(Double(actual[i]) - expected[i])
    let bound = tolerance.rtol * magnitude[i] + tolerance.atol * meanMagnitude
    let ratio = error == 0 ? 0 : (error.isNaN ? .infinity : error / bound)
    if ratio > worst || worstIndex < 0 {
      worst = ratio
      worstIndex = i
    }
  }
  if printErrors { print("ERROR-RATIO \(String(format: "%.4g", worst)) \(what())") }
  if worst > 1, worstIndex >= 0 {
    let i = worstIndex
    Issue.record(
      """
      \(what()): element \(i) of \(actual.count) is \(actual[i]), reference \(expected[i]) \
      (error \(abs(Double(actual[i]) - expected[i])), \(worst)x the allowed \
      rtol \(tolerance.rtol) * \(magnitude[i]) + atol \(tolerance.atol) * \(meanMagnitude))
      """, sourceLocation: sourceLocation)
  }
  return worst
}

/// Reference outputs of a problem and their magnitudes, computed once when
/// several library calls are compared against them.
struct Expected {
  var values: [Slot: [Double]]
  var magnitudes: [Slot: [Double]]

  init(_ problem: Problem<Float>, backward: Bool) {
    let ref = problem.reference
    if backward {
      values = Reference.backward(ref)
      magnitudes = Reference.backward(ref, magnitudes: true)
    } else {
      let (y, magnitude) = Reference.forward(ref)
      values = [.x: y]
      magnitudes = [.x: magnitude]
    }
  }
}

/// Compares a library result against the float64 reference: forward output
/// when `backward` is false, else dx and every requested parameter gradient.
func expectMatchesReference(
  _ result: CallResult, _ problem: Problem<Float>, backward: Bool, wanted: Wanted = .all,
  expected: Expected? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
  let spec = problem.spec
  #expect(
    result.status == SCSE_STATUS_SUCCESS, "\(spec): status \(result.status.rawValue)",
    sourceLocation: sourceLocation)
  #expect(result.guardsIntact, "\(spec): wrote outside a buffer", sourceLocation: sourceLocation)
  #expect(result.inputsIntact, "\(spec): modified an input", sourceLocation: sourceLocation)
  let expected = expected ?? Expected(problem, backward: backward)
  let slots = backward ? problem.gradientSlots : [.x]
  for slot in slots where slot == .x || wanted.contains(.of(slot)) {
    let what = backward ? "backward d\(slot.rawValue)" : "forward y"
    expectClose(
      result.outputs[slot], expected.values[slot]!, magnitude: expected.magnitudes[slot]!,
      backward ? .backward : .forward, "\(spec) \(what)", sourceLocation: sourceLocation)
  }
}
