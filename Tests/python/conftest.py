"""Parity tests of the scse Python package against PyTorch.

Without torch the parity tests are skipped (with the reason shown), except
under CI (CI=true or CI=1), where a missing torch fails the run: a CI run
must never report parity it did not check.
"""

import ast
import functools
import json
import os
import sys
from collections import defaultdict

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from optional_packages import declare_unloadable_torchvision_ops, in_ci  # noqa: E402

try:
    import torch
except ImportError as error:  # pragma: no cover - depends on the environment
    torch = None
    TORCH_IMPORT_ERROR = error
    TORCHVISION_NOTE = None
else:
    TORCH_IMPORT_ERROR = None
    # One thread: the problems are small or medium, and on a loaded machine
    # PyTorch's OpenMP threads spin against each other (30x slowdowns seen).
    torch.set_num_threads(1)
    TORCHVISION_NOTE = declare_unloadable_torchvision_ops()


TORCH_MISSING_REASON = (
    "PyTorch is not installed, so nothing is compared against it "
    f"({TORCH_IMPORT_ERROR}); install torch (e.g. pip install torch) to run the parity tests")


def pytest_configure(config):
    if torch is None and in_ci():
        pytest.exit(f"CI run without PyTorch: {TORCH_MISSING_REASON}", returncode=3)


def _top_level_imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


@functools.lru_cache(maxsize=None)
def _needs_torch(path, visiting=frozenset()):
    """Whether importing this file imports torch, directly or through the
    helper modules next to it."""
    for name in _top_level_imports(path):
        if name.split(".")[0] == "torch" or name == "scse.torch":
            return True
        sibling = path.parent / (name.split(".")[0] + ".py")
        if (sibling not in visiting and sibling != path and sibling.exists()
                and _needs_torch(sibling, visiting | {path})):
            return True
    return False


class _SkippedForMissingTorch(pytest.Module):
    def collect(self):
        pytest.skip(TORCH_MISSING_REASON)


def pytest_pycollect_makemodule(module_path, parent):
    # Without torch a module that imports it cannot even be collected; it is
    # reported as skipped instead. Tests that do not need torch still run.
    if torch is None and _needs_torch(module_path):
        return _SkippedForMissingTorch.from_parent(parent, path=module_path)
    return None


def pytest_report_header(config):
    if torch is None:
        return f"scse parity: PyTorch MISSING, parity tests skipped ({TORCH_IMPORT_ERROR})"
    header = [f"scse parity: torch {torch.__version__}, {torch.get_num_threads()} torch threads"]
    if TORCHVISION_NOTE:
        header.append(f"scse parity: {TORCHVISION_NOTE}")
    return header


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = len(terminalreporter.stats.get("skipped", []))
    if skipped:
        terminalreporter.write_line(
            f"scse parity: {skipped} test(s) SKIPPED; skipped tests checked nothing", red=True)
    if torch is None:
        return
    from parity_check import RECORDS

    if not RECORDS:
        return
    summary = summarise(RECORDS)
    terminalreporter.section("scse vs PyTorch: worst measured errors")
    terminalreporter.write_line(
        "max mode: max abs error / max|float64|; norm mode: relative L2 error. noise: PyTorch\n"
        "float32's own error over several summation orders (parity_check.py). ratio: worst\n"
        "ours-f64 / noise where noise > 8 eps. bound: worst share of the accuracy bound used\n"
        "(4 * noise + 8 eps, or max(1e-3, 4 * noise) in norm mode); must be <= 1")
    terminalreporter.write_line(
        f"{'tensor group':<24}{'mode':<6}{'checks':>7}{'ours-t32':>10}{'ours-f64':>10}"
        f"{'t32-f64':>10}{'noise':>10}{'ratio':>7}{'bound':>7}")
    for row in summary:
        terminalreporter.write_line(
            f"{row['group']:<24}{row['mode']:<6}{row['checks']:>7}{row['ours_vs_t32']:>10.2e}"
            f"{row['ours_vs_f64']:>10.2e}{row['t32_vs_f64']:>10.2e}{row['pytorch_noise']:>10.2e}"
            f"{row['worst_ratio']:>7.2f}{row['worst_bound_use']:>7.2f}")
    path = os.environ.get("SCSE_PARITY_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"summary": summary, "records": [r.__dict__ for r in RECORDS]}, f, indent=1)
        terminalreporter.write_line(f"scse parity: measurements written to {path}")


def _group(record):
    if record.tensor in ("y", "grad_input", "weights"):
        name = {"y": "forward y", "grad_input": "grad_input", "weights": "grad few-shot weights"}
        return name[record.tensor]
    kind = "biases" if record.tensor.endswith("bias") else "weights"
    return f"grad parameter {kind}"


def summarise(records):
    """Per tensor group: worst errors, the worst ratio of our error vs
    float64 to PyTorch's float32 noise, and the worst share of the accuracy
    bound used."""
    from parity_check import EPS32, F64_SLACK_ULPS, accuracy_bound

    groups = defaultdict(list)
    for r in records:
        groups[(_group(r), r.mode)].append(r)
    rows = []
    for (group, mode), rs in sorted(groups.items()):
        ratios = [r.ours_vs_f64 / r.pytorch_noise for r in rs
                  if r.pytorch_noise > F64_SLACK_ULPS * EPS32]
        bound_use = [r.ours_vs_f64 / accuracy_bound(r) for r in rs]
        rows.append({
            "group": group,
            "mode": mode,
            "checks": len(rs),
            "ours_vs_t32": max(r.ours_vs_t32 for r in rs),
            "ours_vs_f64": max(r.ours_vs_f64 for r in rs),
            "t32_vs_f64": max(r.t32_vs_f64 for r in rs),
            "pytorch_noise": max(r.pytorch_noise for r in rs),
            "worst_ratio": max(ratios, default=0.0),
            "worst_bound_use": max(bound_use),
        })
    return rows
