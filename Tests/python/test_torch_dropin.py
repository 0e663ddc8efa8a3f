"""scse.torch as a drop-in for the ai-med reference modules.

Tolerances (errors relative to the largest magnitude of the compared
tensor; fixed seeds, so the measured values are reproducible):
* forward and every gradient vs the reference in float32 and in float64:
  1e-5 (measured at most 1.4e-6: both sides round differently ordered
  float32 sums);
* the loss trajectory of 5 SGD steps of a small CNN: 1e-5 relative per
  step, parameters after training 1e-5 of their largest magnitude.
"""

import copy
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import ecosystem_modules as em
import scse
import scse.torch as st
from scse import _native

TOL = 1e-5


def _close(ours, ref, tol=TOL, what=""):
    ours, ref = ours.detach().double(), ref.detach().double()
    assert ours.shape == ref.shape, what
    scale = max(ref.abs().max().item(), 1e-30)
    error = (ours - ref).abs().max().item()
    assert error <= tol * scale, f"{what}: max error {error:.3e} > {tol:.0e} * {scale:.3e}"


class NativeSpy:
    """Records the memory the library reads and writes, and how often it runs."""

    def __init__(self, monkeypatch):
        self.forward, self.backward = [], []
        real_forward, real_backward = _native.forward, _native.backward

        def forward(x, *args, **kwargs):
            result = real_forward(x, *args, **kwargs)
            self.forward.append((x.ctypes.data, x.strides, result.ctypes.data))
            return result

        def backward(x, grad_y, *args, **kwargs):
            result = real_backward(x, grad_y, *args, **kwargs)
            self.backward.append((x.ctypes.data, result[0].ctypes.data, result[0].strides))
            return result

        monkeypatch.setattr(_native, "forward", forward)
        monkeypatch.setattr(_native, "backward", backward)


@pytest.fixture
def spy(monkeypatch):
    return NativeSpy(monkeypatch)


# kind -> (ours, reference) constructors with the same arguments
PAIRS = {
    "cse": (lambda c: st.ChannelSELayer(c, 4), lambda c: em.AimedChannelSE(c, 4)),
    "sse": (lambda c: st.SpatialSELayer(c), lambda c: em.AimedSpatialSE(c)),
    "scse-sum": (lambda c: st.ChannelSpatialSELayer(c, 4), lambda c: em.AimedChannelSpatialSE(c, 4)),
    "scse-max": (lambda c: st.ChannelSpatialSELayer(c, 4, "max"),
                 lambda c: em.AimedChannelSpatialSE(c, 4, "max")),
    "scse-nobias": (lambda c: st.ChannelSpatialSELayer(c, 2, bias=False),
                    lambda c: em.AimedChannelSpatialSE(c, 2, bias=False)),
}


def _pair(kind, channels, seed=0):
    make_ours, make_ref = PAIRS[kind]
    torch.manual_seed(seed)
    ours = make_ours(channels)
    torch.manual_seed(seed)
    ref = make_ref(channels)
    return ours, ref


def _channels_last(x):
    if x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    if x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def test_import_scse_does_not_import_torch():
    code = "import sys, scse; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_same_seed_gives_the_reference_parameters_and_keys(kind):
    ours, ref = _pair(kind, 12, seed=7)
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert list(ours_sd) == list(ref_sd)
    for key in ref_sd:
        assert ours_sd[key].shape == ref_sd[key].shape, key
        assert torch.equal(ours_sd[key], ref_sd[key]), key


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_state_dicts_load_both_ways(kind):
    ours, ref = _pair(kind, 10, seed=1)
    other_ours, other_ref = _pair(kind, 10, seed=2)
    other_ours.load_state_dict(ref.state_dict(), strict=True)
    other_ref.load_state_dict(ours.state_dict(), strict=True)
    for key, value in ref.state_dict().items():
        assert torch.equal(other_ours.state_dict()[key], value)
    for key, value in ours.state_dict().items():
        assert torch.equal(other_ref.state_dict()[key], value)


def test_expected_keys_and_shapes():
    sd = st.ChannelSpatialSELayer(16, 4).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "cSE.fc1.weight": (4, 16), "cSE.fc1.bias": (4,), "cSE.fc2.weight": (16, 4),
        "cSE.fc2.bias": (16,), "sSE.conv.weight": (1, 16, 1, 1), "sSE.conv.bias": (1,)}
    assert st.ChannelSELayer(64, hidden=8).fc1.weight.shape == (8, 64)
    assert st.ChannelSpatialSELayer(64, hidden=0).cSE.fc2.weight.shape == (64, 0)


