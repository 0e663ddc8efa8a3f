"""The cSE, sSE and scSE layers on numpy arrays, backed by libscse.

Parameter names, shapes and initialisation follow the PyTorch reference
modules (ChannelSELayer, SpatialSELayer, ChannelSpatialSELayer), so state
dicts move between the two unchanged.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from . import _native

__all__ = ["ChannelSELayer", "SpatialSELayer", "ChannelSpatialSELayer"]

Array = np.ndarray
Grads = Dict[str, np.ndarray]
# Per state_dict key: (canonical shape, accepted shapes).
_Expected = Dict[str, Tuple[Tuple[int, ...], Tuple[Tuple[int, ...], ...]]]

_AGGREGATES = {"sum": 0, "max": 1}
_MAX_SPATIAL_DIMS = 3


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if number < 1:
        raise ValueError(f"{name} must be >= 1, got {number}")
    return number


def _hidden_width(hidden: Any, num_channels: int, reduction_ratio: int) -> int:
    """The bottleneck width: ``hidden`` when given, else C // r."""
    if hidden is None:
        return num_channels // reduction_ratio
    if isinstance(hidden, bool):
        raise TypeError("hidden must be an int or None, got bool")
    try:
        width = operator.index(hidden)
    except TypeError:
        raise TypeError(f"hidden must be an int or None, got {type(hidden).__name__}") from None
    if width < 0:
        raise ValueError(f"hidden must be >= 0, got {width}")
    return width


def _uniform(rng: np.random.Generator, shape: Tuple[int, ...], fan_in: int) -> Array:
    # PyTorch's nn.Linear / nn.Conv2d default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    # for weight and bias (kaiming_uniform with a=sqrt(5) reduces to this).
    # A zero fan-in leaves an empty weight and a zero bias, as PyTorch does.
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def _to_float32(value: Any, key: str) -> Array:
    """np.asarray for state-dict values, also for torch tensors that require grad."""
    detach = getattr(value, "detach", None)
    if callable(detach) and not isinstance(value, np.ndarray):
        value = detach()
        cpu = getattr(value, "cpu", None)
        if callable(cpu):
            value = cpu()
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - re-raised with the key named
        raise TypeError(f"{key}: cannot convert {type(value).__name__} to an array") from exc
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{key}: expected real numbers, got dtype {array.dtype}")
    return np.array(array, dtype=np.float32, order="C", copy=True)


def _conform(array: Array, key: str, shape: Tuple[int, ...], accepted: Tuple[Tuple[int, ...], ...]) -> Array:
    """Reshapes an accepted form of a parameter to its canonical shape."""
    if array.shape not in accepted:
        forms = " or ".join(str(form) for form in accepted)
        raise ValueError(f"{key}: expected shape {forms}, got {array.shape}")
    return array.reshape(shape)


def _trailing_ones(shape: Tuple[int, ...]) -> Tuple[Tuple[int, ...], ...]:
    # A 1x1 convolution stores a Linear weight as [out, in, 1, ...] with one 1
    # per spatial dimension (Conv1d to Conv3d).
    return tuple(shape + (1,) * k for k in range(_MAX_SPATIAL_DIMS + 1))


def _check_input(x: Any, channels: int, name: str = "x") -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy.ndarray of float32, got {type(x).__name__} "
            "(convert with numpy.asarray(..., dtype=numpy.float32))"
        )
    if x.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32, got {x.dtype}")
    if not 3 <= x.ndim <= 2 + _MAX_SPATIAL_DIMS:
        raise ValueError(
            f"{name} must have shape (N, C, *spatial) with 1 to 3 spatial dimensions, "
            f"got shape {x.shape}"
        )
    if x.shape[1] != channels:
        raise ValueError(f"{name} has {x.shape[1]} channels, the layer expects {channels}")


def _check_grad_output(x: Array, grad_output: Any) -> None:
    if not isinstance(grad_output, np.ndarray):
        raise TypeError(
            f"grad_output must be a numpy.ndarray of float32, got {type(grad_output).__name__}"
        )
    if grad_output.dtype != np.float32:
        raise TypeError(f"grad_output must have dtype float32, got {grad_output.dtype}")
    if grad_output.shape != x.shape:
        raise ValueError(
            f"grad_output must have the shape of x {x.shape}, got {grad_output.shape}"
        )


