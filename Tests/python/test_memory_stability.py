"""No leaks: neither memory nor references.

* Resident memory stays flat over 10 000 forward + backward calls on a
  small shape (after a warm-up), and over thousands of calls that raise.
* The shim keeps no reference it should not: sys.getrefcount of inputs,
  outputs, parameters and None is the same before and after many calls,
  successful or failing at every stage of argument checking; results are
  freed as soon as the caller drops them.
"""

import gc
import os
import sys
import weakref

import numpy as np

import scse
from scse import _native

PAGE = os.sysconf("SC_PAGE_SIZE")
RSS_SLACK = 2 * 1024 * 1024


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _channels_last(a):
    order = (0,) + tuple(range(2, a.ndim)) + (1,)
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


def _workload():
    """Small problems covering every entry point, both layouts and out=."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 6, 6), dtype=np.float32)
    gy = rng.standard_normal(x.shape, dtype=np.float32)
    xl, gyl = _channels_last(x), _channels_last(gy)
    weights = rng.standard_normal((3, 16, 1, 1), dtype=np.float32)
    scse_sum = scse.ChannelSpatialSELayer(16, 2, seed=0)
    scse_max = scse.ChannelSpatialSELayer(16, 4, "max", bias=False, seed=1)
    cse = scse.ChannelSELayer(16, 2, seed=2)
    sse = scse.SpatialSELayer(16, seed=3)
    out = np.empty_like(x)
    steps = [
        lambda: (scse_sum(x), scse_sum.backward(x, gy)),
        lambda: (scse_max(xl, out=np.empty_like(xl)), scse_max.backward(xl, gy)),
        lambda: (cse(x, out=out), cse.backward(x, gyl)),
        lambda: (sse(xl, weights=weights), sse.backward(xl, gyl, weights=weights)),
        lambda: (sse(x), sse.backward(x, gy)),
    ]
    return steps, (x, gy, xl, gyl, weights, out)


def test_resident_memory_is_stable_over_10000_calls():
    steps, _ = _workload()
    for i in range(1000):  # warm-up: allocator pools, lazily loaded code
        steps[i % len(steps)]()
    gc.collect()
    before = rss_bytes()
    for i in range(10_000):
        steps[i % len(steps)]()
    gc.collect()
    growth = rss_bytes() - before
    assert growth < RSS_SLACK, f"resident memory grew by {growth / 2**20:.2f} MiB over 10 000 calls"


def _failing_calls():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 5), dtype=np.float32)
    layer = scse.ChannelSpatialSELayer(8, 2, seed=0)
    read_only = x.copy()
    read_only.flags.writeable = False
    buf = np.zeros(x.size + 1, np.float32)
    overlapping = (buf[:-1].reshape(x.shape), buf[1:].reshape(x.shape))
    w1, w2 = np.zeros((4, 8), np.float32), np.zeros((8, 4), np.float32)
    return [
        (lambda: layer(x.astype(np.float64)), TypeError),
        (lambda: layer(x[:, :, ::-1]), ValueError),
        (lambda: layer(x, out=read_only), ValueError),
        (lambda: layer(x, out=np.empty((2, 8, 4), np.float32)), ValueError),
        (lambda: layer(overlapping[0], out=overlapping[1]), scse.Error),
        (lambda: layer.backward(x, x[:1]), ValueError),
        (lambda: _native.backward(x, x[:, :, ::-1], cse=(4, w1, None, w2, None)), ValueError),
        (lambda: _native.forward(x, cse=(4, w1, None, w2, np.zeros(3, np.float32))), ValueError),
        (lambda: layer.load_state_dict({"cSE.fc1.weight": "junk"}), ValueError),
        (lambda: scse.set_num_threads(-1), scse.Error),
    ]


def test_resident_memory_is_stable_over_failing_calls():
    calls = _failing_calls()

    def run(times):
        for i in range(times):
            call, error = calls[i % len(calls)]
            try:
                call()
            except error:
                pass
            else:
                raise AssertionError("the call did not fail")

    run(1000)
    gc.collect()
    before = rss_bytes()
    run(10_000)
    gc.collect()
    growth = rss_bytes() - before
    assert growth < RSS_SLACK, f"resident memory grew by {growth / 2**20:.2f} MiB over 10 000 failing calls"


# --- reference counts ---------------------------------------------------------

def _refcounts(objects):
    return [sys.getrefcount(o) for o in objects]


def _assert_refcounts_stable(label, objects, call, times=100):
    # No gc.collect(): nothing here makes reference cycles, so every count
    # is exact without it (and a full collection is slow with torch loaded).
    call()  # first-call caches
    before = _refcounts(objects)
    for _ in range(times):
        call()
    after = _refcounts(objects)
    changed = [(i, b, a) for i, (b, a) in enumerate(zip(before, after)) if a != b]
    assert not changed, f"{label}: refcounts changed (object index, before, after): {changed}"


def _raises(call, error):
    def run():
        try:
            call()
        except error:  # unbound: no traceback cycle keeps the arguments alive
            return
        raise AssertionError("the call did not fail")
    return run


def test_layer_calls_keep_no_references():
    steps, arrays = _workload()
    for i, step in enumerate(steps):
        _assert_refcounts_stable(f"step {i}", list(arrays) + [None], step)


def test_native_calls_keep_no_references_on_success():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 7), dtype=np.float32)
    gy = rng.standard_normal(x.shape, dtype=np.float32)
    gyl = _channels_last(gy)  # grad_y in the other layout: copied by the shim
    out = np.empty_like(x)
    w1 = rng.standard_normal((3, 6, 1), dtype=np.float32)
    b1 = rng.standard_normal(3, dtype=np.float32)
    w2_strided = rng.standard_normal((6, 6), dtype=np.float32)[:, ::2]  # copied by the shim
    b2 = rng.standard_normal(6, dtype=np.float32)
    sw = rng.standard_normal((2, 6), dtype=np.float32)
    sb = rng.standard_normal(1, dtype=np.float32)
    cse, sse = (3, w1, b1, w2_strided, b2), (sw, sb)
    hidden_zero = (0, None, None, None, b2)
    objects = [x, gy, gyl, out, w1, b1, w2_strided, b2, sw, sb, cse, sse, hidden_zero, None]
    for label, call in {
        "forward": lambda: _native.forward(x, cse=cse, sse=sse, aggregate=1),
        "forward out": lambda: _native.forward(x, cse=cse, out=out),
        "forward in place": lambda: _native.forward(out, sse=sse, out=out),
        "forward hidden 0": lambda: _native.forward(x, cse=hidden_zero),
        "backward": lambda: _native.backward(x, gy, cse=cse, sse=sse),
        "backward grad other layout": lambda: _native.backward(x, gyl, sse=sse),
        "backward hidden 0": lambda: _native.backward(x, gy, cse=hidden_zero),
    }.items():
        _assert_refcounts_stable(label, objects, call)


def test_native_calls_keep_no_references_on_failure():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 7), dtype=np.float32)
    gy = rng.standard_normal(x.shape, dtype=np.float32)
    out = np.empty_like(x)
    read_only = np.empty_like(x)
    read_only.flags.writeable = False
    w1 = rng.standard_normal((3, 6), dtype=np.float32)
    w1_strided = rng.standard_normal((3, 12), dtype=np.float32)[:, ::2]
    b1 = rng.standard_normal(3, dtype=np.float32)
    w2 = rng.standard_normal((6, 3), dtype=np.float32)
    b2 = rng.standard_normal(6, dtype=np.float32)
    bad_b2 = np.zeros(5, np.float32)
    sw = rng.standard_normal((1, 6), dtype=np.float32)
    bad_sb = np.zeros(2, np.float32)
    buf = np.zeros(x.size + 2, np.float32)
    x_over, out_over = buf[:-2].reshape(x.shape), buf[2:].reshape(x.shape)
    good_cse, strided_cse = (3, w1, b1, w2, b2), (3, w1_strided, b1, w2, b2)
    objects = [x, gy, out, read_only, w1, w1_strided, b1, w2, b2, bad_b2, sw, bad_sb,
               x_over, out_over, buf, good_cse, strided_cse, None]
    # Each fails at a later stage, after more references have been taken.
    for label, call, error in [
        ("x junk", lambda: _native.forward("x", cse=good_cse), TypeError),
        ("x dtype", lambda: _native.forward(x.astype(np.float64), cse=good_cse), TypeError),
        ("cse junk", lambda: _native.forward(x, cse=(3, w1)), TypeError),
        ("last cse parameter bad", lambda: _native.forward(x, cse=(3, w1_strided, b1, w2, bad_b2)), ValueError),
        ("sse bad after a good cse", lambda: _native.forward(x, cse=strided_cse, sse=(sw, bad_sb)), ValueError),
        ("out shape", lambda: _native.forward(x, cse=strided_cse, out=out[:1]), ValueError),
        ("out read-only", lambda: _native.forward(x, cse=strided_cse, out=read_only), ValueError),
        ("library status", lambda: _native.forward(x_over, cse=strided_cse, out=out_over), scse.Error),
        ("grad_y shape", lambda: _native.backward(x, gy[:1], cse=strided_cse), ValueError),
        ("grad_y layout", lambda: _native.backward(x, gy[:, :, ::-1], sse=(sw, None)), ValueError),
    ]:
        _assert_refcounts_stable(label, objects, _raises(call, error))


def test_results_are_freed_when_dropped():
    layer = scse.ChannelSpatialSELayer(16, 2, seed=0)
    x = np.random.default_rng(4).standard_normal((2, 16, 5), dtype=np.float32)
    y = layer(x)
    grad_x, grads = layer.backward(x, y)
    refs = [weakref.ref(a) for a in (y, grad_x, *grads.values())]
    # Counted outside assert statements, which pytest rewrites with temporaries.
    counts = {"y": sys.getrefcount(y), "grad_x": sys.getrefcount(grad_x)}
    counts.update({key: sys.getrefcount(grads[key]) for key in grads})
    # Each result: the caller's name (or the dict's entry) and getrefcount's argument.
    assert counts == dict.fromkeys(counts, 2), counts
    del y, grad_x, grads
    assert all(r() is None for r in refs), "a result outlived its last reference"
