"""Per-call cost of the scse.torch modules next to the NumPy layer and the
PyTorch reference module.

For each shape it builds the same block three ways with equal parameters:

  numpy     scse.<Layer>.forward(x, out=y): the NumPy layer writing into a
            preallocated output (the libscse call plus the binding's glue)
  dropin    scse.torch.<Layer>: forward under torch.no_grad(), and
            forward + backward (x and the parameters require grad)
  reference Tests/python/reference_modules.py (the ai-med op sequence in
            PyTorch), the same two measurements

Timing: the implementations run round-robin; each round runs every one for
a batch of calls sized to ~20 ms and keeps seconds per call; the result is
the minimum over the rounds (best-of-N, the cost without the machine's
noise). Time is the process's CPU time (time.process_time: user + system,
all threads), which a loaded machine inflates far less than wall time; it
includes the kernel's page-fault and page-zeroing work. no_grad is entered
once around a batch, not per call. Minor page faults per call (resource.getrusage ru_minflt) are
counted over the same batches. One thread for both libraries by default
(--threads), so overhead is not hidden behind threading.

    python bench/torch_overhead.py                 # default shapes, Markdown table
    python bench/torch_overhead.py --json out.json --rounds 15
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests",
                                "python"))
import reference_modules as ref  # noqa: E402

import scse  # noqa: E402
import scse.torch as st  # noqa: E402

# (kind, shape): scSE r=2 at the benchmark shapes; cSE r=16 at the four
# SE-ResNet-50 stages, batch 1.
DEFAULT_CASES = [
    ("scse", (1, 16, 8, 8)),
    ("scse", (32, 256, 24, 24)),
    ("scse", (8, 64, 128, 128)),
    ("cse", (1, 256, 56, 56)),
    ("cse", (1, 512, 28, 28)),
    ("cse", (1, 1024, 14, 14)),
    ("cse", (1, 2048, 7, 7)),
]
RATIO = {"scse": 2, "cse": 16}


def build(kind: str, channels: int) -> Tuple[object, torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    if kind == "cse":
        dropin: torch.nn.Module = st.ChannelSELayer(channels, RATIO[kind])
        reference: torch.nn.Module = ref.ChannelSELayer(channels, RATIO[kind])
        layer: object = scse.ChannelSELayer(channels, RATIO[kind])
    else:
        dropin = st.ChannelSpatialSELayer(channels, RATIO[kind])
        reference = ref.ChannelSpatialSELayer(channels, RATIO[kind])
        layer = scse.ChannelSpatialSELayer(channels, RATIO[kind])
    reference.load_state_dict(dropin.state_dict())
    layer.load_state_dict(dropin.state_dict())  # type: ignore[attr-defined]
    return layer, dropin, reference


def measure(fns: Dict[str, Callable[[], object]], rounds: int) -> Dict[str, Tuple[float, float]]:
    batch = {}
    for name, fn in fns.items():  # calls per batch for ~20 ms
        fn()
        start = time.perf_counter()
        fn()
        batch[name] = max(1, min(5000, int(0.02 / max(time.perf_counter() - start, 1e-7))))
    best = {name: float("inf") for name in fns}
    faults = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            n = batch[name]
            grad = not getattr(fn, "no_grad", False)
            with torch.set_grad_enabled(grad):  # entered once per batch, not per call
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                start = time.process_time()
                for _ in range(n):
                    fn()
                seconds = (time.process_time() - start) / n
            per_call = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / n
            best[name] = min(best[name], seconds)
            faults[name] = min(faults[name], per_call)
    return {name: (best[name], faults[name]) for name in fns}


def case(kind: str, shape: Tuple[int, ...], rounds: int) -> dict:
    layer, dropin, reference = build(kind, shape[1])
    x = torch.randn(shape)
    xa = x.numpy()
    out = np.empty_like(xa)
    grad_y = torch.randn(shape)
    xg = x.clone().requires_grad_()

    def no_grad(module: torch.nn.Module) -> Callable[[], object]:
        def run() -> object:
            return module(x)
        run.no_grad = True  # type: ignore[attr-defined]
        return run

    def train(module: torch.nn.Module) -> Callable[[], object]:
        def run() -> object:
            module(xg).backward(grad_y)
            return None
        return run

    results = measure({
        "numpy": lambda: layer.forward(xa, out=out),  # type: ignore[attr-defined]
        "dropin": no_grad(dropin),
        "reference": no_grad(reference),
        "dropin_train": train(dropin),
        "reference_train": train(reference),
    }, rounds)
    us = {name: seconds * 1e6 for name, (seconds, _) in results.items()}
    row = {"kind": kind, "shape": list(shape), "us": us,
           "minor_faults_per_call": {name: f for name, (_, f) in results.items()}}
    row["dropin_over_numpy"] = us["dropin"] / us["numpy"]
    row["dropin_budget_us"] = 1.2 * us["numpy"] + 10.0
    row["reference_over_dropin"] = us["reference"] / us["dropin"]
    row["reference_over_dropin_train"] = us["reference_train"] / us["dropin_train"]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    p.add_argument("--cases", nargs="+", metavar="KIND:N,C,D1[,D2[,D3]]",
                   help="e.g. scse:1,16,8,8 cse:1,256,56,56")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    scse.set_num_threads(args.threads)
    cases = DEFAULT_CASES
    if args.cases:
        cases = [(c.split(":")[0], tuple(int(d) for d in c.split(":")[1].split(",")))
                 for c in args.cases]
    rows: List[dict] = []
    print("| block | shape | numpy out= (us) | drop-in no_grad (us) | budget 1.2x+10 (us) | "
          "reference no_grad (us) | ref/drop-in | drop-in fwd+bwd (us) | reference fwd+bwd (us) "
          "| ref/drop-in | faults/call drop-in, numpy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, shape in cases:
        row = case(kind, shape, args.rounds)
        rows.append(row)
        us, f = row["us"], row["minor_faults_per_call"]
        print(f"| {kind} r={RATIO[kind]} | {'x'.join(map(str, shape))} | {us['numpy']:.1f} | "
              f"{us['dropin']:.1f} | {row['dropin_budget_us']:.1f} | {us['reference']:.1f} | "
              f"{row['reference_over_dropin']:.1f}x | {us['dropin_train']:.1f} | "
              f"{us['reference_train']:.1f} | {row['reference_over_dropin_train']:.1f}x | "
              f"{f['dropin']:.0f}, {f['numpy']:.0f} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads, "rounds": args.rounds, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
