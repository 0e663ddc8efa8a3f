"""The cSE, sSE and scSE layers on numpy arrays, backed by libscse.

Parameter names, shapes and initialisation follow the PyTorch reference
modules (ChannelSELayer, SpatialSELayer, ChannelSpatialSELayer), so state
dicts move between the two unchanged.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Dict, Mapping, Optional, Pattern, Sequence, Tuple, Union

import numpy as np

from . import _contract as contract
from . import _native
from ._weights import Block, find_blocks, prepare, read_block, to_float32

__all__ = ["ChannelSELayer", "SpatialSELayer", "ChannelSpatialSELayer", "extract_blocks",
           "layer_from_block"]

Array = np.ndarray
Grads = Dict[str, np.ndarray]


def _integer(value: Any, name: str, wanted: str) -> int:
    """operator.index(value); TypeError "<name> must be <wanted>" for a bool or non-integer."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be {wanted}, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be {wanted}, got {type(value).__name__}") from None


def _positive_int(value: Any, name: str) -> int:
    number = _integer(value, name, "an int")
    if number < 1:
        raise ValueError(f"{name} must be >= 1, got {number}")
    return number


def _hidden_width(hidden: Any, num_channels: int, reduction_ratio: int) -> int:
    """The bottleneck width: ``hidden`` when given, else C // r."""
    if hidden is None:
        return num_channels // reduction_ratio
    width = _integer(hidden, "hidden", "an int or None")
    if width < 0:
        raise ValueError(f"hidden must be >= 0, got {width}")
    return width


def _uniform(rng: np.random.Generator, shape: Tuple[int, ...], fan_in: int) -> Array:
    # PyTorch's nn.Linear / nn.Conv2d default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    # for weight and bias (kaiming_uniform with a=sqrt(5) reduces to this).
    # A zero fan-in leaves an empty weight and a zero bias, as PyTorch does.
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def _check_input(x: Any, channels: int) -> None:
    """The channel count of an ndarray input. Type, dtype, rank, zero sizes
    and memory layout are checked by the extension, which names ``x``,
    ``grad_output`` and ``out`` as the methods do."""
    if isinstance(x, np.ndarray):
        contract.check_channels(x.shape, channels, "x")


