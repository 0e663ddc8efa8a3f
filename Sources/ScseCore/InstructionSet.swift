// Which compiled variant of the kernels a process runs: the best one the CPU
// supports, capped by the SCSE_CPU_ISA environment variable. Decided once.
import CScseCPU
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The kernel variants, weakest first. Every build has `baseline`; x86-64
/// builds also have `avx2`.
package enum InstructionSet: Int, Comparable, CaseIterable, Sendable {
  /// The architecture's baseline: SSE2 on x86-64 (any x86-64 CPU), NEON on
  /// aarch64.
  case baseline
  /// x86-64-v3: AVX2 and FMA (Intel Haswell, AMD Excavator and newer).
  case avx2

  /// The name `scse_cpu_isa()` reports and `SCSE_CPU_ISA` accepts.
  package var name: StaticString {
    switch self {
    case .baseline: "baseline"
    case .avx2: "avx2"
    }
  }

  package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

  /// The strongest variant this CPU can run.
  static var supportedByCPU: InstructionSet {
    cscse_cpu_supports_x86_64_v3() != 0 ? .avx2 : .baseline
  }

  /// The variant named by `SCSE_CPU_ISA`, or `nil` when it is unset or names
  /// no variant (then it caps nothing).
  static var environmentCap: InstructionSet? {
    guard let raw = getenv("SCSE_CPU_ISA") else { return nil }
    let text = String(cString: raw)
    return allCases.first { "\($0.name)" == text }
  }

  /// The variant to run, out of those compiled (`available`, which holds
  /// `baseline`): the strongest that the CPU supports and `SCSE_CPU_ISA`
  /// allows. Asking for more than the CPU has gives what it has.
  package static func choose(from available: [InstructionSet]) -> InstructionSet {
    let cpu = supportedByCPU
    let limit = Swift.min(cpu, environmentCap ?? cpu)
    return available.filter { $0 <= limit }.max() ?? .baseline
  }
}
