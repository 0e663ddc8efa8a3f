"""PyTorch drop-in versions of the reference modules, computed by libscse.

``scse.torch.ChannelSELayer``, ``SpatialSELayer`` and
``ChannelSpatialSELayer`` are ``nn.Module`` s with the reference modules'
constructor arguments, submodules and state_dict keys (``fc1``/``fc2``
nn.Linear, ``conv`` nn.Conv2d, ``cSE.``/``sSE.`` prefixes), so a model
switches by changing one import, and state_dicts load either way. Built
after ``torch.manual_seed(s)`` they even get the reference's initial
parameters, since the submodules are created in the same order.

When libscse runs: the input is a CPU float32 tensor with 3 to 5 dimensions
and no zero-size one, dense in one of two memory formats (contiguous, or
channels-last: ``torch.channels_last`` / ``torch.channels_last_3d``, or for
3-D inputs ``x.transpose(1, 2).contiguous().transpose(1, 2)``), and every
parameter (and few-shot ``weights``) is a CPU float32 tensor. Then the
forward pass reads the input's memory in place and writes an output created
by ``torch.empty_like(x, memory_format=torch.preserve_format)``: no copy,
and the output keeps the input's strides. The gradient with respect to the
input has the input's strides as well.

Everything else (CUDA, float64 or half tensors, non-dense views such as
``x[..., ::2]``, ``torch.compile`` tracing, functorch transforms) runs a
pure-PyTorch version of the same math instead, with PyTorch's autograd;
:meth:`uses_native` tells which path an input takes. The native path
supports first-order gradients only: differentiating its backward again
(``create_graph=True`` then a second backward) raises RuntimeError; use the
float64 or CUDA path, which falls back to PyTorch, for higher orders.

Gradients flow to the input and to every parameter that requires grad, and
to the few-shot ``weights`` of SpatialSELayer, as PyTorch's autograd
computes them on the reference modules (ReLU passes no gradient at 0;
``aggregate="max"`` splits the gradient in half on ties). Importing this
module imports torch; ``import scse`` alone never does.
"""

from __future__ import annotations

import math
import warnings
from typing import (TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Pattern, Sequence, Tuple,
                    Type, TypeVar, Union)

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from . import _layers, _native
from ._layers import _AGGREGATES, _hidden_width, _positive_int
from ._weights import extract_blocks as _extract_layers
from ._weights import layer_from_state_dict

__all__ = [
    "ChannelSELayer",
    "SpatialSELayer",
    "ChannelSpatialSELayer",
    "extract_blocks",
    "module_from_layer",
    "convert",
]

Module = Union["ChannelSELayer", "SpatialSELayer", "ChannelSpatialSELayer"]
_Tensor = Optional[torch.Tensor]
_CONV_BY_SPATIAL_DIMS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _channels_last_order(ndim: int) -> List[int]:
    return [0] + list(range(2, ndim)) + [1]


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.permute(_channels_last_order(x.dim())).is_contiguous()


def _dense(x: torch.Tensor) -> bool:
    return x.is_contiguous() or _is_channels_last(x)


