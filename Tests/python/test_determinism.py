"""Results are bitwise identical for every thread count and from run to run.

The kernels reduce over fixed tiles in a fixed order, so neither the number of
threads nor scheduling may change a single bit. These tests need no PyTorch.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import scse

SHAPES = [(1, 512, 16, 16), (2, 32, 64, 64), (3, 40, 7, 9, 11), (5, 24, 300), (1, 8, 3000)]


def _run(layer, x, dy):
    y = layer(x)
    grad_input, grads = layer.backward(x, dy)
    return [y, grad_input] + [grads[k] for k in sorted(grads)]


@pytest.fixture
def restore_threads():
    yield
    scse.set_num_threads(0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("aggregate", ["sum", "max"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_bitwise_identical_for_every_thread_count(shape, aggregate, channels_last, restore_threads):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal(shape, dtype=np.float32)
    if channels_last:
        order = (0,) + tuple(range(2, len(shape))) + (1,)
        inverse = tuple(np.argsort(order))
        x = np.ascontiguousarray(x.transpose(order)).transpose(inverse)
        dy = np.ascontiguousarray(dy.transpose(order)).transpose(inverse)
    layer = scse.ChannelSpatialSELayer(shape[1], 4, aggregate=aggregate, seed=3)
    scse.set_num_threads(1)
    expected = _run(layer, x, dy)
    for threads in (2, 3, 5, 8):
        scse.set_num_threads(threads)
        assert scse.get_num_threads() == threads
        for _ in range(2):
            got = _run(layer, x, dy)
            for a, b in zip(expected, got):
                assert a.tobytes() == b.tobytes(), f"threads={threads} changed the result"


def test_thread_count_setting(restore_threads):
    scse.set_num_threads(3)
    assert scse.get_num_threads() == 3
    scse.set_num_threads(0)
    assert scse.get_num_threads() >= 1
    with pytest.raises((ValueError, scse.Error)):
        scse.set_num_threads(-1)
    assert scse.get_num_threads() >= 1


def test_environment_variable_sets_default():
    code = "import scse; print(scse.get_num_threads())"
    env = dict(os.environ, SCSE_NUM_THREADS="5")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "5"
    env["SCSE_NUM_THREADS"] = "not-a-number"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) == os.cpu_count()
