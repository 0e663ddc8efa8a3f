"""The ``torch.ops.scse`` operators: registration checks (torch.library.opcheck),
results against the reference modules, autograd, autocast, and which path the
modules take (eager native call, operator, or PyTorch operations)."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import ecosystem_modules as em
import scse
import scse.torch as st
from scse import _native

OPCHECK_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor",
                 "test_aot_dispatch_dynamic")


def _close(got, want, tol=1e-5, what=""):
    got, want = got.detach().double(), want.detach().double()
    assert got.shape == want.shape, what
    if want.numel() == 0:
        return
    scale = max(want.abs().max().item(), 1e-30)
    error = (got - want).abs().max().item()
    assert error <= tol * scale, f"{what}: max error {error:.3e} > {tol:.0e} * {scale:.3e}"


def _gates(kind, channels, hidden, bias=True, shots=1, gen=None):
    """Flat (w1, b1, w2, b2, sw, sb) for a block kind."""
    def rand(*shape):
        return torch.randn(*shape, generator=gen)

    channel = (rand(hidden, channels), rand(hidden) if bias else None,
               rand(channels, hidden), rand(channels) if bias else None)
    spatial = (rand(shots, channels, 1, 1), rand(1) if bias and shots == 1 else None)
    if kind == "cse":
        return channel + (None, None)
    if kind == "sse":
        return (None,) * 4 + spatial
    return channel + spatial


# (kind, shape, hidden, bias, shots, aggregate, layout)
CASES = [
    ("cse", (2, 8, 5, 6), 4, True, 1, 0, "contiguous"),
    ("cse", (2, 8, 7), 0, True, 1, 0, "contiguous"),
    ("sse", (2, 8, 5, 6), 0, True, 1, 0, "channels_last"),
    ("sse", (2, 8, 3, 4, 5), 0, False, 3, 0, "contiguous"),  # few-shot weights
    ("scse", (2, 8, 5, 6), 2, True, 1, 0, "channels_last"),
    ("scse", (3, 8, 4, 5, 3), 4, False, 1, 1, "channels_last"),
    ("scse", (1, 16, 9), 4, True, 1, 1, "contiguous"),
]
IDS = [f"{c[0]}-{len(c[1]) - 2}d-h{c[2]}-{'bias' if c[3] else 'nobias'}-k{c[4]}-agg{c[5]}-{c[6]}"
       for c in CASES]


def _to_layout(t, layout):
    if layout == "contiguous":
        return t.contiguous()
    order = [0] + list(range(2, t.dim())) + [1]
    inverse = [order.index(axis) for axis in range(t.dim())]
    return t.permute(order).contiguous().permute(inverse)


def _case(case, requires_grad=False, seed=0):
    kind, shape, hidden, bias, shots, aggregate, layout = case
    gen = torch.Generator().manual_seed(seed)
    x = _to_layout(torch.randn(shape, generator=gen), layout)
    params = _gates(kind, shape[1], hidden, bias, shots, gen)
    if requires_grad:
        x.requires_grad_()
        params = tuple(None if p is None else p.requires_grad_() for p in params)
    return x, params, aggregate


def _reference(x, params, aggregate):
    """The ai-med reference modules with these parameters."""
    w1, b1, w2, b2, sw, sb = params
    channels = x.shape[1]
    branches = []
    if w1 is not None:
        squeezed = x.mean(dim=tuple(range(2, x.dim())))
        gate = torch.sigmoid(torch.nn.functional.linear(
            torch.relu(torch.nn.functional.linear(squeezed, w1, b1)), w2, b2))
        branches.append(x * gate.view(x.shape[0], channels, *(1,) * (x.dim() - 2)))
    if sw is not None:
        weight = sw.reshape(sw.shape[0], channels).mean(0)
        logits = torch.einsum("c,nc...->n...", weight, x).unsqueeze(1)
        if sb is not None:
            logits = logits + sb
        branches.append(x * torch.sigmoid(logits))
    if len(branches) == 1:
        return branches[0]
    return torch.max(*branches) if aggregate == 1 else branches[0] + branches[1]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_opcheck_forward(case):
    x, params, aggregate = _case(case, requires_grad=True)
    torch.library.opcheck(torch.ops.scse.forward.default, (x, *params, aggregate),
                          test_utils=OPCHECK_UTILS)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_opcheck_backward(case):
    x, params, aggregate = _case(case)
    grad_y = _to_layout(torch.randn(x.shape), case[6])
    torch.library.opcheck(torch.ops.scse.backward.default, (grad_y, x, *params, aggregate),
                          test_utils=OPCHECK_UTILS)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_operators_match_the_reference(case):
    x, params, aggregate = _case(case, requires_grad=True)
    y = torch.ops.scse.forward(x, *params, aggregate)
    assert y.stride() == x.stride()
    grad_y = torch.randn(x.shape)
    leaves = [x] + [p for p in params if p is not None]
    got = torch.autograd.grad(y, leaves, grad_y)
    want_y = _reference(x, params, aggregate)
    want = torch.autograd.grad(want_y, leaves, grad_y)
    _close(y, want_y, what="y")
    for index, (g, w) in enumerate(zip(got, want)):
        _close(g, w, what=f"gradient {index}")
    assert got[0].stride() == x.stride()
    # The backward operator directly: 0-element tensors for absent parameters.
    grads = torch.ops.scse.backward(grad_y, x, *params, aggregate)
    for grad, p in zip(grads[1:], params):
        assert grad.shape == (torch.Size([0]) if p is None else p.shape)


def test_autograd_graph_calls_the_backward_operator():
    x, params, aggregate = _case(CASES[4], requires_grad=True)
    y = torch.ops.scse.forward(x, *params, aggregate)
    assert "scse_forward" in type(y.grad_fn).__name__
    (grad,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="cannot be differentiated"):
        grad.sum().backward()


def test_fake_kernel_gives_shapes_and_strides():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x = torch.empty(2, 8, 5, 6).contiguous(memory_format=torch.channels_last)
        params = _gates("scse", 8, 2)
        y = torch.ops.scse.forward(x, *params, 1)
        grads = torch.ops.scse.backward(y, x, *params, 1)
    assert y.shape == x.shape and y.stride() == x.stride()
    assert grads[0].stride() == x.stride()
    assert [g.shape for g in grads[1:]] == [p.shape for p in params]


def test_kernel_refuses_other_dtypes_and_missing_gates():
    x = torch.randn(2, 8, 4, 4, dtype=torch.float64)
    params = _gates("cse", 8, 4)
    with pytest.raises(TypeError, match="float32"):
        torch.ops.scse.forward(x, *(p.double() for p in params[:4]), None, None, 0)
    with pytest.raises(ValueError, match="at least one gate"):
        torch.ops.scse.forward(x.float(), *(None,) * 6, 0)
    with pytest.raises(ValueError, match="together"):
        torch.ops.scse.forward(x.float(), params[0], None, None, None, None, None, 0)


def test_non_dense_input_to_the_operator():
    x, params, aggregate = _case(CASES[4])
    wide = torch.randn(2, 8, 5, 12)
    view = wide[..., ::2]
    y = torch.ops.scse.forward(view, *params, aggregate)
    assert y.stride() == torch.empty_like(view, memory_format=torch.preserve_format).stride()
    _close(y, _reference(view, params, aggregate))


def _module_and_reference():
    """An scSE module and the ai-med reference with its parameters."""
    torch.manual_seed(0)
    module = st.ChannelSpatialSELayer(8, 2)
    ref = em.AimedChannelSpatialSE(8, 2)
    ref.load_state_dict(module.state_dict())
    return module, ref


def test_cpu_autocast_computes_in_float32():
    module, ref = _module_and_reference()
    x = torch.randn(2, 8, 5, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert module.uses_native(x.bfloat16())
        y = module(x.bfloat16())
    assert y.dtype == torch.float32
    _close(y, ref(x.bfloat16().float()))


class _OpLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_paths_by_situation(monkeypatch):
    calls = []
    real = _native.forward

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_native, "forward", spy)
    torch.manual_seed(0)
    module = st.ChannelSpatialSELayer(8, 2)
    x = torch.randn(2, 8, 5, 6)
    with torch.no_grad(), _OpLog() as log:  # observed: the operator runs
        y_mode = module(x)
    assert log.ops == ["scse.forward.default"] and len(calls) == 1
    with torch.no_grad():  # unobserved: libscse directly, no operator
        y_eager = module(x)
    assert len(calls) == 2
    assert torch.equal(y_mode, y_eager)
    y_grad = module(x)  # parameters require grad: libscse through autograd.Function
    assert type(y_grad.grad_fn).__name__ == "_NativeBlockBackward" and len(calls) == 3
    assert torch.equal(y_grad.detach(), y_eager)
    with _OpLog() as log:  # observed with gradients: the operator, with its autograd
        y_op = module(x)
    assert log.ops == ["scse.forward.default"] and len(calls) == 4
    assert "scse_forward" in type(y_op.grad_fn).__name__
    y_op.sum().backward()
    assert module.cSE.fc1.weight.grad is not None
    # PyTorch operations for float64; libscse is not called.
    y64 = module.double()(x.double())
    assert len(calls) == 4
    _close(y64, y_eager)


def test_parameter_changes_reach_the_eager_path():
    torch.manual_seed(0)
    module = st.ChannelSpatialSELayer(8, 2)
    x = torch.randn(2, 8, 5, 6)
    with torch.no_grad():
        first = module(x)
        module.cSE.fc1.weight.mul_(2)  # in place
        second = module(x)
        module.sSE.conv.weight.data = torch.randn(1, 8, 1, 1)  # new memory
        third = module(x)
        module.cSE.fc2.bias = torch.nn.Parameter(torch.randn(8))  # new tensor
        fourth = module(x)
        ref = em.AimedChannelSpatialSE(8, 2)
        ref.load_state_dict(module.state_dict())
        want = ref(x)
    assert not torch.equal(first, second) and not torch.equal(second, third)
    assert not torch.equal(third, fourth)
    _close(fourth, want)


def test_large_outputs_use_huge_page_aligned_memory():
    module = st.ChannelSELayer(64, 16)
    x = torch.randn(2, 64, 128, 128)  # 8 MiB
    with torch.no_grad():
        y = module(x)
    assert y.data_ptr() % (2 << 20) == 0
    y_small = module(torch.randn(1, 64, 4, 4))
    assert y_small.shape == (1, 64, 4, 4)


def test_large_outputs_are_recycled_only_when_unreferenced():
    from scse import _torch_ops

    module = st.ChannelSELayer(64, 16)
    x = torch.randn(2, 64, 128, 128)  # 8 MiB
    with torch.no_grad():
        first = module(x)
        address = first.data_ptr()
        kept = first[0]  # a view keeps the memory in use
        del first
        second = module(x)
        assert second.data_ptr() != address
        assert torch.equal(kept, module(x)[0])
        del kept
        third = module(x)  # the first buffer is free now
        assert third.data_ptr() == address
        alias = third.numpy()  # a NumPy view of the tensor
        del third
        fourth = module(x)
        assert fourth.data_ptr() != address
        assert alias.ctypes.data == address
    assert sum(b.nbytes for b in _torch_ops._pool) <= _torch_ops.OUTPUT_POOL_BYTES


def test_copies_and_pickles_leave_the_parameter_cache_behind():
    import copy
    import pickle

    torch.manual_seed(0)
    module = st.ChannelSpatialSELayer(8, 2)
    x = torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        module(x)
        assert "_scse_gates" in module.__dict__
        for clone in (copy.deepcopy(module), pickle.loads(pickle.dumps(module))):
            assert "_scse_gates" not in clone.__dict__
            clone.cSE.fc1.weight.mul_(3)  # the copy has its own parameters
            assert not torch.equal(clone(x), module(x))
            clone.cSE.fc1.weight.div_(3)
            _close(clone(x), module(x))
        scripted = torch.jit.script(module)
        _close(scripted(x), module(x))


def test_torch_func_transforms_run_pytorch_operations():
    module, ref = _module_and_reference()
    x = torch.randn(3, 8, 4, 5)
    grad = torch.func.grad(lambda t: module(t).square().sum())(x)
    want = torch.func.grad(lambda t: ref(t).square().sum())(x)
    _close(grad, want)
    batched = torch.func.vmap(module)(x.unsqueeze(1))
    _close(batched.squeeze(1), ref(x))


@pytest.mark.parametrize("reentrant", [False, True])
def test_activation_checkpointing(reentrant):
    from torch.utils.checkpoint import checkpoint

    torch.manual_seed(0)
    module = st.ChannelSpatialSELayer(8, 2, "max")
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    got = checkpoint(module, x, use_reentrant=reentrant)
    got.square().sum().backward()
    got_grads = [x.grad.clone()] + [p.grad.clone() for p in module.parameters()]
    x.grad = None
    module.zero_grad()
    module(x).square().sum().backward()
    want = [x.grad] + [p.grad for p in module.parameters()]
    for g, w in zip(got_grads, want):
        _close(g, w)