def _in_layout_of(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """t, copied only when it is not dense in like's memory format."""
    if like.is_contiguous():
        return t.contiguous()
    if _is_channels_last(t):
        return t
    order = _channels_last_order(t.dim())
    inverse = [order.index(axis) for axis in range(t.dim())]
    return t.permute(order).contiguous().permute(inverse)


_is_functorch_wrapped = getattr(getattr(torch._C, "_functorch", None),
                                "is_functorch_wrapped_tensor", lambda t: False)


# Tracing (torch.compile) gets the PyTorch operations; older torch has no torch.compiler.
_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", lambda: False)


def _plain_cpu_float(t: torch.Tensor) -> bool:
    return (t.device.type == "cpu" and t.dtype == torch.float32 and t.layout == torch.strided
            and not t.is_neg() and not _is_functorch_wrapped(t))


def _native_applies(x: torch.Tensor, tensors: Sequence[_Tensor]) -> bool:
    if _is_compiling():
        return False
    if not (_plain_cpu_float(x) and 3 <= x.dim() <= 5 and x.numel() > 0 and _dense(x)):
        return False
    return all(t is None or _plain_cpu_float(t) for t in tensors)


def _array(t: _Tensor) -> Any:
    # .numpy() shares memory with the tensor.
    return None if t is None else t.detach().numpy()


class _NativeBlock(torch.autograd.Function):
    """cSE / sSE / scSE through libscse; absent gates have None tensors."""

    @staticmethod
    def forward(ctx: Any, hidden: Optional[int], aggregate: int, x: torch.Tensor,
                w1: _Tensor, b1: _Tensor, w2: _Tensor, b2: _Tensor,
                sw: _Tensor, sb: _Tensor) -> torch.Tensor:
        y = torch.empty_like(x, memory_format=torch.preserve_format)
        _native.forward(_array(x), cse=_channel_args(hidden, w1, b1, w2, b2),
                        sse=_spatial_args(sw, sb), aggregate=aggregate, out=y.numpy())
        ctx.hidden, ctx.aggregate = hidden, aggregate
        ctx.save_for_backward(x, w1, b1, w2, b2, sw, sb)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: torch.Tensor) -> Tuple[_Tensor, ...]:
        x, w1, b1, w2, b2, sw, sb = ctx.saved_tensors
        grad_x, channel, spatial = _native.backward(
            _array(x), _array(_in_layout_of(grad_y, x)),
            cse=_channel_args(ctx.hidden, w1, b1, w2, b2), sse=_spatial_args(sw, sb),
            aggregate=ctx.aggregate)
        params = (w1, b1, w2, b2, sw, sb)
        arrays = tuple(channel or (None,) * 4) + tuple(spatial or (None,) * 2)
        needs = ctx.needs_input_grad[3:]
        grads = [None if array is None or not need else torch.from_numpy(array).reshape(p.shape)
                 for p, array, need in zip(params, arrays, needs)]
        grad_input = torch.from_numpy(grad_x) if ctx.needs_input_grad[2] else None
        return (None, None, grad_input, *grads)


def _channel_args(hidden: Optional[int], w1: _Tensor, b1: _Tensor, w2: _Tensor,
                  b2: _Tensor) -> Optional[Tuple[Any, ...]]:
    if hidden is None:
        return None
    return (hidden, _array(w1), _array(b1), _array(w2), _array(b2))


def _spatial_args(sw: _Tensor, sb: _Tensor) -> Optional[Tuple[Any, ...]]:
    return None if sw is None else (_array(sw), _array(sb))


def _torch_math(x: torch.Tensor, hidden: Optional[int], aggregate: int, w1: _Tensor,
                b1: _Tensor, w2: _Tensor, b2: _Tensor, sw: _Tensor, sb: _Tensor) -> torch.Tensor:
    """The same computation in PyTorch operations, for inputs libscse does not take."""
    batch, channels, ones = x.shape[0], x.shape[1], (1,) * (x.dim() - 2)
    branches = []
    if hidden is not None:
        assert w1 is not None and w2 is not None
        squeezed = x.mean(dim=tuple(range(2, x.dim())))
        gate = torch.sigmoid(F.linear(torch.relu(F.linear(squeezed, w1, b1)), w2, b2))
        branches.append(x * gate.view(batch, channels, *ones))
    if sw is not None:
        weight = sw.reshape(sw.shape[0], channels).mean(dim=0).view(1, channels, *ones)
        branches.append(x * torch.sigmoid(_CONV_BY_SPATIAL_DIMS[x.dim() - 2](x, weight, sb)))
    if len(branches) == 1:
        return branches[0]
    if aggregate == _AGGREGATES["max"]:
        return torch.max(branches[0], branches[1])
    return branches[0] + branches[1]


