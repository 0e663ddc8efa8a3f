// Fork-join over independent work items. Items never share output and each
// item's arithmetic does not depend on which thread runs it, so the split of
// items over threads cannot change any result.

/// Work (in floats read or written) below which one more thread costs more
/// in hand-off than it saves; measured with bench/native on this project's
/// benchmark shapes (docs/design.md, "Threads").
@usableFromInline package let minimumWorkPerThread = 48 * 1024

/// Threads that `work` floats (read or written) can keep busy: one per
/// `minimumWorkPerThread`, at least one.
@inlinable @inline(__always)
package func threadsWorth(work: Int) -> Int {
  Swift.max(1, work / minimumWorkPerThread)
}

/// Runs `body(i)` for every `i` in `0..<count`, on up to `threads` threads,
/// and on the calling thread alone when `work` (floats the whole loop reads
/// or writes) is too small to pay for another thread.
///
/// Threads take items in order, a few at a time (see `WorkerPool.run`).
/// - Complexity: O(count) calls of `body`.
@inlinable @inline(__always)
package func parallelFor(_ count: Int, threads: Int, work: Int, _ body: (Int) -> Void) {
  let workers = Swift.min(threads, count, threadsWorth(work: work))
  if workers <= 1 {
    for i in 0 ..< count { body(i) }
    return
  }
  WorkerPool.shared.run(count, threads: workers, body)
}