class _Layer:
    """Shared parameter handling: a dict of canonical float32 arrays."""

    _params: Dict[str, Array]

    def _expected(self) -> contract.Expected:
        """Maps each key to (canonical shape, accepted shapes)."""
        raise NotImplementedError

    def state_dict(self) -> Dict[str, Array]:
        """Copies of the parameters as float32 arrays, keyed as in the PyTorch reference."""
        return {key: value.copy() for key, value in self._params.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Replaces every parameter with a float32 copy of the given values.

        Values may be anything ``numpy.asarray`` accepts, including PyTorch
        tensors (also ones that require grad). Linear weights may come in
        1x1-convolution form ``[out, in, 1, ...]``. Missing, unexpected or
        misshapen entries raise ValueError and leave the layer unchanged.
        """
        prepared = prepare(state_dict, self._expected())
        extra = sorted(set(state_dict) - set(prepared))
        if extra:
            raise ValueError(f"unexpected keys in state_dict: {', '.join(map(str, extra))}")
        self._set_params(prepared)

    def _set_params(self, params: Dict[str, Array]) -> None:
        self._params = params

    def __call__(self, *args: Any, **kwargs: Any) -> Array:
        """Same as :meth:`forward`."""
        return self.forward(*args, **kwargs)  # type: ignore[attr-defined]


class ChannelSELayer(_Layer):
    """Channel squeeze & excitation (cSE, the SENet block).

    ``y = x * sigmoid(fc2(relu(fc1(mean(x over space)))))`` per sample and
    channel, with ``fc1: C -> hidden`` and ``fc2`` back to C.

    Args:
        num_channels: C, the channel count of the inputs.
        reduction_ratio: bottleneck divisor r; the hidden width is C // r
            (0 is allowed and gives the gate sigmoid(fc2.bias)).
        bias: whether fc1 and fc2 have biases.
        hidden: the hidden width itself (>= 0); overrides C // r when given,
            e.g. for timm's SEModule, whose width is not C // r.
            ``reduction_ratio`` is then kept only as an attribute.
        seed: seed (or a numpy Generator) for the parameter initialisation,
            which follows PyTorch's nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Attributes:
        num_channels, reduction_ratio, has_bias: as given.
        num_channels_reduced: the hidden width in use (``hidden`` in the C
            ABI and Swift; the attribute keeps the reference modules' name).
    """

    def __init__(self, num_channels: int, reduction_ratio: int = 2, bias: bool = True, *,
                 hidden: Optional[int] = None, seed: Any = None) -> None:
        self.num_channels = _positive_int(num_channels, "num_channels")
        self.reduction_ratio = _positive_int(reduction_ratio, "reduction_ratio")
        self.num_channels_reduced = _hidden_width(hidden, self.num_channels,
                                                  self.reduction_ratio)
        self.has_bias = bool(bias)
        self._params = self._initial(np.random.default_rng(seed))

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], source: str = "auto") -> "ChannelSELayer":
        """A layer holding the channel gate of another implementation's state_dict.

        The channel count, hidden width and bias come from the tensors.
        ``source`` names the key layout: ``"aimed"`` (``fc1``/``fc2``),
        ``"timm"`` (SEModule, ``fc1``/``fc2`` as 1x1 convolutions),
        ``"monai"`` (``fc.0``/``fc.2``), ``"conv1x1"``
        (``Conv_Squeeze``/``Conv_Excitation``), ``"sequential"``
        (``excitation.0``/``excitation.2``), or ``"auto"`` to recognise it.
        See :func:`scse.detect_source` for each source's semantics.
        Raises ValueError listing the keys found when nothing matches.
        """
        return _checked(layer_from_block(read_block(state_dict, "cse", source)), cls)

    def _initial(self, rng: np.random.Generator) -> Dict[str, Array]:
        # Drawn in the reference's creation order (fc1 weight, bias, fc2 ...),
        # which is also the order of the keys.
        return {key: _uniform(rng, shape, self.num_channels if key.startswith("fc1")
                              else self.num_channels_reduced)
                for key, (shape, _) in self._expected().items()}

    def _expected(self) -> contract.Expected:
        return contract.channel_shapes(self.num_channels, self.num_channels_reduced,
                                       self.has_bias)

    def _tensors(self) -> Tuple[Any, ...]:
        """(w1, b1, w2, b2) for contract.native_gates."""
        return tuple(self._params.get(key) for key in contract.CHANNEL_KEYS)

    def forward(self, x: Array, out: Optional[Array] = None) -> Array:
        """Applies the channel gate to x of shape (N, C, *spatial).

        x must be float32, C-contiguous or channels-last dense; the result
        has x's memory layout. ``out`` may be x itself (in place) or a
        writeable array of the same shape and layout; it is returned.
        """
        _check_input(x, self.num_channels)
        cse, _ = contract.native_gates(self.num_channels_reduced, *self._tensors(), None, None)
        return _native.forward(x, cse=cse, out=out)

    def backward(self, x: Array, grad_output: Array) -> Tuple[Array, Grads]:
        """Gradients of ``sum(grad_output * forward(x))``.

        Returns ``(grad_input, grads)``: grad_input in x's layout, grads a
        dict with the state_dict's keys and the parameter shapes.
        """
        _check_input(x, self.num_channels)
        cse, _ = contract.native_gates(self.num_channels_reduced, *self._tensors(), None, None)
        grad_x, cse_grads, _ = _native.backward(x, grad_output, cse=cse)
        return grad_x, contract.named_grads(contract.flat_grads(cse_grads, None))

    def __repr__(self) -> str:
        return (f"ChannelSELayer(num_channels={self.num_channels}, "
                f"reduction_ratio={self.reduction_ratio}, bias={self.has_bias}"
                f"{_hidden_repr(self)})")


class SpatialSELayer(_Layer):
    """Spatial squeeze & excitation (sSE).

    ``y = x * sigmoid(conv(x))`` where ``conv`` is a 1x1 convolution from C
    channels to one; with few-shot ``weights`` (K, C, 1, 1) the convolution
    uses their mean over K and no bias, as the reference does.

    Args:
        num_channels: C, the channel count of the inputs.
        bias: whether the convolution has a bias.
        seed: seed (or a numpy Generator) for the parameter initialisation,
            which follows PyTorch's nn.Conv2d: U(-1/sqrt(C), 1/sqrt(C)).
    """

    def __init__(self, num_channels: int, bias: bool = True, *, seed: Any = None) -> None:
        self.num_channels = _positive_int(num_channels, "num_channels")
        self.has_bias = bool(bias)
        self._params = self._initial(np.random.default_rng(seed))

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], source: str = "auto") -> "SpatialSELayer":
        """A layer holding the spatial gate of another implementation's state_dict.

        ``source``: ``"aimed"`` or ``"conv1x1"`` (``conv``), ``"sequential"``
        (``spatial_excitation.0``) or ``"auto"``. The channel count and bias
        come from the tensors. Raises ValueError listing the keys found when
        nothing matches.
        """
        return _checked(layer_from_block(read_block(state_dict, "sse", source)), cls)

    def _initial(self, rng: np.random.Generator) -> Dict[str, Array]:
        return {key: _uniform(rng, shape, self.num_channels)
                for key, (shape, _) in self._expected().items()}

    def _expected(self) -> contract.Expected:
        return contract.spatial_shapes(self.num_channels, self.has_bias)

    def _tensors(self, weights: Optional[Array]) -> Tuple[Any, ...]:
        """(sw, sb) for contract.native_gates: the few-shot rows without bias,
        else conv.weight and conv.bias."""
        if weights is not None:
            return (weights.reshape(weights.shape[0], self.num_channels), None)
        return (self._params["conv.weight"], self._params.get("conv.bias"))

    def _weights(self, weights: Any) -> Optional[Array]:
        """Few-shot weights as a float32 array of their own shape, or None."""
        if weights is None:
            return None
        array = to_float32(weights, "weights")
        if array.ndim < 2 or array.shape[0] < 1 or math.prod(array.shape[1:]) != self.num_channels:
            raise ValueError(
                f"weights must have shape (K, {self.num_channels}, 1, 1) with K >= 1 "
                f"(K rows of {self.num_channels} values), got {array.shape}"
            )
        return array

    def forward(self, x: Array, weights: Any = None, out: Optional[Array] = None) -> Array:
        """Applies the spatial gate to x of shape (N, C, *spatial).

        ``weights``: optional few-shot conditioner weights (K, C, 1, 1) whose
        mean over K replaces conv.weight (and no bias is used). x must be
        float32, C-contiguous or channels-last dense; the result has x's
        layout. ``out`` may be x itself or a writeable array of x's shape
        and layout; it is returned.
        """
        _check_input(x, self.num_channels)
        _, sse = contract.native_gates(None, None, None, None, None,
                                       *self._tensors(self._weights(weights)))
        return _native.forward(x, sse=sse, out=out)

    def backward(self, x: Array, grad_output: Array, weights: Any = None) -> Tuple[Array, Grads]:
        """Gradients of ``sum(grad_output * forward(x, weights))``.

        Returns ``(grad_input, grads)``; grads has the state_dict's keys and,
        when ``weights`` is given, a ``"weights"`` entry of the weights'
        shape (conv.weight and conv.bias take no part then: zero gradients).
        """
        _check_input(x, self.num_channels)
        few_shot = self._weights(weights)
        _, sse = contract.native_gates(None, None, None, None, None, *self._tensors(few_shot))
        grad_x, _, sse_grads = _native.backward(x, grad_output, sse=sse)
        if few_shot is None:
            return grad_x, contract.named_grads(contract.flat_grads(None, sse_grads))
        grads = {key: np.zeros_like(value) for key, value in self._params.items()}
        assert sse_grads is not None
        grads["weights"] = sse_grads[0].reshape(few_shot.shape)
        return grad_x, grads

    def __repr__(self) -> str:
        return f"SpatialSELayer(num_channels={self.num_channels}, bias={self.has_bias})"


class ChannelSpatialSELayer(_Layer):
    """Concurrent spatial and channel squeeze & excitation (scSE).

    ``y = cSE(x) + sSE(x)`` (``aggregate="sum"``, the MICCAI paper) or their
    element-wise maximum (``aggregate="max"``, what ai-med's published
    package computes; ties split the gradient).

    Args:
        num_channels: C, the channel count of the inputs.
        reduction_ratio: cSE bottleneck divisor (hidden width C // r).
        aggregate: "sum" or "max".
        bias: whether the linear layers and the convolution have biases.
        hidden: the cSE hidden width itself; overrides C // r when given.
        seed: seed (or a numpy Generator) for the initialisation of cSE,
            then sSE, each as in its own class.

    The two branches are available as ``layer.cSE`` and ``layer.sSE``; they
    hold this layer's parameters.
    """

    def __init__(self, num_channels: int, reduction_ratio: int = 2, aggregate: str = "sum",
                 bias: bool = True, *, hidden: Optional[int] = None, seed: Any = None) -> None:
        contract.aggregate_code(aggregate)
        self.aggregate = aggregate
        rng = np.random.default_rng(seed)
        self.cSE = ChannelSELayer(num_channels, reduction_ratio, bias, hidden=hidden, seed=rng)
        self.sSE = SpatialSELayer(num_channels, bias, seed=rng)
        self.num_channels = self.cSE.num_channels
        self.reduction_ratio = self.cSE.reduction_ratio
        self.num_channels_reduced = self.cSE.num_channels_reduced
        self.has_bias = self.cSE.has_bias

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], source: str = "auto", *,
                        aggregate: Optional[str] = None) -> "ChannelSpatialSELayer":
        """A layer holding the scSE block of another implementation's state_dict.

        ``source``: ``"smp"`` (segmentation_models_pytorch SCSEModule),
        ``"aimed"`` (``cSE.fc1`` ... ``sSE.conv``), ``"conv1x1"``
        (``cSE.Conv_Squeeze`` ... ``sSE.conv``), ``"sequential"``
        (``cSE.excitation.0`` ... ``sSE.spatial_excitation.0``) or
        ``"auto"``. Channels, hidden width and bias come from the tensors.

        The aggregate cannot be read from weights. Without ``aggregate``,
        ``source="aimed"`` gives ``"max"`` (ai-med's published package
        combines the branches with torch.max) and every other source,
        ``"auto"`` included, gives ``"sum"`` (the paper, SMP, the seeds'
        variants). Raises ValueError listing the keys found when nothing
        matches.
        """
        block = read_block(state_dict, "scse", source, aggregate=aggregate)
        return _checked(layer_from_block(block), cls)

    @property
    def _params(self) -> Dict[str, Array]:  # type: ignore[override]
        params = {contract.CHANNEL_PREFIX + k: v for k, v in self.cSE._params.items()}
        params.update({contract.SPATIAL_PREFIX + k: v for k, v in self.sSE._params.items()})
        return params

    def _expected(self) -> contract.Expected:
        return contract.scse_shapes(self.num_channels, self.num_channels_reduced, self.has_bias)

    def _set_params(self, params: Dict[str, Array]) -> None:
        # Both branches were validated before either changes.
        for prefix, branch in ((contract.CHANNEL_PREFIX, self.cSE),
                               (contract.SPATIAL_PREFIX, self.sSE)):
            branch._params = {k[len(prefix):]: v for k, v in params.items()
                              if k.startswith(prefix)}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Loads ``cSE.*`` and ``sSE.*`` entries; see ChannelSELayer.load_state_dict.

        Both branches are validated before either changes.
        """
        super().load_state_dict(state_dict)

    def _gates(self) -> Tuple[Optional[tuple], Optional[tuple]]:
        return contract.native_gates(self.num_channels_reduced, *self.cSE._tensors(),
                                     *self.sSE._tensors(None))

    def forward(self, x: Array, out: Optional[Array] = None) -> Array:
        """Applies scSE to x of shape (N, C, *spatial).

        x must be float32, C-contiguous or channels-last dense; the result
        has x's layout. ``out`` may be x itself (in place) or a writeable
        array of x's shape and layout; it is returned.
        """
        _check_input(x, self.num_channels)
        cse, sse = self._gates()
        return _native.forward(x, cse=cse, sse=sse,
                               aggregate=contract.AGGREGATES[self.aggregate], out=out)

    def backward(self, x: Array, grad_output: Array) -> Tuple[Array, Grads]:
        """Gradients of ``sum(grad_output * forward(x))``.

        Returns ``(grad_input, grads)`` with grads keyed like state_dict().
        """
        _check_input(x, self.num_channels)
        cse, sse = self._gates()
        grad_x, cse_grads, sse_grads = _native.backward(
            x, grad_output, cse=cse, sse=sse, aggregate=contract.AGGREGATES[self.aggregate])
        return grad_x, contract.named_grads(contract.flat_grads(cse_grads, sse_grads),
                                            contract.CHANNEL_PREFIX, contract.SPATIAL_PREFIX)

    def __repr__(self) -> str:
        return (f"ChannelSpatialSELayer(num_channels={self.num_channels}, "
                f"reduction_ratio={self.reduction_ratio}, aggregate={self.aggregate!r}, "
                f"bias={self.has_bias}{_hidden_repr(self.cSE)})")


#: What from_state_dict and extract_blocks return.
Layer = Union[ChannelSELayer, SpatialSELayer, ChannelSpatialSELayer]


def _hidden_repr(layer: ChannelSELayer) -> str:
    # Shown only when it is not what reduction_ratio alone would give.
    if layer.num_channels_reduced == layer.num_channels // layer.reduction_ratio:
        return ""
    return f", hidden={layer.num_channels_reduced}"


def _checked(layer: _Layer, cls: type) -> Any:
    assert isinstance(layer, cls)
    return layer


def layer_from_block(block: Block) -> Layer:
    """The layer of a block read by _weights, holding its parameters."""
    if block.kind == "sse":
        layer: Layer = SpatialSELayer(block.channels, block.has_bias, seed=0)
    elif block.kind == "cse":
        layer = ChannelSELayer(block.channels, block.reduction_ratio or 1, block.has_bias,
                               hidden=block.hidden, seed=0)
    else:
        layer = ChannelSpatialSELayer(block.channels, block.reduction_ratio or 1,
                                      block.aggregate, block.has_bias, hidden=block.hidden,
                                      seed=0)
    layer._set_params(dict(block.params))
    return layer


def extract_blocks(state_dict: Mapping[str, Any],
                   prefix_pattern: Union[str, Pattern[str], None] = None, *,
                   source: str = "auto", kinds: Optional[Sequence[str]] = None,
                   aggregate: Optional[str] = None) -> Dict[str, Layer]:
    """Finds every cSE / sSE / scSE block in a whole model's state_dict.

    Returns ``{module name: layer}`` in state_dict order, where the module
    name is the block's path without the trailing dot, as in
    ``model.named_modules()`` (e.g. ``"decoder.blocks.0.attention1.attention"``
    in an SMP Unet built with ``decoder_attention_type="scse"``), and the
    layer is a :class:`ChannelSpatialSELayer`, :class:`ChannelSELayer` or
    :class:`SpatialSELayer` holding its weights.

    Args:
        state_dict: a model's state_dict (tensors or arrays).
        prefix_pattern: a regular expression the module name must match
            entirely (``re.fullmatch``), e.g.
            ``r"decoder\\.blocks\\.\\d+\\.attention[12]\\.attention"``. With a
            pattern, a matching block whose tensors do not fit together
            raises ValueError; without one it is skipped as a look-alike.
        source: restricts the key layouts to one source (see
            :func:`detect_source`); "auto" accepts all.
        kinds: restricts the block kinds, any of "scse", "cse", "sse".
        aggregate: aggregate of the scSE layers returned; by default
            ``"max"`` with ``source="aimed"``, else ``"sum"`` (it cannot be
            read from weights; see :func:`detect_source`).

    A block is a module whose keys are exactly one layout's. The outermost
    match wins: the ``cSE.`` part of an scSE block is not returned again.
    Without a pattern or ``kinds``, other modules with the same parameters
    are found too: a module holding just an MLP ``fc1``/``fc2`` with weights
    [H, C] and [C, H] looks like an ai-med channel gate, and one holding
    just a 1x1 convolution to one channel named ``conv`` like a spatial
    gate. Pass a pattern or ``kinds=("scse",)`` to avoid them.
    """
    blocks = find_blocks(state_dict, prefix_pattern, source=source, kinds=kinds,
                         aggregate=aggregate)
    return {name: layer_from_block(block) for name, block in blocks.items()}
