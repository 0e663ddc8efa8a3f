"""Which computation an ``scse.torch`` module's forward call runs.

1. **Eager native call** (no operator dispatch) when nothing records or
   transforms the call: no ``torch.compile``/``torch.export`` tracing,
   ``torch.jit.trace``, ``TorchDispatchMode`` or ``TorchFunctionMode``,
   functorch transform, forward-mode AD level or tensor subclass (input
   or parameter). libscse reads the input in place
   and writes a new output; when a gradient is needed, an
   ``autograd.Function`` (``_NativeBlock``) records libscse's backward.
   The binding's own checks decide whether it takes the tensor (CPU
   float32, dense in a supported layout); when it refuses, the call
   continues at 2 or 3. The module's parameters are turned into NumPy
   views once and reused while the same tensors sit at the same addresses.
2. **The operator** ``torch.ops.scse.forward`` for CPU float32 dense
   inputs otherwise (capture, fake tensors, dispatch modes, and CPU
   autocast with lower-precision tensors): autograd, ``torch.compile``,
   ``torch.export``, ``torch.jit.trace`` and the ONNX exporters see it; its
   backward is ``torch.ops.scse.backward``.
3. **PyTorch operations** for what libscse does not take: other devices,
   float64 or half without autocast, non-dense views, empty tensors,
   functorch transforms, forward-mode AD, tensor-subclass parameters.
"""

from __future__ import annotations

from operator import is_ as _is
from typing import Any, Optional, Tuple

import torch
import torch.autograd.forward_ad as _forward_ad
from torch.autograd.function import once_differentiable

from . import _contract as contract
from . import _native, _reference_torch
from ._torch_ops import forward_op, in_layout_of, is_channels_last, new_output

_Tensor = Optional[torch.Tensor]
Params = Tuple[_Tensor, ...]

_Tensor_type = torch.Tensor
# Dynamo folds this to True while it traces (torch.compile, strict torch.export);
# non-strict export and make_fx trace with a dispatch mode and fake tensors.
_is_compiling = torch.compiler.is_dynamo_compiling
_is_tracing = torch._C._is_tracing
_dispatch_modes = torch._C._len_torch_dispatch_stack
_function_modes = torch._C._is_torch_function_mode_enabled
_functorch_level = torch._C._functorch.maybe_current_level
_grad_enabled = torch.is_grad_enabled
_float32 = torch.float32
_strided = torch.strided
_autocast_dtypes = (torch.float32, torch.bfloat16, torch.float16)
_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)


def _plain(t: torch.Tensor, dtypes: Tuple[torch.dtype, ...]) -> bool:
    return t.is_cpu and t.dtype in dtypes and t.layout is _strided


def forward_ad_active() -> bool:
    """Whether a forward-mode AD level is open (``torch.autograd.forward_ad``):
    libscse has no forward derivative, PyTorch operations do."""
    return _forward_ad._current_level >= 0


def _plain_types(params: Params) -> bool:
    """Every parameter an ordinary tensor (not a subclass such as DTensor)."""
    return all(p is None or type(p) in _PLAIN_TYPES for p in params)


def operator_applies(x: torch.Tensor, params: Params) -> bool:
    """Whether libscse computes a call on x (eagerly or through the operator)."""
    if not _is_compiling():
        if _functorch_level() is not None or forward_ad_active():
            return False
        if not _dispatch_modes() and not _plain_types(params):
            return False
    dtypes = _autocast_dtypes if torch.is_autocast_enabled("cpu") else (_float32,)
    if not (_plain(x, dtypes) and (x.is_contiguous() or is_channels_last(x))):
        return False
    if (_is_compiling() or not _is_tracing()) and x.numel() == 0:  # traced sizes are values
        return False
    return all(p is None or _plain(p, dtypes) for p in params)


def uses_native(x: torch.Tensor, channels: int, params: Params) -> bool:
    """What a module's ``uses_native`` reports: forward takes x (rank and
    channels) and libscse computes it."""
    if x.dim() < 2 or not contract.supported_rank(x.dim()) or x.shape[1] != channels:
        return False
    return operator_applies(x, params)


def check_input(x: torch.Tensor, channels: int) -> None:
    contract.check_input_shape(x.shape, channels, "input_tensor")


def _gates(hidden: Optional[int], params: Params) -> Any:
    """The binding's ``(cse, sse)`` arguments: NumPy views of plain CPU
    float32 parameters, or None when a parameter is anything else."""
    if not all(p is None or _plain(p, (_float32,)) for p in params):
        return None
    return contract.native_gates(hidden, *(None if p is None else p.detach().numpy()
                                           for p in params))


def _view_key(p: torch.Tensor) -> Tuple[Any, ...]:
    # What a NumPy view of p depends on: p.data = other or an in-place
    # t_()/as_strided_()/squeeze_() may keep the address and change the rest.
    return (p.data_ptr(), p.shape, p.stride(), p.storage_offset(), p.dtype)


