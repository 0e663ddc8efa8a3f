"""Which computation an ``scse.torch`` module's forward call runs.

1. **Eager native call** (no operator dispatch) when no gradient is needed
   (``torch.no_grad()``, ``inference_mode()``, or nothing requires grad)
   and nothing observes operators (no ``torch.compile``/``torch.export``
   tracing, ``torch.jit.trace``, ``TorchDispatchMode`` or
   ``TorchFunctionMode``, functorch transform, tensor subclass). libscse
   reads the input in place and writes a new output; the binding's own
   checks decide whether it takes the tensor (CPU float32, dense in a
   supported layout); when it refuses, the call continues at 2 or 3. The
   module's parameters are turned into NumPy views once and reused while
   the same tensors sit at the same addresses.
2. **The operator** ``torch.ops.scse.forward`` for CPU float32 dense
   inputs otherwise (training, capture, fake tensors, and CPU autocast with
   float32 or lower-precision tensors): autograd, ``torch.compile``,
   ``torch.export``, ``torch.jit.trace`` and the ONNX exporters see it; its
   backward is ``torch.ops.scse.backward``.
3. **PyTorch operations** for what libscse does not take: other devices,
   float64 or half without autocast, non-dense views, empty tensors,
   functorch transforms.
"""

from __future__ import annotations

from operator import is_ as _is
from typing import Any, Optional, Tuple

import torch

from . import _native
from ._torch_ops import forward_op, is_channels_last, new_output

_Tensor = Optional[torch.Tensor]
Params = Tuple[_Tensor, ...]

_Tensor_type = torch.Tensor
_is_compiling = torch.compiler.is_compiling
_is_tracing = torch._C._is_tracing
_dispatch_modes = torch._C._len_torch_dispatch_stack
_function_modes = torch._C._is_torch_function_mode_enabled
_functorch_level = torch._C._functorch.maybe_current_level
_grad_enabled = torch.is_grad_enabled
_float32 = torch.float32
_strided = torch.strided
_autocast_dtypes = (torch.float32, torch.bfloat16, torch.float16)


def _plain(t: torch.Tensor, dtypes: Tuple[torch.dtype, ...]) -> bool:
    return t.is_cpu and t.dtype in dtypes and t.layout is _strided


def operator_applies(x: torch.Tensor, params: Params) -> bool:
    """Whether libscse computes a call on x (eagerly or through the operator)."""
    if not _is_compiling() and _functorch_level() is not None:
        return False
    dtypes = _autocast_dtypes if torch.is_autocast_enabled("cpu") else (_float32,)
    if not (_plain(x, dtypes) and (x.is_contiguous() or is_channels_last(x))):
        return False
    if (_is_compiling() or not _is_tracing()) and x.numel() == 0:  # traced sizes are values
        return False
    return all(p is None or _plain(p, dtypes) for p in params)


def check_input(x: Any, channels: int) -> None:
    """TypeError/ValueError unless x is a tensor (N, channels, *spatial), 1-3 spatial dims."""
    if not isinstance(x, _Tensor_type):
        raise TypeError(f"input_tensor must be a torch.Tensor, got {type(x).__name__}")
    if not _is_compiling() and _is_tracing():  # sizes are traced values; the operator checks them
        return
    shape = x.shape
    if not 3 <= len(shape) <= 5:
        raise ValueError("input_tensor must have shape (N, C, *spatial) with 1 to 3 spatial "
                         f"dimensions, got {tuple(shape)}")
    if shape[1] != channels:
        raise ValueError(f"input_tensor has {shape[1]} channels, the layer expects {channels}")


def _unobserved(x: torch.Tensor, params: Params) -> bool:
    """Nothing records, transforms or differentiates this call."""
    if _is_compiling() or _is_tracing() or _dispatch_modes() or _function_modes():
        return False
    if type(x) is not _Tensor_type or _functorch_level() is not None:
        return False
    if _grad_enabled():
        if x.requires_grad:
            return False
        for p in params:
            if p is not None and p.requires_grad:
                return False
    return True


def _arrays(params: Params) -> Any:
    """NumPy views of plain CPU float32 parameters, or None."""
    if not all(p is None or _plain(p, (_float32,)) for p in params):
        return None
    return tuple(None if p is None else p.detach().numpy() for p in params)


def _cached_arrays(owner: Any, params: Params) -> Any:
    """:func:`_arrays`, kept on owner while the same tensor objects sit at
    the same addresses (the cache holds the tensors, so neither an object id
    nor an address can be reused meanwhile; ``param.data = ...``, as
    ``module.to()`` does, changes the address)."""
    addresses = [p.data_ptr() for p in params if p is not None]
    cache = owner.__dict__.get("_scse_arrays")
    if cache is not None and cache[1] == addresses and all(map(_is, params, cache[0])):
        return cache[2]
    arrays = _arrays(params)
    owner.__dict__["_scse_arrays"] = (params, addresses, arrays)
    return arrays


def run(owner: Any, x: torch.Tensor, channels: int, hidden: Optional[int], aggregate: int,
        params: Params, cacheable: bool = True) -> Optional[torch.Tensor]:
    """The block's output on x, or None when libscse does not take the call
    (the caller then runs PyTorch operations). ``hidden`` None means no
    channel gate; ``params`` are (w1, b1, w2, b2, sw, sb)."""
    check_input(x, channels)
    if _unobserved(x, params):
        arrays = _cached_arrays(owner, params) if cacheable else _arrays(params)
        if arrays is not None:
            w1, b1, w2, b2, sw, sb = arrays
            try:
                xa = x.numpy()
                out = new_output(xa)
                y = _native.forward(xa, cse=None if hidden is None else (hidden, w1, b1, w2, b2),
                                    sse=None if sw is None else (sw, sb), aggregate=aggregate,
                                    out=out)
            except (TypeError, ValueError, RuntimeError):
                pass  # not a tensor the binding takes as it is: decide below
            else:
                return torch.from_numpy(y)
    if operator_applies(x, params):
        result: torch.Tensor = forward_op(x, *params, aggregate)
        return result
    return None
