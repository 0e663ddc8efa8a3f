"""Peak extra memory of one scSE forward+backward step, scse vs PyTorch.

Each measurement runs in a fresh interpreter (`python bench/memory.py ...`)
so that neither implementation inherits the other's allocator state. The
child builds the layer, runs one step on a tiny input (thread pools, lazy
initialisation, code pages), allocates x and grad_y, then resets the
kernel's peak-RSS mark (/proc/self/clear_refs), reads VmRSS as the
baseline, runs one full-size step and reads VmHWM. extra = VmHWM - baseline
therefore covers everything the step itself brings into memory: y,
grad_input, the parameter gradients, saved activations and scratch.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from typing import Dict, Optional

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _inputs(shape: tuple, channels_last: bool) -> tuple:
    rng = np.random.default_rng(1)
    arrays = []
    for _ in range(2):
        a = rng.standard_normal(shape, dtype=np.float32)
        if channels_last:
            a = np.ascontiguousarray(np.moveaxis(a, 1, -1))
            a = np.moveaxis(a, -1, 1)
        arrays.append(a)
    return tuple(arrays)


def _scse_step(shape: tuple, ratio: int, aggregate: str):
    import scse

    layer = scse.ChannelSpatialSELayer(shape[1], ratio, aggregate, seed=0)

    def step(x, grad_y):
        y = layer(x)
        grad_x, grads = layer.backward(x, grad_y)
        return y, grad_x, grads

    return step, lambda a: a, lambda x: None


def _torch_step(shape: tuple, ratio: int, aggregate: str):
    import torch
    from reference import ChannelSpatialSELayer

    module = ChannelSpatialSELayer(shape[1], ratio, aggregate, len(shape) - 2)

    def drop_grads(x):
        # As optimizer.zero_grad() does; the step then allocates them anew.
        module.zero_grad(set_to_none=True)
        x.grad = None

    def step(x, grad_y):
        drop_grads(x)
        x.requires_grad_(True)
        y = module(x)
        y.backward(grad_y)
        return y, x.grad, [p.grad for p in module.parameters()]

    return step, torch.from_numpy, drop_grads


def _child(args: argparse.Namespace) -> None:
    shape = tuple(int(d) for d in args.shape.split(","))
    channels_last = args.layout == "last"
    make = _scse_step if args.impl == "scse" else _torch_step
    step, convert, drop_grads = make(shape, args.ratio, args.aggregate)
    x, grad_y = (convert(a) for a in _inputs(shape, channels_last))
    # A first step leaves thread pools, lazily loaded code and per-shape
    # caches in place, so the measured step is a steady-state one.
    step(x, grad_y)
    drop_grads(x)  # the warm-up's gradients must not sit in the baseline
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    baseline = _status_kib("VmRSS")
    outputs = step(x, grad_y)
    peak = _status_kib("VmHWM")
    del outputs
    print(json.dumps({"baseline_kib": baseline, "peak_kib": peak, "extra_kib": peak - baseline}))


def measure(impl: str, shape: tuple, ratio: int, layout: str, aggregate: str,
            threads: Optional[int]) -> Optional[Dict[str, int]]:
    """Runs one measurement in a fresh interpreter; None (with a message) if it failed."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    if threads:
        env["SCSE_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, os.path.join(_HERE, "memory.py"), "--impl", impl,
           "--shape", ",".join(map(str, shape)), "--ratio", str(ratio), "--layout", layout,
           "--aggregate", aggregate]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        print(f"memory measurement of {impl} {shape} failed:\n{proc.stderr.strip()}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one peak-memory measurement (run by run.py)")
    parser.add_argument("--impl", choices=["scse", "torch"], required=True)
    parser.add_argument("--shape", required=True)
    parser.add_argument("--ratio", type=int, default=2, help="reduction ratio")
    parser.add_argument("--layout", choices=["first", "last"], required=True)
    parser.add_argument("--aggregate", choices=["sum", "max"], required=True)
    _child(parser.parse_args())
