"""Hostile arguments give a clear exception, never a crash.

Every call that reaches the C shim with a bad argument runs in one child
interpreter (a segfault there would otherwise end the whole pytest run); each
case then reports as its own test, and a crash is pinned on the case that was
running. Pure-Python paths (state dicts, constructors) run in-process.
"""

import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

import scse
from parity_check import run_torch
from variants import Variant, build_pair

# Shared by every case below; runs once in the child.
SETUP = r"""
import numpy as np
import scse
from scse import _native

rng = np.random.default_rng(7)
x = rng.standard_normal((2, 4, 3, 5), dtype=np.float32)
gy = rng.standard_normal(x.shape, dtype=np.float32)
x_copy, gy_copy = x.copy(), gy.copy()
scse_layer = scse.ChannelSpatialSELayer(4, 2, seed=1)
cse_layer = scse.ChannelSELayer(4, 2, seed=2)
sse_layer = scse.SpatialSELayer(4, seed=3)
layers = [scse_layer, cse_layer, sse_layer]
before = [(layer(x), layer.backward(x, gy)) for layer in layers]

def channels_last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose(0, 3, 1, 2)

def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a

def misaligned(shape):
    raw = np.zeros(int(np.prod(shape)) * 4 + 1, np.uint8)
    return raw[1:].view(np.float32).reshape(shape)

w1 = np.zeros((2, 4), np.float32); b1 = np.zeros(2, np.float32)
w2 = np.zeros((4, 2), np.float32); b2 = np.zeros(4, np.float32)
sw = np.zeros((1, 4), np.float32); sb = np.zeros(1, np.float32)
"""

# Checked in the child after every hostile call: a refused call changed
# nothing (the header: no output byte is written on failure).
UNCHANGED = r"""
assert np.array_equal(x, x_copy) and np.array_equal(gy, gy_copy), "inputs were modified"
for layer, (y0, (gx0, g0)) in zip(layers, before):
    y1 = layer(x)
    gx1, g1 = layer.backward(x, gy)
    assert np.array_equal(y0, y1) and np.array_equal(gx0, gx1), repr(layer)
    assert all(np.array_equal(g0[k], g1[k]) for k in g0), repr(layer)
"""

TE, VE, ERR = "TypeError", "ValueError", "Error"
DTYPE = r"must have dtype float32"
NOT_DENSE = r"must be dense"

