import CScse
import Scse
import Testing

/// The thread count is process-wide, so these tests run one at a time (no
/// other suite changes it; results are promised identical for every count,
/// so the other suites running meanwhile are unaffected either way).
@Suite(.serialized) struct ThreadCountTests {
  static let counts: [Int32] = [1, 2, 3, 7, 0]

  /// Lopsided shapes (one long sample, many short wide ones, batch 3 below
  /// and above the thread count) so every split of the work is uneven.
  static let specs: [ProblemSpec] = {
    let shapes = [(1, 2, 8500, 1, 1), (3, 3, 8300, 2, 2), (17, 257, 9, 16, 1), (2, 40, 333, 5, 1)]
    var specs: [ProblemSpec] = []
    var seed: UInt64 = 5000
    for (n, c, s, h, k) in shapes {
      for op in Operation.all {
        for layout in Layout.allCases {
          seed += 1
          specs.append(
            ProblemSpec(
              op: op, layout: layout, batch: n, channels: c, spatial: s, hidden: h, rows: k,
              seed: seed))
        }
      }
    }
    return specs
  }()

  @Test func resultsAreBitwiseIdenticalForEveryThreadCount() {
    defer { #expect(scse_set_num_threads(0) == SCSE_STATUS_SUCCESS) }
    for spec in Self.specs {
      // Random data without conditioning: only equality across counts matters.
      let p = Problem.random(spec)
      var first: (forward: [Float], backward: [Slot: [Float]])?
      for count in Self.counts {
        #expect(scse_set_num_threads(count) == SCSE_STATUS_SUCCESS)
        if count > 0 { #expect(scse_get_num_threads() == count) }
        let f = Library.forward(p)
        let b = Library.backward(p)
        #expect(f.status == SCSE_STATUS_SUCCESS && b.status == SCSE_STATUS_SUCCESS, "\(spec)")
        guard let first else {
          first = (f.outputs[.x]!, b.outputs)
          continue
        }
        #expect(sameBits(f.outputs[.x]!, first.forward), "\(spec): forward y, \(count) threads")
        for slot in p.gradientSlots {
          #expect(
            sameBits(b.outputs[slot]!, first.backward[slot]!),
            "\(spec): d\(slot.rawValue), \(count) threads vs 1")
        }
      }
    }
  }

  @Test func defaultThreadCountIsPositive() {
    #expect(scse_set_num_threads(0) == SCSE_STATUS_SUCCESS)
    #expect(scse_get_num_threads() >= 1)
  }

  @Test func negativeThreadCountIsRejectedAndChangesNothing() {
    defer { _ = scse_set_num_threads(0) }
    #expect(scse_set_num_threads(3) == SCSE_STATUS_SUCCESS)
    #expect(scse_set_num_threads(-1) == SCSE_STATUS_INVALID_ARGUMENT)
    #expect(scse_set_num_threads(Int32.min) == SCSE_STATUS_INVALID_ARGUMENT)
    #expect(scse_get_num_threads() == 3)
  }

  /// The Swift API's setting and the C ABI's are the same process-wide count.
  @Test func swiftSettingIsTheLibraryCount() {
    defer { ScseSettings.threadCount = 0 }
    ScseSettings.threadCount = 3
    #expect(ScseSettings.threadCount == 3 && scse_get_num_threads() == 3)
    #expect(scse_set_num_threads(5) == SCSE_STATUS_SUCCESS)
    #expect(ScseSettings.threadCount == 5)
    ScseSettings.threadCount = 0
    #expect(ScseSettings.threadCount >= 1 && ScseSettings.threadCount == Int(scse_get_num_threads()))
  }

  /// The Swift API and the C ABI report the same kernel variant.
  @Test func instructionSetIsTheLibraryOne() {
    #expect(["baseline", "avx2"].contains(ScseSettings.instructionSet))
    #expect(ScseSettings.instructionSet == String(cString: scse_cpu_isa()))
  }
}
