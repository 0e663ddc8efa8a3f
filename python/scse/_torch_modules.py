"""The PyTorch modules of ``scse.torch`` (documented there), their
weight loaders and ``extract_blocks``; ``scse.torch`` re-exports them."""

from __future__ import annotations

import math
import warnings
from typing import (Any, Dict, List, Mapping, Optional, Pattern, Sequence, Tuple,
                    Type, TypeVar, Union)

import torch
from torch import nn

from . import _contract as contract
from . import _layers, _torch_onnx, _torch_ops, _torch_route as _route
from ._layers import _hidden_width, _positive_int, layer_from_block
from ._weights import find_blocks, read_block

__all__ = [
    "ChannelSELayer",
    "SpatialSELayer",
    "ChannelSpatialSELayer",
    "extract_blocks",
    "module_from_layer",
]

Module = Union["ChannelSELayer", "SpatialSELayer", "ChannelSpatialSELayer"]
_Tensor = Optional[torch.Tensor]
_torch_onnx.register_symbolic()
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
        (ai-med, timm SEModule, MONAI ChannelSELayer, the 1x1-convolution and
        nn.Sequential variants).
        """
        return _checked(module_from_layer(layer_from_block(read_block(state_dict, "cse", source))),
                        cls)

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
        (ai-med / 1x1-convolution variant ``conv``, nn.Sequential variant
        ``spatial_excitation.0``)."""
        return _checked(module_from_layer(layer_from_block(read_block(state_dict, "sse", source))),
                        cls)

    def extra_repr(self) -> str:
        return f"num_channels={self.num_channels}"


class ChannelSpatialSELayer(_Block):
    """Concurrent spatial and channel squeeze & excitation (scSE) on libscse.

    ``y = cSE(x) + sSE(x)`` (``aggregate="sum"``, the paper) or
    ``torch.max(cSE(x), sSE(x))`` (``"max"``, ai-med's published package). Submodules
    ``cSE`` (:class:`ChannelSELayer`) and ``sSE`` (:class:`SpatialSELayer`)
    hold the parameters (keys ``cSE.fc1.weight`` ... ``sSE.conv.bias``); the
    forward pass is one fused libscse call, so hooks registered on the two
    submodules do not run.
    """

    def __init__(self, num_channels: int, reduction_ratio: int = 2, aggregate: str = "sum",
                 bias: bool = True, *, hidden: Optional[int] = None) -> None:
        super().__init__()
        contract.aggregate_code(aggregate)
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
                contract.AGGREGATE_MAX if self.aggregate == "max" else contract.AGGREGATE_SUM)
        return _route.run(self, input_tensor, self.num_channels, self._hidden,
                          contract.AGGREGATES[self.aggregate], self._tensors())

    @torch.jit.unused
    def uses_native(self, input_tensor: torch.Tensor) -> bool:
        """Whether forward on this input runs libscse (else PyTorch operations)."""
        return _route.operator_applies(input_tensor, self._tensors())

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], source: str = "auto", *,
                        aggregate: Optional[str] = None) -> "ChannelSpatialSELayer":
        """A module with the scSE block of another implementation's weights.

        Accepts what :meth:`scse.ChannelSpatialSELayer.from_state_dict`
        accepts (segmentation_models_pytorch SCSEModule, ai-med, the
        1x1-convolution and nn.Sequential variants). ``aggregate`` is not
        stored in weights: by default ``"max"`` for ``source="aimed"`` (ai-med's
        published package), else ``"sum"``.
        """
        block = read_block(state_dict, "scse", source, aggregate=aggregate)
        return _checked(module_from_layer(layer_from_block(block)), cls)

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
                   aggregate: Optional[str] = None) -> Dict[str, Module]:
    """:func:`scse.extract_blocks`, returning torch modules.

    The names are module paths, so the blocks of a loaded model can be
    swapped in place::

        for name, block in scse.torch.extract_blocks(model.state_dict(), kinds=("scse",)).items():
            model.set_submodule(name, block)
    """
    blocks = find_blocks(state_dict, prefix_pattern, source=source, kinds=kinds,
                         aggregate=aggregate)
    return {name: module_from_layer(layer_from_block(block)) for name, block in blocks.items()}


# scse.torch is the modules' public home: reprs, pickles and TorchScript name it.
for _cls in (ChannelSELayer, SpatialSELayer, ChannelSpatialSELayer):
    _cls.__module__ = "scse.torch"
