"""The benchmark harness (bench/run.py) runs end to end on one tiny shape, checks
every implementation against PyTorch, and prints its tables with every column.
Nothing here depends on how fast anything is: the target checks are tested on
made-up times."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch  # noqa: F401 - the harness needs it; conftest handles its absence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import onnx_runtime  # noqa: E402
import report  # noqa: E402

SHAPE = (2, 8, 8, 8)
RATIO = 2


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


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out_json = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--quick",
         "--shapes", ",".join(map(str, SHAPE)) + f"/{RATIO}", "--threads", "1", "2",
         "--repeats", "2", "--min-sample-ms", "0.5", "--json", str(out_json)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(out_json.read_text())


def test_every_implementation_is_timed_and_correct(run):
    _, results = run
    rows = results["timing"]
    assert sorted((r["pass"], r["threads"]) for r in rows) == [
        ("fwd", 1), ("fwd", 2), ("fwdbwd", 1), ("fwdbwd", 2)]
    native = results["machine"]["native_driver"] is not None
    ort = onnx_runtime.available() is not None
    if os.environ.get("CI") == "true":
        assert native and ort, "CI needs the native driver and onnxruntime (make deps installs it)"
    for row in rows:
        assert row["shape"] == list(SHAPE) and row["reduction_ratio"] == RATIO
        assert not row["wrong"] and row["worst_rel_l2"] <= 1e-4, row["rel_l2_diff"]
        expected = {"floor", "numpy", "dropin", "eager"}
        if native:
            expected.add("c")
            assert row["isa"]["c"] == results["machine"]["scse_cpu_isa"]
            if row["isa"]["c"] != "baseline":  # a CPU with a stronger variant runs both
                expected.add("c_baseline")
                assert row["isa"]["c_baseline"] == "baseline"
        if ort and row["pass"] == "fwd":
            expected.add("ort")
        assert expected <= set(row["median_s"]), row["median_s"].keys()
        assert "compiled" not in row["median_s"]  # not asked for
        for name, seconds in row["median_s"].items():
            assert seconds > 0, name
            assert len(row["timings"][name]["samples_s"]) == 2
        # Every implementation that ran was checked against eager.
        assert set(row["median_s"]) - {"floor", "eager"} <= set(row["rel_l2_diff"])


def test_floor_counts_activations_and_parameters(run):
    _, results = run
    x = 4 * math.prod(SHAPE)
    c, h = SHAPE[1], SHAPE[1] // RATIO
    w = 4 * (2 * h * c + h + 2 * c + 1)
    for row in results["timing"]:
        want = 2 * x + w if row["pass"] == "fwd" else 5 * x + 3 * w
        assert row["floor_bytes"] == want


def test_marginal_cost_and_memory_rows(run):
    _, results = run
    marginal = results["marginal"]
    assert sorted(r["pass"] for r in marginal) == ["fwd", "fwdbwd"]
    for row in marginal:
        assert not row["wrong"] and row["rel_l2_diff"] <= 1e-4
        assert set(row["median_s"]) == {"model_none", "model_scse", "model_ref",
                                        "alone_scse", "alone_ref"}
        assert set(row["marginal_s"]) == {"scse", "ref"}
    assert len(results["memory"]) == 1
    mem = results["memory"][0]
    assert mem["scse_extra_kib"] is not None and mem["torch_extra_kib"] is not None


def test_printed_tables(run):
    stdout, _ = run
    tables = _tables(stdout)
    headers = [t[0] for t in tables]
    times = next(t for t in tables if "floor us" in t[0])
    assert times[0][:6] == report.CONFIG_HEADER
    assert {"floor us", "NumPy us", "drop-in us", "eager us", "worst rel L2"} <= set(times[0])
    assert len(times) == 5  # header + 2 passes x 2 thread counts
    assert any("C / floor" in h or "NumPy / floor" in h for h in headers)
    assert any(h[0] == "target (issue)" for h in headers)
    assert any("2t / 1t" in h for h in headers)
    assert any("scse marginal us" in h for h in headers)
    assert any("drop-in - NumPy us" in h for h in headers)
    assert any(h == report.MEMORY_HEADER for h in headers)


def _row(pass_name, **times_us):
    return {"shape": [1, 16, 8, 8], "reduction_ratio": 2, "layout": "first", "aggregate": "sum",
            "pass": pass_name, "threads": 1, "median_s": {k: v * 1e-6 for k, v in times_us.items()}}


def test_target_checks_on_made_up_times():
    # forward: 1.5x floor + 5 us; forward+backward: 3x floor + 10 us.
    assert report.floor_target(_row("fwd", floor=10, c=20), "c") == (2.0, True)
    assert report.floor_target(_row("fwd", floor=10, c=20.5), "c")[1] is False
    assert report.floor_target(_row("fwdbwd", floor=10, c=40), "c") == (4.0, True)
    assert report.floor_target(_row("fwdbwd", floor=10, c=41), "c")[1] is False
    # drop-in forward within 1.2x + 10 us of NumPy; forward only.
    assert report.dropin_target(_row("fwd", numpy=100, dropin=130)) == (1.3, True)
    assert report.dropin_target(_row("fwd", numpy=100, dropin=131))[1] is False
    assert report.dropin_target(_row("fwdbwd", numpy=100, dropin=130)) is None
    # speed-ups
    assert report.speedup_target(_row("fwd", eager=30, numpy=10), "eager", "numpy", 3.0) == (3.0, True)
    assert report.speedup_target(_row("fwd", ort=19, numpy=10), "ort", "numpy", 2.0)[1] is False
    assert report.speedup_target(_row("fwd", numpy=10), "ort", "numpy", 2.0) is None
    table = report.ratios_table([_row("fwd", floor=10, c=20.5, numpy=12, eager=30, dropin=12)])
    cells = _tables(table)[0][1]
    assert cells[6] == "2.05x ✗" and cells[7] == "1.2x" and cells[9] == "2.5x ✗"


def test_instruction_counts_name_the_kernels():
    # bench/instructions.py: callgrind over the C driver; valgrind comes with make deps.
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "instructions.py"), "2,8,8,8/2", "--pass",
         "fwdbwd", "--calls", "2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "instructions per call" in lines[0] and "2,8,8,8/2 first sum fwdbwd" in lines[0]
    per_call = int(lines[0].split(": ")[1].split(" instructions")[0].replace(",", ""))
    assert per_call > 0
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines
            if line.startswith("| ") and "%" in line]
    assert rows, proc.stdout
    shares = [float(row[0].rstrip("%")) for row in rows]
    assert 0 < sum(shares) <= 100.5 and shares == sorted(shares, reverse=True)
    assert all(int(row[1].replace(",", "")) <= per_call for row in rows)
