"""scse.torch picks the computation that gives the reference's result in
cases the eager native path cannot serve: parameters whose view changed at
the same address, forward-mode AD, tensor-subclass parameters, hooked or
parametrized submodules, TorchScript with other dtypes; ``uses_native``
agrees with forward; recycled output buffers are never handed out while
anything still reads them."""

import os

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn as nn
from torch.nn.utils import parametrize, prune

import ecosystem_modules as em
import scse.torch as st
from scse import _reference_torch, _torch_ops

TOL = 1e-5


def _close(ours, ref, what=""):
    ours, ref = ours.detach().double(), ref.detach().double()
    assert ours.shape == ref.shape, what
    error = (ours - ref).abs().max().item()
    assert error <= TOL * max(ref.abs().max().item(), 1e-30), f"{what}: max error {error:.3e}"


def _pair(make_ours, make_ref, seed=0):
    torch.manual_seed(seed)
    ours = make_ours()
    torch.manual_seed(seed)
    return ours, make_ref()


def _channel_reference(m, x):
    return _reference_torch.forward(x, m.fc1.weight.shape[0], 0, m.fc1.weight, m.fc1.bias,
                                    m.fc2.weight, m.fc2.bias, None, None)


# --- 1. the parameter-view cache --------------------------------------------------


def test_cache_notices_a_new_view_at_the_same_address():
    m = st.ChannelSELayer(4, 2).requires_grad_(False)
    x = torch.randn(2, 4, 5, 5)
    base = torch.randn(4, 2)
    for view in (base.t(), base.view(2, 4)):  # same address, other strides
        m.fc1.weight.data = view
        assert m.fc1.weight.data_ptr() == base.data_ptr()
        _close(m(x), _channel_reference(m, x), "fc1.weight.data = a view")


@pytest.mark.parametrize("change", ["t_", "as_strided_"])
def test_cache_notices_in_place_metadata_changes(change):
    m = st.ChannelSELayer(4, 1).requires_grad_(False)
    x = torch.randn(2, 4, 3, 3)
    m(x)
    w = m.fc1.weight
    if change == "t_":
        w.t_()
    else:
        w.as_strided_((4, 4), (1, 4))
    assert not w.is_contiguous()
    _close(m(x), _channel_reference(m, x), change)


# --- 2. forward-mode AD -----------------------------------------------------------


def test_forward_mode_ad_keeps_the_tangent():
    ours, ref = _pair(lambda: st.ChannelSpatialSELayer(8, 4), lambda: em.AimedChannelSpatialSE(8, 4))
    x, t = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 5, 5)
    _, expected = torch.func.jvp(ref, (x,), (t,))
    with fwAD.dual_level():
        y = ours(fwAD.make_dual(x, t))
        assert not ours.uses_native(x)
        tangent = fwAD.unpack_dual(y).tangent
    assert tangent is not None
    _close(tangent, expected, "tangent")


# --- 3. tensor-subclass parameters ------------------------------------------------


def test_tensor_subclass_parameters_use_pytorch_operations():
    from torch.testing._internal.two_tensor import TwoTensor

    ours, ref = _pair(lambda: st.ChannelSELayer(8, 4), lambda: em.AimedChannelSE(8, 4))
    for m in (ours, ref):
        w = m.fc1.weight.detach()
        m.fc1.weight = nn.Parameter(TwoTensor(w.clone(), w.clone()))
    x = torch.randn(2, 8, 4, 4)
    assert not ours.uses_native(x)
    y, expected = ours(x), ref(x)
    assert type(y) is type(expected) is TwoTensor
    _close(y.a, expected.a, "subclass")


# --- 4. hooks and parametrizations -------------------------------------------------


def test_pruned_linear_runs_its_pre_hook():
    ours, ref = _pair(lambda: st.ChannelSELayer(8, 2), lambda: em.AimedChannelSE(8, 2))
    x = torch.randn(2, 8, 4, 4)
    ours(x)  # fills the parameter-view cache with the unpruned weight
    for m in (ours, ref):
        prune.l1_unstructured(m.fc1, "weight", amount=0.5)
    assert not ours.uses_native(x)
    _close(ours(x), ref(x), "pruned")
    with torch.no_grad():  # the mask applies to what the pre-hook computes next
        for m in (ours, ref):
            m.fc1.weight_orig.mul_(3)
    _close(ours(x), ref(x), "pruned, weight_orig changed")


def test_hooks_on_the_submodules_of_scse_run():
    ours, ref = _pair(lambda: st.ChannelSpatialSELayer(8, 2), lambda: em.AimedChannelSpatialSE(8, 2))
    calls = []
    ours.sSE.conv.register_forward_hook(lambda mod, args, out: calls.append(out.shape))
    x = torch.randn(2, 8, 4, 4)
    _close(ours(x), ref(x), "hooked conv")
    assert calls == [torch.Size([2, 1, 4, 4])]


class _Doubled(nn.Module):
    def forward(self, w):
        return 2 * w


def test_parametrized_weight_is_read_on_every_call():
    ours, ref = _pair(lambda: st.ChannelSELayer(8, 2), lambda: em.AimedChannelSE(8, 2))
    for m in (ours, ref):
        parametrize.register_parametrization(m.fc1, "weight", _Doubled())
    x = torch.randn(2, 8, 4, 4, requires_grad=True)
    _close(ours(x), ref(x), "parametrized")
    with torch.no_grad():
        for m in (ours, ref):
            m.fc1.parametrizations.weight.original.add_(0.5)
    _close(ours(x), ref(x), "parametrized, original changed")
    ours(x).sum().backward()
    ref(x).sum().backward()
    _close(ours.fc1.parametrizations.weight.original.grad,
           ref.fc1.parametrizations.weight.original.grad, "gradient through the parametrization")


