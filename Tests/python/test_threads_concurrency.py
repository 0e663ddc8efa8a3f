"""Concurrent use from Python threads.

* Eight threads running forward and backward at once on different layers,
  shapes and layouts get exactly (bitwise) the results of sequential calls,
  also while a ninth thread keeps changing scse's thread count.
* Every layer works when called from a thread other than the main one.
* The results do not depend on the library's thread count.
* The shim releases the GIL while the library computes: two long calls in
  two threads overlap in time, and a pure-Python thread keeps running
  during each of them.
* The default thread count is the number of processors the process may run
  on (its affinity mask), not every online processor.
* A child created by fork() after the pool was used starts workers of its
  own, and gets bitwise the parent's results.

The multi-threaded checks run in a child interpreter: a crash there must
fail these tests, not end the whole pytest run.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import scse


@pytest.fixture
def default_thread_count():
    yield
    scse.set_num_threads(0)  # tests run with the default; put it back


def _channels_last(a):
    order = (0,) + tuple(range(2, a.ndim)) + (1,)
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


# (layer, shape, channels-last?, few-shot rows)
JOBS = [
    (lambda: scse.ChannelSELayer(32, 2, seed=1), (4, 32, 32, 32), False, 0),
    (lambda: scse.SpatialSELayer(16, seed=2), (2, 16, 16, 16, 16), True, 0),
    (lambda: scse.ChannelSpatialSELayer(64, 2, "sum", seed=3), (3, 64, 24, 24), True, 0),
    (lambda: scse.ChannelSpatialSELayer(48, 4, "max", seed=4), (2, 48, 400), False, 0),
    (lambda: scse.SpatialSELayer(24, bias=False, seed=5), (2, 24, 40, 40), False, 3),
    (lambda: scse.ChannelSELayer(128, 16, bias=False, seed=6), (1, 128, 30, 30), True, 0),
    (lambda: scse.ChannelSpatialSELayer(8, 2, "sum", bias=False, seed=7), (2, 8, 16, 16, 16), False, 0),
    (lambda: scse.ChannelSpatialSELayer(96, 4, "max", seed=8), (4, 96, 14, 14), True, 0),
]


def _job_inputs(index):
    make, shape, last, rows = JOBS[index]
    rng = np.random.default_rng(100 + index)
    x = rng.standard_normal(shape, dtype=np.float32)
    x[rng.random(shape) < 0.1] = 0  # max-aggregate ties take the split-gradient path
    gy = rng.standard_normal(shape, dtype=np.float32)
    if last:
        x, gy = _channels_last(x), _channels_last(gy)
    weights = rng.standard_normal((rows, shape[1], 1, 1), dtype=np.float32) if rows else None
    return make(), x, gy, weights


def _run(layer, x, gy, weights):
    kwargs = {} if weights is None else {"weights": weights}
    y = layer(x, **kwargs)
    grad_x, grads = layer.backward(x, gy, **kwargs)
    out = np.empty_like(y)
    layer(x, out=out, **kwargs)
    return {"y": y, "y via out": out, "grad_input": grad_x, **grads}


def _mismatches(got, want):
    return [k for k in want if got[k].shape != want[k].shape or got[k].tobytes() != want[k].tobytes()]


def _run_concurrently(workers, iterations, toggle_threads=False):
    barrier = threading.Barrier(len(workers) + toggle_threads)
    failures, stop = [], threading.Event()

    def work(index, layer, x, gy, weights, expected):
        try:
            barrier.wait()
            for i in range(iterations):
                bad = _mismatches(_run(layer, x, gy, weights), expected)
                if bad:
                    failures.append(f"job {index} iteration {i}: {bad} differ")
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(f"job {index}: {type(exc).__name__}: {exc}")

    def toggle():
        barrier.wait()
        counts = [1, 2, 3, 8, 0]
        i = 0
        while not stop.is_set():
            scse.set_num_threads(counts[i % len(counts)])
            i += 1
            time.sleep(0.0002)

    threads = [threading.Thread(target=work, args=(i, *w)) for i, w in enumerate(workers)]
    if toggle_threads:
        threads.append(threading.Thread(target=toggle))
    for t in threads:
        t.start()
    for t in threads[: len(workers)]:
        t.join(timeout=120)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return failures


def _in_child(statement):
    """Runs `statement` with this module imported as `t` in a fresh interpreter."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = f"import sys; sys.path.insert(0, {here!r}); import {__name__} as t; {statement}"
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        how = (f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
               else f"exit status {proc.returncode}")
        pytest.fail(f"child ({how}) running {statement}:\n{proc.stderr[-4000:]}")


