"""Benchmark of scse's scSE next to PyTorch, ONNX Runtime and the memory floor.

For every configuration (shape with its reduction ratio, layout, aggregate)
it checks every implementation's results against the PyTorch reference once,
then times, for each pass (fwd; fwdbwd = forward then backward with
parameter gradients) and each thread count, round-robin within every repeat
so that machine noise hits every implementation alike:

  floor       the bytes the pass must move (below), timed as one memcpy of
              that many bytes in the native driver
  scse C      bench/native/scse_bench.c calling libscse into preallocated
              buffers, no Python; one driver process per thread count (and
              per CPU variant, SCSE_CPU_ISA, when the library has several)
  Swift       the SwiftPM-built driver in bench/swift (--swift), same protocol
  NumPy       scse.ChannelSpatialSELayer: layer.forward(x, out=y)
              [+ layer.backward(x, grad_y)]
  drop-in     scse.torch.ChannelSpatialSELayer: forward calls inside one no_grad block per sample;
              fwdbwd: module(x).backward(grad_y) with parameter gradients
  eager       the reference module (bench/reference.py), same calls
  compile     the reference through torch.compile, compiled per thread count
  ORT         ONNX Runtime (CPU EP, intra-op threads = the thread count) on
              the reference exported to ONNX, IOBinding into a preallocated y

The floor counts the bytes of the tensors the pass must touch, each once:
fwd reads x and the parameters and writes y; fwdbwd also reads x, grad_y and
the parameters again and writes grad_x and the parameter gradients. It is
the time one memcpy takes to move that many bytes (a copy of B bytes reads B
and writes B, so it copies half the count), one thread, same working-set
size, so the same cache level as the pass.

Then scse's marginal cost inside a small conv->scSE->conv model
(bench/marginal.py) and the peak extra memory of one forward+backward step
(bench/memory.py). Tables go to stdout as Markdown, progress to stderr;
--json keeps every sample.

    python bench/run.py --compile --json bench/results/full.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

import marginal
import memory
import native_build
import onnx_runtime
import report
from native_driver import NativeDriver
from timing import (REL_L2_TOLERANCE, Timer, progress, python_timer, rel_l2, round_robin,
                    set_threads, torch_results, torch_timer)

# Shapes as N,C,D1[,D2[,D3]]/reduction_ratio.
LARGE_SHAPES = ["32,256,24,24/2", "8,64,128,128/2"]
DEFAULT_SHAPES = LARGE_SHAPES + [
    # SE-ResNet-50's four stages at batch 1, reduction 16.
    "1,256,56,56/16", "1,512,28,28/16", "1,1024,14,14/16", "1,2048,7,7/16",
    "1,512,16,16/2", "1,16,8,8/2",
]
QUICK_SHAPES = ["1,16,8,8/2", "2,32,32,32/2"]
# Other layout/aggregate combinations, for the large shapes at the highest thread count.
VARIANTS = [("first", "max"), ("last", "sum"), ("last", "max")]
DEFAULT_REDUCTION_RATIO = 2


@dataclass(frozen=True)
class Config:
    shape: Tuple[int, ...]
    ratio: int
    layout: str
    aggregate: str
    threads: Tuple[int, ...]

    @property
    def hidden(self) -> int:
        return self.shape[1] // self.ratio

    def param_bytes(self) -> int:
        c, h = self.shape[1], self.hidden
        return 4 * (2 * h * c + h + c + c + 1)  # fc1 W, b; fc2 W, b; conv W, b

    def floor_bytes(self, pass_name: str) -> int:
        x, w = 4 * math.prod(self.shape), self.param_bytes()
        return 2 * x + w if pass_name == "fwd" else 5 * x + 3 * w


def parse_shape(spec: str) -> Tuple[Tuple[int, ...], int]:
    dims, _, ratio = spec.partition("/")
    return tuple(int(d) for d in dims.split(",")), int(ratio or DEFAULT_REDUCTION_RATIO)


def layout_array(a: np.ndarray, channels_last: bool) -> np.ndarray:
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1) if channels_last else a


class Bench:
    """One configuration: data, every implementation, their check and timers."""

    def __init__(self, torch, args, cfg: Config, tmp: str) -> None:
        import scse
        import scse.torch as scse_torch
        from reference import reference_from

        self.torch, self.scse, self.cfg, self.args = torch, scse, cfg, args
        channels_last = cfg.layout == "last"
        rng = np.random.default_rng(0)
        self.x = layout_array(rng.standard_normal(cfg.shape, dtype=np.float32), channels_last)
        self.grad_y = layout_array(rng.standard_normal(cfg.shape, dtype=np.float32), channels_last)
        self.y = np.empty_like(self.x)
        self.layer = scse.ChannelSpatialSELayer(cfg.shape[1], cfg.ratio, cfg.aggregate, seed=0)
        self.params = self.layer.state_dict()
        spatial_dims = len(cfg.shape) - 2
        self.module = reference_from(self.params, cfg.shape[1], cfg.ratio, cfg.aggregate, spatial_dims)
        self.dropin = scse_torch.module_from_layer(self.layer)
        self.xt = torch.from_numpy(self.x)
        self.gyt = torch.from_numpy(self.grad_y)
        self.compiled: Dict[int, Callable] = {}
        self.compile_s: Dict[str, float] = {}
        self.ort: Dict[int, onnx_runtime.Session] = {}
        # drivers[threads][name]: "c" (library default), "c_<isa>" (SCSE_CPU_ISA), "swift".
        self.drivers: Dict[int, Dict[str, NativeDriver]] = {t: {} for t in cfg.threads}
        try:
            self._start_drivers()
            if args.ort and cfg.layout == "first":
                path = os.path.join(tmp, "reference.onnx")
                onnx_runtime.export(torch, self.module, self.x, path)
                self.ort = {t: onnx_runtime.Session(path, t, self.x) for t in cfg.threads}
        except BaseException:
            self.close()
            raise

    def _driver(self, exe: str, threads: int, env: Optional[Dict[str, str]] = None) -> NativeDriver:
        cfg = self.cfg
        return NativeDriver(exe, self.x, self.grad_y, self.params, cfg.hidden, cfg.layout == "last",
                            cfg.aggregate, threads, env)

    def _start_drivers(self) -> None:
        args = self.args
        for t in self.cfg.threads:
            if args.native:
                default = self.drivers[t]["c"] = self._driver(args.native, t)
                for isa in args.isa:
                    capped = self._driver(args.native, t, {"SCSE_CPU_ISA": isa})
                    if capped.isa is None or capped.isa == default.isa:
                        capped.close()  # no such variant here (or the default already is it)
                        continue
                    self.drivers[t]["c_" + isa] = capped
            if args.swift:
                self.drivers[t]["swift"] = self._driver(args.swift, t)

    # --- correctness -------------------------------------------------------

    def check(self) -> Dict[str, Dict[str, float]]:
        """Relative L2 error of each implementation's y and worst gradient against eager."""
        ref = torch_results(self.module, self.xt, self.gyt)
        grad_keys = ["grad_x", *self.params]
        candidates = {}
        grad_x, grads = self.layer.backward(self.x, self.grad_y)
        candidates["numpy"] = dict(grads, y=self.layer.forward(self.x, out=self.y).copy(),
                                   grad_x=grad_x)
        candidates["dropin"] = torch_results(self.dropin, self.xt, self.gyt)
        for t, drivers in self.drivers.items():
            for name, driver in drivers.items():
                candidates[f"{name}@{t}"] = driver.results()
        diffs = {}
        for name, ours in candidates.items():
            diffs[name] = {"y": rel_l2(ours["y"], ref["y"]),
                           "grads": max(rel_l2(ours[k], ref[k]) for k in grad_keys)}
        for t, session in self.ort.items():
            diffs[f"ort@{t}"] = {"y": rel_l2(session(), ref["y"]), "grads": None}
        self.ref = ref
        return diffs

    # --- torch.compile -----------------------------------------------------

    def compile(self) -> Dict[str, Dict[str, float]]:
        """Compiles the reference once per thread count (inductor bakes the count
        into its kernels) and checks what the compiled code computes."""
        torch = self.torch
        diffs = {}
        for t in self.cfg.threads:
            set_threads(torch, self.scse, t)
            # A function with its own code object per thread count: dynamo keys
            # its cache by code object, so the two compiles stay apart.
            namespace: dict = {}
            exec(f"def reference_t{t}(x):\n    return module(x)\n", {"module": self.module}, namespace)
            fn = torch.compile(namespace[f"reference_t{t}"], dynamic=False)
            start = time.perf_counter()
            with torch.no_grad():
                y = fn(self.xt)
            self.compile_s[f"fwd@{t}"] = time.perf_counter() - start
            x = self.xt.detach().requires_grad_(True)
            self.module.zero_grad(set_to_none=True)
            start = time.perf_counter()
            fn(x).backward(self.gyt)
            self.compile_s[f"fwdbwd@{t}"] = time.perf_counter() - start
            diffs[f"compiled@{t}"] = {"y": rel_l2(y.numpy(), self.ref["y"]),
                                      "grads": rel_l2(x.grad.numpy(), self.ref["grad_x"])}
            self.compiled[t] = fn
            progress(f"    torch.compile at {t} thread(s): {self.compile_s[f'fwd@{t}']:.1f} s fwd, "
                     f"{self.compile_s[f'fwdbwd@{t}']:.1f} s fwdbwd")
        return diffs

    # --- timers ------------------------------------------------------------

    def _threaded(self, threads: int, timer: Timer) -> Timer:
        torch, scse = self.torch, self.scse

        def run(count: int) -> float:
            set_threads(torch, scse, threads)
            return timer(count)
        return run

    def floor_timer(self, pass_name: str) -> Timer:
        half = self.cfg.floor_bytes(pass_name) // 2
        driver = next((d["c"] for d in self.drivers.values() if "c" in d), None)
        if driver is not None:
            return lambda count: driver.copy_time(half, count)
        src, dst = np.ones(half, dtype=np.uint8), np.zeros(half, dtype=np.uint8)
        return python_timer(lambda: np.copyto(dst, src))

    def timers(self, pass_name: str) -> Dict[str, Timer]:
        train = pass_name == "fwdbwd"
        layer, x, y, grad_y = self.layer, self.x, self.y, self.grad_y
        if train:
            numpy_call = lambda: (layer.forward(x, out=y), layer.backward(x, grad_y))  # noqa: E731
        else:
            numpy_call = lambda: layer.forward(x, out=y)  # noqa: E731
        timers: Dict[str, Timer] = {"floor": self.floor_timer(pass_name)}
        for t in self.cfg.threads:
            for name, driver in self.drivers[t].items():
                timers[f"{name}@{t}"] = (lambda d: lambda count: d.time(pass_name, count))(driver)
            step = lambda module, params: torch_timer(  # noqa: E731
                self.torch, module, params, self.xt, self.gyt, train)
            ref = list(self.module.parameters())
            python_side = {"numpy": python_timer(numpy_call),
                           "dropin": step(self.dropin, self.dropin.parameters()),
                           "eager": step(self.module, ref)}
            if t in self.compiled:
                python_side["compiled"] = step(self.compiled[t], ref)
            if t in self.ort and not train:
                python_side["ort"] = python_timer(self.ort[t])
            for name, timer in python_side.items():
                timers[f"{name}@{t}"] = self._threaded(t, timer)
        return timers

    def close(self) -> None:
        for drivers in self.drivers.values():
            for driver in drivers.values():
                driver.close()
        self.drivers = {}


