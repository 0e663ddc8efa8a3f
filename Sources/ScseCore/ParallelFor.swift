// Fork-join over independent work items. Items never share output and each
// item's arithmetic does not depend on which thread runs it, so the split of
// items over threads cannot change any result.
import Dispatch

/// Runs `body(i)` for every `i` in `0..<count`, on up to `threads` threads.
///
/// Each thread takes one contiguous block of items.
/// - Complexity: O(count) calls of `body`.
@inlinable @inline(__always)
package func parallelFor(_ count: Int, threads: Int, _ body: (Int) -> Void) {
  let workers = Swift.min(threads, count)
  if workers <= 1 {
    for i in 0 ..< count { body(i) }
    return
  }
  withoutActuallyEscaping(body) { body in
    let task = UncheckedSendable(body)
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
      let start = worker * count / workers
      let end = (worker + 1) * count / workers
      for i in start ..< end { task.value(i) }
    }
  }
}

/// Carries a value the caller guarantees is used race-free across threads.
@usableFromInline package struct UncheckedSendable<Value>: @unchecked Sendable {
  @usableFromInline package let value: Value
  @inlinable package init(_ value: Value) { self.value = value }
}
