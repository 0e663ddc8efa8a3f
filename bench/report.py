"""Markdown tables, ratios and target checks of the benchmark's results.

Every ratio is taken between medians of the same run (interleaved samples),
never across runs.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

# (key, header) of the per-call times, in table order. "c_<isa>" columns
# (the C driver with SCSE_CPU_ISA=<isa>) follow "c" when present.
TIME_COLUMNS = [
    ("floor", "floor"), ("c", "scse C"), ("swift", "scse Swift"), ("numpy", "NumPy"),
    ("dropin", "drop-in"), ("eager", "eager"), ("compiled", "compile"), ("ort", "ORT"),
]
CONFIG_HEADER = ["shape", "R", "layout", "agg", "pass", "thr"]


def median(values: List[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def us(seconds: Optional[float]) -> str:
    if seconds is None:
        return "n/a"
    v = seconds * 1e6
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def ratio_text(value: Optional[float], missed: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.0f}x" if value >= 100 else f"{value:.3g}x"
    return text + " ✗" if missed else text


def markdown(header: List[str], rows: List[List[str]], text_columns: int = 4) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < text_columns else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _config_cells(row: dict) -> List[str]:
    return [shape_text(row["shape"]), str(row["reduction_ratio"]), row["layout"], row["aggregate"],
            row["pass"], str(row["threads"])]


# --- targets ---------------------------------------------------------------

# Each target check gives (ratio shown, met) for a row, or None where it does not apply.
def _t(row: dict, key: str) -> Optional[float]:
    return row["median_s"].get(key)


def floor_target(row: dict, key: str) -> Optional[Tuple[float, bool]]:
    """scse within 1.5x its floor + 5 us (fwd), 3x + 10 us (fwdbwd)."""
    t, floor = _t(row, key), _t(row, "floor")
    if t is None or not floor:
        return None
    k, c = (1.5, 5e-6) if row["pass"] == "fwd" else (3.0, 10e-6)
    return t / floor, t <= k * floor + c


def speedup_target(row: dict, theirs: str, ours: str, at_least: float) -> Optional[Tuple[float, bool]]:
    a, b = _t(row, theirs), _t(row, ours)
    if a is None or not b:
        return None
    return a / b, a / b >= at_least


def dropin_target(row: dict) -> Optional[Tuple[float, bool]]:
    """Drop-in forward within 1.2x + 10 us of the NumPy layer into a preallocated out."""
    a, b = _t(row, "dropin"), _t(row, "numpy")
    if a is None or not b or row["pass"] != "fwd":
        return None
    return a / b, a <= 1.2 * b + 10e-6


RATIO_COLUMNS: List[Tuple[str, Callable[[dict], Optional[Tuple[float, bool]]]]] = [
    ("C / floor", lambda r: floor_target(r, "c")),
    ("NumPy / floor", lambda r: floor_target(r, "numpy")),
    ("drop-in / NumPy", dropin_target),
    ("eager / NumPy", lambda r: speedup_target(r, "eager", "numpy", 3.0)),
    ("eager / drop-in", lambda r: speedup_target(r, "eager", "dropin", 3.0)),
    ("compile / NumPy", lambda r: speedup_target(r, "compiled", "numpy", 0.0)),
    ("compile / drop-in", lambda r: speedup_target(r, "compiled", "dropin", 0.0)),
    ("ORT / NumPy", lambda r: speedup_target(r, "ort", "numpy", 2.0)),
    ("ORT / C", lambda r: speedup_target(r, "ort", "c", 2.0)),
]
def slowdown_target(row: dict, ours: str, reference: str, at_most: float) -> Optional[Tuple[float, bool]]:
    a, b = _t(row, ours), _t(row, reference)
    if a is None or not b:
        return None
    return a / b, a / b <= at_most


# Checks reported only in the targets table (each has a table of its own).
OTHER_CHECKS: List[Tuple[str, Callable[[dict], Optional[Tuple[float, bool]]]]] = [
    ("baseline / default", lambda r: slowdown_target(r, "c_baseline", "c", 2.0)),
    ("Swift / C", lambda r: slowdown_target(r, "swift", "c", 1.1)),
]
TARGETS = [
    ("C / floor", "9: forward through C <= 1.5x floor + 5 us; forward+backward <= 3x floor + 10 us"),
    ("NumPy / floor", "9: the same through NumPy"),
    ("ORT / NumPy", "9: NumPy forward >= 2x faster than ONNX Runtime"),
    ("ORT / C", "9: C forward >= 2x faster than ONNX Runtime"),
    ("eager / NumPy", "9: >= 3x faster than eager PyTorch (NumPy layer)"),
    ("eager / drop-in", "8: drop-in >= 3x faster than the reference module"),
    ("drop-in / NumPy", "8: drop-in forward <= 1.2x + 10 us of NumPy into a preallocated out"),
    ("baseline / default", "10: C driver's baseline CPU variant within 2x of the default (asked on "
                           "the large shapes)"),
    ("Swift / C", "10: SwiftPM-built Swift driver within 1.1x of the CMake-built C driver"),
]


def _row_label(row: dict) -> str:
    return (f"{shape_text(row['shape'])}/{row['reduction_ratio']} {row['layout']} {row['aggregate']} "
            f"{row['pass']} {row['threads']}t")


# --- tables ----------------------------------------------------------------

def _time_keys(rows: List[dict]) -> List[Tuple[str, str]]:
    present = {k for r in rows for k in r["median_s"]}
    keys = []
    for key, header in TIME_COLUMNS:
        if key in present:
            keys.append((key, header))
        if key == "c":
            for extra in sorted(k for k in present if k.startswith("c_")):
                keys.append((extra, f"scse C {extra[2:]}"))
    return keys


def times_table(rows: List[dict]) -> str:
    keys = _time_keys(rows)
    header = CONFIG_HEADER + [h + " us" for _, h in keys] + ["worst rel L2"]
    body = []
    for r in rows:
        wrong = " WRONG" if r["wrong"] else ""
        body.append(_config_cells(r) + [us(r["median_s"].get(k)) for k, _ in keys]
                    + [f"{r['worst_rel_l2']:.1e}{wrong}"])
    return markdown(header, body, len(CONFIG_HEADER))


def ratios_table(rows: List[dict]) -> str:
    columns = [(h, f) for h, f in RATIO_COLUMNS if any(f(r) is not None for r in rows)]
    body = []
    for r in rows:
        cells = []
        for _, f in columns:
            v = f(r)
            cells.append("-" if v is None else ratio_text(v[0], not v[1]))
        body.append(_config_cells(r) + cells)
    return markdown(CONFIG_HEADER + [h for h, _ in columns], body, len(CONFIG_HEADER))


def _grouped(rows: List[dict]) -> Dict[tuple, Dict[int, dict]]:
    """rows by (shape, R, layout, aggregate, pass), then by thread count."""
    groups: Dict[tuple, Dict[int, dict]] = {}
    for r in rows:
        key = (tuple(r["shape"]), r["reduction_ratio"], r["layout"], r["aggregate"], r["pass"])
        groups.setdefault(key, {})[r["threads"]] = r
    return groups


def _thread_verdict(ratio: float) -> str:
    # Within 5% counts as measurement noise on this shared machine, and is labelled so.
    if ratio <= 1.0:
        return ratio_text(ratio)
    return ratio_text(ratio) + (" (noise?)" if ratio <= 1.05 else " ✗")


def threads_table(rows: List[dict]) -> Optional[str]:
    body = []
    impls = [k for k in ["c", "numpy", "dropin"] if any(k in r["median_s"] for r in rows)]
    for key, by_threads in _grouped(rows).items():
        if len(by_threads) < 2:
            continue
        lo, hi = by_threads[min(by_threads)], by_threads[max(by_threads)]
        cells = [shape_text(key[0]), str(key[1]), key[2], key[3], key[4]]
        for impl in impls:
            a, b = lo["median_s"].get(impl), hi["median_s"].get(impl)
            cells += [us(a), us(b), "n/a" if not (a and b) else _thread_verdict(b / a)]
        body.append(cells)
    if not body:
        return None
    lo_t = min(r["threads"] for r in rows)
    hi_t = max(r["threads"] for r in rows)
    names = {"c": "C", "numpy": "NumPy", "dropin": "drop-in"}
    header = ["shape", "R", "layout", "agg", "pass"]
    for impl in impls:
        header += [f"{names[impl]} {lo_t}t us", f"{names[impl]} {hi_t}t us", f"{hi_t}t / {lo_t}t"]
    return markdown(header, body, 5)


def isa_table(rows: List[dict]) -> Optional[str]:
    extras = sorted({k for r in rows for k in r["median_s"] if k.startswith("c_")})
    if not extras:
        return None
    body = []
    for r in rows:
        if "c" not in r["median_s"]:
            continue
        cells = _config_cells(r) + [f"{us(r['median_s']['c'])} ({r['isa'].get('c') or '?'})"]
        for extra in extras:
            v = slowdown_target(r, extra, "c", 2.0)
            cells += [us(r["median_s"].get(extra)), "n/a" if v is None else ratio_text(v[0], not v[1])]
        body.append(cells)
    header = CONFIG_HEADER + ["C default us"]
    for extra in extras:
        header += [f"C {extra[2:]} us", f"{extra[2:]} / default"]
    return markdown(header, body, len(CONFIG_HEADER))


def swift_table(rows: List[dict]) -> Optional[str]:
    body = []
    for r in rows:
        v = slowdown_target(r, "swift", "c", 1.1)
        if v is None:
            continue
        body.append(_config_cells(r) + [us(r["median_s"]["c"]), us(r["median_s"]["swift"]),
                                        ratio_text(v[0], not v[1])])
    if not body:
        return None
    return markdown(CONFIG_HEADER + ["CMake-built C us", "SwiftPM-built Swift us", "Swift / C"],
                    body, len(CONFIG_HEADER))


def overhead_table(rows: List[dict]) -> Optional[str]:
    """Per-call cost of the drop-in on the smallest shape of the run."""
    plain = [r for r in rows if r["layout"] == "first" and "dropin" in r["median_s"]]
    if not plain:
        return None
    smallest = min(plain, key=lambda r: math.prod(r["shape"]))["shape"]
    body = []
    for r in plain:
        if r["shape"] != smallest:
            continue
        m = r["median_s"]
        c, n, d, e = m.get("c"), m.get("numpy"), m["dropin"], m.get("eager")
        body.append([shape_text(r["shape"]), str(r["reduction_ratio"]), r["pass"], str(r["threads"]),
                     us(c), us(n), us(d), us(e), us(d - c) if c else "n/a",
                     us(d - n) if n else "n/a", ratio_text(d / n) if n else "n/a",
                     ratio_text(e / d) if e else "n/a"])
    return markdown(["shape", "R", "pass", "thr", "C us", "NumPy us", "drop-in us", "eager us",
                     "drop-in - C us", "drop-in - NumPy us", "drop-in / NumPy", "eager / drop-in"],
                    body, 4)


def marginal_table(rows: List[dict]) -> Optional[str]:
    if not rows:
        return None
    body = []
    for r in rows:
        m, g = r["median_s"], r["marginal_s"]
        body.append([shape_text(r["shape"]), str(r["reduction_ratio"]), r["pass"], str(r["threads"]),
                     us(m["model_none"]), us(m["model_scse"]), us(m["model_ref"]),
                     us(g["scse"]), us(g["ref"]), us(m["alone_scse"]), us(m["alone_ref"]),
                     ratio_text(g["ref"] / g["scse"]) if g["scse"] > 0 else "n/a",
                     f"{r['rel_l2_diff']:.1e}" + (" WRONG" if r["wrong"] else "")])
    return markdown(["shape", "R", "pass", "thr", "conv-conv us", "conv-scse-conv us",
                     "conv-ref-conv us", "scse marginal us", "ref marginal us", "scse alone us",
                     "ref alone us", "ref / scse marginal", "rel L2 diff"], body, 4)


def targets_table(rows: List[dict]) -> str:
    columns = dict(RATIO_COLUMNS + OTHER_CHECKS)
    body = []
    for name, text in TARGETS:
        met, missed = [], []
        if all(columns[name](r) is None for r in rows):
            continue
        for r in rows:
            v = columns[name](r)
            if v is not None:
                (met if v[1] else missed).append(f"{_row_label(r)} ({ratio_text(v[0])})")
        body.append([text, str(len(met)), str(len(missed)), "; ".join(missed) or "-"])
    groups = _grouped(rows)
    slower = []
    counted = 0
    for key, by_threads in groups.items():
        if len(by_threads) < 2:
            continue
        lo, hi = by_threads[min(by_threads)], by_threads[max(by_threads)]
        for impl in ["c", "numpy"]:
            a, b = lo["median_s"].get(impl), hi["median_s"].get(impl)
            if a and b:
                counted += 1
                if b / a > 1.05:
                    slower.append(f"{impl} {shape_text(key[0])}/{key[1]} {key[2]} {key[3]} {key[4]} "
                                  f"({ratio_text(b / a)})")
    if counted:
        body.append(["9: more threads never slower (C and NumPy; > 5% counts)",
                     str(counted - len(slower)), str(len(slower)), "; ".join(slower) or "-"])
    return markdown(["target (issue)", "rows met", "rows missed", "missed rows (ratio)"], body, 1)


MEMORY_HEADER = ["shape", "R", "layout", "aggregate", "x MiB", "scse extra MiB", "torch extra MiB",
                 "scse extra - outputs MiB", "torch extra - outputs MiB", "torch / scse"]


def memory_row(row: dict) -> List[str]:
    mib = lambda kib: "n/a" if kib is None else f"{kib / 1024:.1f}"  # noqa: E731
    ours, theirs = row["scse_extra_kib"], row["torch_extra_kib"]
    outputs = row["outputs_kib"]
    beyond = lambda kib: None if kib is None else kib - outputs  # noqa: E731
    ratio = ratio_text(theirs / ours) if ours and theirs is not None else "n/a"
    return [shape_text(row["shape"]), str(row["reduction_ratio"]), row["layout"], row["aggregate"],
            mib(row["x_kib"]), mib(ours), mib(theirs), mib(beyond(ours)), mib(beyond(theirs)), ratio]


def full_report(info: dict, rows: List[dict], marginal_rows: List[dict], mem: List[dict]) -> str:
    isas = sorted({f"{k}={v}" for r in rows for k, v in r["isa"].items() if v})
    text = [
        f"scse {info['scse']}, torch {info['torch']}, numpy {info['numpy']}, "
        f"onnxruntime {info['onnxruntime'] or 'n/a'}, Python {info['python']}; {info['cpu']}, "
        f"{info['online_cpus']} online CPUs",
        f"threads {', '.join(map(str, info['threads']))} (each for scse, torch and ONNX Runtime "
        f"alike); median of {info['repeats']} interleaved repeats of >= {info['min_sample_ms']:g} ms, "
        f"each after {info.get('settle_ms', 0):g} ms idle "
        f"(fewer, at least 5, where a pass ran past {info['budget_s']:g} s: {info['cut_short']} of "
        f"{info['passes_timed']} passes); "
        f"load average {info['load_average_start'][0]:.2f} at start, "
        f"{info['load_average_end'][0]:.2f} at end; THP_MEM_ALLOC_ENABLE={info['torch_thp_mem_alloc']}"
        + (f"; driver CPU variants: {', '.join(isas)}" if isas else ""),
        f"command: {info['command']}",
        "",
        "Per-call times in microseconds (median). floor: a memcpy of the bytes the pass must "
        "touch; worst rel L2: the largest relative L2 error against eager PyTorch over every "
        "implementation of the row (y; for fwdbwd also grad_input and every parameter gradient).",
        "",
        times_table(rows),
        "",
        "Ratios within the run. X / floor: cost in floors (lower is better); other / scse: "
        "speed-up of scse (higher is better). ✗ marks a missed target (see the targets table).",
        "",
        ratios_table(rows),
        "",
        "Targets (issues 8 and 9) over the rows above:",
        "",
        targets_table(rows),
    ]
    for title, table in [
        ("More threads against fewer (✗: slower by more than 5%):", threads_table(rows)),
        ("CPU variants of the C driver (SCSE_CPU_ISA; issue 10 target: baseline within 2x):",
         isa_table(rows)),
        ("SwiftPM-built Swift driver against the CMake-built C driver (issue 10 target: "
         "within 1.1x):", swift_table(rows)),
        ("Per-call cost of the drop-in on the smallest shape:", overhead_table(rows)),
        ("Marginal cost inside conv (1x1) -> block -> conv (1x1), PyTorch's threads busy around "
         "the block (median over repeats of the paired difference to conv -> conv):",
         marginal_table(marginal_rows)),
    ]:
        if table:
            text += ["", title, "", table]
    if mem:
        text += [
            "",
            "Peak extra memory of one steady-state forward+backward step: VmHWM during the "
            "step minus VmRSS before it, in a fresh process per cell (bench/memory.py). It "
            "includes the step's outputs (y, grad_input, parameter gradients), which the "
            "'- outputs' columns subtract; what remains is saved activations and scratch.",
            "",
            markdown(MEMORY_HEADER, [memory_row(r) for r in mem]),
        ]
    return "\n".join(text)
