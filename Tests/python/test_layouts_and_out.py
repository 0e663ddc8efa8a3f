"""Channels-last inputs, out= and in-place forward, inputs left untouched,
and results independent of the thread count."""

import numpy as np
import pytest

import scse
from cases import (SMALL_CASES, Case, is_channels_last, make_input, run_parity_case,
                   same_layout, to_channels_last)
from parity_check import ATOL_FORWARD, ATOL_GRAD, RTOL_FORWARD, RTOL_GRAD, run_ours
from variants import VARIANTS_BY_NAME, build_pair, few_shot_weights

LAYOUT_VARIANTS = ["aimed-cse-bias", "aimed-sse-bias", "aimed-sse-bias-fewshot3",
                   "aimed-scse-sum-bias", "aimed-scse-max-nobias", "seq16-scse-sum"]
LAYOUT_CASES = [c for c in SMALL_CASES if c.id in (
    "1x1x5-r2", "3x6x7-r4", "2x5x4x3-r2", "1x16x1x1-r2", "2x7x9x11-r2", "2x12x3x4x5-r3",
    "1x32x2x3x1-r16", "2x17x37-r4", "2x40x5x7x3-r8")] + [Case(2, 64, (12, 12), 4, "medium 2-D")]


def _layouts(case):
    yield "channels-last-numpy"
    if len(case.spatial) in (2, 3):  # PyTorch has no 1-D channels_last format
        yield "channels-last-torch"


LAYOUT_RUNS = [(v, c, lay) for v in LAYOUT_VARIANTS for c in LAYOUT_CASES for lay in _layouts(c)]


@pytest.mark.parametrize("name,case,layout", LAYOUT_RUNS,
                         ids=[f"{v}-{c.id}-{lay}" for v, c, lay in LAYOUT_RUNS])
@pytest.mark.parametrize("kind", ["randn", "relu"])
def test_channels_last_matches_pytorch_and_the_contiguous_result(name, case, layout, kind):
    variant = VARIANTS_BY_NAME[name]
    run = run_parity_case(scse, variant, case, kind, layout=layout)
    ours_cl = run.ours
    if case.channels > 1 and case.spatial != (1,) * len(case.spatial):
        assert is_channels_last(run.x) and not run.x.flags.c_contiguous
        assert is_channels_last(ours_cl["y"]) and is_channels_last(ours_cl["grad_input"])
    x_c, grad_y_c = np.ascontiguousarray(run.x), np.ascontiguousarray(run.grad_y)
    ours_c = run_ours(run.layer, x_c, grad_y_c, run.weights)
    for key, value in ours_c.items():
        rtol, atol = (RTOL_FORWARD, ATOL_FORWARD) if key == "y" else (RTOL_GRAD, ATOL_GRAD)
        mag = float(np.max(np.abs(value), initial=0.0)) or 1.0
        np.testing.assert_allclose(ours_cl[key], value, rtol=rtol, atol=atol * mag, err_msg=key)


def _layer_and_data(name, shape, layout, seed=3):
    variant = VARIANTS_BY_NAME[name]
    _, layer = build_pair(scse, variant, shape[1], 2, seed)
    rng = np.random.default_rng(seed)
    x = make_input("randn", shape, rng)
    if layout == "channels-last":
        x = to_channels_last(x)
    return layer, x, few_shot_weights(variant, shape[1], rng)


def _forward(layer, x, weights, **kw):
    return layer(x, **kw) if weights is None else layer(x, weights=weights, **kw)


OUT_LAYERS = ["aimed-cse-bias", "aimed-sse-nobias", "aimed-sse-bias-fewshot3",
              "aimed-scse-sum-bias", "aimed-scse-max-bias"]
OUT_SHAPES = [(2, 6, 5, 7), (1, 3, 4), (2, 5, 3, 2, 4)]