def _forward_backward(module, x, grad_y, weights=None):
    x = x.clone().requires_grad_()
    y = module(x) if weights is None else module(x, weights)
    y.backward(grad_y)
    grads = {"y": y.detach(), "grad_input": x.grad}
    grads.update({name: p.grad for name, p in module.named_parameters()})
    module.zero_grad(set_to_none=True)
    return grads, x, y


@pytest.mark.parametrize("kind", sorted(PAIRS))
@pytest.mark.parametrize("shape", [(3, 24, 40), (2, 32, 9, 11), (2, 16, 4, 5, 6)],
                         ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_forward_and_gradients_match_the_reference(kind, shape, channels_last, spy):
    ours, ref = _pair(kind, shape[1])
    ref64 = copy.deepcopy(ref).double()
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(shape, generator=gen)
    grad_y = torch.randn(shape, generator=gen)
    if channels_last:
        x, grad_y = _channels_last(x), _channels_last(grad_y)
    assert ours.uses_native(x)
    got, _, _ = _forward_backward(ours, x, grad_y)
    want32, _, _ = _forward_backward(ref, x, grad_y)
    want64, _, _ = _forward_backward(ref64, x.double(), grad_y.double())
    assert got.keys() == want32.keys()
    for name in got:
        _close(got[name], want32[name], what=f"{name} vs float32 reference")
        _close(got[name], want64[name], what=f"{name} vs float64 reference")
    assert len(spy.forward) == 1 and len(spy.backward) == 1


def test_reference_passes_float64_gradcheck():
    # Validates the reference the gradients above are compared with.
    torch.manual_seed(0)
    ref = em.AimedChannelSpatialSE(6, 2).double()
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ref, (x,))


def test_float64_falls_back_to_torch_and_passes_gradcheck(spy):
    torch.manual_seed(0)
    for module in (st.ChannelSpatialSELayer(6, 2).double(), st.ChannelSpatialSELayer(6, 2, "max").double(),
                   st.ChannelSELayer(6, 3).double(), st.SpatialSELayer(6).double()):
        x = torch.randn(2, 6, 3, 4, dtype=torch.float64, requires_grad=True)
        assert not module.uses_native(x)
        assert torch.autograd.gradcheck(module, (x,))
        params = tuple(module.parameters())
        assert torch.autograd.gradcheck(lambda *p: torch.func.functional_call(
            module, dict(zip([n for n, _ in module.named_parameters()], p)), (x,)), params)
    assert spy.forward == [] and spy.backward == []


@pytest.mark.parametrize("shape,memory_format", [
    ((2, 16, 6, 7), torch.channels_last),
    ((2, 16, 3, 4, 5), torch.channels_last_3d),
    ((2, 16, 30), None),
])
def test_channels_last_runs_in_place_without_copies(shape, memory_format, spy):
    torch.manual_seed(0)
    module = st.ChannelSpatialSELayer(16, 4)
    base = torch.randn(shape)
    x = _channels_last(base)
    if memory_format is not None:
        assert x.is_contiguous(memory_format=memory_format)
    assert not x.is_contiguous()
    x.requires_grad_()
    y = module(x)
    assert y.stride() == x.stride()
    (x_ptr, x_strides, out_ptr), = spy.forward
    assert x_ptr == x.data_ptr() and out_ptr == y.data_ptr()
    assert x_strides == tuple(4 * s for s in x.stride())
    y.backward(_channels_last(torch.ones(shape)))
    (bx_ptr, grad_ptr, grad_strides), = spy.backward
    assert bx_ptr == x.data_ptr()
    assert x.grad.data_ptr() == grad_ptr and x.grad.stride() == x.stride()
    # The values of the contiguous input (up to rounding: each layout has
    # its own summation order).
    _close(y, module(base))


def test_expanded_grad_output_from_a_sum_loss(spy):
    module = st.ChannelSELayer(8, 2)
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    module(x).sum().backward()  # grad_output is a stride-0 expanded tensor
    ref = em.AimedChannelSE(8, 2)
    ref.load_state_dict(module.state_dict())
    x2 = x.detach().clone().requires_grad_()
    ref(x2).sum().backward()
    _close(x.grad, x2.grad)
    assert len(spy.backward) == 1