def _run(x: torch.Tensor, channels: int, hidden: Optional[int], aggregate: int,
         tensors: Tuple[_Tensor, ...]) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input_tensor must be a torch.Tensor, got {type(x).__name__}")
    if not 3 <= x.dim() <= 5:
        raise ValueError("input_tensor must have shape (N, C, *spatial) with 1 to 3 spatial "
                         f"dimensions, got {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(f"input_tensor has {x.shape[1]} channels, the layer expects {channels}")
    if _native_applies(x, tensors):
        y: torch.Tensor = _NativeBlock.apply(hidden, aggregate, x, *tensors)  # type: ignore[no-untyped-call]
        return y
    return _torch_math(x, hidden, aggregate, *tensors)


def _quiet_linear(fan_in: int, fan_out: int, bias: bool) -> nn.Linear:
    # A zero-width bottleneck makes PyTorch warn that initialising an empty
    # weight is a no-op; that is the intended layer, not a problem.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return nn.Linear(fan_in, fan_out, bias=bias)


class ChannelSELayer(nn.Module):
    """Channel squeeze & excitation (cSE), the reference module on libscse.

    ``y = x * sigmoid(fc2(relu(fc1(mean(x over space)))))``.

    Args:
        num_channels: C.
        reduction_ratio: r; the hidden width is C // r.
        bias: whether fc1 and fc2 have biases.
        hidden: the hidden width itself (overrides C // r), e.g. for timm
            weights.

    Submodules ``fc1`` (nn.Linear C -> hidden) and ``fc2`` (hidden -> C);
    state_dict keys ``fc1.weight``, ``fc1.bias``, ``fc2.weight``,
    ``fc2.bias``, as in the reference. Inputs (N, C, *spatial) with 1 to 3
    spatial dimensions.
    """

    def __init__(self, num_channels: int, reduction_ratio: int = 2, bias: bool = True, *,
                 hidden: Optional[int] = None) -> None:
        super().__init__()
        self.num_channels = _positive_int(num_channels, "num_channels")
        self.reduction_ratio = _positive_int(reduction_ratio, "reduction_ratio")
        self.num_channels_reduced = _hidden_width(hidden, self.num_channels, self.reduction_ratio)
        self.fc1 = _quiet_linear(self.num_channels, self.num_channels_reduced, bias)
        self.fc2 = _quiet_linear(self.num_channels_reduced, self.num_channels, bias)

    def _tensors(self) -> Tuple[_Tensor, ...]:
        return (self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias, None, None)

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """Applies the channel gate; the result has the input's memory format."""
        return _run(input_tensor, self.num_channels, self.num_channels_reduced, 0, self._tensors())

    def uses_native(self, input_tensor: torch.Tensor) -> bool:
        """Whether forward on this input runs libscse (else PyTorch operations)."""
        return _native_applies(input_tensor, self._tensors())

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], source: str = "auto") -> "ChannelSELayer":
        """A module with the channel gate of another implementation's weights.

        Accepts what :meth:`scse.ChannelSELayer.from_state_dict` accepts
        (ai-med, timm SEModule, MONAI ChannelSELayer, seeds 002/003).
        """
        return _checked(module_from_layer(layer_from_state_dict(state_dict, "cse", source)), cls)

    def extra_repr(self) -> str:
        return (f"num_channels={self.num_channels}, reduction_ratio={self.reduction_ratio}, "
                f"hidden={self.num_channels_reduced}")


class SpatialSELayer(nn.Module):
    """Spatial squeeze & excitation (sSE), the reference module on libscse.

    ``y = x * sigmoid(conv(x))`` with ``conv`` a 1x1 nn.Conv2d from C
    channels to one (state_dict keys ``conv.weight`` [1, C, 1, 1] and
    ``conv.bias``). Inputs (N, C, *spatial) with 1 to 3 spatial dimensions;
    the 1x1 convolution applies to each as a pointwise one.
    """

    def __init__(self, num_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.num_channels = _positive_int(num_channels, "num_channels")
        self.conv = nn.Conv2d(self.num_channels, 1, 1, bias=bias)

    def _tensors(self, weights: _Tensor) -> Tuple[_Tensor, ...]:
        if weights is None:
            return (None,) * 4 + (self.conv.weight, self.conv.bias)
        if not isinstance(weights, torch.Tensor):
            raise TypeError(f"weights must be a torch.Tensor, got {type(weights).__name__}")
        if weights.dim() < 2 or weights.shape[0] < 1 or \
                math.prod(weights.shape[1:]) != self.num_channels:
            raise ValueError(f"weights must have shape (K, {self.num_channels}, 1, 1) with K >= 1, "
                             f"got {tuple(weights.shape)}")
        return (None,) * 4 + (weights, None)

    def forward(self, input_tensor: torch.Tensor, weights: _Tensor = None) -> torch.Tensor:
        """Applies the spatial gate.

        ``weights``: optional few-shot conditioner weights (K, C, 1, 1)
        whose mean over K replaces conv.weight, without bias, as in the
        reference; they receive gradients when they require grad.
        """
        return _run(input_tensor, self.num_channels, None, 0, self._tensors(weights))

    def uses_native(self, input_tensor: torch.Tensor, weights: _Tensor = None) -> bool:
        """Whether forward on these inputs runs libscse (else PyTorch operations)."""
        return _native_applies(input_tensor, self._tensors(weights))

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], source: str = "auto") -> "SpatialSELayer":
        """A module with the spatial gate of another implementation's weights
        (ai-med / seed 002 ``conv``, seed 003 ``spatial_excitation.0``)."""
        return _checked(module_from_layer(layer_from_state_dict(state_dict, "sse", source)), cls)

    def extra_repr(self) -> str:
        return f"num_channels={self.num_channels}"