# --- 5. output-buffer recycling ----------------------------------------------------

_BIG = (1, 16, 256, 256)  # 4 MiB: HUGE_OUTPUT_BYTES, pooled


def _big_module():
    assert 4 * np.prod(_BIG) >= _torch_ops.HUGE_OUTPUT_BYTES
    return st.SpatialSELayer(_BIG[1]).requires_grad_(False)


def test_a_free_output_buffer_is_recycled():
    if not _torch_ops._RECYCLE:
        pytest.skip("free-threaded build: outputs are not recycled")
    st.release_cached_outputs()
    m, x = _big_module(), torch.randn(_BIG)
    y = m(x)
    address = y.data_ptr()
    del y
    assert m(x).data_ptr() == address
    st.release_cached_outputs()
    assert not _torch_ops._pool


def test_training_steps_reuse_the_buffers_of_y_and_grad_x():
    # A batch-1 activation (1.5 MiB): below NumPy's huge-page size, where
    # fresh outputs came from a glibc heap that was trimmed and refaulted on
    # every step. Steady-state steps write y and grad_x into pooled buffers.
    if not _torch_ops._RECYCLE:
        pytest.skip("free-threaded build: outputs are not recycled")
    st.release_cached_outputs()
    m = st.ChannelSpatialSELayer(512, 16)
    x, grad_y = torch.randn(1, 512, 28, 28), torch.randn(1, 512, 28, 28)
    assert _torch_ops.TRAINING_OUTPUT_BYTES <= x.numel() * 4 < _torch_ops.HUGE_OUTPUT_BYTES
    seen = []
    for _ in range(3):
        m.zero_grad(set_to_none=True)
        xr = x.detach().requires_grad_(True)
        y = m(xr)
        y.backward(grad_y)
        seen.append({y.data_ptr(), xr.grad.data_ptr()})
        del y, xr
    assert len(seen[0]) == 2 and seen[1] == seen[2]
    assert all(any(b.ctypes.data <= a < b.ctypes.data + b.nbytes for b in _torch_ops._pool)
               for a in seen[2])
    fc1, fc2, conv = m.cSE.fc1, m.cSE.fc2, m.sSE.conv
    with torch.no_grad():
        expected = _reference_torch.forward(x, fc1.out_features, 0, fc1.weight, fc1.bias,
                                            fc2.weight, fc2.bias, conv.weight, conv.bias)
        _close(m(x), expected, "output in a recycled buffer")
    st.release_cached_outputs()


@pytest.mark.parametrize("holder", ["view", "saved for backward", "numpy array"])
def test_a_referenced_output_buffer_is_not_handed_out(holder):
    m, x = _big_module(), torch.randn(_BIG)
    y = m(x)
    address = y.data_ptr()
    if holder == "view":
        kept = y[0, :2]
        read = lambda: kept  # noqa: E731
    elif holder == "saved for backward":
        w = torch.ones((), requires_grad=True)
        loss = (y * w).sum()  # mul saves y to compute w's gradient
        read = lambda: None  # noqa: E731
    else:
        kept = y.numpy()
        read = lambda: torch.from_numpy(kept)  # noqa: E731
    expected = y.clone()
    del y
    y2 = m(torch.randn(_BIG))
    assert y2.data_ptr() != address
    if holder == "saved for backward":
        loss.backward()
        assert w.grad.item() == pytest.approx(expected.double().sum().item(), rel=1e-4)
    else:
        assert torch.equal(read(), expected[0, :2] if holder == "view" else expected)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_the_pool_lock_is_fresh_after_fork():
    with _torch_ops._pool_lock:
        pid = os.fork()
        if pid == 0:  # the child: the parent's holder of the lock does not exist here
            os._exit(0 if not _torch_ops._pool_lock.locked() and not _torch_ops._pool else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# --- 6. TorchScript ----------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: st.ChannelSELayer(8, 2), lambda: st.SpatialSELayer(8),
                                  lambda: st.ChannelSpatialSELayer(8, 2, "max")])
def test_scripted_modules_fall_back_for_float64(make):
    torch.manual_seed(0)
    m = make().double()
    scripted = torch.jit.script(m)
    x = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    _close(scripted(x), m(x), "scripted float64")
    scripted.float()
    m.float()
    _close(scripted(x.float()), m(x.float()), "scripted float32")


# --- 7. uses_native agrees with forward ----------------------------------------------


@pytest.mark.parametrize("shape", [(2, 8), (1, 8, 2, 2, 2, 2), (2, 7, 4, 4)])
def test_uses_native_is_false_where_forward_refuses(shape):
    m = st.ChannelSpatialSELayer(8, 2)
    x = torch.randn(shape)
    assert not m.uses_native(x)
    with pytest.raises(ValueError):
        m(x)


# --- 8. few-shot weights: one rule ---------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 8, 1, 1), (3, 8), (3, 1, 8)])
def test_few_shot_weights_shapes_the_reference_takes(shape):
    ours, ref = _pair(lambda: st.SpatialSELayer(8), lambda: em.AimedSpatialSE(8))
    x, w = torch.randn(2, 8, 4, 4), torch.randn(shape)
    assert ours.uses_native(x, w)
    expected = ref(x, w)
    _close(ours(x, w), expected, f"float32 {shape}")
    _close(ours.double()(x.double(), w.double()), expected, f"float64 {shape}")


def test_few_shot_weights_of_another_size_are_refused():
    m = st.SpatialSELayer(8)
    for dtype in (torch.float32, torch.float64):
        with pytest.raises(ValueError, match="weights must have shape"):
            m.to(dtype)(torch.randn(2, 8, 4, 4, dtype=dtype), torch.randn(3, 9, dtype=dtype))