# name: (statement, exception type name, regex the message must match)
CASES = {
    # --- dtypes
    "x float64": ("scse_layer(x.astype(np.float64))", TE, DTYPE + r".*float64"),
    "x float16": ("scse_layer(x.astype(np.float16))", TE, DTYPE),
    "x int32": ("scse_layer(x.astype(np.int32))", TE, DTYPE + r".*int32"),
    "x int64": ("cse_layer(np.ones((2, 4, 3), np.int64))", TE, DTYPE),
    "x bool": ("sse_layer(x > 0)", TE, DTYPE + r".*bool"),
    "x object": ("scse_layer(x.astype(object))", TE, DTYPE + r".*object"),
    "x complex": ("scse_layer(x.astype(np.complex64))", TE, DTYPE + r".*complex"),
    "x big-endian": ("scse_layer(x.astype('>f4'))", TE, DTYPE),
    "x structured": ("cse_layer(np.zeros((2, 4, 3), 'f4,f4'))", TE, DTYPE),
    "grad float64": ("scse_layer.backward(x, gy.astype(np.float64))", TE, DTYPE),
    "grad int": ("sse_layer.backward(x, gy.astype(np.int16))", TE, DTYPE),
    "out float64": ("scse_layer(x, out=np.empty(x.shape))", TE, r"out must have dtype float32"),
    # --- not arrays
    "x None": ("scse_layer(None)", TE, r"numpy.ndarray"),
    "x str": ("cse_layer('abc')", TE, r"numpy.ndarray"),
    "x list of floats": ("scse_layer(x.tolist())", TE, r"numpy.ndarray"),
    "x list of str": ("sse_layer([['a', 'b']])", TE, r"numpy.ndarray"),
    "x dict": ("scse_layer({'x': x})", TE, r"numpy.ndarray"),
    "x scalar": ("scse_layer(np.float32(1))", TE, r"numpy.ndarray"),
    "x torch tensor": ("import torch; scse_layer(torch.from_numpy(x))", TE, r"numpy.ndarray"),
    "grad None": ("cse_layer.backward(x, None)", TE, r"grad_output must be a numpy.ndarray"),
    "grad list": ("scse_layer.backward(x, gy.tolist())", TE, r"numpy.ndarray"),
    "out list": ("scse_layer(x, out=[0.0])", TE, r"numpy.ndarray"),
    "out str": ("sse_layer(x, out='y')", TE, r"numpy.ndarray"),
    # --- ndim, channels, zero sizes
    "ndim 0": ("scse_layer(np.zeros((), np.float32))", VE, r"spatial"),
    "ndim 1": ("scse_layer(np.zeros(4, np.float32))", VE, r"spatial"),
    "ndim 2": ("scse_layer(x[:, :, 0, 0].copy())", VE, r"spatial"),
    "ndim 6": ("scse_layer(x.reshape(2, 4, 3, 5, 1, 1))", VE, r"spatial"),
    "channels too few": ("scse_layer(x[:, :3].copy())", VE, r"3 channels.*expects 4"),
    "channels too many": ("sse_layer(np.zeros((1, 5, 3), np.float32))", VE, r"5 channels.*expects 4"),
    "channels in last axis": ("cse_layer(np.zeros((1, 3, 4), np.float32))", VE, r"channels"),
    "zero batch": ("scse_layer(np.zeros((0, 4, 3), np.float32))", VE, r"zero-size.*axis 0"),
    "zero spatial": ("scse_layer(np.zeros((1, 4, 3, 0), np.float32))", VE, r"zero-size.*axis 3"),
    "zero spatial 3d": ("cse_layer(np.zeros((1, 4, 0, 2, 2), np.float32))", VE, r"zero-size"),
    "zero batch backward": (
        "z = np.zeros((0, 4, 3), np.float32); sse_layer.backward(z, z)", VE, r"zero-size"),
    "grad shape": ("scse_layer.backward(x, gy[:1].copy())", VE, r"shape of x"),
    "grad ndim": ("scse_layer.backward(x, gy.reshape(2, 4, 15))", VE, r"shape of x"),
    "out shape": ("scse_layer(x, out=np.empty((2, 4, 3, 4), np.float32))", VE, r"out must have the shape"),
    "out ndim": ("scse_layer(x, out=np.empty((2, 4, 15), np.float32))", VE, r"out must have the shape"),
    # --- memory layouts other than the two dense ones
    "x strided": ("scse_layer(x[:, :, ::2])", VE, NOT_DENSE),
    "x negative stride spatial": ("scse_layer(x[:, :, ::-1])", VE, NOT_DENSE),
    "x negative stride channels": ("cse_layer(x[:, ::-1])", VE, NOT_DENSE),
    "x negative stride batch": ("sse_layer(x[::-1])", VE, NOT_DENSE),
    "x fortran order": ("scse_layer(np.asfortranarray(x))", VE, NOT_DENSE),
    "x spatial axes swapped": ("scse_layer(x.transpose(0, 1, 3, 2))", VE, NOT_DENSE),
    "x channels-last reversed": ("scse_layer(channels_last(x)[:, :, ::-1])", VE, NOT_DENSE),
    "x broadcast": ("scse_layer(np.broadcast_to(x[:, :, :1], x.shape))", VE, NOT_DENSE),
    "x huge broadcast": (
        "scse_layer(np.broadcast_to(np.float32(1), (2**20, 4, 2**20, 2**18)))", VE, NOT_DENSE),
    "x misaligned": ("scse_layer(misaligned((2, 4, 3)))", VE, r"aligned"),
    "grad strided": ("scse_layer.backward(x, np.repeat(gy, 2, axis=3)[..., ::2])", VE, NOT_DENSE),
    "grad negative stride": ("cse_layer.backward(x, gy[:, :, ::-1])", VE, NOT_DENSE),
    "grad misaligned": ("scse_layer.backward(x, misaligned(x.shape))", VE, r"aligned"),
    "out other layout": ("scse_layer(x, out=channels_last(np.empty_like(x)))", VE, r"memory order"),
    "out negative stride": ("scse_layer(x, out=np.empty_like(x)[:, :, ::-1])", VE, r"memory order"),
    "out misaligned": ("scse_layer(x, out=misaligned(x.shape))", VE, r"aligned"),
    # --- read-only and overlapping outputs
    "out read-only": ("scse_layer(x, out=read_only(x))", VE, r"read-only"),
    "out read-only in place": ("xr = read_only(x); cse_layer(xr, out=xr)", VE, r"read-only"),
    "out read-only sse": ("sse_layer(x, out=read_only(x))", VE, r"read-only"),
    "out overlaps x": (
        "buf = np.zeros(x.size + 3, np.float32); "
        "scse_layer(buf[:x.size].reshape(x.shape), out=buf[3:].reshape(x.shape))",
        ERR, r"overlap"),
    # --- few-shot weights
    "weights zero rows": ("sse_layer(x, weights=np.zeros((0, 4, 1, 1), np.float32))", VE, r"K >= 1"),
    "weights wrong C": ("sse_layer(x, weights=np.zeros((2, 5, 1, 1), np.float32))", VE, r"\(2, 5, 1, 1\)"),
    "weights 1-D": ("sse_layer(x, weights=np.zeros(4, np.float32))", VE, r"weights must have shape"),
    "weights str": ("sse_layer(x, weights='w')", TE, r"weights"),
    "weights list of str": ("sse_layer.backward(x, gy, weights=[['a'] * 4])", TE, r"weights"),
    "weights dict": ("sse_layer(x, weights={'a': 1})", TE, r"weights"),
    "weights complex": ("sse_layer(x, weights=np.zeros((1, 4, 1, 1), complex))", TE, r"weights"),
    # --- the shim itself (private, but it must not trust its caller)
    "native no gate": ("_native.forward(x)", VE, r"at least one"),
    "native cse not tuple": ("_native.forward(x, cse=[2, w1, b1, w2, b2])", TE, r"cse"),
    "native cse short": ("_native.forward(x, cse=(2, w1, b1))", TE, r"cse"),
    "native cse hidden str": ("_native.forward(x, cse=('2', w1, b1, w2, b2))", TE, r"integer"),
    "native cse hidden negative": ("_native.forward(x, cse=(-1, w1, b1, w2, b2))", VE, r">= 0"),
    "native cse hidden huge": ("_native.forward(x, cse=(2**62, w1, b1, w2, b2))", VE, r"fc1_weight"),
    "native cse hidden overflow": ("_native.forward(x, cse=(2**70, w1, b1, w2, b2))", "OverflowError", r""),
    "native cse hidden mismatch": ("_native.forward(x, cse=(3, w1, b1, w2, b2))", VE, r"fc1_weight"),
    "native cse weight None": ("_native.forward(x, cse=(2, None, b1, w2, b2))", TE, r"fc1_weight"),
    "native cse weight float64": (
        "_native.forward(x, cse=(2, w1.astype(float), b1, w2, b2))", TE, r"fc1_weight"),
    "native cse bias shape": ("_native.backward(x, gy, cse=(2, w1, b2, w2, b2))", VE, r"fc1_bias"),
    "native cse bias junk": ("_native.forward(x, cse=(2, w1, b1, w2, 'b'))", TE, r"fc2_bias"),
    "native sse not tuple": ("_native.forward(x, sse=sw)", TE, r"sse"),
    "native sse zero rows": ("_native.forward(x, sse=(np.zeros((0, 4), np.float32), None))", VE, r"row"),
    "native sse weight C": ("_native.forward(x, sse=(np.zeros((1, 5), np.float32), sb))", VE, r"weight"),
    "native sse weight 3x1 trailing": (
        "_native.forward(x, sse=(np.zeros((1, 4, 3), np.float32), sb))", VE, r"weight"),
    "native sse bias shape": ("_native.forward(x, sse=(sw, np.zeros(2, np.float32)))", VE, r"bias"),
    "native aggregate": ("_native.forward(x, cse=(2, w1, b1, w2, b2), sse=(sw, sb), aggregate=2)", VE, r"aggregate"),
    "native aggregate str": ("_native.forward(x, sse=(sw, sb), aggregate='max')", TE, r""),
    "native backward grad None": ("_native.backward(x, None, sse=(sw, sb))", TE, r"grad_output"),
    "native unknown keyword": ("_native.forward(x, sse=(sw, sb), bogus=1)", TE, r"bogus"),
    # In place (out=x) is allowed; a parameter inside x must still be refused.
    "native in place, sse weight inside x": (
        "_native.forward(x, sse=(x.reshape(-1, 4)[1:2], None), out=x)", ERR, r"overlap"),
    "native in place, sse weight at x's address": (
        "_native.forward(x, sse=(x.reshape(-1, 4)[:1], None), out=x)", ERR, r"overlap"),
    "native in place, cse bias at x's address": (
        "_native.forward(x, cse=(0, None, None, None, x.reshape(-1)[:4]), out=x)", ERR, r"overlap"),
    "native out over a weight": (
        "y = np.zeros_like(x); _native.forward(x, sse=(y.reshape(-1, 4)[:1], None), out=y)",
        ERR, r"overlap"),
    # --- thread count
    "threads negative": ("scse.set_num_threads(-1)", ERR, r"negative thread count"),
    "threads huge": ("scse.set_num_threads(2**40)", "OverflowError", r"32-bit"),
    "threads str": ("scse.set_num_threads('2')", TE, r""),
    "threads float": ("scse.set_num_threads(2.0)", TE, r""),
}