def _cached_gates(owner: Any, hidden: Optional[int], params: Params) -> Any:
    """:func:`_gates`, kept on owner while the same tensor objects have the
    same memory, shape, strides and dtype (the cache holds the tensors, so
    an object id cannot be reused meanwhile; the same objects have the same
    types). ``param.data = ...``, as ``module.to()`` does, and in-place shape
    changes rebuild it. Values written in place need nothing: the views
    share the parameters' memory."""
    cache = owner.__dict__.get("_scse_gates")
    keys = [_view_key(p) for p in params if p is not None]
    if cache is not None and cache[1] == keys and all(map(_is, params, cache[0])):
        return cache[2]
    gates = _gates(hidden, params) if _plain_types(params) else None
    owner.__dict__["_scse_gates"] = (params, keys, gates)
    return gates


class _NativeBlock(torch.autograd.Function):
    """The eager training path: libscse forward and backward with the
    module's cached parameter arrays, without operator dispatch."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, aggregate: int, gates: Tuple[Any, Any],
                *params: _Tensor) -> torch.Tensor:
        xa = x.detach().numpy()
        y = _native.forward(xa, gates[0], gates[1], aggregate, new_output(xa, training=True))
        ctx.save_for_backward(x, *params)
        ctx.aggregate, ctx.gates = aggregate, gates
        return torch.from_numpy(y)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: torch.Tensor) -> Tuple[_Tensor, ...]:
        x = ctx.saved_tensors[0]  # unpacking checks that nothing saved was modified in place
        cse, sse = ctx.gates
        xa = x.detach().numpy()
        grad_x, channel, spatial = _native.backward(
            xa, in_layout_of(grad_y, x).numpy(), cse, sse, ctx.aggregate,
            new_output(xa, training=True))
        needs = ctx.needs_input_grad
        flat = contract.flat_grads(channel, spatial)
        grads = tuple(None if g is None or not need else torch.from_numpy(g)
                      for g, need in zip(flat, needs[3:]))
        return (torch.from_numpy(grad_x) if needs[0] else None, None, None) + grads


def run(owner: Any, x: torch.Tensor, channels: int, hidden: Optional[int], aggregate: int,
        params: Params, cacheable: bool = True) -> torch.Tensor:
    """The block's output on x. ``hidden`` None means no channel gate;
    ``params`` are (w1, b1, w2, b2, sw, sb); ``owner`` (the module) keeps
    the parameters' NumPy views when ``cacheable``."""
    if type(x) is not _Tensor_type and not isinstance(x, _Tensor_type):
        raise TypeError(f"input_tensor must be a torch.Tensor, got {type(x).__name__}")
    if _is_compiling():
        check_input(x, channels)
    elif not _is_tracing():  # traced sizes are values; the operator checks them
        if (type(x) is _Tensor_type and not _dispatch_modes() and not _function_modes()
                and _functorch_level() is None and not forward_ad_active()):
            # Nothing records or transforms the call: libscse without dispatch.
            # (None: a parameter is a tensor subclass or not plain CPU float32.)
            gates = (_cached_gates(owner, hidden, params) if cacheable
                     else _gates(hidden, params) if _plain_types(params) else None)
            if gates is not None:
                try:
                    if _grad_enabled() and (x.requires_grad or any(
                            p is not None and p.requires_grad for p in params)):
                        y: torch.Tensor = _NativeBlock.apply(x, aggregate, gates, *params)
                        return y
                    xa = x.numpy()
                    return torch.from_numpy(
                        _native.forward(xa, gates[0], gates[1], aggregate, new_output(xa)))
                except (TypeError, ValueError, RuntimeError):
                    pass  # the binding does not take x as it is (it checks shape, dtype, layout)
        check_input(x, channels)
    if operator_applies(x, params):
        result: torch.Tensor = forward_op(x, *params, aggregate)
        return result
    return _reference_torch.forward(x, hidden, aggregate, *params)


_module_hooks = torch.nn.modules.module


def inspect_submodules(submodules: Tuple[torch.nn.Module, ...]) -> Optional[bool]:
    """One pass over the submodules whose parameters a call reads: None when
    calling the reference would run code of its own on them (forward hooks
    or pre-hooks, as torch.nn.utils.prune and the old weight_norm register,
    or global module hooks; scse.torch then calls the submodules as the
    reference does), else whether the parameters' NumPy views may be cached
    (not when a parameter is computed on access, torch.nn.utils.parametrize)."""
    if _module_hooks._global_forward_hooks or _module_hooks._global_forward_pre_hooks:
        return None
    cacheable = True
    for m in submodules:
        if m._forward_hooks or m._forward_pre_hooks:
            return None
        # parametrize.is_parametrized's test, without a failing attribute
        # lookup (nn.Module.__getattr__) on every call of a plain module.
        if "parametrizations" in m._modules:
            cacheable = False
    return cacheable