def check_eight_threads(toggle_threads):
    workers = []
    for index in range(len(JOBS)):
        layer, x, gy, weights = _job_inputs(index)
        workers.append((layer, x, gy, weights, _run(layer, x, gy, weights)))
    failures = _run_concurrently(workers, iterations=12, toggle_threads=toggle_threads)
    assert not failures, "\n".join(failures[:20])


def check_shared_layer():
    layer, x, gy, weights = _job_inputs(2)
    expected = _run(layer, x, gy, weights)
    failures = _run_concurrently([(layer, x, gy, weights, expected)] * 8, iterations=12)
    assert not failures, "\n".join(failures[:20])


def check_worker_thread(index, shape, channels_last):
    # A worker thread's heap arena ends sooner than the main thread's, so an
    # out-of-bounds access that goes unnoticed on the main thread faults here.
    make = [lambda c: scse.ChannelSELayer(c, 16, seed=0), lambda c: scse.SpatialSELayer(c, seed=0),
            lambda c: scse.ChannelSpatialSELayer(c, 16, "sum", seed=0),
            lambda c: scse.ChannelSpatialSELayer(c, 16, "max", seed=0)][index]
    layer = make(shape[1])
    rng = np.random.default_rng(index)
    x = rng.standard_normal(shape, dtype=np.float32)
    gy = rng.standard_normal(shape, dtype=np.float32)
    if channels_last:
        x, gy = _channels_last(x), _channels_last(gy)
    expected = _run(layer, x, gy, None)
    failures = _run_concurrently([(layer, x, gy, None, expected)], iterations=2)
    assert not failures, "\n".join(failures)


def check_fork_child_starts_its_own_workers():
    scse.set_num_threads(2)
    layer, x, gy, weights = _job_inputs(0)
    parent = _run(layer, x, gy, weights)  # the pool's workers exist from here on
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child has one thread: the one that forked
        status = 1
        try:
            before = len(os.listdir("/proc/self/task"))
            bad = _mismatches(_run(layer, x, gy, weights), parent)
            after = len(os.listdir("/proc/self/task"))
            os.write(write_end, f"{bad} {before} {after}".encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    report = os.read(read_end, 4096).decode()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
    bad, before, after = report.rsplit(" ", 2)
    assert bad == "[]", f"the child's results differ from the parent's in {bad}"
    assert int(after) > int(before), f"the child ran on {before} thread(s) only"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no affinity masks here")
def test_default_thread_count_follows_the_affinity_mask():
    available = sorted(os.sched_getaffinity(0))
    env = {k: v for k, v in os.environ.items() if k != "SCSE_NUM_THREADS"}
    for cpus in {1, min(2, len(available))}:
        mask = set(available[:cpus])
        proc = subprocess.run(
            [sys.executable, "-c", "import scse; print(scse.get_num_threads())"],
            env=env, capture_output=True, text=True, timeout=120,
            preexec_fn=lambda mask=mask: os.sched_setaffinity(0, mask))
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert proc.stdout.strip() == str(cpus), f"affinity {sorted(mask)}: {proc.stdout!r}"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or not hasattr(os, "fork"),
                    reason="needs fork() and /proc to count the child's threads")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else False,
                    reason="the pool has no workers on one processor")
def test_fork_child_starts_its_own_workers():
    _in_child("t.check_fork_child_starts_its_own_workers()")


@pytest.mark.parametrize("toggle_threads", [False, True], ids=["fixed", "thread count changing"])
def test_eight_threads_match_sequential_results_bitwise(toggle_threads):
    _in_child(f"t.check_eight_threads({toggle_threads})")


def test_eight_threads_sharing_one_layer_and_input():
    _in_child("t.check_shared_layer()")