DRIVER = r"""
import json, sys
cases = json.loads(sys.stdin.read())
setup = cases.pop("__setup__")
unchanged = cases.pop("__unchanged__")
for name, code in cases.items():
    print("START " + json.dumps(name), flush=True)
    env = {}
    exec(setup, env)  # fresh arrays and layers: one case cannot spoil the next
    try:
        exec(code, env)
        outcome = ["returned", ""]
    except BaseException as exc:
        outcome = [type(exc).__name__, str(exc)]
    try:
        exec(unchanged, env)
        outcome.append("")
    except BaseException as exc:
        outcome.append(f"{type(exc).__name__}: {exc}")
    print("RESULT " + json.dumps([name] + outcome), flush=True)
"""


@pytest.fixture(scope="module")
def child_outcomes():
    payload = {name: case[0] for name, case in CASES.items()}
    payload["__setup__"] = SETUP
    payload["__unchanged__"] = UNCHANGED
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(payload),
                          capture_output=True, text=True, timeout=120)
    outcomes, started = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("START "):
            started = json.loads(line[6:])
        elif line.startswith("RESULT "):
            name, *outcome = json.loads(line[7:])
            outcomes[name] = outcome
            started = None
    return outcomes, started, proc


def _death(proc):
    if proc.returncode < 0:
        return f"killed by {signal.Signals(-proc.returncode).name}"
    return f"exit status {proc.returncode}"


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_argument_raises_clearly(child_outcomes, name):
    outcomes, crashed, proc = child_outcomes
    if name not in outcomes:
        culprit = f"case {crashed!r}" if crashed else "setup"
        pytest.fail(f"the child interpreter died ({_death(proc)}) while running {culprit} "
                    f"before reaching {name!r}; stderr:\n{proc.stderr[-3000:]}")
    statement, expected_type, pattern = CASES[name]
    got_type, message, spoiled = outcomes[name]
    assert got_type == expected_type, f"{statement}: expected {expected_type}, got {got_type}: {message}"
    assert not spoiled, f"{statement}: after the refused call: {spoiled}"
    assert re.search(pattern, message), f"{statement}: message {message!r} does not match {pattern!r}"
    assert len(message) >= 10 or expected_type not in (TE, VE), f"{statement}: unclear message {message!r}"


