"""The PyTorch modules of ``scse.torch`` (documented there), their
weight loaders and ``extract_blocks``; ``scse.torch`` re-exports them."""

from __future__ import annotations

import warnings
from typing import (Any, Dict, List, Mapping, Optional, Pattern, Sequence, Tuple,
                    Type, TypeVar, Union)

import torch
from torch import nn

from . import _contract as contract
from . import _layers, _reference_torch, _torch_onnx, _torch_ops, _torch_route as _route
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
_reference_torch._bind()  # torch is imported: the scripted fallback may compile
def _weight_and_bias(module: nn.Module) -> Tuple[_Tensor, _Tensor]:
    """A Linear's or Conv's (weight, bias); read from _parameters, which
    attribute access would reach through nn.Module.__getattr__."""
    params = module._parameters
    try:
        return params["weight"], params["bias"]
    except KeyError:  # parametrized (torch.nn.utils.parametrize)
        return module.weight, module.bias


def _scripted(x: torch.Tensor, hidden: Optional[int], aggregate: int, w1: _Tensor, b1: _Tensor,
              w2: _Tensor, b2: _Tensor, sw: _Tensor, sb: _Tensor) -> torch.Tensor:
    """The scripted modules' forward: the operator for CPU float32 tensors,
    else the PyTorch operations eager forward falls back to."""
    native = x.is_cpu and x.dtype == torch.float32
    for p in [w1, b1, w2, b2, sw, sb]:
        if p is not None:
            native = native and p.is_cpu and p.dtype == torch.float32
    if native and x.numel() > 0:
        return torch.ops.scse.forward(x, w1, b1, w2, b2, sw, sb, aggregate)
    return _reference_torch.math(x, hidden, aggregate, w1, b1, w2, b2, sw, sb)


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
            return _scripted(input_tensor, self.num_channels_reduced, 0, self.fc1.weight,
                             self.fc1.bias, self.fc2.weight, self.fc2.bias, None, None)
        cacheable = _route.inspect_submodules(self._submodules())
        if cacheable is None:
            return self._through_submodules(input_tensor)
        return _route.run(self, input_tensor, self.num_channels, self.num_channels_reduced, 0,
                          self._tensors(), cacheable=cacheable)

    def _submodules(self) -> Tuple[nn.Module, ...]:
        modules = self._modules
        return modules["fc1"], modules["fc2"]  # type: ignore[return-value]

    @torch.jit.unused
    def _through_submodules(self, x: torch.Tensor) -> torch.Tensor:
        """The reference's computation, calling fc1 and fc2 (so their hooks run)."""
        _route.check_input(x, self.num_channels)
        squeezed = x.reshape(x.shape[0], x.shape[1], -1).mean(dim=2)
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(squeezed))))
        return x * gate.view(x.shape[:2] + (1,) * (x.dim() - 2))

    @torch.jit.unused
    def uses_native(self, input_tensor: torch.Tensor) -> bool:
        """Whether forward on this input runs libscse (else PyTorch operations)."""
        return _route.inspect_submodules(self._submodules()) is not None and _route.uses_native(
            input_tensor, self.num_channels, self._tensors())

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
        rows = contract.few_shot_rows(tuple(weights.shape), self.num_channels)
        return (None,) * 4 + (weights.reshape(rows, self.num_channels, 1, 1), None)

    def forward(self, input_tensor: torch.Tensor,
                weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Applies the spatial gate.

        ``weights``: optional few-shot conditioner weights (K, C, 1, 1)
        whose mean over K replaces conv.weight, without bias, as in the
        reference; they receive gradients when they require grad.
        """
        if torch.jit.is_scripting():
            if weights is None:
                return _scripted(input_tensor, None, 0, None, None, None, None,
                                 self.conv.weight, self.conv.bias)
            rows = weights.shape[0]
            return _scripted(input_tensor, None, 0, None, None, None, None,
                             weights.reshape(rows, self.num_channels, 1, 1), None)
        cacheable = _route.inspect_submodules((self._modules["conv"],))  # type: ignore[arg-type]
        if weights is None and cacheable is None:
            return self._through_conv(input_tensor)
        return _route.run(self, input_tensor, self.num_channels, None, 0, self._tensors(weights),
                          cacheable=weights is None and bool(cacheable))

    @torch.jit.unused
    def _through_conv(self, x: torch.Tensor) -> torch.Tensor:
        """The reference's computation, calling conv (so its hooks run); other
        ranks than 4 go through it as (N, C, positions, 1), pointwise alike."""
        _route.check_input(x, self.num_channels)
        flat = x if x.dim() == 4 else x.reshape(x.shape[0], x.shape[1], -1, 1)
        gate = torch.sigmoid(self.conv(flat))
        return x * gate.reshape((x.shape[0], 1) + x.shape[2:])

    @torch.jit.unused
    def uses_native(self, input_tensor: torch.Tensor, weights: _Tensor = None) -> bool:
        """Whether forward on these inputs runs libscse (else PyTorch operations)."""
        if weights is None and _route.inspect_submodules(
                (self._modules["conv"],)) is None:  # type: ignore[arg-type]
            return False
        return _route.uses_native(input_tensor, self.num_channels, self._tensors(weights))

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
    forward pass is one fused libscse call; when a submodule has forward
    hooks or pre-hooks (e.g. torch.nn.utils.prune), forward calls the
    submodules as the reference does, in PyTorch operations, so they run.
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
            return _scripted(
                input_tensor, self._hidden,
                contract.AGGREGATE_MAX if self.aggregate == "max" else contract.AGGREGATE_SUM,
                self.cSE.fc1.weight, self.cSE.fc1.bias, self.cSE.fc2.weight,
                self.cSE.fc2.bias, self.sSE.conv.weight, self.sSE.conv.bias)
        cacheable = _route.inspect_submodules(self._submodules())
        if cacheable is None:
            # The reference's computation through cSE and sSE (their hooks run).
            channel, spatial = self.cSE(input_tensor), self.sSE(input_tensor)
            if self.aggregate == "max":
                return torch.max(channel, spatial)
            return channel + spatial
        return _route.run(self, input_tensor, self.num_channels, self._hidden,
                          contract.AGGREGATES[self.aggregate], self._tensors(),
                          cacheable=cacheable)

    def _submodules(self) -> Tuple[nn.Module, ...]:
        modules = self._modules
        return (modules["cSE"], modules["sSE"]) + modules["cSE"]._submodules() + (  # type: ignore
            modules["sSE"]._modules["conv"],)  # type: ignore[union-attr]

    @torch.jit.unused
    def uses_native(self, input_tensor: torch.Tensor) -> bool:
        """Whether forward on this input runs libscse (else PyTorch operations)."""
        return _route.inspect_submodules(self._submodules()) is not None and _route.uses_native(
            input_tensor, self.num_channels, self._tensors())

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