@pytest.mark.parametrize("channels_last", [False, True], ids=["channels-first", "channels-last"])
@pytest.mark.parametrize("index", range(4), ids=["cse", "sse", "scse-sum", "scse-max"])
def test_every_layer_works_on_a_worker_thread(index, channels_last):
    _in_child(f"t.check_worker_thread({index}, (2, 128, 30, 30), {channels_last}); "
              f"t.check_worker_thread({index}, (1, 16, 3000), {channels_last})")


def test_results_do_not_depend_on_the_thread_count(default_thread_count):
    for index in range(len(JOBS)):
        scse.set_num_threads(1)
        layer, x, gy, weights = _job_inputs(index)
        expected = _run(layer, x, gy, weights)
        for count in (2, 3, 8):
            scse.set_num_threads(count)
            assert scse.get_num_threads() == count
            bad = _mismatches(_run(layer, x, gy, weights), expected)
            assert not bad, f"job {index}: {bad} differ with {count} threads"


# --- the GIL is released during compute -----------------------------------

def _long_call():
    """A backward call that takes > 100 ms on one library thread, and its time."""
    layer = scse.ChannelSpatialSELayer(128, 2, seed=0)
    n = 8
    while True:
        x = np.full((n, 128, 64, 64), 0.5, np.float32)
        layer.backward(x, x)  # the first call also pays for page faults
        start = time.perf_counter()
        layer.backward(x, x)
        solo = time.perf_counter() - start
        if solo > 0.1 or n >= 128:
            return (lambda: layer.backward(x, x)), solo
        n *= 2


def _overlap_attempt(call):
    """Runs `call` in two threads at once while a third, pure-Python thread
    ticks; returns (ran concurrently with the GIL free?, report)."""
    intervals, ticks, stop = [None, None], [], threading.Event()
    barrier = threading.Barrier(2)

    def timed(slot):
        barrier.wait()
        start = time.perf_counter()
        call()
        intervals[slot] = (start, time.perf_counter())

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0005)

    ticker = threading.Thread(target=tick)
    ticker.start()
    workers = [threading.Thread(target=timed, args=(slot,)) for slot in (0, 1)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    ticker.join()
    (a0, a1), (b0, b1) = intervals
    overlap = min(a1, b1) - max(a0, b0)
    shortest = min(a1 - a0, b1 - b0)
    # Were the ticker blocked on the GIL for a whole call, its ticks would
    # leave a gap as long as that call.
    gaps = []
    for lo, hi in intervals:
        inside = [lo] + [t for t in ticks if lo < t < hi] + [hi]
        gaps.append(max(np.diff(inside)) / (hi - lo))
    report = (f"call A {1e3 * (a1 - a0):.0f} ms, call B {1e3 * (b1 - b0):.0f} ms, overlap "
              f"{1e3 * overlap:.0f} ms; largest ticker gap {max(gaps):.0%} of a call")
    return overlap > 0.5 * shortest and max(gaps) < 0.5, report


def test_gil_is_released_during_compute(default_thread_count):
    scse.set_num_threads(1)  # one library thread per call: the overlap is the threads' own
    call, solo = _long_call()
    # A 1 ms ticker resolves calls of a few tens of ms; the kernels are fast
    # enough that even the largest input here may take only ~50 ms.
    assert solo > 0.02, f"the long call took only {1e3 * solo:.0f} ms"
    reports = []
    for _ in range(4):  # scheduling noise on a busy machine may spoil an attempt
        ok, report = _overlap_attempt(call)
        reports.append(report)
        if ok:
            return
    pytest.fail("two calls in two threads did not run concurrently:\n" + "\n".join(reports))


def test_overlap_check_detects_a_call_that_holds_the_gil():
    # sum() over a range runs in C without ever releasing the GIL.
    count = 1_000_000
    start = time.perf_counter()
    sum(range(count))
    count = int(count * 0.1 / max(time.perf_counter() - start, 1e-4))  # about 100 ms
    ok, report = _overlap_attempt(lambda: sum(range(count)))
    assert not ok, f"a GIL-holding call passed the overlap check: {report}"
