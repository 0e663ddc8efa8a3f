"""Checks the PyTorch reference modules themselves (no scse needed): the
three designs agree when given the same parameters, they match the math
written out in NumPy, the 1-D/3-D generalisation is consistent with 2-D, and
PyTorch float32 meets the tolerances the suite demands of scse."""

import copy

import numpy as np
import pytest
import torch

from cases import SMALL_CASES, make_input, stable_seed
from parity_check import (ATOL_GRAD, check_all, near_tie_count, reference_results, run_torch,
                          run_torch_reordered)
from variants import VARIANTS, VARIANTS_BY_NAME

DESIGN_GROUPS = [
    ("aimed-cse-bias", "conv-cse"),
    ("aimed-sse-bias", "conv-sse"),
    ("aimed-sse-bias", "seq16-sse"),
    ("aimed-scse-sum-bias", "conv-scse-sum"),
    ("aimed-scse-max-bias", "conv-scse-max"),
    ("aimed-cse-bias", "seq16-cse-bias"),
    ("aimed-cse-nobias", "seq16-cse-nobias"),
    ("aimed-scse-sum-bias", "seq16-scse-sum"),
]


def _build(variant, channels, ratio, seed):
    torch.manual_seed(seed)
    return variant.build_reference(channels, ratio)


def copy_parameters(src_variant, src, dst_variant, dst):
    """Copies src's parameters into dst by their scse names."""
    by_our_name = src_variant.reference_state_as_ours(src)
    with torch.no_grad():
        for name, param in dst.named_parameters():
            param.copy_(by_our_name[dst_variant.our_key(name)].reshape(param.shape))


def _data(case, seed, kind="randn"):
    rng = np.random.default_rng(seed)
    x = make_input(kind, case.shape, rng)
    return x, rng.standard_normal(case.shape, dtype=np.float32)


def _assert_results_close(a, b, rtol, atol):
    assert set(a) == set(b)
    for key in a:
        mag = max(float(np.max(np.abs(b[key]), initial=0.0)), 1e-30)
        np.testing.assert_allclose(a[key].reshape(b[key].shape), b[key], rtol=rtol,
                                   atol=atol * mag, err_msg=key)


@pytest.mark.parametrize("pair", DESIGN_GROUPS, ids=lambda p: f"{p[0]}~{p[1]}")
@pytest.mark.parametrize("case", SMALL_CASES, ids=lambda c: c.id)
def test_designs_agree_given_the_same_parameters(pair, case):
    base_name, other_name = pair
    base, other = VARIANTS_BY_NAME[base_name], VARIANTS_BY_NAME[other_name]
    ratio = other.ratio(case.ratio)
    seed = stable_seed("designs", base_name, other_name, case.id)
    base_module = _build(base, case.channels, ratio, seed)
    other_module = _build(other, case.channels, ratio, seed + 1)
    copy_parameters(base, base_module, other, other_module)
    x, gy = _data(case, seed)
    r64 = run_torch(base_module, base, x, gy, dtype=torch.float64)
    o64 = run_torch(other_module, other, x, gy, dtype=torch.float64)
    _assert_results_close(o64, r64, rtol=1e-12, atol=1e-13)
    # Two float32 programs must pass the checks scse has to pass.
    mode = "norm" if base.aggregate == "max" and near_tie_count(base_module, x) else "max"
    t32, f64, noise = reference_results(base_module, base, x, gy, seed=seed)
    check_all("designs", run_torch(other_module, other, x, gy), t32, f64, noise, mode,
              record=False)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