def test_child_ran_every_case(child_outcomes):
    outcomes, crashed, proc = child_outcomes
    assert proc.returncode == 0, f"child {_death(proc)} in {crashed!r}: {proc.stderr[-3000:]}"
    assert set(outcomes) == set(CASES)


def test_library_errors_carry_their_status():
    with pytest.raises(scse.Error) as info:
        scse.set_num_threads(-3)
    assert info.value.status == 5
    assert issubclass(scse.Error, Exception)
    assert scse.get_num_threads() >= 1


# --- layouts the package accepts: the numbers must be right ------------------

def _channels_last(a):
    order = (0,) + tuple(range(2, a.ndim)) + (1,)
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


def _is_channels_last(a):
    return np.moveaxis(a, 1, -1).flags.c_contiguous and not a.flags.c_contiguous


KINDS = {
    "cse": Variant("aimed-cse", "cse", "aimed"),
    "sse": Variant("aimed-sse", "sse", "aimed"),
    "scse-sum": Variant("aimed-scse-sum", "scse", "aimed"),
    "scse-max": Variant("aimed-scse-max", "scse", "aimed", aggregate="max"),
}


def _expected(kind, shape, seed=0):
    module, layer = build_pair(scse, KINDS[kind], shape[1], 2, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32)
    gy = rng.standard_normal(shape, dtype=np.float32)
    return layer, x, gy, run_torch(module, KINDS[kind], x, gy)


