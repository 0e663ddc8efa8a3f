"""NaN, +-Inf and huge magnitudes behave exactly as in PyTorch.

For every output (y, grad_input, each parameter gradient) the NaN positions
must be the same as PyTorch's float32 autograd, every infinity must sit in
the same place with the same sign, and the finite values must agree to
rounding. Huge inputs and weights (+-1e30) saturate the sigmoids; where
PyTorch stays finite so must we.
"""

import numpy as np
import pytest
import torch

import scse
from parity_check import run_ours, run_torch
from variants import Variant, build_pair

SHAPE = (2, 6, 3, 4)
RATIO = 2

VARIANTS = {f"{kind}-{agg}-{'bias' if bias else 'nobias'}": Variant("x", kind, "aimed", bias, agg)
            for kind, agg in (("cse", "sum"), ("sse", "sum"), ("scse", "sum"), ("scse", "max"))
            for bias in (True, False)}
FEW_SHOT = Variant("sse-fewshot", "sse", "aimed", few_shot_rows=3)
VALUES = {"nan": np.nan, "+inf": np.inf, "-inf": -np.inf}


def _channels_last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose(0, 3, 1, 2)


def assert_same_nonfinite(label, ours, ref):
    ours = np.asarray(ours).reshape(ref.shape)
    assert ours.dtype == np.float32, f"{label}: dtype {ours.dtype}"
    nan_ours, nan_ref = np.isnan(ours), np.isnan(ref)
    assert np.array_equal(nan_ours, nan_ref), (
        f"{label}: NaN at {np.argwhere(nan_ours & ~nan_ref)[:5].tolist()} only in ours, "
        f"at {np.argwhere(nan_ref & ~nan_ours)[:5].tolist()} only in PyTorch "
        f"({int(nan_ours.sum())} vs {int(nan_ref.sum())} NaNs)")
    inf_ours = np.where(np.isinf(ours), ours, 0)
    inf_ref = np.where(np.isinf(ref), ref, 0)
    assert np.array_equal(inf_ours, inf_ref), (
        f"{label}: infinities differ at {np.argwhere(inf_ours != inf_ref)[:5].tolist()}")
    finite = np.isfinite(ref)
    if finite.any():
        mag = float(np.abs(ref[finite]).max()) or 1.0
        np.testing.assert_allclose(ours[finite], ref[finite], rtol=1e-4, atol=1e-5 * mag,
                                   err_msg=f"{label}: finite values")


def _check_all(label, ours, ref):
    assert set(ours) == set(ref), f"{label}: keys {sorted(ours)} vs {sorted(ref)}"
    for key in sorted(ref):
        assert_same_nonfinite(f"{label}: {key}", ours[key], ref[key])


def _setup(variant, seed):
    module, layer = build_pair(scse, variant, SHAPE[1], RATIO, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    gy = rng.standard_normal(SHAPE, dtype=np.float32)
    return module, layer, x, gy


def _set_parameter(module, layer, key, index, value):
    sd = layer.state_dict()
    sd[key].flat[index] = value
    layer.load_state_dict(sd)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})


def _run_both(variant, module, layer, x, gy, layout, weights=None):
    ref = run_torch(module, variant, x, gy, weights)
    if layout == "channels-last":
        x, gy = _channels_last(x), _channels_last(gy)
    return run_ours(layer, x, gy, weights), ref


def _inject(site, value, x, gy):
    if site == "x one element":
        x[0, 1, 1, 2] = value
    elif site == "x two channels":  # opposite infinities meet in the channel sums
        x[1, 2, 0, 0] = value
        x[1, 4, 2, 3] = -value
    elif site == "x whole position":  # every channel at one spatial position
        x[0, :, 2, 1] = value
    elif site == "grad_y":
        gy[1, 3, 2, 0] = value
        gy[0, 0, 0, 0] = -value
    else:
        raise ValueError(site)


@pytest.mark.parametrize("site, layout", [
    ("x one element", "channels-first"), ("x two channels", "channels-first"),
    ("x whole position", "channels-first"), ("x whole position", "channels-last"),
    ("grad_y", "channels-last")])
@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("name", list(VARIANTS))
def test_nonfinite_activations_propagate_like_pytorch(name, value, site, layout):
    module, layer, x, gy = _setup(VARIANTS[name], seed=11)
    _inject(site, VALUES[value], x, gy)
    ours, ref = _run_both(VARIANTS[name], module, layer, x, gy, layout)
    assert any(not np.isfinite(v).all() for v in ref.values()), "case exercises nothing"
    _check_all(f"{name}, {value} in {site}, {layout}", ours, ref)