@pytest.mark.parametrize("case", SMALL_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("kind", ["relu", "wide"])
def test_another_pytorch_float32_order_passes_the_checks(variant, case, kind):
    """Calibration: PyTorch itself, summing in an order the noise estimate
    never saw, meets every tolerance scse is held to (no false alarms)."""
    seed = stable_seed("calibration", variant.name, case.id, kind)
    module = _build(variant, case.channels, case.ratio, seed)
    x, gy = _data(case, seed, kind)
    weights = None
    if variant.few_shot_rows:
        weights = np.random.default_rng(seed + 7).standard_normal(
            (variant.few_shot_rows, case.channels, 1, 1)).astype(np.float32)
    mode = "norm" if variant.aggregate == "max" and near_tie_count(module, x) else "max"
    t32, f64, noise = reference_results(module, variant, x, gy, weights, seed)
    candidate = run_torch_reordered(module, variant, x, gy, weights,
                                    np.random.default_rng([seed, 99]))
    check_all("calibration", candidate, t32, f64, noise, mode, record=False)


def _mutations(results, module, x, gy):
    yield "y off by 3e-5 at one element", {**results, "y": _bump(results["y"], 3e-5)}
    key = "sSE.conv.bias"
    yield "a bias gradient off by 1e-3", {**results, key: _bump(results[key], 1e-3)}
    m32 = copy.deepcopy(module)
    xt = torch.from_numpy(x).requires_grad_(True)
    a, b = m32.cSE(xt), m32.sSE(xt)
    torch.where(a >= b, a, b).backward(torch.from_numpy(gy))  # ties -> cSE only
    one_sided = {"y": results["y"], "grad_input": xt.grad.numpy()}
    one_sided.update({k: p.grad.numpy() for k, p in m32.named_parameters()})
    yield "ties not split", one_sided


def _bump(a, rel):
    a = a.copy()
    a.flat[a.size // 2] += rel * np.abs(a).max()
    return a


def test_the_checks_catch_small_errors():
    variant = VARIANTS_BY_NAME["aimed-scse-max-bias"]
    case = SMALL_CASES[-1]
    module = _build(variant, case.channels, case.ratio, 21)
    x, gy = _data(case, 21, "relu")
    t32, f64, noise = reference_results(module, variant, x, gy, seed=21)
    check_all("unchanged", t32, t32, f64, noise, record=False)
    for what, wrong in _mutations(t32, module, x, gy):
        with pytest.raises(AssertionError):
            check_all(what, wrong, t32, f64, noise, record=False)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_forward(variant, module, x, weights=None):
    """The block's forward written directly from the formulas, in float64."""
    p = {k: v.detach().double().numpy() for k, v in variant.reference_state_as_ours(module).items()}
    x = x.astype(np.float64)
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    prefix = {"cse": ("", None), "sse": (None, ""), "scse": ("cSE.", "sSE.")}[variant.kind]

    def channel_gated(pre):
        m = flat.mean(axis=2)
        w1 = p[pre + "fc1.weight"].reshape(-1, c)
        h = m @ w1.T + p.get(pre + "fc1.bias", 0.0)
        h = np.maximum(h, 0.0)
        w2 = p[pre + "fc2.weight"].reshape(c, -1)
        g = _sigmoid(h @ w2.T + p.get(pre + "fc2.bias", np.zeros(c)))
        return flat * g[:, :, None]

    def spatially_gated(pre):
        if weights is not None:
            w, b = weights.astype(np.float64).mean(axis=0).reshape(c), 0.0
        else:
            w, b = p[pre + "conv.weight"].reshape(c), p.get(pre + "conv.bias", np.zeros(1))[0]
        g = _sigmoid(np.einsum("c,ncs->ns", w, flat) + b)
        return flat * g[:, None, :]

    if variant.kind == "cse":
        y = channel_gated(prefix[0])
    elif variant.kind == "sse":
        y = spatially_gated(prefix[1])
    else:
        a, b = channel_gated(prefix[0]), spatially_gated(prefix[1])
        y = a + b if variant.aggregate == "sum" else np.maximum(a, b)
    return y.reshape(x.shape)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
@pytest.mark.parametrize("case", SMALL_CASES[:10], ids=lambda c: c.id)
def test_reference_forward_matches_the_formulas(variant, case):
    seed = stable_seed("formula", variant.name, case.id)
    module = _build(variant, case.channels, case.ratio, seed)
    x, gy = _data(case, seed)
    weights = None
    if variant.few_shot_rows:
        weights = np.random.default_rng(seed).standard_normal(
            (variant.few_shot_rows, case.channels, 1, 1)).astype(np.float32)
    f64 = run_torch(module, variant, x, gy, weights, dtype=torch.float64)
    np.testing.assert_allclose(f64["y"], numpy_forward(variant, module, x, weights),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_spatial_rank_does_not_matter(variant):
    """(N, C, H, W) viewed as (N, C, H*W) or (N, C, H, W, 1) is the same
    problem; the generalised references must treat it so."""
    seed = stable_seed("rank", variant.name)
    module = _build(variant, 20, 4, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 20, 5, 6), dtype=np.float32)
    gy = rng.standard_normal(x.shape, dtype=np.float32)
    weights = None
    if variant.few_shot_rows:
        weights = rng.standard_normal((variant.few_shot_rows, 20, 1, 1), dtype=np.float32)
    base = run_torch(module, variant, x, gy, weights, dtype=torch.float64)
    for shape in [(3, 20, 30), (3, 20, 5, 6, 1)]:
        other = run_torch(module, variant, x.reshape(shape), gy.reshape(shape), weights,
                          dtype=torch.float64)
        for key in base:
            np.testing.assert_allclose(other[key].reshape(base[key].shape), base[key],
                                       rtol=1e-12, atol=1e-14, err_msg=f"{shape} {key}")


def test_few_shot_with_one_row_equal_to_the_conv_weight_is_the_plain_gate():
    variant = VARIANTS_BY_NAME["aimed-sse-nobias-fewshot1"]
    module = _build(variant, 9, 2, 5)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 9, 4, 4), dtype=np.float32)
    gy = rng.standard_normal(x.shape, dtype=np.float32)
    weights = module.conv.weight.detach().numpy().copy()
    plain = run_torch(module, variant, x, gy, dtype=torch.float64)
    few = run_torch(module, variant, x, gy, weights, dtype=torch.float64)
    np.testing.assert_allclose(few["y"], plain["y"], rtol=1e-13)
    np.testing.assert_allclose(few["grad_input"], plain["grad_input"], rtol=1e-12)
    np.testing.assert_allclose(few["weights"], plain["conv.weight"], rtol=1e-12)
    assert not few["conv.weight"].any()


