"""Running a case through PyTorch and scse, and the tolerances they must meet.

Every comparison in the suite goes through this module, so the tolerances
live here and nowhere else.

Reference results
  t32    PyTorch autograd on the float32 reference module: the parity target.
  f64    the same module and data in float64: the "true" values.
  noise  PyTorch's own float32 error on that tensor, estimated from several
         float32 PyTorch programs: t32 itself and NOISE_REORDERINGS runs of
         the same problem with batch, channels and spatial positions
         permuted (parameters permuted to match, results permuted back).
         They are mathematically identical but sum in other orders. noise =
         max(worst |t - f64| seen, NOISE_RMS_FACTOR (3) * the largest
         per-element RMS of the errors over the programs). Several programs are needed: a gradient
         element that is a long sum with cancellation (e.g. the spatial
         gate's bias gradient, a scalar) can be exact by luck in one order
         and off by 1e-5 of its value in another.

Element-wise checks (the default), for y, grad_input and every parameter
gradient, with mag = max |f64| of that tensor (1 if it is all zeros):
  1. agreement: |ours - t32| <= ATOL * mag + RTOL * |t32| + noise, with
       forward (y):  RTOL_FORWARD = 1e-5, ATOL_FORWARD = 1e-6
       gradients:    RTOL_GRAD    = 1e-4, ATOL_GRAD    = 1e-5
     (gradients are looser: parameter gradients are reductions over N * S
     terms, rounded differently in every summation order; the noise term
     only matters where PyTorch itself is off by more than that).
  2. accuracy: max|ours - f64| <= F64_FACTOR * noise + F64_SLACK_ULPS * eps32 * mag
     with F64_FACTOR = 4 and F64_SLACK_ULPS = 8: scse may round differently
     from PyTorch but must not be markedly less accurate.

Max aggregate near ties
  Where cSE(x) and sSE(x) agree to rounding (|a - b| <= NEAR_TIE_REL *
  max(|a|, |b|) in float64 but a != b) two correct float32 programs may pick
  different branches, which moves one element's gradient between the gates
  and changes grad_input and the parameter gradients far beyond rounding.
  Forward y is unaffected (both branches are equal to rounding) and stays
  element-wise. When the float64 data has any such near tie, gradients are
  instead compared by relative L2 error, rel(a, b) = ||a - b|| / ||b||:
    rel(ours, f64) <= max(NORM_RTOL_NEAR_TIE, F64_FACTOR * norm noise)
  where the norm noise is the largest rel(program, f64) over the PyTorch
  float32 programs above: float32 programs may all decide a near tie
  against float64 (seen at the seed shape: rel 3e-4 for PyTorch itself,
  and 7e-3 for a reordered PyTorch run), so float64 alone cannot set it.
  Exact ties (x == 0, or equal gates) are not near ties: every program sees
  them and must split the gradient in half like torch.max.
"""

import copy
from dataclasses import dataclass

import numpy as np
import torch

RTOL_FORWARD = 1e-5
ATOL_FORWARD = 1e-6
RTOL_GRAD = 1e-4
ATOL_GRAD = 1e-5
F64_FACTOR = 4.0
F64_SLACK_ULPS = 8
EPS32 = float(np.finfo(np.float32).eps)
NOISE_REORDERINGS = 6
NOISE_RMS_FACTOR = 3.0
NEAR_TIE_REL = 1e-5
NORM_RTOL_NEAR_TIE = 1e-3

# Filled as tests run; conftest prints a summary and can write it to a file.
RECORDS = []


def run_torch(module, variant, x, grad_y, weights=None, dtype=torch.float32):
    """Forward and backward through PyTorch autograd; results as numpy,
    parameter gradients under scse names (zeros for unused parameters)."""
    if dtype != torch.float32:
        module = copy.deepcopy(module).to(dtype)
    module.zero_grad(set_to_none=True)
    xt = torch.from_numpy(x).to(dtype).clone().requires_grad_(True)
    wt = None
    if weights is not None:
        wt = torch.from_numpy(weights).to(dtype).requires_grad_(True)
    with torch.enable_grad():
        y = module(xt) if wt is None else module(xt, weights=wt)
        y.backward(torch.from_numpy(grad_y).to(dtype))
    results = {"y": y.detach().numpy(), "grad_input": xt.grad.numpy()}
    for name, param in module.named_parameters():
        grad = param.grad if param.grad is not None else torch.zeros_like(param)
        results[variant.our_key(name)] = grad.detach().numpy()
    if wt is not None:
        results["weights"] = wt.grad.numpy()
    return results


