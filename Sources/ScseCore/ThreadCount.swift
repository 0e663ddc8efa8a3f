// The one process-wide setting: how many threads a call may use.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CScseCPU
import Synchronization

/// 0 means "use the default"; stored atomically so concurrent calls are safe.
private let requestedThreads = Atomic<Int32>(0)

package enum ThreadCount {
  /// Stores `n` (0 = default). - Precondition: `n >= 0` (checked by the C entry point).
  package static func set(_ n: Int32) {
    precondition(n >= 0)
    requestedThreads.store(n, ordering: .relaxed)
  }

  /// The thread count calls use now, >= 1.
  package static var current: Int {
    let n = requestedThreads.load(ordering: .relaxed)
    return n > 0 ? Int(n) : defaultCount
  }

  /// `SCSE_NUM_THREADS` when it holds a positive integer, else the
  /// processors this process may run on (its affinity mask, so `taskset`
  /// and container cpusets count, not every online processor). Read once:
  /// the environment is not expected to change.
  package static let defaultCount: Int = {
    if let raw = getenv("SCSE_NUM_THREADS"), let n = Int(String(cString: raw)), n > 0 {
      return Swift.min(n, 1024)
    }
    return availableProcessors
  }()

  /// The processors this process may run on, >= 1 (`cscse_cpu_available_count`).
  package static let availableProcessors = Int(cscse_cpu_available_count())
}