def test_torch_max_splits_the_gradient_of_ties_in_half():
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = torch.tensor([1.0, 5.0, 0.0], requires_grad=True)
    torch.max(a, b).backward(torch.ones(3))
    assert a.grad.tolist() == [0.5, 0.0, 1.0]
    assert b.grad.tolist() == [0.5, 1.0, 0.0]


def test_relu_passes_no_gradient_at_zero():
    variant = VARIANTS_BY_NAME["aimed-cse-nobias"]
    module = _build(variant, 6, 2, 3)
    x = np.zeros((1, 6, 3, 3), dtype=np.float32)  # pre-activation exactly 0
    gy = np.ones_like(x)
    out = run_torch(module, variant, x, gy, dtype=torch.float64)
    assert not out["fc1.weight"].any()
    assert not out["fc2.weight"].any()  # relu(0) = 0 feeds fc2


@pytest.mark.parametrize("kind", ["relu", "all-gates-equal"])
def test_the_tie_rule_changes_the_gradients(kind):
    """Ties are frequent enough in the tie tests that a program sending a
    tie's gradient to one branch only would fail them."""
    variant = VARIANTS_BY_NAME["aimed-scse-max-bias"]
    module = _build(variant, 8, 2, 11)
    if kind == "all-gates-equal":
        with torch.no_grad():
            for p in module.parameters():
                p.zero_()
    rng = np.random.default_rng(11)
    x = make_input("relu" if kind == "relu" else "randn", (2, 8, 5, 5), rng)
    gy = rng.standard_normal(x.shape, dtype=np.float32)
    split = run_torch(module, variant, x, gy, dtype=torch.float64)
    m64 = module.double()
    xt = torch.from_numpy(x).double().requires_grad_(True)
    a, b = m64.cSE(xt), m64.sSE(xt)
    torch.where(a >= b, a, b).backward(torch.from_numpy(gy).double())  # ties -> cSE only
    one_sided = {"grad_input": xt.grad.numpy()}
    one_sided.update({k: p.grad.numpy() for k, p in m64.named_parameters()})
    changed = [k for k, g in one_sided.items()
               if np.abs(g - split[k]).max() > 100 * ATOL_GRAD * np.abs(split[k]).max()]
    assert changed, "the tie rule made no visible difference"
