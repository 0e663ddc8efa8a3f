"""state_dict / load_state_dict against the reference modules: the same
keys and shapes, PyTorch's initialisation bounds, parameters that move
between the two unchanged, and loud rejection of anything that does not fit."""

import math

import numpy as np
import pytest
import torch

import scse
from variants import VARIANTS, VARIANTS_BY_NAME

CONFIGS = [(1, 2), (8, 16), (6, 4), (5, 2), (16, 1), (64, 16), (256, 2)]  # (C, r)


def _ours(kind, channels, ratio, bias=True, aggregate="sum", seed=0):
    if kind == "cse":
        return scse.ChannelSELayer(channels, ratio, bias=bias, seed=seed)
    if kind == "sse":
        return scse.SpatialSELayer(channels, bias=bias, seed=seed)
    return scse.ChannelSpatialSELayer(channels, ratio, aggregate=aggregate, bias=bias, seed=seed)


def _variant_config(variant, channels, ratio):
    return dict(kind=variant.kind, channels=channels, ratio=variant.ratio(ratio),
                bias=variant.bias, aggregate=variant.aggregate)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not v.few_shot_rows],
                         ids=lambda v: v.name)
@pytest.mark.parametrize("channels,ratio", CONFIGS)
def test_keys_and_shapes_are_the_reference_ones(variant, channels, ratio):
    module = variant.build_reference(channels, ratio)
    cfg = _variant_config(variant, channels, ratio)
    state = _ours(cfg["kind"], channels, cfg["ratio"], cfg["bias"], cfg["aggregate"]).state_dict()
    reference = {variant.our_key(k): tuple(v.shape) for k, v in module.state_dict().items()}
    assert set(state) == set(reference)
    for key, value in state.items():
        assert isinstance(value, np.ndarray) and value.dtype == np.float32
        if variant.design == "conv" and key.endswith(("fc1.weight", "fc2.weight")):
            assert value.shape + (1, 1) == reference[key], key  # [out, in, 1, 1] there
        else:
            assert value.shape == reference[key], key


@pytest.mark.parametrize("kind", ["cse", "sse", "scse"])
@pytest.mark.parametrize("channels,ratio", CONFIGS)
@pytest.mark.parametrize("bias", [True, False])
def test_initialisation_uses_pytorch_bounds(kind, channels, ratio, bias):
    ours = _ours(kind, channels, ratio, bias, seed=1).state_dict()
    reference = VARIANTS_BY_NAME[{"cse": "aimed-cse-bias", "sse": "aimed-sse-bias",
                                  "scse": "aimed-scse-sum-bias"}[kind]]
    torch.manual_seed(1)
    torch_state = reference.build_reference(channels, ratio).state_dict()
    for key, value in ours.items():
        # fan_in of a Linear/Conv2d parameter (bias included) is its weight's
        # input width: fc1 and conv see C inputs, fc2 sees C // r.
        fan_in = channels if ("fc1" in key or "conv" in key) else channels // ratio
        bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
        assert np.all(np.abs(value) <= bound), key
        assert np.all(np.abs(torch_state[key].numpy()) <= bound * (1 + 1e-6)), key
        if value.size >= 8 and bound:
            # float32 draws collide now and then (birthday bound), rarely
            assert np.unique(value).size > 0.99 * value.size, f"{key} repeats values"
        if value.size >= 4096:
            # U(-b, b): standard deviation b / sqrt(3), extremes near +-b.
            std = float(value.std())
            assert abs(std - bound / math.sqrt(3)) < 0.03 * bound, key
            assert abs(float(value.mean())) < 4 * std / math.sqrt(value.size), key
            assert value.max() > 0.99 * bound and value.min() < -0.99 * bound, key
    if kind != "sse" and channels // ratio == 0 and bias:
        prefix = "cSE." if kind == "scse" else ""
        assert not ours[prefix + "fc2.bias"].any()  # PyTorch: fan_in 0 -> zero bias
        assert ours[prefix + "fc1.weight"].shape == (0, channels)