def run_ours(layer, x, grad_y, weights=None):
    if weights is None:
        y = layer(x)
        grad_input, grads = layer.backward(x, grad_y)
    else:
        y = layer(x, weights=weights)
        grad_input, grads = layer.backward(x, grad_y, weights=weights)
    return {"y": y, "grad_input": grad_input, **grads}


def _channel_axis(our_key):
    """Which axis of a parameter (or its gradient) runs over the C channels."""
    last = our_key.rsplit(".", 2)
    name = ".".join(last[-2:])
    return {"fc1.weight": 1, "fc2.weight": 0, "fc2.bias": 0, "conv.weight": 1,
            "weights": 1}.get(name)


def run_torch_reordered(module, variant, x, grad_y, weights, rng):
    """run_torch on the same problem with batch, channels and spatial
    positions shuffled, results shuffled back: another summation order."""
    n, c = x.shape[:2]
    pn, pc, ps = rng.permutation(n), rng.permutation(c), rng.permutation(x[0, 0].size)

    def shuffle(a):
        flat = a.reshape(n, c, -1)[pn][:, pc][:, :, ps]
        return np.ascontiguousarray(flat).reshape(a.shape)

    def unshuffle(a):
        flat = np.empty((n, c, ps.size), a.dtype)
        flat[np.ix_(pn, pc, ps)] = a.reshape(n, c, -1)
        return flat.reshape(a.shape)

    module = copy.deepcopy(module)
    with torch.no_grad():
        for name, param in module.named_parameters():
            axis = _channel_axis(variant.our_key(name))
            if axis is not None:
                param.copy_(param.index_select(axis, torch.from_numpy(pc)))
    if weights is not None:
        weights = np.ascontiguousarray(weights[:, pc])
    out = run_torch(module, variant, shuffle(x), shuffle(grad_y), weights)
    results = {"y": unshuffle(out.pop("y")), "grad_input": unshuffle(out.pop("grad_input"))}
    for key, grad in out.items():
        axis = _channel_axis(key)
        if axis is not None:
            restored = np.empty_like(grad)
            index = [slice(None)] * grad.ndim
            index[axis] = pc
            restored[tuple(index)] = grad
            grad = restored
        results[key] = grad
    return results


def _max_abs(a):
    return float(np.max(np.abs(a), initial=0.0))


def reference_results(module, variant, x, grad_y, weights=None, seed=0, reorderings=None):
    """(t32, f64, noise): see the module docstring."""
    t32 = run_torch(module, variant, x, grad_y, weights)
    f64 = run_torch(module, variant, x, grad_y, weights, dtype=torch.float64)
    count = NOISE_REORDERINGS if reorderings is None else reorderings
    programs = [t32] + [
        run_torch_reordered(module, variant, x, grad_y, weights, np.random.default_rng([seed, i]))
        for i in range(count)]
    noise = {}
    for k in t32:
        errors = [p[k].reshape(f64[k].shape).astype(np.float64) - f64[k] for p in programs]
        worst = max(_max_abs(e) for e in errors)
        rms = np.sqrt(np.mean(np.square(errors), axis=0))
        norm = float(np.linalg.norm(f64[k])) or 1.0
        noise[k] = Noise(max(worst, NOISE_RMS_FACTOR * _max_abs(rms)),
                         max(float(np.linalg.norm(e)) / norm for e in errors))
    return t32, f64, noise


def near_tie_count(module, x):
    """How many elements of a max-aggregate scSE are rounding-level near ties
    (see the module docstring), judged in float64."""
    module64 = copy.deepcopy(module).to(torch.float64)
    with torch.no_grad():
        x64 = torch.from_numpy(x).to(torch.float64)
        a = module64.cSE(x64).numpy()
        b = module64.sSE(x64).numpy()
    near = (np.abs(a - b) <= NEAR_TIE_REL * np.maximum(np.abs(a), np.abs(b))) & (a != b)
    return int(near.sum())


@dataclass(frozen=True)
class Noise:
    """PyTorch float32's own error on one tensor (see the module docstring):
    max_abs in the tensor's units, rel_l2 relative to ||f64||."""
    max_abs: float
    rel_l2: float