def run_config(torch, args, cfg: Config) -> List[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="scse-bench-") as tmp:
        bench = Bench(torch, args, cfg, tmp)
        try:
            diffs = bench.check()
            if args.compile:
                diffs.update(bench.compile())
            for pass_name in args.passes:
                timed = round_robin(bench.timers(pass_name), args.repeats, args.min_sample_ms * 1e-3,
                                    args.budget_s, settle_s=args.settle_ms * 1e-3)
                train = pass_name == "fwdbwd"
                for t in cfg.threads:
                    mine = {name.split("@")[0]: v for name, v in timed.items()
                            if name.endswith(f"@{t}")}
                    mine["floor"] = timed["floor"]
                    row_diffs = {name.split("@")[0]: d for name, d in diffs.items()
                                 if name.endswith(f"@{t}") or "@" not in name}
                    worst = max(max(d["y"], d["grads"] or 0.0) if train else d["y"]
                                for d in row_diffs.values())
                    rows.append({
                        "shape": list(cfg.shape), "reduction_ratio": cfg.ratio,
                        "layout": cfg.layout, "aggregate": cfg.aggregate, "pass": pass_name,
                        "threads": t, "floor_bytes": cfg.floor_bytes(pass_name),
                        "median_s": {k: v["median_s"] for k, v in mine.items()},
                        "min_s": {k: v["min_s"] for k, v in mine.items()},
                        "timings": mine, "rel_l2_diff": row_diffs, "worst_rel_l2": worst,
                        "wrong": worst > REL_L2_TOLERANCE,
                        "compile_s": bench.compile_s.get(f"{pass_name}@{t}"),
                        "isa": {name: d.isa for name, d in bench.drivers[t].items()},
                    })
                progress(f"    {pass_name}: " + " ".join(
                    f"{k}={v['median_s'] * 1e6:.1f}us" for k, v in timed.items()))
        finally:
            bench.close()
            if args.compile:
                torch._dynamo.reset()
    return rows