def test_the_seed_decides_the_parameters():
    def params(seed):
        return _ours("scse", 32, 4, seed=seed).state_dict()

    a, b, c = params(5), params(5), params(6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert all(not np.array_equal(a[k], c[k]) for k in a)
    d, e = params(None), params(None)
    assert any(not np.array_equal(d[k], e[k]) for k in d)


def test_state_dict_returns_copies():
    layer = _ours("scse", 8, 2)
    state = layer.state_dict()
    for value in state.values():
        value[...] = 7
    assert all(not np.any(v == 7) for v in layer.state_dict().values())


@pytest.mark.parametrize("name", ["aimed-cse-bias", "aimed-sse-nobias", "aimed-scse-max-bias"])
def test_our_state_dict_loads_into_the_reference_module(name):
    """Parameters move from scse to PyTorch unchanged and mean the same."""
    variant = VARIANTS_BY_NAME[name]
    layer = variant.build_ours(scse, 12, 3, seed=9)
    module = variant.build_reference(12, 3)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()},
                           strict=True)
    x = np.random.default_rng(0).standard_normal((2, 12, 5, 5), dtype=np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)


def test_parameters_that_require_grad_are_accepted():
    variant = VARIANTS_BY_NAME["aimed-scse-sum-bias"]
    module = variant.build_reference(10, 2)
    layer = variant.build_ours(scse, 10, 2)
    layer.load_state_dict(dict(module.named_parameters()))
    for key, value in layer.state_dict().items():
        assert np.array_equal(value, module.get_parameter(key).detach().numpy()), key


def test_conv_and_flat_forms_of_weights_are_accepted():
    channels, ratio = 6, 2
    base = _ours("scse", channels, ratio, seed=2)
    state = base.state_dict()
    forms = {
        "cSE.fc1.weight": [(3, 6, 1), (3, 6, 1, 1), (3, 6, 1, 1, 1)],
        "cSE.fc2.weight": [(6, 3, 1), (6, 3, 1, 1), (6, 3, 1, 1, 1)],
        "sSE.conv.weight": [(6,), (1, 6), (1, 6, 1), (1, 6, 1, 1, 1)],
    }
    for key, shapes in forms.items():
        for shape in shapes:
            other = _ours("scse", channels, ratio, seed=3)
            other.load_state_dict({**state, key: state[key].reshape(shape)})
            loaded = other.state_dict()
            assert all(np.array_equal(loaded[k], state[k]) for k in state), (key, shape)
            assert loaded[key].shape == state[key].shape


def _rejections(state):
    for key in state:
        yield f"missing {key}", key, {k: v for k, v in state.items() if k != key}
        yield f"misshapen {key}", key, {**state, key: np.zeros(state[key].shape + (2,))}
        bigger = tuple(d + 1 for d in state[key].shape)
        yield f"wrong size {key}", key, {**state, key: np.zeros(bigger, np.float32)}
    yield "extra key", "sSE.conv.offset", {**state, "sSE.conv.offset": np.zeros(1, np.float32)}
    yield "transposed fc1", "cSE.fc1.weight", {**state, "cSE.fc1.weight": state["cSE.fc1.weight"].T}
    yield "non-unit conv tail", "cSE.fc2.weight", {
        **state, "cSE.fc2.weight": np.zeros(state["cSE.fc2.weight"].shape + (2, 1), np.float32)}


@pytest.mark.parametrize("bias", [True, False])
def test_bad_state_dicts_raise_value_error_and_change_nothing(bias):
    layer = _ours("scse", 8, 2, bias=bias, seed=4)
    before = layer.state_dict()
    x = np.random.default_rng(1).standard_normal((2, 8, 3, 3), dtype=np.float32)
    y_before = layer(x)
    replacement = _ours("scse", 8, 2, bias=bias, seed=5).state_dict()
    cases = list(_rejections(replacement))
    if not bias:
        cases.append(("bias given to a bias-free layer", "sSE.conv.bias",
                      {**replacement, "sSE.conv.bias": np.zeros(1, np.float32)}))
    for what, key, bad in cases:
        with pytest.raises(ValueError) as info:
            layer.load_state_dict(bad)
        assert key in str(info.value), f"{what}: message does not name {key}: {info.value}"
        after = layer.state_dict()
        assert all(np.array_equal(after[k], before[k]) for k in before), what
        assert np.array_equal(layer(x), y_before), what