def _close(name, ours, ref):
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(ref).max()),
                               err_msg=name)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 6, 3, 4), (1, 5, 2, 3, 2)])
def test_accepted_layouts_give_pytorch_numbers(kind, shape):
    layer, x, gy, ref = _expected(kind, shape)
    xl, gyl = _channels_last(x), _channels_last(gy)
    y = layer(xl)
    assert _is_channels_last(y), "output must keep the channels-last layout"
    _close("channels-last y", y, ref["y"])
    for name, (xin, gin) in {"x last, grad last": (xl, gyl), "x last, grad first": (xl, gy),
                             "x first, grad last": (x, gyl)}.items():
        gx, grads = layer.backward(xin, gin)
        assert _is_channels_last(gx) == _is_channels_last(xin), f"{name}: grad_input layout"
        _close(f"{name}: grad_input", gx, ref["grad_input"])
        for key, value in grads.items():
            _close(f"{name}: {key}", value, ref[key].reshape(value.shape))
    # In place, in both layouts; the input array is the output.
    for xin in (x.copy(), _channels_last(x)):
        result = layer(xin, out=xin)
        assert result is xin
        _close("in place", xin, ref["y"])
    out = _channels_last(np.zeros_like(x))
    assert layer(xl, out=out) is out
    _close("preallocated channels-last out", out, ref["y"])


def test_torch_channels_last_memory_is_accepted():
    layer, x, gy, ref = _expected("scse-sum", (2, 6, 3, 4))
    xt = torch.from_numpy(x).contiguous(memory_format=torch.channels_last).numpy()
    assert not xt.flags.c_contiguous
    _close("torch channels_last", layer(xt), ref["y"])


def test_unit_axes_with_odd_strides_are_dense():
    # A reversed or strided view along a length-1 axis reads the same memory.
    layer, x, gy, ref = _expected("scse-max", (2, 6, 1, 4))
    odd = np.lib.stride_tricks.as_strided(x, strides=(96, 16, 4000, 4))  # never stepped
    _close("unit axis with a junk stride", layer(odd), ref["y"])
    _close("reversed unit axis", layer(x[:, :, ::-1]), ref["y"])


def test_read_only_input_is_fine():
    layer, x, gy, ref = _expected("cse", (2, 6, 3, 4))
    x.flags.writeable = False
    gy.flags.writeable = False
    _close("read-only x", layer(x), ref["y"])
    gx, _ = layer.backward(x, gy)
    _close("read-only x/grad", gx, ref["grad_input"])


# --- state dicts: junk is refused and leaves the layer as it was -------------

def _layers():
    return [scse.ChannelSpatialSELayer(6, 3, seed=0), scse.ChannelSELayer(6, 2, seed=1),
            scse.SpatialSELayer(6, seed=2), scse.ChannelSpatialSELayer(6, 2, "max", bias=False, seed=3)]