def _parameter_sites():
    for name, variant in VARIANTS.items():
        _, layer, _, _ = _setup(variant, seed=0)
        for key, array in layer.state_dict().items():
            # The last element: for a matrix, a row other than the first.
            yield name, key, array.size - 1


@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("name, key, index", list(_parameter_sites()))
def test_nonfinite_parameters_propagate_like_pytorch(name, key, index, value):
    module, layer, x, gy = _setup(VARIANTS[name], seed=5)
    _set_parameter(module, layer, key, index, VALUES[value])
    ours, ref = _run_both(VARIANTS[name], module, layer, x, gy, "channels-first")
    _check_all(f"{name}, {value} in {key}[{index}]", ours, ref)


@pytest.mark.parametrize("value", list(VALUES))
@pytest.mark.parametrize("where", ["weights", "x", "grad_y"])
def test_nonfinite_few_shot_propagates_like_pytorch(where, value):
    module, layer, x, gy = _setup(FEW_SHOT, seed=3)
    weights = np.random.default_rng(3).standard_normal((3, SHAPE[1], 1, 1), dtype=np.float32)
    if where == "weights":
        weights[1, 4, 0, 0] = VALUES[value]
    else:
        _inject("x one element" if where == "x" else "grad_y", VALUES[value], x, gy)
    ours, ref = _run_both(FEW_SHOT, module, layer, x, gy, "channels-first", weights)
    _check_all(f"few-shot, {value} in {where}", ours, ref)


# --- huge magnitudes ---------------------------------------------------------

HUGE = np.float32(1e30)


def _huge(kind, x, gy):
    if kind == "x all +1e30":
        return np.abs(x) * HUGE + HUGE, gy
    if kind == "x all -1e30":
        return -(np.abs(x) * HUGE + HUGE), gy
    if kind == "x +-1e30":
        return x * HUGE, gy
    if kind == "x few +-1e30":
        x[0, 0, 0, 0], x[1, 3, 2, 1], x[1, 5, 0, 3] = HUGE, -HUGE, HUGE
        return x, gy
    if kind == "x 1e30, grad 1e-30":
        return x * HUGE, gy / HUGE
    raise ValueError(kind)


@pytest.mark.parametrize("kind, layout", [
    ("x all +1e30", "channels-first"), ("x all -1e30", "channels-first"),
    ("x +-1e30", "channels-first"), ("x +-1e30", "channels-last"),
    ("x few +-1e30", "channels-first"), ("x 1e30, grad 1e-30", "channels-last")])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_huge_inputs_saturate_like_pytorch(name, kind, layout):
    module, layer, x, gy = _setup(VARIANTS[name], seed=21)
    x, gy = _huge(kind, x, gy)
    ours, ref = _run_both(VARIANTS[name], module, layer, x, gy, layout)
    for key, value in ref.items():
        assert np.isfinite(value).all(), f"reference {key} is not finite: the case is not the intended one"
    _check_all(f"{name}, {kind}, {layout}", ours, ref)


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_huge_parameters_saturate_like_pytorch(name, sign):
    module, layer, x, gy = _setup(VARIANTS[name], seed=8)
    sd = {k: np.where(v >= 0, HUGE, -HUGE).astype(np.float32) * np.float32(sign)
          for k, v in layer.state_dict().items()}
    layer.load_state_dict(sd)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    ours, ref = _run_both(VARIANTS[name], module, layer, x, gy, "channels-first")
    _check_all(f"{name}, parameters {'+' if sign > 0 else '-'}1e30", ours, ref)


def test_saturated_gates_are_exactly_zero_or_one():
    # sigmoid(+-huge) must be exactly 1 or 0, not NaN from inf/inf.
    layer = scse.SpatialSELayer(2, bias=False)
    layer.load_state_dict({"conv.weight": np.array([1.0, 0.0], np.float32)})
    x = np.array([[[1e30, -1e30, 3.0], [5.0, 7.0, 11.0]]], np.float32)
    y = layer(x)
    assert y[0, 0, 0] == np.float32(1e30) and y[0, 1, 0] == 5.0
    assert y[0, 0, 1] == 0.0 and y[0, 1, 1] == 0.0
    np.testing.assert_allclose(y[0, :, 2], [3.0, 11.0] / (1 + np.exp(-3.0)), rtol=1e-6)
