"""Markdown tables and ratios of the benchmark's results."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

TIME_COLUMNS = [
    ("scse_py", "scse Python ms"), ("scse_c", "scse C ms"), ("eager", "torch eager ms"),
    ("compiled", "torch.compile ms"), ("memcpy_np", "memcpy numpy ms"), ("memcpy_c", "memcpy C ms"),
]
# (key, header, numerator, denominator): speed-ups over PyTorch (higher is
# better) and costs in units of one copy of x (lower is better).
RATIO_COLUMNS = [
    ("eager_over_py", "eager / scse", "eager", "scse_py"),
    ("compiled_over_py", "compiled / scse", "compiled", "scse_py"),
    ("py_over_memcpy", "scse / memcpy", "scse_py", "memcpy_np"),
    ("c_over_memcpy", "scse C / memcpy C", "scse_c", "memcpy_c"),
]
TIMING_HEADER = (["shape", "layout", "aggregate", "pass"] + [h for _, h in TIME_COLUMNS]
                 + [h for _, h, _, _ in RATIO_COLUMNS] + ["max abs diff", "rel L2 diff"])
MEMORY_HEADER = ["shape", "layout", "aggregate", "x MiB", "scse extra MiB", "torch extra MiB",
                 "scse extra - outputs MiB", "torch extra - outputs MiB", "torch / scse"]


def ratios(medians: Dict[str, Optional[float]]) -> Dict[str, Optional[float]]:
    out = {}
    for key, _, num, den in RATIO_COLUMNS:
        a, b = medians.get(num), medians.get(den)
        out[key] = a / b if a is not None and b else None
    return out


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def _ms(seconds: Optional[float]) -> str:
    if seconds is None:
        return "n/a"
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _ratio(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}x" if value >= 100 else f"{value:.3g}x"


def _sci(value: Optional[float], bad: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value:.1e}"
    return text + " WRONG" if bad else text


def timing_row(row: dict) -> List[str]:
    cells = [shape_text(row["shape"]), row["layout"], row["aggregate"], row["pass"]]
    cells += [_ms(row["median_s"].get(key)) for key, _ in TIME_COLUMNS]
    cells += [_ratio(row["ratios"][key]) for key, _, _, _ in RATIO_COLUMNS]
    cells += [_sci(row["max_abs_diff"]), _sci(row["rel_l2_diff"], row["wrong"])]
    return cells


def memory_row(row: dict) -> List[str]:
    mib = lambda kib: "n/a" if kib is None else f"{kib / 1024:.1f}"  # noqa: E731
    ours, theirs = row["scse_extra_kib"], row["torch_extra_kib"]
    outputs = row["outputs_kib"]
    beyond = lambda kib: None if kib is None else kib - outputs  # noqa: E731
    ratio = _ratio(theirs / ours) if ours and theirs is not None else "n/a"
    return [shape_text(row["shape"]), row["layout"], row["aggregate"], mib(row["x_kib"]),
            mib(ours), mib(theirs), mib(beyond(ours)), mib(beyond(theirs)), ratio]


def markdown(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < 4 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def median(values: List[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