def _junk_values(sd):
    first = next(iter(sd))
    shape = sd[first].shape
    yield "missing key", {k: v for k, v in sd.items() if k != first}, ValueError, first
    yield "extra key", {**sd, "extra.weight": np.zeros(1, np.float32)}, ValueError, "extra.weight"
    yield "non-string extra key", {**sd, 7: np.zeros(1, np.float32)}, ValueError, "7"
    yield "misshapen", {**sd, first: np.zeros(shape + (2,), np.float32)}, ValueError, first
    yield "transposed", {**sd, first: np.zeros(shape[::-1] + (3,), np.float32)}, ValueError, first
    yield "empty", {**sd, first: np.zeros(0, np.float32)}, ValueError, first
    yield "scalar", {**sd, first: 1.0}, ValueError, first
    yield "None", {**sd, first: None}, TypeError, first
    yield "string", {**sd, first: "weights"}, TypeError, first
    yield "list of strings", {**sd, first: ["a"] * int(np.prod(shape))}, TypeError, first
    yield "dict value", {**sd, first: {"a": 1}}, TypeError, first
    yield "ragged list", {**sd, first: [[1.0], [1.0, 2.0]]}, (TypeError, ValueError), first
    yield "complex", {**sd, first: np.zeros(shape, np.complex64)}, TypeError, first
    yield "object array", {**sd, first: np.zeros(shape, object)}, TypeError, first


@pytest.mark.parametrize("index", range(4))
def test_bad_state_dicts_are_refused_without_change(index):
    layer = _layers()[index]
    original = layer.state_dict()
    x = np.random.default_rng(index).standard_normal((2, 6, 3), dtype=np.float32)
    y0 = layer(x)
    for what, sd, error, named in _junk_values(original):
        with pytest.raises(error) as info:
            layer.load_state_dict(sd)
        assert named in str(info.value), f"{what}: message {info.value} does not name {named}"
        now = layer.state_dict()
        assert now.keys() == original.keys(), what
        assert all(np.array_equal(now[k], original[k]) for k in now), f"{what}: layer changed"
    for junk in (None, "state", ["a", "b"], 3, [("k", 1)]):
        with pytest.raises(TypeError):
            layer.load_state_dict(junk)
    # A bad value in the second branch must not half-load the first.
    if isinstance(layer, scse.ChannelSpatialSELayer):
        sd = {k: v + 1 for k, v in original.items()}
        sd["sSE.conv.weight"] = np.zeros(5, np.float32)
        with pytest.raises(ValueError):
            layer.load_state_dict(sd)
    assert np.array_equal(layer(x), y0)


def test_state_dict_is_a_copy_and_accepts_torch_tensors():
    layer = scse.ChannelSpatialSELayer(6, 2, seed=0)
    sd = layer.state_dict()
    x = np.random.default_rng(0).standard_normal((1, 6, 4), dtype=np.float32)
    y0 = layer(x)
    for value in sd.values():
        value[...] = np.nan  # must not reach the layer
    assert np.array_equal(layer(x), y0)
    grads_on = {k: torch.zeros(v.shape, requires_grad=True) for k, v in layer.state_dict().items()}
    layer.load_state_dict(grads_on)
    assert all(not v.any() for v in layer.state_dict().values())


@pytest.mark.parametrize("args, error", [
    ((0,), ValueError), ((-4,), ValueError), ((4.0,), TypeError), (("4",), TypeError),
    ((None,), TypeError), ((True,), TypeError), ((4, 0), ValueError), ((4, 2.5), TypeError),
])
def test_bad_constructor_arguments(args, error):
    for cls in (scse.ChannelSELayer, scse.ChannelSpatialSELayer):
        with pytest.raises(error):
            cls(*args)
    if len(args) == 1:
        with pytest.raises(error):
            scse.SpatialSELayer(*args)


def test_bad_aggregate():
    for aggregate in ("mean", "", None, 1, "SUM"):
        with pytest.raises(ValueError, match="aggregate"):
            scse.ChannelSpatialSELayer(4, 2, aggregate=aggregate)
