"""The benchmark harness (bench/run.py) runs end to end on one tiny shape and
prints both of its tables with every column. Nothing here depends on how
fast anything is."""

import json
import os
import subprocess
import sys

import torch  # noqa: F401 - the harness needs it; conftest handles its absence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TIMING_COLUMNS = [
    "shape", "layout", "aggregate", "pass", "scse Python ms", "scse C ms", "torch eager ms",
    "torch.compile ms", "memcpy numpy ms", "memcpy C ms", "eager / scse", "compiled / scse",
    "scse / memcpy", "scse C / memcpy C", "max abs diff", "rel L2 diff",
]
MEMORY_COLUMNS = [
    "shape", "layout", "aggregate", "x MiB", "scse extra MiB", "torch extra MiB",
    "scse extra - outputs MiB", "torch extra - outputs MiB", "torch / scse",
]


def _tables(text):
    """Markdown tables of the output as lists of rows of cells (header first)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def _number(cell):
    return float(cell.rstrip("x"))


def test_harness_runs_on_a_tiny_shape(tmp_path):
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--quick", "--shapes", "2,8,8,8",
         "--repeats", "2", "--json", str(out_json)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr

    timing, memory = _tables(proc.stdout)
    assert timing[0] == TIMING_COLUMNS
    assert memory[0] == MEMORY_COLUMNS
    rows = [dict(zip(TIMING_COLUMNS, cells)) for cells in timing[1:]]
    assert sorted((r["layout"], r["pass"]) for r in rows) == [
        ("first", "fwd"), ("first", "fwdbwd"), ("last", "fwd"), ("last", "fwdbwd")]

    results = json.loads(out_json.read_text())
    native = results["machine"]["native_driver"] is not None
    for row in rows:
        assert row["shape"] == "2x8x8x8" and row["aggregate"] == "sum"
        timed = ["scse Python ms", "torch eager ms", "memcpy numpy ms", "eager / scse",
                 "scse / memcpy"]
        if native:
            timed += ["scse C ms", "memcpy C ms", "scse C / memcpy C"]
        for column in timed:
            assert _number(row[column]) > 0, (column, row)
        assert row["torch.compile ms"] == "n/a"  # not asked for
        assert _number(row["max abs diff"]) <= 1e-3
        assert _number(row["rel L2 diff"]) <= 1e-3

    assert len(memory) == 3  # header + one row per layout
    for cells in memory[1:]:
        # Sizes below a page can round to zero or below the outputs' size,
        # so only their form is checked; "n/a" is a failed measurement.
        sizes = [_number(cell) for cell in cells[3:8]]
        assert sizes[0] >= 0 and sizes[1] >= 0 and sizes[2] >= 0, cells
        assert cells[8] == "n/a" and sizes[1] == 0 or _number(cells[8]) > 0, cells

    assert len(results["timing"]) == 4 and len(results["memory"]) == 2
    for entry in results["timing"]:
        assert len(entry["timings"]["scse_py"]["samples_s"]) == 2
        assert entry["ratios"]["eager_over_py"] > 0
