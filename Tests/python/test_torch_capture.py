"""Every PyTorch capture path keeps the scse operator (or refuses loudly):
torch.compile (aot_eager and inductor, fullgraph, dynamic batch; forward and
backward graphs), torch.export, both ONNX exporters (standard ONNX operators,
run in onnxruntime on new inputs) and TorchScript (script and trace, saved and
loaded in a fresh interpreter)."""

import collections
import io
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import scse.torch as st
from optional_packages import require

HERE = os.path.dirname(os.path.abspath(__file__))
FORWARD = "torch.ops.scse.forward.default"
BACKWARD = "torch.ops.scse.backward.default"
# The ONNX operators the export may write (the block's math and its reshapes).
STANDARD_ONNX = {"GlobalAveragePool", "ReduceMean", "Flatten", "Gemm", "MatMul", "Relu",
                 "Sigmoid", "Conv", "Mul", "Add", "Max", "Reshape", "Shape", "Constant"}


def _close(got, want, tol=1e-5, what=""):
    got, want = torch.as_tensor(got).detach().double(), want.detach().double()
    assert got.shape == want.shape, what
    scale = max(want.abs().max().item(), 1e-30)
    error = (got - want).abs().max().item()
    assert error <= tol * scale, f"{what}: max error {error:.3e} > {tol:.0e} * {scale:.3e}"


class FewShot(nn.Module):
    """sSE with few-shot conditioner weights held as a parameter."""

    def __init__(self, channels):
        super().__init__()
        self.block = st.SpatialSELayer(channels)
        self.shots = nn.Parameter(torch.randn(3, channels, 1, 1))

    def forward(self, x):
        return self.block(x, self.shots)


BLOCKS = {
    "cse": lambda: st.ChannelSELayer(8, 2),
    "cse-nobias": lambda: st.ChannelSELayer(8, 4, bias=False),
    "sse": lambda: st.SpatialSELayer(8),
    "sse-few-shot": lambda: FewShot(8),
    "scse-sum": lambda: st.ChannelSpatialSELayer(8, 2),
    "scse-max": lambda: st.ChannelSpatialSELayer(8, 2, "max"),
}


def _model(kind="scse-max", seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), BLOCKS[kind](), nn.Conv2d(8, 4, 1))


def _inputs(batch, seed):
    return torch.randn(batch, 3, 6, 7, generator=torch.Generator().manual_seed(seed))


def _grads(model, x):
    x = x.clone().requires_grad_()
    y = model(x)
    y.backward(torch.ones_like(y))
    grads = [x.grad] + [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return y.detach(), grads


# --- torch.compile -------------------------------------------------------------------


def _graph_recorder():
    from torch._dynamo.backends.common import aot_autograd
    from functorch.compile import make_boxed_func

    graphs = {"forward": [], "backward": []}

    def recorder(kind):
        def compiler(gm, example_inputs):
            graphs[kind].append(gm.code)
            return make_boxed_func(gm.forward)
        return compiler

    return aot_autograd(fw_compiler=recorder("forward"), bw_compiler=recorder("backward")), graphs


def test_compile_aot_graphs_call_the_operators_forward_and_backward():
    torch._dynamo.reset()
    model = _model()
    backend, graphs = _graph_recorder()
    compiled = torch.compile(model, backend=backend, fullgraph=True, dynamic=True)
    for batch, seed in ((2, 1), (5, 2)):  # a second batch size: the same dynamic graph
        x = _inputs(batch, seed)
        got_y, got = _grads(compiled, x)
        want_y, want = _grads(model, x)
        _close(got_y, want_y, what="y")
        for index, (g, w) in enumerate(zip(got, want)):
            _close(g, w, what=f"gradient {index}")
    assert len(graphs["forward"]) == 1 and len(graphs["backward"]) == 1
    assert FORWARD in graphs["forward"][0] and BACKWARD not in graphs["forward"][0]
    assert BACKWARD in graphs["backward"][0]
    # No PyTorch rewrite of the block: the gates' sigmoid is not in the graphs.
    assert "sigmoid" not in graphs["forward"][0] + graphs["backward"][0]


def test_compile_inductor_calls_the_operators():
    from torch._inductor.utils import run_and_get_code

    torch._dynamo.reset()
    torch.manual_seed(0)
    block = st.ChannelSpatialSELayer(8, 2)
    compiled = torch.compile(block, backend="inductor", fullgraph=True, dynamic=True)
    x = torch.randn(2, 8, 5, 6, requires_grad=True)

    def step():
        y = compiled(x)
        y.sum().backward()
        return y

    y, code = run_and_get_code(step)
    source = "\n".join(code)
    assert "torch.ops.scse.forward.default" in source
    assert "torch.ops.scse.backward.default" in source
    want = block(x)
    _close(y, want)
    x2 = torch.randn(3, 8, 5, 6)
    with torch.no_grad():
        _close(compiled(x2), block(x2))


# --- torch.export -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_export_keeps_the_operator_and_runs_new_inputs(kind):
    model = _model(kind).eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (_inputs(2, 1),), dynamic_shapes=({0: batch},))
    targets = [str(node.target) for node in program.graph.nodes if node.op == "call_function"]
    assert "scse.forward.default" in targets
    assert not any("sigmoid" in t for t in targets)
    x = _inputs(5, 2)
    with torch.no_grad():
        _close(program.module()(x), model(x))


