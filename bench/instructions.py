"""Where a call's work goes: instructions per function of scse's forward or
forward+backward, counted by valgrind's callgrind.

    python bench/instructions.py 1,1024,14,14/16 --pass fwd
    python bench/instructions.py 32,256,24,24 --pass fwdbwd --isa baseline

Runs the C driver (bench/native/scse_bench.c, as bench/run.py does) under
callgrind with collection switched on only inside scse_scse_forward and
scse_scse_backward, on one thread (callgrind serialises threads anyway),
and prints the instructions per call and the functions that execute most of
them (self cost, Swift names demangled when `swift demangle` is on PATH).
Instruction counts show where the work is, not where the memory stalls are:
next to the benchmark's floor ratios they tell fixed costs (argument checks,
the gate MLP, scheduling) from the passes over the tensors.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import native_build
from native_driver import NativeDriver
from run import layout_array, parse_shape

_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)$")


def _function(annotated: str) -> str:
    """The function of a callgrind_annotate line "file:function [object]"."""
    name = re.sub(r"\s\[[^\]]*\]$", "", annotated)
    return re.sub(r"^(\?\?\?|[^ (]*\.[A-Za-z]+):", "", name)


def _demangle(lines):
    swift = shutil.which("swift")
    if swift is None:
        return lines
    proc = subprocess.run([swift, "demangle", "--simplified", "--compact"], input="\n".join(lines),
                          capture_output=True, text=True)
    return proc.stdout.splitlines() if proc.returncode == 0 else lines


def count(exe: str, shape, ratio: int, pass_name: str, calls: int, layout: str, aggregate: str,
          isa, out_dir: str):
    import scse

    rng = np.random.default_rng(0)
    x = layout_array(rng.standard_normal(shape, dtype=np.float32), layout == "last")
    grad_y = layout_array(rng.standard_normal(shape, dtype=np.float32), layout == "last")
    params = scse.ChannelSpatialSELayer(shape[1], ratio, aggregate, seed=0).state_dict()
    out = os.path.join(out_dir, "callgrind.out")
    launcher = ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out}", "--collect-atstart=no",
                "--toggle-collect=scse_scse_forward", "--toggle-collect=scse_scse_backward"]
    driver = NativeDriver(exe, x, grad_y, params, shape[1] // ratio, layout == "last", aggregate, 1,
                          {"SCSE_CPU_ISA": isa} if isa else None, launcher)
    try:
        driver.time(pass_name, calls)
        variant = driver.isa
    finally:
        driver.close()
    report = subprocess.run(["callgrind_annotate", "--threshold=99", out], capture_output=True,
                            text=True, check=True).stdout
    total, rows = None, []
    for line in report.splitlines():
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
        m = _LINE.match(line)
        if m and "PROGRAM TOTALS" not in line:
            rows.append((int(m.group(1).replace(",", "")), float(m.group(2)), _function(m.group(3))))
    return total, rows, variant


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("shape", metavar="N,C,D1[,D2[,D3]][/R]")
    p.add_argument("--pass", dest="pass_name", choices=["fwd", "fwdbwd"], default="fwd")
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--layout", choices=["first", "last"], default="first")
    p.add_argument("--aggregate", choices=["sum", "max"], default="sum")
    p.add_argument("--isa", help="SCSE_CPU_ISA for the driver (default: the library's choice)")
    p.add_argument("--top", type=int, default=12, help="functions to list")
    p.add_argument("--native", default="auto", help="the scse_bench driver (see bench/run.py)")
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        p.error("needs valgrind (callgrind and callgrind_annotate)")
    exe = native_build.locate(args.native, lambda m: print(m, file=sys.stderr))
    if exe is None:
        p.error("no native driver")
    shape, ratio = parse_shape(args.shape)
    with tempfile.TemporaryDirectory(prefix="scse-callgrind-") as tmp:
        total, rows, variant = count(exe, shape, ratio, args.pass_name, args.calls, args.layout,
                                     args.aggregate, args.isa, tmp)
    if not total:
        print("callgrind counted nothing", file=sys.stderr)
        return 1
    names = _demangle([r[2] for r in rows[:args.top]])
    elements = int(np.prod(shape))
    print(f"{args.shape} {args.layout} {args.aggregate} {args.pass_name}, CPU variant "
          f"{variant or 'n/a'}: {total / args.calls:,.0f} instructions per call "
          f"({total / args.calls / elements:.2f} per element of x), 1 thread")
    print("| share | instructions per call | function |")
    print("|---:|---:|---|")
    for (ir, share, _), name in zip(rows[:args.top], names):
        name = name.strip()
        print(f"| {share:.1f}% | {ir / args.calls:,.0f} | `{name[:100]}{'...' if len(name) > 100 else ''}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