def test_non_dense_and_meta_inputs_fall_back(spy):
    torch.manual_seed(0)
    ours, ref = _pair("scse-sum", 8)
    values = torch.randn(2, 8, 6, 12)
    grads = []
    for module in (ours, ref):
        wide = values.clone().requires_grad_()
        x = wide[..., ::2]  # a strided view, dense in no layout
        assert module is ref or not module.uses_native(x)
        y = module(x)
        y.backward(torch.ones(y.shape))
        grads.append([y, wide.grad] + [p.grad for p in module.parameters()])
    for got, want in zip(*grads):
        _close(got, want)
    meta = ours.to("meta")(torch.empty(2, 8, 5, 5, device="meta"))
    assert meta.device.type == "meta" and meta.shape == (2, 8, 5, 5)
    assert spy.forward == [] and spy.backward == []


def test_few_shot_weights_get_gradients(spy):
    torch.manual_seed(0)
    ours, ref = _pair("sse", 12)
    x = torch.randn(2, 12, 5, 6)
    grad_y = torch.randn(2, 12, 5, 6)
    weights = torch.randn(3, 12, 1, 1)
    results = []
    for module in (ours, ref):
        w = weights.clone().requires_grad_()
        got, _, _ = _forward_backward(module, x, grad_y, weights=w)
        got["weights"] = w.grad
        results.append(got)
    assert results[0]["conv.weight"] is None and results[1]["conv.weight"] is None
    for name in ("y", "grad_input", "weights"):
        _close(results[0][name], results[1][name], what=name)
    assert len(spy.forward) == 1
    with pytest.raises(ValueError, match=r"weights must have shape \(K, 12, 1, 1\)"):
        ours(x, torch.randn(3, 11, 1, 1))


def test_frozen_parameters_get_no_gradient():
    module = st.ChannelSpatialSELayer(8, 2)
    module.cSE.requires_grad_(False)
    x = torch.randn(2, 8, 4, 4, requires_grad=True)
    module(x).sum().backward()
    assert module.cSE.fc1.weight.grad is None and module.cSE.fc2.bias.grad is None
    assert module.sSE.conv.weight.grad is not None and x.grad is not None


def test_second_order_gradients_are_refused_on_the_native_path():
    module = st.ChannelSELayer(8, 2)
    x = torch.randn(2, 8, 4, 4, requires_grad=True)
    (grad,) = torch.autograd.grad(module(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|differentiate"):
        grad.sum().backward()


def test_bad_inputs_raise_clear_errors():
    module = st.ChannelSpatialSELayer(8, 2)
    with pytest.raises(ValueError, match="7 channels, the layer expects 8"):
        module(torch.randn(2, 7, 4, 4))
    with pytest.raises(ValueError, match="1 to 3 spatial"):
        module(torch.randn(2, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        module([[1.0]])
    with pytest.raises(ValueError, match="aggregate"):
        st.ChannelSpatialSELayer(8, aggregate="mean")


# --- training ----------------------------------------------------------------------


def _cnn(block):
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), block,
                         nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def _train(model, x, labels, steps=5):
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("kind", ["cse", "sse", "scse-sum", "scse-max"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_training_follows_the_reference(kind, channels_last, spy):
    ours_block, ref_block = _pair(kind, 16)
    torch.manual_seed(11)
    ours = _cnn(ours_block)
    ref = _cnn(ref_block)
    ref.load_state_dict(ours.state_dict())
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(8, 3, 12, 12, generator=gen)
    labels = torch.randint(0, 4, (8,), generator=gen)
    if channels_last:
        ours, ref = ours.to(memory_format=torch.channels_last), ref.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    ours_losses = _train(ours, x, labels)
    ref_losses = _train(ref, x, labels)

    assert len(spy.forward) == 5 and len(spy.backward) == 5  # the library did the work
    # The block saw the model's memory format (bytes between channels).
    channel_stride = 4 if channels_last else 4 * 12 * 12
    assert all(strides[1] == channel_stride for _, strides, _ in spy.forward)
    assert ref_losses[-1] < ref_losses[0]  # the run trains, so the comparison means something
    for step, (a, b) in enumerate(zip(ours_losses, ref_losses)):
        assert abs(a - b) <= TOL * abs(b), f"step {step}: loss {a} vs reference {b}"
    ref_params = ref.state_dict()
    for name, value in ours.state_dict().items():
        _close(value, ref_params[name], what=name)