@pytest.mark.parametrize("name", OUT_LAYERS)
@pytest.mark.parametrize("shape", OUT_SHAPES, ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "channels-last"])
def test_out_and_in_place_give_the_same_result(name, shape, layout):
    layer, x, weights = _layer_and_data(name, shape, layout)
    x_before = x.copy()
    expected = _forward(layer, x, weights)
    assert np.array_equal(x, x_before), "forward modified its input"
    out = np.full_like(x, np.nan)  # same shape and memory layout as x
    result = _forward(layer, x, weights, out=out)
    assert result is out
    assert np.array_equal(out, expected)
    in_place = x.copy(order="K")
    result = _forward(layer, in_place, weights, out=in_place)
    assert result is in_place and same_layout(in_place, x)
    assert np.array_equal(in_place, expected)


@pytest.mark.parametrize("name", ["aimed-cse-bias", "aimed-sse-bias", "aimed-scse-max-bias"])
def test_out_of_the_wrong_shape_or_dtype_is_rejected(name):
    layer, x, weights = _layer_and_data(name, (2, 6, 5, 7), "contiguous")
    with pytest.raises(ValueError):
        _forward(layer, x, weights, out=np.empty((2, 6, 5, 6), np.float32))
    with pytest.raises(TypeError):
        _forward(layer, x, weights, out=np.empty(x.shape, np.float64))


@pytest.mark.parametrize("name", ["aimed-cse-bias", "aimed-sse-bias-fewshot3",
                                  "aimed-scse-sum-bias", "aimed-scse-max-bias"])
def test_results_do_not_depend_on_the_thread_count(name):
    layer, x, weights = _layer_and_data(name, (4, 48, 20, 20), "contiguous")
    grad_y = np.random.default_rng(8).standard_normal(x.shape, dtype=np.float32)
    kw = {} if weights is None else {"weights": weights}
    saved = scse.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            scse.set_num_threads(threads)
            assert scse.get_num_threads() == threads
            results.append((layer(x, **kw), *layer.backward(x, grad_y, **kw)))
    finally:
        scse.set_num_threads(saved)
    (y1, gx1, g1), *others = results
    for y, gx, g in others:
        assert np.array_equal(y, y1) and np.array_equal(gx, gx1)
        assert g.keys() == g1.keys() and all(np.array_equal(g[k], g1[k]) for k in g)


@pytest.mark.parametrize("layout", ["contiguous", "channels-last"])
def test_backward_out_receives_grad_x_and_may_be_grad_output(layout):
    # The binding's backward(out=...) is what scse.torch writes grad_x into
    # (a recycled buffer); the layers' public backward allocates.
    from scse import _native
    layer, x, _ = _layer_and_data("aimed-scse-max-bias", (2, 6, 5, 7), layout)
    grad_y = np.random.default_rng(3).standard_normal(x.shape, dtype=np.float32)
    if layout == "channels-last":
        grad_y = to_channels_last(grad_y)
    cse, sse = layer._gates()
    expected, channel, spatial = _native.backward(x, grad_y, cse, sse, 1)
    out = np.full_like(x, np.nan)
    result, channel_out, spatial_out = _native.backward(x, grad_y, cse, sse, 1, out=out)
    assert result is out and np.array_equal(out, expected)
    for a, b in zip(channel + spatial, channel_out + spatial_out):
        assert np.array_equal(a, b)
    in_place = grad_y.copy(order="K")
    result, _, _ = _native.backward(x, in_place, cse, sse, 1, out=in_place)
    assert result is in_place and np.array_equal(in_place, expected)


def test_backward_out_is_checked_and_nothing_is_written_on_failure():
    from scse import _native
    layer, x, _ = _layer_and_data("aimed-scse-sum-bias", (2, 6, 5, 7), "contiguous")
    grad_y = np.ones_like(x)
    cse, _ = layer._gates()
    with pytest.raises(ValueError, match="out must have the shape of x"):
        _native.backward(x, grad_y, cse, out=np.empty((2, 6, 5, 6), np.float32))
    with pytest.raises(ValueError, match="memory order"):
        _native.backward(x, grad_y, cse, out=to_channels_last(np.empty_like(x)))
    with pytest.raises(TypeError):
        _native.backward(x, grad_y, cse, out=np.empty(x.shape, np.float64))
    read_only = np.zeros_like(x)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _native.backward(x, grad_y, cse, out=read_only)
    x_before = x.copy()
    with pytest.raises(scse.Error):  # grad_x may not overlap x
        _native.backward(x, grad_y, cse, out=x)
    assert np.array_equal(x, x_before)