class ChannelSpatialSELayer(nn.Module):
    """Concurrent spatial and channel squeeze & excitation (scSE) on libscse.

    ``y = cSE(x) + sSE(x)`` (``aggregate="sum"``, the paper and the
    reference) or ``torch.max(cSE(x), sSE(x))`` (``"max"``). Submodules
    ``cSE`` (:class:`ChannelSELayer`) and ``sSE`` (:class:`SpatialSELayer`)
    hold the parameters (keys ``cSE.fc1.weight`` ... ``sSE.conv.bias``); the
    forward pass is one fused libscse call, so hooks registered on the two
    submodules do not run.
    """

    def __init__(self, num_channels: int, reduction_ratio: int = 2, aggregate: str = "sum",
                 bias: bool = True, *, hidden: Optional[int] = None) -> None:
        super().__init__()
        if aggregate not in _AGGREGATES:
            raise ValueError(f'aggregate must be "sum" or "max", got {aggregate!r}')
        self.aggregate = aggregate
        self.cSE = ChannelSELayer(num_channels, reduction_ratio, bias, hidden=hidden)
        self.sSE = SpatialSELayer(num_channels, bias)
        self.num_channels = self.cSE.num_channels

    def _tensors(self) -> Tuple[_Tensor, ...]:
        return self.cSE._tensors()[:4] + (self.sSE.conv.weight, self.sSE.conv.bias)

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """Applies scSE; the result has the input's memory format."""
        return _run(input_tensor, self.num_channels, self.cSE.num_channels_reduced,
                    _AGGREGATES[self.aggregate], self._tensors())

    def uses_native(self, input_tensor: torch.Tensor) -> bool:
        """Whether forward on this input runs libscse (else PyTorch operations)."""
        return _native_applies(input_tensor, self._tensors())

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], source: str = "auto", *,
                        aggregate: str = "sum") -> "ChannelSpatialSELayer":
        """A module with the scSE block of another implementation's weights.

        Accepts what :meth:`scse.ChannelSpatialSELayer.from_state_dict`
        accepts (segmentation_models_pytorch SCSEModule, ai-med, seeds
        002/003); ``aggregate`` is not stored in weights and defaults to sum.
        """
        layer = layer_from_state_dict(state_dict, "scse", source, aggregate=aggregate)
        return _checked(module_from_layer(layer), cls)

    def extra_repr(self) -> str:
        return f"aggregate={self.aggregate!r}"


_M = TypeVar("_M", bound=nn.Module)


def _checked(module: nn.Module, cls: Type[_M]) -> _M:
    assert isinstance(module, cls)
    return module


def module_from_layer(layer: "_layers._Layer") -> Module:
    """The torch module (float32, CPU) equivalent to a numpy layer, with its parameters."""
    if isinstance(layer, _layers.ChannelSpatialSELayer):
        module: Module = ChannelSpatialSELayer(layer.num_channels, layer.reduction_ratio,
                                               layer.aggregate, layer.has_bias,
                                               hidden=layer.num_channels_reduced)
    elif isinstance(layer, _layers.ChannelSELayer):
        module = ChannelSELayer(layer.num_channels, layer.reduction_ratio, layer.has_bias,
                                hidden=layer.num_channels_reduced)
    elif isinstance(layer, _layers.SpatialSELayer):
        module = SpatialSELayer(layer.num_channels, layer.has_bias)
    else:
        raise TypeError(f"expected a scse layer, got {type(layer).__name__}")
    module.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return module


def extract_blocks(state_dict: Mapping[str, Any],
                   prefix_pattern: Union[str, Pattern[str], None] = None, *,
                   source: str = "auto", kinds: Optional[Sequence[str]] = None,
                   aggregate: str = "sum") -> Dict[str, Module]:
    """:func:`scse.extract_blocks`, returning torch modules.

    The names are module paths, so the blocks of a loaded model can be
    swapped in place::

        for name, block in scse.torch.extract_blocks(model.state_dict(), kinds=("scse",)).items():
            model.set_submodule(name, block)
    """
    layers = _extract_layers(state_dict, prefix_pattern, source=source, kinds=kinds,
                             aggregate=aggregate)
    return {name: module_from_layer(layer) for name, layer in layers.items()}


if TYPE_CHECKING:
    from ._convert import convert


def __getattr__(name: str) -> Any:
    # scse.torch.convert lives in _convert, which imports the modules above.
    if name == "convert":
        from ._convert import convert

        return convert
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