class _Layer:
    """Shared parameter handling: a dict of canonical float32 arrays."""

    _params: Dict[str, Array]

    def _expected(self) -> _Expected:
        """Maps each key to (canonical shape, accepted shapes)."""
        raise NotImplementedError

    def state_dict(self) -> Dict[str, Array]:
        """Copies of the parameters as float32 arrays, keyed as in the PyTorch reference."""
        return {key: value.copy() for key, value in self._params.items()}

    def _prepare(self, state_dict: Mapping[str, Any], prefix: str = "") -> Dict[str, Array]:
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        expected = self._expected()
        missing = [prefix + key for key in expected if prefix + key not in state_dict]
        if missing:
            raise ValueError(f"missing keys in state_dict: {', '.join(missing)}")
        prepared = {}
        for key, (shape, accepted) in expected.items():
            full = prefix + key
            prepared[key] = _conform(_to_float32(state_dict[full], full), full, shape, accepted)
        return prepared

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Replaces every parameter with a float32 copy of the given values.

        Values may be anything ``numpy.asarray`` accepts, including PyTorch
        tensors (also ones that require grad). Linear weights may come in
        1x1-convolution form ``[out, in, 1, ...]``. Missing, unexpected or
        misshapen entries raise ValueError and leave the layer unchanged.
        """
        prepared = self._prepare(state_dict)
        extra = sorted(set(state_dict) - set(prepared))
        if extra:
            raise ValueError(f"unexpected keys in state_dict: {', '.join(map(str, extra))}")
        self._params = prepared

    def __call__(self, *args: Any, **kwargs: Any) -> Array:
        """Same as :meth:`forward`."""
        return self.forward(*args, **kwargs)  # type: ignore[attr-defined]


class ChannelSELayer(_Layer):
    """Channel squeeze & excitation (cSE, the SENet block).

    ``y = x * sigmoid(fc2(relu(fc1(mean(x over space)))))`` per sample and
    channel, with ``fc1: C -> C // reduction_ratio`` and ``fc2`` back to C.

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
        num_channels_reduced: the hidden width in use.
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
        ``"monai"`` (``fc.0``/``fc.2``), ``"seed002"``
        (``Conv_Squeeze``/``Conv_Excitation``), ``"seed003"``
        (``excitation.0``/``excitation.2``), or ``"auto"`` to recognise it.
        See :func:`scse.detect_source` for each source's semantics.
        Raises ValueError listing the keys found when nothing matches.
        """
        from ._weights import layer_from_state_dict

        layer = layer_from_state_dict(state_dict, "cse", source)
        assert isinstance(layer, ChannelSELayer)
        return layer

    def _initial(self, rng: np.random.Generator) -> Dict[str, Array]:
        c, h = self.num_channels, self.num_channels_reduced
        params = {"fc1.weight": _uniform(rng, (h, c), c)}
        if self.has_bias:
            params["fc1.bias"] = _uniform(rng, (h,), c)
        params["fc2.weight"] = _uniform(rng, (c, h), h)
        if self.has_bias:
            params["fc2.bias"] = _uniform(rng, (c,), h)
        # Key order of the reference's state_dict.
        order = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
        return {key: params[key] for key in order if key in params}

    def _expected(self) -> _Expected:
        c, h = self.num_channels, self.num_channels_reduced
        expected: _Expected = {"fc1.weight": ((h, c), _trailing_ones((h, c)))}
        if self.has_bias:
            expected["fc1.bias"] = ((h,), ((h,),))
        expected["fc2.weight"] = ((c, h), _trailing_ones((c, h)))
        if self.has_bias:
            expected["fc2.bias"] = ((c,), ((c,),))
        return expected

    def _gate(self) -> tuple:
        p = self._params
        return (self.num_channels_reduced, p["fc1.weight"], p.get("fc1.bias"),
                p["fc2.weight"], p.get("fc2.bias"))

    def forward(self, x: Array, out: Optional[Array] = None) -> Array:
        """Applies the channel gate to x of shape (N, C, *spatial).

        x must be float32, C-contiguous or channels-last dense; the result
        has x's memory layout. ``out`` may be x itself (in place) or a
        writeable array of the same shape and layout; it is returned.
        """
        _check_input(x, self.num_channels)
        return _native.forward(x, cse=self._gate(), out=out)

    def backward(self, x: Array, grad_output: Array) -> Tuple[Array, Grads]:
        """Gradients of ``sum(grad_output * forward(x))``.

        Returns ``(grad_input, grads)``: grad_input in x's layout, grads a
        dict with the state_dict's keys and the parameter shapes.
        """
        _check_input(x, self.num_channels)
        _check_grad_output(x, grad_output)
        grad_x, cse_grads, _ = _native.backward(x, grad_output, cse=self._gate())
        return grad_x, _channel_grads(cse_grads, "")

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

        ``source``: ``"aimed"`` or ``"seed002"`` (``conv``), ``"seed003"``
        (``spatial_excitation.0``) or ``"auto"``. The channel count and bias
        come from the tensors. Raises ValueError listing the keys found when
        nothing matches.
        """
        from ._weights import layer_from_state_dict

        layer = layer_from_state_dict(state_dict, "sse", source)
        assert isinstance(layer, SpatialSELayer)
        return layer

    def _initial(self, rng: np.random.Generator) -> Dict[str, Array]:
        c = self.num_channels
        params = {"conv.weight": _uniform(rng, (1, c, 1, 1), c)}
        if self.has_bias:
            params["conv.bias"] = _uniform(rng, (1,), c)
        return params

    def _expected(self) -> _Expected:
        c = self.num_channels
        expected: _Expected = {"conv.weight": ((1, c, 1, 1), ((c,),) + _trailing_ones((1, c)))}
        if self.has_bias:
            expected["conv.bias"] = ((1,), ((1,),))
        return expected

    def _gate(self, weights: Optional[Array]) -> tuple:
        if weights is not None:
            return (weights.reshape(weights.shape[0], self.num_channels), None)
        return (self._params["conv.weight"], self._params.get("conv.bias"))

    def _weights(self, weights: Any) -> Optional[Array]:
        """Few-shot weights as a float32 array of their own shape, or None."""
        if weights is None:
            return None
        array = _to_float32(weights, "weights")
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
        return _native.forward(x, sse=self._gate(self._weights(weights)), out=out)

    def backward(self, x: Array, grad_output: Array, weights: Any = None) -> Tuple[Array, Grads]:
        """Gradients of ``sum(grad_output * forward(x, weights))``.

        Returns ``(grad_input, grads)``; grads has the state_dict's keys and,
        when ``weights`` is given, a ``"weights"`` entry of the weights'
        shape (conv.weight and conv.bias take no part then: zero gradients).
        """
        _check_input(x, self.num_channels)
        _check_grad_output(x, grad_output)
        few_shot = self._weights(weights)
        grad_x, _, sse_grads = _native.backward(x, grad_output, sse=self._gate(few_shot))
        if few_shot is None:
            return grad_x, _spatial_grads(sse_grads, "")
        grads = {key: np.zeros_like(value) for key, value in self._params.items()}
        assert sse_grads is not None
        grads["weights"] = sse_grads[0].reshape(few_shot.shape)
        return grad_x, grads

    def __repr__(self) -> str:
        return f"SpatialSELayer(num_channels={self.num_channels}, bias={self.has_bias})"


