// The process-wide pool of worker threads behind `parallelFor`. Threads are
// created on first use and then kept: a fork-join costs a hand-off to threads
// that are spinning or parked, never a thread creation.
//
// A worker spins for a short, bounded time after each job (so back-to-back
// calls find it awake), then parks on a condition variable, so an idle pool
// uses no CPU next to other busy threads (e.g. PyTorch's OpenMP pool). The
// calling thread always runs the first share of the work itself.
//
// One call uses the pool at a time: a call that finds it in use (another user
// thread's call) runs on its own thread instead, so concurrent calls never
// wait for each other and never deadlock. A child process created by fork()
// inherits none of the pool's threads: it forgets them and starts its own on
// its first parallel call.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CScseCPU
import Synchronization

/// The worker pool shared by every call in the process.
private let sharedPool = WorkerPool()

/// Nanoseconds on a monotonic clock.
@inline(__always)
private func monotonicNanoseconds() -> UInt64 {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
}

/// Spins until `done()` holds or about `nanoseconds` have passed.
/// - Returns: whether `done()` held.
@inline(__always)
private func spin(for nanoseconds: UInt64, until done: () -> Bool) -> Bool {
  var deadline: UInt64 = 0
  var round = 0
  while !done() {
    cscse_cpu_relax()
    round &+= 1
    // Reading the clock every 256 checks keeps the loop cheap.
    if round & 255 == 0 {
      let now = monotonicNanoseconds()
      if deadline == 0 {
        deadline = now &+ nanoseconds
      } else if now >= deadline {
        return done()
      }
    }
  }
  return true
}

/// A mutex and condition variable at fixed addresses (pthread objects must not move).
private final class Parking: @unchecked Sendable {
  let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

  init() {
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(condition, nil)
  }

  /// Blocks until `done()` holds; `done` is re-checked under the mutex.
  func wait(until done: () -> Bool) {
    pthread_mutex_lock(mutex)
    while !done() { pthread_cond_wait(condition, mutex) }
    pthread_mutex_unlock(mutex)
  }

  /// Wakes a thread blocked in `wait` (taking the mutex orders this after its check).
  func wake() {
    pthread_mutex_lock(mutex)
    pthread_cond_signal(condition)
    pthread_mutex_unlock(mutex)
  }
}

/// States of a worker's hand-off slot.
private enum Slot {
  /// No job for this worker.
  static let idle = 0
  /// The caller has offered the current job; the worker has not taken it.
  static let offered = 1
  /// The worker is taking items of the current job.
  static let running = 2
}

/// One worker thread's hand-off point.
private final class Worker: @unchecked Sendable {
  /// `Slot.idle`, `.offered` (set by the caller) or `.running` (set by the worker).
  let state = Atomic<Int>(Slot.idle)
  /// True while the worker is (about to be) blocked in `parking.wait`.
  let parked = Atomic<Bool>(false)
  let parking = Parking()
  unowned(unsafe) let pool: WorkerPool

  init(pool: WorkerPool) { self.pool = pool }

  /// Offers the pool's current job to this worker.
  func offer() {
    state.store(Slot.offered, ordering: .sequentiallyConsistent)
    if parked.load(ordering: .sequentiallyConsistent) { parking.wake() }
  }

  /// Takes the offer back if the worker has not started on it.
  /// - Returns: false when the worker is running (or ran) the job.
  func withdraw() -> Bool {
    state.compareExchange(expected: Slot.offered, desired: Slot.idle,
                          ordering: .sequentiallyConsistent).exchanged
  }

  /// The thread's loop: wait for an offer, take items until none are left, repeat.
  func run() -> Never {
    while true {
      let offered = spin(for: WorkerPool.workerSpinNanoseconds) {
        state.load(ordering: .relaxed) == Slot.offered
      }
      if !offered {
        // Announce the park before the last check; `offer` stores the state
        // before reading `parked`, so one of the two sees the other.
        parked.store(true, ordering: .sequentiallyConsistent)
        parking.wait { state.load(ordering: .sequentiallyConsistent) == Slot.offered }
        parked.store(false, ordering: .relaxed)
      }
      // The caller may have withdrawn the offer meanwhile; then wait again.
      guard state.compareExchange(expected: Slot.offered, desired: Slot.running,
                                  ordering: .acquiringAndReleasing).exchanged else { continue }
      pool.takeItems()
      state.store(Slot.idle, ordering: .sequentiallyConsistent)
      pool.workerFinished()
    }
  }
}