# --- ONNX ----------------------------------------------------------------------------------


def _onnx_runs(model_proto, model, x):
    onnxruntime = require("onnxruntime")
    ops = collections.Counter(node.op_type for node in model_proto.graph.node)
    assert set(ops) <= STANDARD_ONNX, f"unexpected ONNX operators {set(ops) - STANDARD_ONNX}"
    assert ops["Sigmoid"] >= 1 and ops["Mul"] >= 1  # the block's math is in the graph
    session = onnxruntime.InferenceSession(model_proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    (result,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        _close(torch.from_numpy(result), model(x), tol=1e-5)
    return ops


@pytest.mark.parametrize("kind", sorted(BLOCKS))
def test_onnx_legacy_exporter_writes_standard_operators(kind):
    onnx = require("onnx")
    model = BLOCKS[kind]().eval()
    buffer = io.BytesIO()
    torch.onnx.export(model, (torch.randn(2, 8, 5, 6),), buffer, dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    proto = onnx.load_from_string(buffer.getvalue())
    ops = _onnx_runs(proto, model, torch.randn(4, 8, 5, 6))  # a new batch size and values
    assert ops["Max" if kind == "scse-max" else "Add"] == (1 if kind.startswith("scse") else 0)


@pytest.mark.parametrize("kind", ["cse", "sse-few-shot", "scse-max", "scse-sum"])
def test_onnx_dynamo_exporter_writes_standard_operators(kind):
    require("onnxscript")
    model = BLOCKS[kind]().eval()
    program = torch.onnx.export(model, (torch.randn(2, 8, 5, 6),), dynamo=True,
                                custom_translation_table=st.onnx_translation_table(),
                                dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    _onnx_runs(program.model_proto, model, torch.randn(4, 8, 5, 6))


def test_onnx_dynamo_exporter_without_the_table_refuses():
    require("onnxscript")
    model = st.ChannelSpatialSELayer(8, 2).eval()
    with pytest.raises(Exception, match="scse"):
        torch.onnx.export(model, (torch.randn(2, 8, 5, 6),), dynamo=True, verbose=False)


# --- TorchScript -----------------------------------------------------------------------------

_LOAD_SCRIPT = """
import sys, torch
import scse.torch  # registers torch.ops.scse
model = torch.jit.load(sys.argv[1])
data = torch.load(sys.argv[2])
torch.set_num_threads(1)  # as in the test process: the same convolution sums
with torch.no_grad():
    y = model(data["x"])
torch.testing.assert_close(y, data["y"], rtol=1e-5, atol=1e-6)
print("loaded and equal")
"""


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_saves_and_loads_in_a_fresh_interpreter(how, tmp_path):
    model = _model("scse-max").eval()
    model[1] = st.ChannelSpatialSELayer(8, 2, "max")
    example = _inputs(2, 1)
    scripted = torch.jit.script(model) if how == "script" else torch.jit.trace(model, (example,))
    assert "scse::forward" in str(scripted.inlined_graph)
    x = _inputs(3, 2)
    with torch.no_grad():
        want = model(x)
        _close(scripted(x), want)
    path = tmp_path / "model.pt"
    torch.jit.save(scripted, str(path))
    with torch.no_grad():
        torch.save({"x": x, "y": scripted(x)}, tmp_path / "data.pt")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, str(path), str(tmp_path / "data.pt")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "loaded and equal" in done.stdout


@pytest.mark.parametrize("kind", ["cse", "sse", "sse-few-shot", "scse-sum"])
def test_torchscript_script_of_each_block(kind):
    block = BLOCKS[kind]().eval()
    scripted = torch.jit.script(block)
    x = torch.randn(2, 8, 5, 6)
    with torch.no_grad():
        _close(scripted(x), block(x))
