"""The ``scse`` PyTorch operators: schemas, CPU kernels, fake kernels,
autograd and autocast, each registered once with ``torch.library``.

Two operators cover every block (cSE, sSE with or without few-shot
weights, scSE sum or max), as the C ABI's one entry point per direction
does: a gate is present when its weight tensor is given.

``scse::forward(Tensor x, Tensor? w1, Tensor? b1, Tensor? w2, Tensor? b2,
Tensor? sw, Tensor? sb, int aggregate=0) -> Tensor``
    ``w1`` [hidden, C(, 1...)] and ``w2`` [C, hidden(, 1...)] together give
    the channel gate (hidden may be 0), ``sw`` [K, C(, 1...)] the spatial
    gate (its K rows averaged), ``b1``, ``b2``, ``sb`` the biases;
    ``aggregate`` is a code of ``_contract.AGGREGATES`` used when both gates
    are given. The output has x's shape, dtype and strides
    (``torch.empty_like(x, memory_format=torch.preserve_format)``).

``scse::backward(Tensor grad_y, Tensor x, <the same parameters>) ->
(Tensor grad_x, Tensor w1, Tensor b1, Tensor w2, Tensor b2, Tensor sw,
Tensor sb)``
    Every gradient libscse computes in its single pass; a parameter that
    was not given gets a 0-element tensor (operator returns cannot be
    optional). grad_x has x's strides, the others their parameter's shape.

One forward and one backward schema instead of one per block: the optional
tensors say which block runs, so capture paths, the ONNX translations and
the autograd formula are each written once; the kernel's cost does not
depend on the schema count.

Registration is the plain ``torch.library.Library`` ``define``/``impl`` (the
``@custom_op`` decorator adds Python wrapping to every call). The CPU
kernels run libscse on float32 tensors through the NumPy binding; outputs
are allocated by NumPy (see :func:`new_output`). The autograd formula is
the ``scse::backward`` operator, so traced backward graphs call it too; it
is first-order only (differentiating it raises). Under CPU autocast both
operators compute in float32: their floating inputs are cast to float32
and the results are float32, as for the operators on autocast's float32
list (e.g. ``layer_norm``); libscse has no lower-precision kernel.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import _contract as contract
from . import _native

_Tensor = Optional[torch.Tensor]

NAMESPACE = "scse"
_FORWARD_SCHEMA = ("forward(Tensor x, Tensor? w1, Tensor? b1, Tensor? w2, Tensor? b2, "
                   "Tensor? sw, Tensor? sb, int aggregate=0) -> Tensor")
_BACKWARD_SCHEMA = ("backward(Tensor grad_y, Tensor x, Tensor? w1, Tensor? b1, Tensor? w2, "
                    "Tensor? b2, Tensor? sw, Tensor? sb, int aggregate=0) -> "
                    "(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)")

_lib = torch.library.Library(NAMESPACE, "DEF")
_lib.define(_FORWARD_SCHEMA)
_lib.define(_BACKWARD_SCHEMA)

forward_op = torch.ops.scse.forward.default
backward_op = torch.ops.scse.backward.default


# --- layouts ---------------------------------------------------------------------


def channels_last_order(ndim: int) -> List[int]:
    """The axis order that is contiguous for a channels-last tensor."""
    return [0] + list(range(2, ndim)) + [1]


def is_channels_last(t: torch.Tensor) -> bool:
    return t.permute(channels_last_order(t.dim())).is_contiguous()


def is_dense(t: torch.Tensor) -> bool:
    """Dense in one of libscse's two layouts (contiguous or channels last)."""
    return t.is_contiguous() or is_channels_last(t)


