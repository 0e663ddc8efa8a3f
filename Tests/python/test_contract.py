"""The package's shared facts live in scse/_contract.py and agree with the C
header; the modules import each other without cycles; errors name the
arguments as the caller spelled them."""

import ast
import os

import numpy as np
import pytest

import scse
from scse import _contract, _native

PACKAGE = os.path.dirname(scse.__file__)


def test_aggregate_codes_are_the_headers():
    assert _contract.AGGREGATES == {"sum": _native.AGGREGATE_SUM, "max": _native.AGGREGATE_MAX}


def test_the_binding_enforces_the_contracts_rank_rule():
    assert (_native.MIN_SPATIAL_DIMS, _native.MAX_SPATIAL_DIMS) == (
        _contract.MIN_SPATIAL_DIMS, _contract.MAX_SPATIAL_DIMS)


def _package_imports():
    """{module: set of package modules it imports} from the installed sources."""
    graph = {}
    for name in os.listdir(PACKAGE):
        if not name.endswith(".py"):
            continue
        module = name[:-3]
        with open(os.path.join(PACKAGE, name), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scse"):
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("scse."):
                        found.add(alias.name.split(".")[1])
        graph[module] = found - {module}
    return graph


def test_contract_imports_nothing_of_the_package_and_there_is_no_cycle():
    graph = _package_imports()
    assert {"_contract", "_layers", "_weights", "torch", "_reference_torch"} <= set(graph)
    assert graph["_contract"] == set()
    assert "_layers" not in graph["_weights"]

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = [m for m in graph if m in reach(m)]
    assert cycles == [], f"import cycle through {cycles}"


def test_the_installed_package_has_no_bench_launcher():
    # The benchmark lives in bench/ of the source tree (make bench); nothing in
    # the wheel looks for files outside the package.
    assert not os.path.exists(os.path.join(PACKAGE, "_bench.py"))
    for name in os.listdir(PACKAGE):
        if name.endswith(".py"):
            with open(os.path.join(PACKAGE, name), encoding="utf-8") as f:
                assert "bench/run.py" not in f.read(), name


def test_the_rank_rule_is_one_function():
    assert [n for n in range(8) if _contract.supported_rank(n)] == [3, 4, 5]
    with pytest.raises(ValueError, match=r"y must have shape \(N, C, \*spatial\) with 1 to 3"):
        _contract.check_input_shape((2, 3), 3, "y")
    with pytest.raises(ValueError, match="y has 4 channels, the layer expects 3"):
        _contract.check_input_shape((2, 4, 5), 3, "y")


@pytest.mark.parametrize("bad, message", [
    (lambda gy: gy[:, :, ::-1], r"grad_output must be dense"),
    (lambda gy: gy.astype(np.float64), r"grad_output must have dtype float32"),
    (lambda gy: gy[:1], r"grad_output must have the shape of x"),
    (lambda gy: gy.tolist(), r"grad_output must be a numpy.ndarray"),
])
def test_backward_errors_name_grad_output(bad, message):
    layer = scse.ChannelSpatialSELayer(4, 2, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 5), dtype=np.float32)
    gy = np.ones_like(x)
    with pytest.raises((TypeError, ValueError), match=message):
        layer.backward(x, grad_output=bad(gy))
