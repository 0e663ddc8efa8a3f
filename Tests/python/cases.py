"""Shapes, inputs and memory layouts the parity tests run on, and the
driver that runs one case through scse and PyTorch."""

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from parity_check import check_all, near_tie_count, reference_results, run_ours
from variants import build_pair, few_shot_weights


@dataclass(frozen=True)
class Case:
    batch: int
    channels: int
    spatial: tuple
    ratio: int
    why: str

    @property
    def shape(self):
        return (self.batch, self.channels) + self.spatial

    @property
    def id(self):
        return f"{self.batch}x{self.channels}x{'x'.join(map(str, self.spatial))}-r{self.ratio}"


SMALL_CASES = [
    Case(1, 1, (5,), 2, "C=1 so C//r == 0; N=1; 1-D"),
    Case(2, 8, (3, 5), 16, "C//r == 0 with C > 1"),
    Case(3, 6, (7,), 4, "C not divisible by r"),
    Case(2, 5, (4, 3), 2, "odd C, C not divisible by r"),
    Case(1, 16, (1, 1), 2, "S=1"),
    Case(4, 3, (1,), 1, "r=1, S=1, 1-D"),
    Case(1, 1, (1, 1, 1), 2, "everything 1, 3-D"),
    Case(2, 7, (9, 11), 2, "odd spatial sizes"),
    Case(2, 12, (3, 4, 5), 3, "3-D"),
    Case(1, 32, (2, 3, 1), 16, "3-D with a unit extent"),
    Case(3, 64, (13,), 16, "1-D, r=16"),
    Case(2, 17, (37,), 4, "prime sizes"),
    Case(2, 33, (6, 6), 2, "C one past a power of two"),
    Case(2, 40, (5, 7, 3), 8, "3-D, larger S"),
    Case(4, 96, (10, 10), 16, "moderate 2-D"),
]
SEED_CASES = [
    Case(32, 256, (24, 24), 2, "the seeds' example shape, r=2"),
    Case(32, 256, (24, 24), 16, "the seeds' example shape, r=16"),
]

INPUT_KINDS = ["randn", "relu", "zero-sample", "wide"]


def stable_seed(*parts):
    return zlib.crc32(repr(parts).encode())


def make_input(kind, shape, rng):
    x = rng.standard_normal(shape, dtype=np.float32)
    if kind == "relu":  # exact zeros: ReLU'(0) and max-aggregate ties at 0
        x = np.maximum(x, 0)
    elif kind == "zero-sample":  # mean 0 exactly, so fc1's pre-activation is
        x[0] = 0  # exactly its bias (0 without bias)
    elif kind == "wide":  # saturates the sigmoids
        x = (5 * x + 1).astype(np.float32)
    elif kind != "randn":
        raise ValueError(kind)
    return x


def _channels_last_order(ndim):
    return (0,) + tuple(range(2, ndim)) + (1,)


def to_channels_last(a, via="numpy"):
    """The same values, stored channels-last (C varies fastest)."""
    if via == "torch":
        fmt = {4: torch.channels_last, 5: torch.channels_last_3d}[a.ndim]
        return torch.from_numpy(a).contiguous(memory_format=fmt).numpy()
    order = _channels_last_order(a.ndim)
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


def is_channels_last(a):
    return np.moveaxis(a, 1, -1).flags.c_contiguous


def same_layout(a, b):
    return (is_channels_last(a) == is_channels_last(b)
            and a.flags.c_contiguous == b.flags.c_contiguous)


def run_parity_case(scse, variant, case, kind, layout="contiguous", label=None, reorderings=None,
                    setup=None):
    """Runs one case through scse and both PyTorch references and checks
    every output; returns what was run, for further checks."""
    label = label or f"{variant.name}/{case.id}/{kind}/{layout}"
    seed = stable_seed(variant.name, case.id, kind)
    rng = np.random.default_rng(seed)
    module, layer = build_pair(scse, variant, case.channels, case.ratio, seed % 2**31, setup)
    x = make_input(kind, case.shape, rng)
    grad_y = rng.standard_normal(case.shape, dtype=np.float32)
    weights = few_shot_weights(variant, case.channels, rng)
    if layout != "contiguous":
        via = layout.split("-")[-1]  # "channels-last-numpy" / "channels-last-torch"
        x, grad_y = to_channels_last(x, via), to_channels_last(grad_y, via)
    x_before, grad_y_before = x.copy(), grad_y.copy()
    ours = run_ours(layer, x, grad_y, weights)
    assert np.array_equal(x, x_before) and np.array_equal(grad_y, grad_y_before), (
        f"{label}: an input was modified")
    for key in ("y", "grad_input"):
        assert same_layout(ours[key], x), (
            f"{label}: {key} has strides {ours[key].strides}, x has {x.strides}")
    t32, f64, noise = reference_results(module, variant, x, grad_y, weights, seed, reorderings)
    mode = "max"
    if variant.kind == "scse" and variant.aggregate == "max" and near_tie_count(module, x):
        mode = "norm"
    check_all(label, ours, t32, f64, noise, gradient_mode=mode)
    state = layer.state_dict()
    for key, value in state.items():
        assert ours[key].shape == value.shape, f"{label}: grad {key} shape {ours[key].shape}"
    if weights is not None:
        assert ours["weights"].shape == weights.shape
    return Run(ours, x, grad_y, weights, layer)


@dataclass
class Run:
    ours: dict
    x: np.ndarray
    grad_y: np.ndarray
    weights: object
    layer: object