def memory_rows(args, configs: List[Config]) -> List[dict]:
    rows = []
    for cfg in configs:
        progress(f"memory {report.shape_text(cfg.shape)}/{cfg.ratio} {cfg.layout} {cfg.aggregate}")
        x_bytes = 4 * math.prod(cfg.shape)
        measured = {impl: memory.measure(impl, cfg.shape, cfg.ratio, cfg.layout, cfg.aggregate,
                                         max(cfg.threads))
                    for impl in ["scse", "torch"]}
        rows.append({
            "shape": list(cfg.shape), "reduction_ratio": cfg.ratio, "layout": cfg.layout,
            "aggregate": cfg.aggregate, "x_kib": x_bytes / 1024,
            "outputs_kib": (2 * x_bytes + cfg.param_bytes()) / 1024,
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
            "onnxruntime": onnx_runtime.available() if args.ort else None,
            "scse_cpu_isa": getattr(scse, "cpu_isa", lambda: None)(),
            "threads": args.threads, "native_driver": args.native, "swift_driver": args.swift,
            "repeats": args.repeats, "min_sample_ms": args.min_sample_ms, "budget_s": args.budget_s,
            "settle_ms": args.settle_ms,
            "torch_thp_mem_alloc": os.environ.get("THP_MEM_ALLOC_ENABLE", "unset"),
            "command": " ".join(sys.argv), "load_average_start": os.getloadavg()}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--shapes", nargs="+", metavar="N,C,D1[,D2[,D3]][/R]",
                   help=f"shapes with their reduction ratio R (default {DEFAULT_REDUCTION_RATIO}); "
                        f"default: {' '.join(DEFAULT_SHAPES)}")
    p.add_argument("--layouts", nargs="+", choices=["first", "last"], default=["first"],
                   help="channels-first (NCHW) and/or channels-last (default: first)")
    p.add_argument("--aggregates", nargs="+", choices=["sum", "max"], default=["sum"])
    p.add_argument("--no-variants", action="store_true",
                   help="skip the other layout/aggregate combinations of the large shapes "
                        f"({', '.join(LARGE_SHAPES)}), run at the highest thread count")
    p.add_argument("--passes", nargs="+", choices=["fwd", "fwdbwd"], default=["fwd", "fwdbwd"])
    p.add_argument("--threads", nargs="+", type=int,
                   help="thread counts, each applied to scse, torch and ONNX Runtime alike "
                        "(default: 1 and the online CPUs)")
    p.add_argument("--repeats", type=int, help="timed samples per implementation (default 15; 5 with --quick)")
    p.add_argument("--budget-s", type=float, default=40.0,
                   help="stop sampling a configuration's pass after the first repeat (at least 5) "
                        "that ends past this many seconds: a loaded machine still finishes (default 40)")
    p.add_argument("--min-sample-ms", type=float,
                   help="each sample repeats the call until it lasts this long (default 20; 2 with --quick)")
    p.add_argument("--settle-ms", type=float, default=15.0,
                   help="idle time before every sample, so that thread pools still spinning after "
                        "the previous implementation's sample (PyTorch's OpenMP, ONNX Runtime) do "
                        "not run during it (default 15)")
    p.add_argument("--quick", action="store_true",
                   help=f"small shapes ({' '.join(QUICK_SHAPES)}), no variants, one marginal-cost "
                        "model, fewer and shorter samples")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    p.add_argument("--no-ort", dest="ort", action="store_false", help="skip ONNX Runtime")
    p.add_argument("--native", default="auto",
                   help="path of the scse_bench driver, 'auto' (build/bench/scse_bench, else compiled "
                        "with cc against the installed package's libscse) or 'none'")
    p.add_argument("--isa", nargs="*", default=["baseline"],
                   help="SCSE_CPU_ISA values to run the C driver with besides the default, when "
                        "the library reports a different variant for them (default: baseline)")
    p.add_argument("--swift", default="none",
                   help="path of the Swift driver (bench/swift, `make bench-swift`), 'auto' or 'none'")
    p.add_argument("--torch-default-alloc", action="store_true",
                   help="leave PyTorch's allocator without transparent huge pages (see docs/benchmarks.md)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    p.add_argument("--no-marginal", action="store_true", help="skip the conv->scSE->conv model")
    p.add_argument("--json", metavar="PATH", help="write every median, sample and ratio here")
    p.add_argument("--markdown", metavar="PATH", help="also write the printed report here")
    args = p.parse_args(argv)
    try:
        shapes = [parse_shape(s) for s in (args.shapes or (QUICK_SHAPES if args.quick else DEFAULT_SHAPES))]
    except ValueError as e:
        p.error(f"bad shape: {e}")
    for shape, ratio in shapes:
        if not 3 <= len(shape) <= 5 or min(shape) < 1 or ratio < 1:
            p.error(f"bad shape {shape}/{ratio}: want N,C and 1 to 3 positive spatial extents")
    threads = tuple(sorted(set(args.threads or [1, os.cpu_count() or 1])))
    if min(threads) < 1:
        p.error("--threads must be >= 1")
    args.threads = threads
    args.configs = [Config(s, r, l, a, threads) for s, r in shapes
                    for l in args.layouts for a in args.aggregates]
    if not (args.no_variants or args.quick or args.shapes):
        for spec in LARGE_SHAPES:
            s, r = parse_shape(spec)
            args.configs += [Config(s, r, l, a, (max(threads),)) for l, a in VARIANTS
                             if (l, a) not in [(c.layout, c.aggregate) for c in args.configs
                                               if c.shape == s]]
    args.marginal_shapes = [parse_shape(s) for s in
                            (marginal.QUICK_SHAPES if args.quick else marginal.DEFAULT_SHAPES)]
    args.repeats = args.repeats or (5 if args.quick else 15)
    if args.min_sample_ms is None:
        args.min_sample_ms = 2.0 if args.quick else 20.0
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.ort and onnx_runtime.available() is None:
        progress("ONNX Runtime column skipped: onnxruntime or onnx cannot be imported "
                 "(pip install onnx onnxruntime)")
        args.ort = False
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not args.torch_default_alloc:
        # numpy asks for transparent huge pages for large arrays, PyTorch only
        # with this setting; without it PyTorch's fresh outputs fault in 4 KiB
        # pages, which on some VMs more than doubles eager times. Read by torch
        # at import, and inherited by the memory children.
        os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    import torch

    args.native = native_build.locate(args.native, progress)
    args.swift = native_build.locate_swift(args.swift, progress)
    info = machine_info(torch, args)
    rows: List[dict] = []
    for cfg in args.configs:
        progress(f"timing {report.shape_text(cfg.shape)}/{cfg.ratio} {cfg.layout} {cfg.aggregate} "
                 f"threads {','.join(map(str, cfg.threads))}")
        rows += run_config(torch, args, cfg)
    marginal_rows = [] if args.no_marginal else marginal.run(torch, args, progress)
    mem = [] if args.no_memory else memory_rows(args, [c for c in args.configs
                                                     if c.threads == args.threads])
    info["load_average_end"] = os.getloadavg()
    done = {(tuple(r["shape"]), r["layout"], r["aggregate"], r["pass"]): len(r["timings"]["floor"]["samples_s"])
            for r in rows}
    done.update({("marginal", tuple(r["shape"]), r["pass"]): len(r["timings"]["model_none"]["samples_s"])
                 for r in marginal_rows})
    info["passes_timed"] = len(done)
    info["cut_short"] = sum(n < args.repeats for n in done.values())
    text = report.full_report(info, rows, marginal_rows, mem)
    print(text)
    if args.markdown:
        os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"machine": info, "timing": rows, "marginal": marginal_rows, "memory": mem},
                      f, indent=1)
    wrong = [r for r in rows if r["wrong"]] + [r for r in marginal_rows if r["wrong"]]
    if wrong:
        print(f"\n{len(wrong)} row(s) gave WRONG results (rel L2 diff > {REL_L2_TOLERANCE:g}).",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
