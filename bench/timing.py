"""Measurement helpers shared by the benchmark's parts: interleaved timing and
the correctness measure."""

from __future__ import annotations

import gc
import math
import sys
import time
from typing import Callable, Dict, List, Optional

import numpy as np

import report

# Results are checked against the eager reference before timing. The verdict
# uses the relative L2 error, ||ours - torch|| / ||torch||, per tensor: with
# aggregate "max" an element where the two branches tie to float32 rounding
# may take the other branch than PyTorch's, which moves that element's
# gradient between the gates (max abs diff ~1e-2 in a handful of elements)
# but leaves the norm-wise error small; a wrong result is off by far more.
REL_L2_TOLERANCE = 1e-2

Timer = Callable[[int], float]  # runs `count` times, returns seconds


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def python_timer(fn: Callable[[], object]) -> Timer:
    def run(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            fn()
        return time.perf_counter() - start
    return run


def round_robin(timers: Dict[str, Timer], repeats: int, min_sample_s: float,
                budget_s: Optional[float] = None, min_repeats: int = 5,
                settle_s: float = 0.0) -> Dict[str, dict]:
    """Median and best seconds per call for each timer, sampled in turn within
    every repeat. With a budget, stops after the first complete repeat (at
    least min_repeats) that ends past it, so that a slow, loaded machine still
    finishes; every timer keeps the same number of samples. Each sample starts
    after `settle_s` idle seconds: thread pools spin after their work
    (PyTorch's OpenMP workers about 10 ms, ONNX Runtime's too), and without
    the pause that spinning bills the next implementation's sample."""
    counts = {}
    for name, timer in timers.items():
        timer(1)  # warm-up: lazy initialisation, first-touch page faults
        single = min(timer(1), timer(1))
        counts[name] = max(1, min(20_000, math.ceil(min_sample_s / max(single, 1e-9))))
    samples: Dict[str, List[float]] = {name: [] for name in timers}
    names = list(timers)
    start = time.perf_counter()
    gc.disable()
    try:
        for r in range(repeats):
            # Rotating the order keeps any position effect from favouring one.
            for name in names[r % len(names):] + names[:r % len(names)]:
                if settle_s > 0:
                    time.sleep(settle_s)
                samples[name].append(timers[name](counts[name]) / counts[name])
            if budget_s is not None and r + 1 >= min_repeats and time.perf_counter() - start > budget_s:
                break
    finally:
        gc.enable()
    return {name: {"median_s": report.median(samples[name]), "min_s": min(samples[name]),
                   "count": counts[name], "samples_s": samples[name]} for name in names}


def rel_l2(ours: np.ndarray, ref: np.ndarray) -> float:
    ours = np.asarray(ours, dtype=np.float64).reshape(ref.shape)
    ref = ref.astype(np.float64)
    scale = float(np.linalg.norm(ref))
    err = float(np.linalg.norm(ours - ref))
    return err / scale if scale > 0 else err


def set_threads(torch, scse, threads: int) -> None:
    scse.set_num_threads(threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def torch_timer(torch, module, params, x, grad_y, train: bool) -> Timer:
    """Forward calls inside one torch.no_grad() block per sample (as inference
    code enters it once around a whole model, not per layer), or forward+backward
    steps that leave fresh gradients in x and every parameter (as after
    optimizer.zero_grad(set_to_none=True))."""
    params = list(params)
    if not train:
        forward = python_timer(lambda: module(x))

        def run(count: int) -> float:
            with torch.no_grad():
                return forward(count)
        return run

    def step():
        for p in params:
            p.grad = None
        xr = x.detach().requires_grad_(True)
        module(xr).backward(grad_y)
        return xr.grad
    return python_timer(step)


def torch_results(module, x, grad_y) -> Dict[str, np.ndarray]:
    """y, grad_x and every parameter's gradient (by parameter name) of one step."""
    xr = x.detach().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    y = module(xr)
    y.backward(grad_y)
    out = {"y": y.detach().numpy().copy(), "grad_x": xr.grad.numpy().copy()}
    out.update({k: p.grad.numpy().copy() for k, p in module.named_parameters()})
    return out