def in_layout_of(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """t, copied only when it is not dense in like's layout."""
    if like.is_contiguous():
        return t.contiguous()
    if is_channels_last(t):
        return t
    order = channels_last_order(t.dim())
    inverse = [order.index(axis) for axis in range(t.dim())]
    return t.permute(order).contiguous().permute(inverse)


# --- NumPy views -------------------------------------------------------------------


def array(t: _Tensor) -> Any:
    """t's memory as a NumPy array (no copy), or None."""
    if t is None:
        return None
    return t.numpy(force=t.requires_grad or t.is_neg())


def native_gates(w1: _Tensor, b1: _Tensor, w2: _Tensor, b2: _Tensor, sw: _Tensor,
                 sb: _Tensor) -> Tuple[Optional[tuple], Optional[tuple]]:
    """The ``cse`` and ``sse`` arguments of ``_native.forward``/``backward``."""
    if (w1 is None) != (w2 is None):
        raise ValueError("scse: w1 and w2 must be given together (the channel gate)")
    if w1 is None and sw is None:
        raise ValueError("scse: at least one gate (w1/w2 or sw) must be given")
    return contract.native_gates(None if w1 is None else w1.shape[0],
                                 *map(array, (w1, b1, w2, b2, sw, sb)))


# Outputs of at least HUGE_OUTPUT_BYTES get memory aligned to transparent
# huge pages and are recycled (numpy advises huge pages for its buffers from
# 4 MiB on; PyTorch's CPU allocator advises nothing, so a fresh 32 MiB
# output from torch.empty_like faults in 8192 4 KiB pages on every call).
# In a training step (y, then grad_x while y is alive) outputs are recycled
# from TRAINING_OUTPUT_BYTES on: glibc returned the freed top of its heap to
# the system after each step, and a step at (1, 512, 28, 28) faulted y and
# grad_x in afresh every time, 5x its steady-state time. Inference keeps the
# 4 MiB threshold: there a lone output is reused by malloc without faults,
# and the pool's bookkeeping measured slower at batch-1 sizes.
HUGE_PAGE_BYTES = 2 << 20
HUGE_OUTPUT_BYTES = 4 << 20
TRAINING_OUTPUT_BYTES = 256 << 10
#: Bytes of unused output buffers kept for reuse; more are released.
OUTPUT_POOL_BYTES = 256 << 20
_LINUX = sys.platform.startswith("linux")
# Recycling tells a free buffer by its reference count, which is exact only
# under the GIL; free-threaded builds allocate every output.
_RECYCLE = getattr(sys, "_is_gil_enabled", lambda: True)()
_pool: List[Any] = []  # whole buffers, most recently used last
_pool_lock = threading.Lock()


def release_cached_outputs() -> None:
    """Drops the unused output buffers kept for reuse (buffers still
    referenced by a tensor or array are freed when that goes)."""
    with _pool_lock:
        _pool.clear()


def _reset_after_fork() -> None:
    # A fork may happen while another thread holds the lock; the child
    # starts with a new lock and an empty pool.
    global _pool_lock
    _pool_lock = threading.Lock()
    _pool.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _unused(index: int) -> bool:
    # References to a free buffer: the pool's list and getrefcount's argument.
    # Every view of it (the output array, the tensor storage holding that
    # array, NumPy views of the tensor) keeps it as its base, so a count of 2
    # means nothing can reach its memory any more.
    return sys.getrefcount(_pool[index]) == 2


def _buffer(size: int) -> Any:
    """A float32 buffer of ``size`` elements + one huge page: a free pooled
    one of that size, else a new one (pooled while the pool has room)."""
    length = size + HUGE_PAGE_BYTES // 4
    with _pool_lock:
        for index in range(len(_pool)):
            if _pool[index].size == length and _unused(index):
                _pool.append(_pool.pop(index))
                return _pool[-1]
        # Release unused buffers, oldest first, until the new one fits.
        held = sum(buffer.nbytes for buffer in _pool) + 4 * length
        released = []
        for index in [i for i in range(len(_pool)) if _unused(i)]:
            if held <= OUTPUT_POOL_BYTES:
                break
            held -= _pool[index].nbytes
            released.append(index)
        for index in reversed(released):
            del _pool[index]
        buffer = np.empty(length, dtype=np.float32)
        if held <= OUTPUT_POOL_BYTES:
            _pool.append(buffer)
        return buffer


def new_output(like: Any, training: bool = False) -> Any:
    """An uninitialised float32 array of like's shape and libscse layout, or
    None (the binding then allocates) below HUGE_OUTPUT_BYTES
    (TRAINING_OUTPUT_BYTES for the outputs of a training step) or off Linux.

    Large outputs start on a 2 MiB boundary of a buffer one huge page
    longer: NumPy advises MADV_HUGEPAGE from the buffer's first 4 KiB
    boundary, so every page the array touches is a 2 MiB one (the slack is
    never touched: address space, not memory). Buffers are recycled once no
    array or tensor refers to them (CPython reference counts, so not on
    free-threaded builds; up to OUTPUT_POOL_BYTES of unused ones are kept,
    :func:`release_cached_outputs` drops them), so a model's steady state
    writes into memory that is already mapped: no page faults, no zeroing.
    """
    threshold = TRAINING_OUTPUT_BYTES if training else HUGE_OUTPUT_BYTES
    if like.nbytes < threshold or not _LINUX or not _RECYCLE:
        return None
    size = like.size
    buffer = _buffer(size)
    start = (-buffer.ctypes.data % HUGE_PAGE_BYTES) // 4
    flat = buffer[start:start + size]
    if like.flags.c_contiguous:
        return flat.reshape(like.shape)
    order = channels_last_order(like.ndim)
    inverse = [order.index(axis) for axis in range(like.ndim)]
    return flat.reshape([like.shape[axis] for axis in order]).transpose(inverse)


def wrap(result: Any) -> torch.Tensor:
    """A NumPy array from the binding as a tensor sharing its memory."""
    return torch.from_numpy(result)


def _check_kernel_input(x: torch.Tensor, name: str) -> None:
    if x.dtype != torch.float32:
        raise TypeError(f"scse::{name} computes float32 on the CPU, got {x.dtype} (the modules "
                        "in scse.torch run other dtypes as PyTorch operations)")


# --- kernels -------------------------------------------------------------------------


def _forward_cpu(x: torch.Tensor, w1: _Tensor, b1: _Tensor, w2: _Tensor, b2: _Tensor,
                 sw: _Tensor, sb: _Tensor, aggregate: int = 0) -> torch.Tensor:
    _check_kernel_input(x, "forward")
    cse, sse = native_gates(w1, b1, w2, b2, sw, sb)
    xd = x if is_dense(x) else x.contiguous()
    xa = array(xd)
    y = wrap(_native.forward(xa, cse=cse, sse=sse, aggregate=aggregate, out=new_output(xa)))
    if xd is x:
        return y
    # Dense in neither layout: computed on a contiguous copy, returned in x's strides.
    return torch.empty_like(x, memory_format=torch.preserve_format).copy_(y)


def _backward_cpu(grad_y: torch.Tensor, x: torch.Tensor, w1: _Tensor, b1: _Tensor,
                  w2: _Tensor, b2: _Tensor, sw: _Tensor, sb: _Tensor,
                  aggregate: int = 0) -> Tuple[torch.Tensor, ...]:
    _check_kernel_input(x, "backward")
    cse, sse = native_gates(w1, b1, w2, b2, sw, sb)
    xd = x if is_dense(x) else x.contiguous()
    xa = array(xd)
    grad_x, channel, spatial = _native.backward(
        xa, array(in_layout_of(grad_y, xd)), cse=cse, sse=sse, aggregate=aggregate,
        out=new_output(xa, training=True))
    grad_input = wrap(grad_x)
    if xd is not x:
        grad_input = torch.empty_like(x, memory_format=torch.preserve_format).copy_(grad_input)
    flat = contract.flat_grads(channel, spatial)
    # The binding returns each gradient in its parameter's shape.
    grads = tuple(x.new_empty(0) if g is None else wrap(g) for g in flat)
    return (grad_input,) + grads


def _forward_fake(x: torch.Tensor, w1: _Tensor, b1: _Tensor, w2: _Tensor, b2: _Tensor,
                  sw: _Tensor, sb: _Tensor, aggregate: int = 0) -> torch.Tensor:
    _check_kernel_input(x, "forward")
    return torch.empty_like(x, memory_format=torch.preserve_format)


def _backward_fake(grad_y: torch.Tensor, x: torch.Tensor, w1: _Tensor, b1: _Tensor,
                   w2: _Tensor, b2: _Tensor, sw: _Tensor, sb: _Tensor,
                   aggregate: int = 0) -> Tuple[torch.Tensor, ...]:
    _check_kernel_input(x, "backward")
    grads = tuple(x.new_empty(0) if p is None else torch.empty_like(p, memory_format=torch.contiguous_format)
                  for p in (w1, b1, w2, b2, sw, sb))
    return (torch.empty_like(x, memory_format=torch.preserve_format),) + grads


_lib.impl("forward", _forward_cpu, "CPU")
_lib.impl("backward", _backward_cpu, "CPU")
torch.library.register_fake("scse::forward", _forward_fake, lib=_lib)
torch.library.register_fake("scse::backward", _backward_fake, lib=_lib)


# --- autograd ------------------------------------------------------------------------

_PARAMETERS = 6  # w1, b1, w2, b2, sw, sb


def _setup_forward(ctx: Any, inputs: Tuple[Any, ...], output: torch.Tensor) -> None:
    x, *params, aggregate = inputs
    ctx.save_for_backward(x, *params)
    ctx.aggregate = aggregate


def _forward_derivative(ctx: Any, grad_y: torch.Tensor) -> Tuple[Any, ...]:
    x, *params = ctx.saved_tensors
    grads = backward_op(grad_y, x, *params, ctx.aggregate)
    needs = ctx.needs_input_grad
    return tuple(g if need and p is not None else None
                 for g, p, need in zip(grads, (x, *params), needs)) + (None,)


def _setup_backward(ctx: Any, inputs: Tuple[Any, ...], output: Any) -> None:
    pass


def _backward_derivative(ctx: Any, *grads: torch.Tensor) -> Tuple[Any, ...]:
    raise RuntimeError("scse::backward cannot be differentiated: libscse gives first-order "
                       "gradients only (use float64 or CUDA tensors, which run PyTorch "
                       "operations, for higher orders)")


torch.library.register_autograd("scse::forward", _forward_derivative,
                                setup_context=_setup_forward, lib=_lib)
torch.library.register_autograd("scse::backward", _backward_derivative,
                                setup_context=_setup_backward, lib=_lib)


# --- autocast ------------------------------------------------------------------------

torch.library.register_autocast("scse::forward", "cpu", torch.float32, lib=_lib)
torch.library.register_autocast("scse::backward", "cpu", torch.float32, lib=_lib)

