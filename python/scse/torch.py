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
parameter (and few-shot ``weights``) is a CPU float32 tensor; under CPU
autocast also bfloat16/float16 ones, computed in float32. The forward pass
reads the input's memory in place and the output keeps the input's strides;
so does the gradient with respect to the input.

libscse is reached two ways (``scse._torch_route`` decides): directly when
no gradient is needed and nothing traces the call, else through the
operators ``torch.ops.scse.forward`` / ``torch.ops.scse.backward``, which
autograd, ``torch.compile``, ``torch.export``, ``torch.jit`` and the ONNX
exporters see (``scse._torch_ops``). Everything else (CUDA, float64 or half
tensors without autocast, non-dense views such as ``x[..., ::2]``,
functorch transforms) runs a pure-PyTorch version of the same math
instead, with PyTorch's autograd; :meth:`uses_native` tells which path an
input takes. The native path supports first-order gradients only:
differentiating its backward again (``create_graph=True`` then a second
backward) raises RuntimeError; use the float64 or CUDA path, which falls
back to PyTorch, for higher orders.

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

from . import _layers, _torch_onnx, _torch_ops, _torch_route as _route
from ._torch_onnx import onnx_translation_table
from ._layers import _AGGREGATES, _hidden_width, _positive_int
from ._weights import extract_blocks as _extract_layers
from ._weights import layer_from_state_dict

__all__ = [
    "ChannelSELayer",
    "SpatialSELayer",
    "ChannelSpatialSELayer",
    "extract_blocks",
    "module_from_layer",
    "onnx_translation_table",
    "convert",
]

Module = Union["ChannelSELayer", "SpatialSELayer", "ChannelSpatialSELayer"]
_Tensor = Optional[torch.Tensor]
_torch_onnx.register_symbolic()
_CONV_BY_SPATIAL_DIMS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


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


def _weight_and_bias(module: nn.Module) -> Tuple[_Tensor, _Tensor]:
    """A Linear's or Conv's (weight, bias); read from _parameters, which
    attribute access would reach through nn.Module.__getattr__."""
    params = module._parameters
    try:
        return params["weight"], params["bias"]
    except KeyError:  # parametrized (torch.nn.utils.parametrize)
        return module.weight, module.bias


def _quiet_linear(fan_in: int, fan_out: int, bias: bool) -> nn.Linear:
    # A zero-width bottleneck makes PyTorch warn that initialising an empty
    # weight is a no-op; that is the intended layer, not a problem.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return nn.Linear(fan_in, fan_out, bias=bias)


class _Block(nn.Module):
    """What the three modules share: the eager path's parameter-view cache
    (``_scse_gates``, see ``scse._torch_route``) stays out of pickles and
    copies; it is rebuilt on the next call."""

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_scse_gates", None)
        return state


class ChannelSELayer(_Block):
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
        modules = self._modules
        return _weight_and_bias(modules["fc1"]) + _weight_and_bias(modules["fc2"]) + (None, None)

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """Applies the channel gate; the result has the input's memory format."""
        if torch.jit.is_scripting():
            return torch.ops.scse.forward(input_tensor, self.fc1.weight, self.fc1.bias,
                                          self.fc2.weight, self.fc2.bias, None, None, 0)
        return _route.run(self, input_tensor, self.num_channels, self.num_channels_reduced, 0,
                    self._tensors())

    @torch.jit.unused
    def uses_native(self, input_tensor: torch.Tensor) -> bool:
        """Whether forward on this input runs libscse (else PyTorch operations)."""
        return _route.operator_applies(input_tensor, self._tensors())

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


class SpatialSELayer(_Block):
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
            return (None,) * 4 + _weight_and_bias(self._modules["conv"])
        if not isinstance(weights, torch.Tensor):
            raise TypeError(f"weights must be a torch.Tensor, got {type(weights).__name__}")
        if weights.dim() < 2 or weights.shape[0] < 1 or \
                math.prod(weights.shape[1:]) != self.num_channels:
            raise ValueError(f"weights must have shape (K, {self.num_channels}, 1, 1) with K >= 1, "
                             f"got {tuple(weights.shape)}")
        return (None,) * 4 + (weights, None)

    def forward(self, input_tensor: torch.Tensor,
                weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Applies the spatial gate.

        ``weights``: optional few-shot conditioner weights (K, C, 1, 1)
        whose mean over K replaces conv.weight, without bias, as in the
        reference; they receive gradients when they require grad.
        """
        if torch.jit.is_scripting():
            if weights is None:
                return torch.ops.scse.forward(input_tensor, None, None, None, None,
                                              self.conv.weight, self.conv.bias, 0)
            return torch.ops.scse.forward(input_tensor, None, None, None, None, weights, None, 0)
        return _route.run(self, input_tensor, self.num_channels, None, 0, self._tensors(weights),
                    cacheable=weights is None)

    @torch.jit.unused
    def uses_native(self, input_tensor: torch.Tensor, weights: _Tensor = None) -> bool:
        """Whether forward on these inputs runs libscse (else PyTorch operations)."""
        return _route.operator_applies(input_tensor, self._tensors(weights))

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], source: str = "auto") -> "SpatialSELayer":
        """A module with the spatial gate of another implementation's weights
        (ai-med / seed 002 ``conv``, seed 003 ``spatial_excitation.0``)."""
        return _checked(module_from_layer(layer_from_state_dict(state_dict, "sse", source)), cls)

    def extra_repr(self) -> str:
        return f"num_channels={self.num_channels}"


class ChannelSpatialSELayer(_Block):
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
        self._hidden = self.cSE.num_channels_reduced  # read without nn.Module.__getattr__

    def _tensors(self) -> Tuple[_Tensor, ...]:
        modules = self._modules
        channel = modules["cSE"]._modules  # type: ignore[union-attr]
        return (_weight_and_bias(channel["fc1"]) + _weight_and_bias(channel["fc2"])
                + _weight_and_bias(modules["sSE"]._modules["conv"]))  # type: ignore[union-attr]

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """Applies scSE; the result has the input's memory format."""
        if torch.jit.is_scripting():
            return torch.ops.scse.forward(
                input_tensor, self.cSE.fc1.weight, self.cSE.fc1.bias, self.cSE.fc2.weight,
                self.cSE.fc2.bias, self.sSE.conv.weight, self.sSE.conv.bias,
                1 if self.aggregate == "max" else 0)
        return _route.run(self, input_tensor, self.num_channels, self._hidden,
                    _AGGREGATES[self.aggregate], self._tensors())

    @torch.jit.unused
    def uses_native(self, input_tensor: torch.Tensor) -> bool:
        """Whether forward on this input runs libscse (else PyTorch operations)."""
        return _route.operator_applies(input_tensor, self._tensors())

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