class ChannelSpatialSELayer(_Layer):
    """Concurrent spatial and channel squeeze & excitation (scSE).

    ``y = cSE(x) + sSE(x)`` (``aggregate="sum"``, the MICCAI paper) or their
    element-wise maximum (``aggregate="max"``; ties split the gradient).

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
        if aggregate not in _AGGREGATES:
            raise ValueError(f'aggregate must be "sum" or "max", got {aggregate!r}')
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
                        aggregate: str = "sum") -> "ChannelSpatialSELayer":
        """A layer holding the scSE block of another implementation's state_dict.

        ``source``: ``"smp"`` (segmentation_models_pytorch SCSEModule),
        ``"aimed"`` (``cSE.fc1`` ... ``sSE.conv``), ``"seed002"``
        (``cSE.Conv_Squeeze`` ... ``sSE.conv``), ``"seed003"``
        (``cSE.excitation.0`` ... ``sSE.spatial_excitation.0``) or
        ``"auto"``. Channels, hidden width and bias come from the tensors;
        ``aggregate`` cannot be read from weights: every known source sums.
        Raises ValueError listing the keys found when nothing matches.
        """
        from ._weights import layer_from_state_dict

        layer = layer_from_state_dict(state_dict, "scse", source, aggregate=aggregate)
        assert isinstance(layer, cls)
        return layer

    @property
    def _params(self) -> Dict[str, Array]:  # type: ignore[override]
        params = {"cSE." + k: v for k, v in self.cSE._params.items()}
        params.update({"sSE." + k: v for k, v in self.sSE._params.items()})
        return params

    def _expected(self) -> _Expected:
        expected = {"cSE." + k: v for k, v in self.cSE._expected().items()}
        expected.update({"sSE." + k: v for k, v in self.sSE._expected().items()})
        return expected

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Loads ``cSE.*`` and ``sSE.*`` entries; see ChannelSELayer.load_state_dict.

        Both branches are validated before either changes.
        """
        channel = self.cSE._prepare(state_dict, "cSE.")
        spatial = self.sSE._prepare(state_dict, "sSE.")
        known = {"cSE." + k for k in channel} | {"sSE." + k for k in spatial}
        extra = sorted(set(state_dict) - known)
        if extra:
            raise ValueError(f"unexpected keys in state_dict: {', '.join(map(str, extra))}")
        self.cSE._params = channel
        self.sSE._params = spatial

    def forward(self, x: Array, out: Optional[Array] = None) -> Array:
        """Applies scSE to x of shape (N, C, *spatial).

        x must be float32, C-contiguous or channels-last dense; the result
        has x's layout. ``out`` may be x itself (in place) or a writeable
        array of x's shape and layout; it is returned.
        """
        _check_input(x, self.num_channels)
        return _native.forward(x, cse=self.cSE._gate(), sse=self.sSE._gate(None),
                               aggregate=_AGGREGATES[self.aggregate], out=out)

    def backward(self, x: Array, grad_output: Array) -> Tuple[Array, Grads]:
        """Gradients of ``sum(grad_output * forward(x))``.

        Returns ``(grad_input, grads)`` with grads keyed like state_dict().
        """
        _check_input(x, self.num_channels)
        _check_grad_output(x, grad_output)
        grad_x, cse_grads, sse_grads = _native.backward(
            x, grad_output, cse=self.cSE._gate(), sse=self.sSE._gate(None),
            aggregate=_AGGREGATES[self.aggregate])
        grads = _channel_grads(cse_grads, "cSE.")
        grads.update(_spatial_grads(sse_grads, "sSE."))
        return grad_x, grads

    def __repr__(self) -> str:
        return (f"ChannelSpatialSELayer(num_channels={self.num_channels}, "
                f"reduction_ratio={self.reduction_ratio}, aggregate={self.aggregate!r}, "
                f"bias={self.has_bias}{_hidden_repr(self.cSE)})")


def _hidden_repr(layer: ChannelSELayer) -> str:
    # Shown only when it is not what reduction_ratio alone would give.
    if layer.num_channels_reduced == layer.num_channels // layer.reduction_ratio:
        return ""
    return f", hidden={layer.num_channels_reduced}"


def _channel_grads(grads: Any, prefix: str) -> Grads:
    w1, b1, w2, b2 = grads
    named = {"fc1.weight": w1, "fc1.bias": b1, "fc2.weight": w2, "fc2.bias": b2}
    return {prefix + k: v for k, v in named.items() if v is not None}


def _spatial_grads(grads: Any, prefix: str) -> Grads:
    weight, bias = grads
    named = {"conv.weight": weight, "conv.bias": bias}
    return {prefix + k: v for k, v in named.items() if v is not None}
