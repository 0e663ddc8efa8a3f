"""Benchmark of scse's scSE next to PyTorch and next to the memory floor.

For every shape, layout and aggregate it checks the results of scse (through
its Python layer and through the native driver) against the PyTorch
reference once, then times, round-robin within each repeat so that machine
noise hits every implementation alike, and reports medians:

  scse Python     scse.ChannelSpatialSELayer: layer(x) [+ layer.backward(x, g)]
  scse C          bench/native/scse_bench.c calling libscse, no Python
  torch eager     the reference ChannelSpatialSELayer (bench/reference.py)
  torch.compile   the same module compiled (--compile; ~20 s per compile)
  memcpy          one copy of x: np.copyto into a preallocated array, and
                  memcpy in the native driver

then the peak extra memory of one forward+backward step (bench/memory.py).
Tables go to stdout as Markdown, progress to stderr; --json keeps everything.

    python bench/run.py --compile --json bench/results/full.json
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import sys
import time
from typing import Callable, Dict, List, Optional

import numpy as np

import memory
import native_build
import report
from native_driver import NativeDriver

DEFAULT_SHAPES = ["32,256,24,24", "8,64,128,128", "2,32,64,64", "1,512,16,16", "2,32,32,64,64"]
QUICK_SHAPES = ["2,32,64,64", "1,512,16,16"]
REDUCTION_RATIO = 2
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


def round_robin(timers: Dict[str, Timer], repeats: int, min_sample_s: float) -> Dict[str, dict]:
    """Median seconds per call for each timer, sampled in turn within every repeat."""
    counts = {}
    for name, timer in timers.items():
        timer(1)  # warm-up: lazy initialisation, first-touch page faults
        single = min(timer(1), timer(1))
        counts[name] = max(1, min(10_000, math.ceil(min_sample_s / max(single, 1e-9))))
    samples: Dict[str, List[float]] = {name: [] for name in timers}
    names = list(timers)
    gc.disable()
    try:
        for r in range(repeats):
            # Rotating the order keeps any position effect from favouring one.
            for name in names[r % len(names):] + names[:r % len(names)]:
                samples[name].append(timers[name](counts[name]) / counts[name])
    finally:
        gc.enable()
    return {name: {"median_s": report.median(samples[name]), "count": counts[name],
                   "samples_s": samples[name]} for name in names}


def layout_array(a: np.ndarray, channels_last: bool) -> np.ndarray:
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1) if channels_last else a


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def rel_l2(ours: np.ndarray, ref: np.ndarray) -> float:
    scale = float(np.linalg.norm(ref.astype(np.float64)))
    err = float(np.linalg.norm(ours.astype(np.float64) - ref.astype(np.float64)))
    return err / scale if scale > 0 else err


class Config:
    """One shape/layout/aggregate: data, both implementations and their check."""

    def __init__(self, torch, args, shape, layout, aggregate) -> None:
        import scse
        from reference import reference_from

        self.torch, self.shape, self.layout, self.aggregate = torch, shape, layout, aggregate
        channels_last = layout == "last"
        rng = np.random.default_rng(0)
        self.x = layout_array(rng.standard_normal(shape, dtype=np.float32), channels_last)
        self.grad_y = layout_array(rng.standard_normal(shape, dtype=np.float32), channels_last)
        self.layer = scse.ChannelSpatialSELayer(shape[1], REDUCTION_RATIO, aggregate, seed=0)
        self.params = self.layer.state_dict()
        self.module = reference_from(self.params, shape[1], REDUCTION_RATIO, aggregate, len(shape) - 2)
        self.xt = torch.from_numpy(self.x)
        self.gyt = torch.from_numpy(self.grad_y)
        self.copy_dst = np.empty_like(self.x)
        self.driver = None
        if args.native:
            self.driver = NativeDriver(args.native, self.x, self.grad_y, self.params,
                                       shape[1] // REDUCTION_RATIO, channels_last, aggregate,
                                       args.threads)
        self.compiled = None

    def torch_step(self, module, train: bool):
        torch = self.torch
        if not train:
            def forward():
                with torch.no_grad():
                    return module(self.xt)
            return forward

        def step():
            self.module.zero_grad(set_to_none=True)
            x = self.xt.detach().requires_grad_(True)
            module(x).backward(self.gyt)
            return x.grad
        return step

    def check(self) -> dict:
        """Largest differences of scse's results from the eager reference's."""
        x = self.xt.detach().requires_grad_(True)
        self.module.zero_grad(set_to_none=True)
        y_ref = self.module(x)
        y_ref.backward(self.gyt)
        ref = {"y": y_ref.detach().numpy(), "grad_x": x.grad.numpy()}
        ref.update({k: p.grad.numpy() for k, p in self.module.named_parameters()})
        grad_x, grads = self.layer.backward(self.x, self.grad_y)
        candidates = [dict(grads, y=self.layer(self.x), grad_x=grad_x)]
        if self.driver is not None:
            candidates.append(self.driver.results())
        diff = {"y": 0.0, "grad_x": 0.0, "y_rel_l2": 0.0, "grad_rel_l2": 0.0}
        for ours in candidates:
            diff["y"] = max(diff["y"], max_abs(ours["y"], ref["y"]))
            diff["y_rel_l2"] = max(diff["y_rel_l2"], rel_l2(ours["y"], ref["y"]))
            diff["grad_x"] = max(diff["grad_x"], max_abs(ours["grad_x"], ref["grad_x"]))
            for key in ["grad_x", *self.params]:
                err = rel_l2(ours[key].reshape(ref[key].shape), ref[key])
                diff["grad_rel_l2"] = max(diff["grad_rel_l2"], err)
        return diff

    def timers(self, pass_name: str) -> Dict[str, Timer]:
        train = pass_name == "fwdbwd"
        layer, x, grad_y = self.layer, self.x, self.grad_y
        if train:
            ours = lambda: (layer(x), layer.backward(x, grad_y))  # noqa: E731
        else:
            ours = lambda: layer(x)  # noqa: E731
        timers = {"scse_py": python_timer(ours)}
        if self.driver is not None:
            timers["scse_c"] = lambda count: self.driver.time(pass_name, count)
        timers["eager"] = python_timer(self.torch_step(self.module, train))
        if self.compiled is not None:
            timers["compiled"] = python_timer(self.torch_step(self.compiled, train))
        timers["memcpy_np"] = python_timer(lambda: np.copyto(self.copy_dst, x))
        if self.driver is not None:
            timers["memcpy_c"] = lambda count: self.driver.time("memcpy", count)
        return timers

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()


def run_config(torch, args, shape, layout, aggregate) -> List[dict]:
    cfg = Config(torch, args, shape, layout, aggregate)
    rows = []
    try:
        diff = cfg.check()
        for pass_name in args.passes:
            compile_s = None
            if args.compile:
                torch._dynamo.reset()  # a fresh compile per configuration, no recompile limit
                cfg.compiled = torch.compile(cfg.module, dynamic=False)
                start = time.perf_counter()
                cfg.torch_step(cfg.compiled, pass_name == "fwdbwd")()
                compile_s = time.perf_counter() - start
                progress(f"    torch.compile ({pass_name}): {compile_s:.1f} s")
            timed = round_robin(cfg.timers(pass_name), args.repeats, args.min_sample_ms * 1e-3)
            medians = {name: t["median_s"] for name, t in timed.items()}
            train = pass_name == "fwdbwd"
            max_abs_diff = max(diff["y"], diff["grad_x"]) if train else diff["y"]
            rel = max(diff["y_rel_l2"], diff["grad_rel_l2"]) if train else diff["y_rel_l2"]
            rows.append({
                "shape": list(shape), "layout": layout, "aggregate": aggregate, "pass": pass_name,
                "median_s": medians, "ratios": report.ratios(medians), "timings": timed,
                "compile_s": compile_s,
                "native_threads": cfg.driver.threads if cfg.driver is not None else None,
                "max_abs_diff": max_abs_diff, "rel_l2_diff": rel, "wrong": rel > REL_L2_TOLERANCE,
            })
            progress("    " + " ".join(f"{k}={v * 1e3:.3f}ms" for k, v in medians.items()))
    finally:
        cfg.close()
    return rows


def memory_rows(args, configs) -> List[dict]:
    rows = []
    for shape, layout, aggregate in configs:
        progress(f"memory {report.shape_text(shape)} {layout} {aggregate}")
        x_bytes = 4 * math.prod(shape)
        c, h = shape[1], shape[1] // REDUCTION_RATIO
        param_bytes = 4 * (2 * h * c + h + 2 * c + 1)
        measured = {impl: memory.measure(impl, shape, layout, aggregate, args.threads)
                    for impl in ["scse", "torch"]}
        rows.append({
            "shape": list(shape), "layout": layout, "aggregate": aggregate,
            "x_kib": x_bytes / 1024, "outputs_kib": (2 * x_bytes + param_bytes) / 1024,
            "scse_extra_kib": measured["scse"] and measured["scse"]["extra_kib"],
            "torch_extra_kib": measured["torch"] and measured["torch"]["extra_kib"],
            "raw": measured,
        })
    return rows


def machine_info(torch, args) -> dict:
    import scse

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor()) \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    return {"cpu": cpu, "online_cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch.__version__, "scse": scse.__version__,
            "scse_threads": scse.get_num_threads(), "torch_threads": torch.get_num_threads(),
            "native_driver": args.native, "repeats": args.repeats,
            "torch_thp_mem_alloc": os.environ.get("THP_MEM_ALLOC_ENABLE", "unset"),
            "min_sample_ms": args.min_sample_ms, "load_average_start": os.getloadavg()}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--shapes", nargs="+", metavar="N,C,D1[,D2[,D3]]",
                   help=f"shapes to run (default: {' '.join(DEFAULT_SHAPES)})")
    p.add_argument("--layouts", nargs="+", choices=["first", "last"], default=["first", "last"],
                   help="channels-first (NCHW) and/or channels-last")
    p.add_argument("--aggregates", nargs="+", choices=["sum", "max"])
    p.add_argument("--passes", nargs="+", choices=["fwd", "fwdbwd"], default=["fwd", "fwdbwd"])
    p.add_argument("--repeats", type=int, help="timed samples per implementation (default 15; 5 with --quick)")
    p.add_argument("--min-sample-ms", type=float,
                   help="each sample repeats the call until it lasts this long (default 20; 2 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help=f"small shapes ({' '.join(QUICK_SHAPES)}), aggregate sum, fewer and shorter samples")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    p.add_argument("--threads", type=int, help="threads for scse and torch (default: each one's default)")
    p.add_argument("--native", default="auto",
                   help="path of the scse_bench driver, 'auto' (build/bench/scse_bench, else compiled "
                        "with cc against the installed package's libscse) or 'none'")
    p.add_argument("--torch-default-alloc", action="store_true",
                   help="leave PyTorch's allocator without transparent huge pages (see README)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    p.add_argument("--json", metavar="PATH", help="write every median, sample and ratio here")
    p.add_argument("--markdown", metavar="PATH", help="also write the printed report here")
    args = p.parse_args(argv)
    args.shapes = [tuple(int(d) for d in s.split(",")) for s in
                   (args.shapes or (QUICK_SHAPES if args.quick else DEFAULT_SHAPES))]
    for shape in args.shapes:
        if not 3 <= len(shape) <= 5 or min(shape) < 1:
            p.error(f"bad shape {shape}: want N,C and 1 to 3 positive spatial extents")
    args.aggregates = args.aggregates or (["sum"] if args.quick else ["sum", "max"])
    args.repeats = args.repeats or (5 if args.quick else 15)
    if args.min_sample_ms is None:
        args.min_sample_ms = 2.0 if args.quick else 20.0
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not args.torch_default_alloc:
        # numpy asks for transparent huge pages for large arrays, PyTorch only
        # with this setting; without it PyTorch's fresh outputs fault in 4 KiB
        # pages, which on some VMs more than doubles eager times. Read by torch
        # at import, and inherited by the memory children.
        os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    import scse
    import torch

    if args.threads:
        scse.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    args.native = native_build.locate(args.native, progress)
    info = machine_info(torch, args)
    configs = [(s, l, a) for s in args.shapes for l in args.layouts for a in args.aggregates]
    rows = []
    for shape, layout, aggregate in configs:
        progress(f"timing {report.shape_text(shape)} {layout} {aggregate}")
        rows += run_config(torch, args, shape, layout, aggregate)
    mem = [] if args.no_memory else memory_rows(args, configs)
    info["load_average_end"] = os.getloadavg()

    info["native_threads"] = rows[0]["native_threads"] if rows else None
    native_threads = info["native_threads"] or "n/a (no native driver)"
    text = [
        f"scse {info['scse']}, torch {info['torch']}, numpy {info['numpy']}, "
        f"Python {info['python']}; {info['cpu']}, {info['online_cpus']} online CPUs",
        f"threads: scse {info['scse_threads']} (Python), {native_threads} (C driver), "
        f"torch {info['torch_threads']}; median of {args.repeats} interleaved repeats; "
        f"load average {info['load_average_start'][0]:.2f} at start, "
        f"{info['load_average_end'][0]:.2f} at end; THP_MEM_ALLOC_ENABLE="
        f"{info['torch_thp_mem_alloc']}"
        + (" (PyTorch allocations on huge pages, as numpy's)"
           if info["torch_thp_mem_alloc"] == "1" else ""),
        "",
        "Times are per call (fwd: forward; fwdbwd: forward then backward with parameter "
        "gradients). eager/compiled over scse: speed-up (higher is better); scse over "
        "memcpy: cost in copies of x (lower is better). Diffs are scse (Python and C) vs "
        "torch eager: max abs over y (and grad_input), and the worst relative L2 error "
        "over y (and grad_input and every parameter gradient).",
        "",
        report.markdown(report.TIMING_HEADER, [report.timing_row(r) for r in rows]),
    ]
    if mem:
        text += [
            "",
            "Peak extra memory of one steady-state forward+backward step: VmHWM during the "
            "step minus VmRSS before it, in a fresh process per cell (bench/memory.py). It "
            "includes the step's outputs (y, grad_input, parameter gradients), which the "
            "'- outputs' columns subtract; what remains is saved activations and scratch.",
            "",
            report.markdown(report.MEMORY_HEADER, [report.memory_row(r) for r in mem]),
        ]
    print("\n".join(text))
    if args.markdown:
        os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
        with open(args.markdown, "w") as f:
            f.write("\n".join(text) + "\n")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"machine": info, "timing": rows, "memory": mem}, f, indent=1)
    wrong = [r for r in rows if r["wrong"]]
    if wrong:
        print(f"\n{len(wrong)} configuration(s) gave WRONG results (rel L2 diff > "
              f"{REL_L2_TOLERANCE:g}).", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