/// Persistent worker threads plus the job being run.
@usableFromInline package final class WorkerPool: @unchecked Sendable {
  /// How long a worker spins for the next job before parking.
  static let workerSpinNanoseconds: UInt64 = 50_000
  /// How long the caller spins for running workers before parking.
  static let callerSpinNanoseconds: UInt64 = 200_000

  /// Held by the one call using the pool.
  private let inUse = Atomic<Bool>(false)
  /// Workers, grown on demand by the call holding `inUse`.
  private var workers: [Worker] = []
  /// Worker threads this process may keep: the processors it may run on less the caller.
  private let capacity: Int
  /// Set while the caller is (about to be) blocked waiting for workers.
  private let callerParked = Atomic<Bool>(false)
  private var done = Parking()

  // The current job. Written before workers are offered it; read by a
  // worker only while it is running, which the caller waits out.
  private var body: ((Int) -> Void)? = nil
  private var count = 0
  /// Items taken at a time.
  private var grain = 1
  /// The first item not yet taken.
  private let next = Atomic<Int>(0)

  init() {
    capacity = Swift.max(0, Swift.min(ThreadCount.availableProcessors, 256) - 1)
    pthread_atfork(nil, nil, { sharedPool.forgetThreadsAfterFork() })
  }

  /// In a child after fork(), which runs this before anything else on its one
  /// thread: the workers (and any call that held the pool) stayed in the
  /// parent, and a mutex may have been copied locked. Dropping them lets the
  /// next call start fresh workers. The old workers' memory is leaked: their
  /// threads' retains of them were never released.
  fileprivate func forgetThreadsAfterFork() {
    workers = []
    body = nil
    done = Parking()
    callerParked.store(false, ordering: .relaxed)
    inUse.store(false, ordering: .relaxed)
  }

  /// Takes and runs items of the current job until none are left. Items are
  /// taken in order, so whichever thread runs an item, it runs it alone.
  fileprivate func takeItems() {
    let body = self.body!, count = self.count, grain = self.grain
    while true {
      let start = next.add(grain, ordering: .relaxed).oldValue
      if start >= count { return }
      for i in start ..< Swift.min(start + grain, count) { body(i) }
    }
  }

  fileprivate func workerFinished() {
    if callerParked.load(ordering: .sequentiallyConsistent) { done.wake() }
  }

  /// Starts one more worker thread; false if the system refuses.
  private func addWorker() -> Bool {
    let worker = Worker(pool: self)
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    #if canImport(Darwin)
    var thread: pthread_t? = nil
    #else
    var thread = pthread_t()
    #endif
    let argument = Unmanaged.passRetained(worker).toOpaque()
    let status = pthread_create(&thread, &attributes, { raw in
      Unmanaged<Worker>.fromOpaque(raw!).takeUnretainedValue().run()
    }, argument)
    if status != 0 {
      Unmanaged<Worker>.fromOpaque(argument).release()
      return false
    }
    workers.append(worker)
    return true
  }

  /// Runs `body(i)` for `i` in `0 ..< count` on the calling thread and up to
  /// `threads - 1` workers. Items are taken dynamically: a worker that is
  /// slow to wake (its core busy with other work) leaves its items to the
  /// others, and the caller waits only for items already started. Falls back
  /// to the calling thread alone when the pool is in use or when no worker
  /// thread can be started.
  @usableFromInline package func run(_ count: Int, threads requested: Int, _ body: (Int) -> Void) {
    let wanted = Swift.min(requested, capacity + 1)
    guard wanted > 1,
          inUse.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else {
      for i in 0 ..< count { body(i) }
      return
    }
    while workers.count < wanted - 1, addWorker() {}
    let helpers = workers[0 ..< Swift.min(wanted - 1, workers.count)]
    withoutActuallyEscaping(body) { body in
      self.body = body
      self.count = count
      // About four takes per thread: fine enough to balance, coarse enough
      // that taking costs nothing next to an item.
      self.grain = Swift.max(1, count / (4 * (helpers.count + 1)))
      next.store(0, ordering: .relaxed)
      for worker in helpers { worker.offer() }
      takeItems()
      for worker in helpers where !worker.withdraw() {
        let idle = { worker.state.load(ordering: .acquiring) == Slot.idle }
        if !spin(for: WorkerPool.callerSpinNanoseconds, until: idle) {
          callerParked.store(true, ordering: .sequentiallyConsistent)
          done.wait { worker.state.load(ordering: .sequentiallyConsistent) == Slot.idle }
          callerParked.store(false, ordering: .relaxed)
        }
      }
      self.body = nil
    }
    inUse.store(false, ordering: .releasing)
  }

  /// The pool of this process.
  @usableFromInline package static var shared: WorkerPool { sharedPool }
}