@dataclass
class Measured:
    """Errors of one tensor. Max mode: max abs error / mag; norm mode:
    relative L2 error. pytorch_noise is the noise defined above, scaled alike."""
    label: str
    tensor: str
    mode: str
    ours_vs_t32: float
    ours_vs_f64: float
    t32_vs_f64: float
    pytorch_noise: float


def accuracy_bound(m):
    """The largest ours_vs_f64 a Measured may have (same scaling as it)."""
    if m.mode == "norm":
        return max(NORM_RTOL_NEAR_TIE, F64_FACTOR * m.pytorch_noise)
    return F64_FACTOR * m.pytorch_noise + F64_SLACK_ULPS * EPS32


def _norm_rel(a, b):
    denom = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / (denom if denom > 0 else 1.0)


def check_tensor(label, tensor, ours, t32, f64, noise, mode="max", record=True):
    ours = np.asarray(ours)
    assert ours.dtype == np.float32, f"{label}: {tensor} has dtype {ours.dtype}, expected float32"
    assert ours.shape == t32.shape, f"{label}: {tensor} shape {ours.shape} != reference {t32.shape}"
    assert np.all(np.isfinite(ours)), f"{label}: {tensor} has non-finite values"
    o = ours.astype(np.float64)
    t = t32.astype(np.float64)
    mag = _max_abs(f64) or 1.0
    if mode == "norm":
        m = Measured(label, tensor, "norm", _norm_rel(o, t), _norm_rel(o, f64), _norm_rel(t, f64),
                     noise.rel_l2)
        if record:
            RECORDS.append(m)
        bound = accuracy_bound(m)
        assert m.ours_vs_f64 <= bound, (
            f"{label}: {tensor} relative L2 error vs float64 {m.ours_vs_f64:.3g} > {bound:.3g} "
            f"(PyTorch float32: {m.t32_vs_f64:.3g}, worst PyTorch order {noise.rel_l2:.3g})")
        return m
    noise = noise.max_abs
    m = Measured(label, tensor, "max", _max_abs(o - t) / mag, _max_abs(o - f64) / mag,
                 _max_abs(t - f64) / mag, noise / mag)
    if record:
        RECORDS.append(m)
    rtol, atol = (RTOL_FORWARD, ATOL_FORWARD) if tensor == "y" else (RTOL_GRAD, ATOL_GRAD)
    excess = np.abs(o - t) - (atol * mag + rtol * np.abs(t) + noise)
    if excess.size and excess.max() > 0:
        i = np.unravel_index(int(np.argmax(excess)), excess.shape)
        raise AssertionError(
            f"{label}: {tensor} differs from PyTorch float32 at {i}: ours {o[i]!r}, "
            f"torch {t[i]!r}, float64 {f64[i]!r} (rtol {rtol}, atol {atol} * mag {mag:.3g}, "
            f"PyTorch noise {noise:.3g}); {int((excess > 0).sum())} of {excess.size} "
            f"elements out of tolerance")
    assert m.ours_vs_f64 <= accuracy_bound(m), (
        f"{label}: {tensor} is less accurate than PyTorch: max error vs float64 "
        f"{m.ours_vs_f64:.3g} * mag > {F64_FACTOR} x PyTorch's {m.pytorch_noise:.3g} * mag + "
        f"{F64_SLACK_ULPS} eps (mag {mag:.3g})")
    return m


def check_all(label, ours, t32, f64, noise, gradient_mode="max", record=True):
    """Checks y, grad_input and every parameter gradient; ours must return
    exactly the reference's set of gradients."""
    assert set(ours) == set(t32), f"{label}: result keys {sorted(ours)} != {sorted(t32)}"
    for key in sorted(t32):
        ours_value = np.asarray(ours[key])
        t32_value, f64_value = t32[key], f64[key]
        if key not in ("y", "grad_input", "weights"):
            # Conv-form reference gradients ([out, in, 1, 1]) in our shape.
            assert ours_value.size == t32_value.size, (
                f"{label}: gradient {key} has shape {ours_value.shape}, "
                f"reference {t32_value.shape}")
            t32_value = t32_value.reshape(ours_value.shape)
            f64_value = f64_value.reshape(ours_value.shape)
        mode = "max" if key == "y" else gradient_mode
        check_tensor(label, key, ours_value, t32_value, f64_value, noise[key], mode, record)
