"""The facts the Python package shares, each written once.

This module imports nothing from the package and only the standard library,
so every other module may import it. It holds:

* the parameter names (state_dict keys) and their shapes;
* the layout of the gate tuples passed to ``scse._native`` and of the
  gradient tuples it returns;
* the aggregate codes of ``include/scse.h`` (``scse_aggregate``); the
  extension exposes the header's values as ``AGGREGATE_SUM`` /
  ``AGGREGATE_MAX`` and the tests check them against these;
* the supported input ranks (1 to 3 spatial dimensions; the C ABI takes
  only their product, so this is a rule of the Python API; the extension
  enforces it on the arrays it gets and exports its limits, which the tests
  compare with these);
* the key maps of other implementations (the ``source=`` names).

Names. The hidden (bottleneck) width of the channel gate is ``hidden`` in
the C ABI, in Swift and in the ``hidden=`` constructor argument; the layer
attribute keeps the reference modules' name ``num_channels_reduced`` (the
same number). ``reduction_ratio`` (r) gives ``hidden = C // r`` when
``hidden`` is not given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

# --- aggregates ------------------------------------------------------------

#: The scse_aggregate codes of include/scse.h.
AGGREGATE_SUM = 0
AGGREGATE_MAX = 1
#: ``aggregate=`` names and their codes.
AGGREGATES: Dict[str, int] = {"sum": AGGREGATE_SUM, "max": AGGREGATE_MAX}


def aggregate_code(aggregate: Any) -> int:
    """The scse_aggregate code of an ``aggregate=`` name; ValueError otherwise."""
    if aggregate not in AGGREGATES:
        raise ValueError(f'aggregate must be "sum" or "max", got {aggregate!r}')
    return AGGREGATES[aggregate]


# --- input ranks -------------------------------------------------------------

#: Inputs are (N, C, *spatial) with this many spatial dimensions.
MIN_SPATIAL_DIMS = 1
MAX_SPATIAL_DIMS = 3


def supported_rank(ndim: int) -> bool:
    """Whether an input with ``ndim`` dimensions has 1 to 3 spatial ones."""
    return 2 + MIN_SPATIAL_DIMS <= ndim <= 2 + MAX_SPATIAL_DIMS


def check_channels(shape: Tuple[int, ...], channels: int, name: str) -> None:
    """ValueError unless axis 1 of a shape with at least two axes is ``channels``."""
    if len(shape) >= 2 and shape[1] != channels:
        raise ValueError(f"{name} has {shape[1]} channels, the layer expects {channels}")


def check_input_shape(shape: Tuple[int, ...], channels: int, name: str) -> None:
    """ValueError unless ``shape`` is (N, channels, *spatial) with 1 to 3 spatial dims.

    ``name`` is the argument's name as the caller spelled it. (The extension
    enforces the same rank for the arrays it is given; the tests check its
    limits against these.)
    """
    if not 2 + MIN_SPATIAL_DIMS <= len(shape) <= 2 + MAX_SPATIAL_DIMS:  # supported_rank
        raise ValueError(
            f"{name} must have shape (N, C, *spatial) with {MIN_SPATIAL_DIMS} to "
            f"{MAX_SPATIAL_DIMS} spatial dimensions, got shape {tuple(shape)}"
        )
    check_channels(shape, channels, name)


# --- parameters ----------------------------------------------------------------

#: The channel gate's keys, in the order of the native tuples below.
CHANNEL_KEYS: Tuple[str, ...] = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
#: The spatial gate's keys.
SPATIAL_KEYS: Tuple[str, ...] = ("conv.weight", "conv.bias")
#: Key prefixes of the two branches of an scSE layer.
CHANNEL_PREFIX = "cSE."
SPATIAL_PREFIX = "sSE."
#: Every parameter in the flat order (w1, b1, w2, b2, sw, sb) used by
#: :func:`native_gates` and :func:`flat_grads`.
FLAT_KEYS: Tuple[str, ...] = CHANNEL_KEYS + SPATIAL_KEYS

# Per key: (canonical shape, accepted shapes).
Expected = Dict[str, Tuple[Tuple[int, ...], Tuple[Tuple[int, ...], ...]]]


def _trailing_ones(shape: Tuple[int, ...]) -> Tuple[Tuple[int, ...], ...]:
    # A 1x1 convolution stores a Linear weight as [out, in, 1, ...] with one 1
    # per spatial dimension (Conv1d to Conv3d).
    return tuple(shape + (1,) * k for k in range(MAX_SPATIAL_DIMS + 1))


def channel_shapes(channels: int, hidden: int, bias: bool) -> Expected:
    """The channel gate's parameters: fc1 [hidden, C], fc2 [C, hidden], biases.

    Linear weights are also accepted in 1x1-convolution form [out, in, 1, ...].
    """
    c, h = channels, hidden
    expected: Expected = {"fc1.weight": ((h, c), _trailing_ones((h, c)))}
    if bias:
        expected["fc1.bias"] = ((h,), ((h,),))
    expected["fc2.weight"] = ((c, h), _trailing_ones((c, h)))
    if bias:
        expected["fc2.bias"] = ((c,), ((c,),))
    return expected


def spatial_shapes(channels: int, bias: bool) -> Expected:
    """The spatial gate's parameters: conv.weight [1, C, 1, 1] (also [C] or
    [1, C, 1...]) and conv.bias [1]."""
    c = channels
    expected: Expected = {"conv.weight": ((1, c, 1, 1), ((c,),) + _trailing_ones((1, c)))}
    if bias:
        expected["conv.bias"] = ((1,), ((1,),))
    return expected


def scse_shapes(channels: int, hidden: int, bias: bool) -> Expected:
    """An scSE layer's parameters: the two gates' under ``cSE.`` / ``sSE.``."""
    expected = {CHANNEL_PREFIX + k: v for k, v in channel_shapes(channels, hidden, bias).items()}
    expected.update({SPATIAL_PREFIX + k: v for k, v in spatial_shapes(channels, bias).items()})
    return expected


# --- the native call's tuples ------------------------------------------------------


def native_gates(hidden: Optional[int], w1: Any, b1: Any, w2: Any, b2: Any, sw: Any,
                 sb: Any) -> Tuple[Optional[tuple], Optional[tuple]]:
    """``(cse, sse)`` arguments of ``_native.forward`` / ``backward``.

    ``hidden`` None means no channel gate, ``sw`` None no spatial gate;
    absent biases are None. ``sw`` may have K >= 1 rows, which are averaged.
    """
    cse = None if hidden is None else (hidden, w1, b1, w2, b2)
    sse = None if sw is None else (sw, sb)
    return cse, sse


def flat_grads(cse_grads: Optional[Sequence[Any]],
               sse_grads: Optional[Sequence[Any]]) -> Tuple[Any, ...]:
    """``_native.backward``'s parameter gradients as (w1, b1, w2, b2, sw, sb),
    None for an absent gate or bias."""
    return tuple(cse_grads or (None,) * 4) + tuple(sse_grads or (None,) * 2)


def named_grads(flat: Sequence[Any], channel_prefix: str = "",
                spatial_prefix: str = "") -> Dict[str, Any]:
    """Gradients of :func:`flat_grads` keyed like a state_dict (absent ones left out)."""
    keys = [channel_prefix + k for k in CHANNEL_KEYS] + [spatial_prefix + k for k in SPATIAL_KEYS]
    return {key: value for key, value in zip(keys, flat) if value is not None}


# --- other implementations' key layouts ---------------------------------------------

#: ``source=`` names besides ``"auto"`` (see scse.detect_source for each).
SOURCES: Tuple[str, ...] = ("aimed", "smp", "monai", "timm", "conv1x1", "sequential")

#: Spellings accepted with a DeprecationWarning: old name -> name.
DEPRECATED_SOURCES: Dict[str, str] = {"seed002": "conv1x1", "seed003": "sequential"}

#: The scSE aggregate a source's published code uses, where it is not "sum".
#: ai-med's squeeze_and_excitation package combines the branches with
#: torch.max. The aggregate is not stored in weights, so "auto" (and every
#: other source) gives "sum", the paper's choice.
SOURCE_AGGREGATES: Dict[str, str] = {"aimed": "max"}

#: Block kinds and how messages name them.
KINDS: Tuple[str, ...] = ("scse", "cse", "sse")
KIND_NAMES = {"scse": "scSE (ChannelSpatialSELayer)", "cse": "cSE (ChannelSELayer)",
              "sse": "sSE (SpatialSELayer)"}
CLASS_NAMES = {"scse": "ChannelSpatialSELayer", "cse": "ChannelSELayer",
               "sse": "SpatialSELayer"}


def default_aggregate(source: str) -> str:
    """The aggregate a block loaded with ``source=`` gets when none is given."""
    return SOURCE_AGGREGATES.get(source, "sum")


@dataclass(frozen=True)
class Layout:
    """Key names of one source's block; weights first, then biases."""

    source: str
    kind: str
    channel: Tuple[str, ...] = ()  # keys for CHANNEL_KEYS, or () without a channel gate
    spatial: Tuple[str, ...] = ()  # keys for SPATIAL_KEYS, or () without a spatial gate
    # Distinguishes layouts with equal key names: are the channel-gate
    # weights stored as 1x1 convolutions [out, in, 1, 1]?
    conv_form: Optional[bool] = None

    def weight_keys(self) -> List[str]:
        return list(self.channel[0:1] + self.channel[2:3] + self.spatial[0:1])

    def bias_groups(self) -> List[Tuple[str, ...]]:
        groups: List[Tuple[str, ...]] = []
        if self.channel:
            groups.append((self.channel[1], self.channel[3]))
        if self.spatial:
            groups.append((self.spatial[1],))
        return groups

    def all_keys(self) -> List[str]:
        return list(self.channel) + list(self.spatial)

    def matches(self, keys: Iterable[str]) -> bool:
        """The key set is exactly this layout's, with all biases or none."""
        keys = set(keys)
        if not set(self.weight_keys()) <= keys or not keys <= set(self.all_keys()):
            return False
        present = [all(k in keys for k in g) for g in self.bias_groups()]
        absent = [not any(k in keys for k in g) for g in self.bias_groups()]
        return all(present) or all(absent)

    def renames(self, prefix: str = "") -> Dict[str, str]:
        """Our key -> the source's key."""
        ours = {}
        channel_prefix, spatial_prefix = ((CHANNEL_PREFIX, SPATIAL_PREFIX)
                                          if self.kind == "scse" else ("", ""))
        for canon, theirs in zip(CHANNEL_KEYS, self.channel):
            ours[channel_prefix + canon] = prefix + theirs
        for canon, theirs in zip(SPATIAL_KEYS, self.spatial):
            ours[spatial_prefix + canon] = prefix + theirs
        return ours


def _prefixed(prefix: str, keys: Tuple[str, ...]) -> Tuple[str, ...]:
    return tuple(prefix + k for k in keys)


_CSE_KEYS = {
    "aimed": CHANNEL_KEYS,
    "monai": ("fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"),
    "conv1x1": ("Conv_Squeeze.weight", "Conv_Squeeze.bias",
                "Conv_Excitation.weight", "Conv_Excitation.bias"),
    "sequential": ("excitation.0.weight", "excitation.0.bias",
                   "excitation.2.weight", "excitation.2.bias"),
}
_SSE_KEYS = {
    "aimed": SPATIAL_KEYS,
    "sequential": ("spatial_excitation.0.weight", "spatial_excitation.0.bias"),
}

#: Every known layout. Order matters only among layouts with equal keys: the
#: first one wins (the 1x1-conv scSE's spatial gate is ai-med's ``conv``).
LAYOUTS: Tuple[Layout, ...] = (
    Layout("smp", "scse", _prefixed("cSE.", ("1.weight", "1.bias", "3.weight", "3.bias")),
           _prefixed("sSE.", ("0.weight", "0.bias"))),
    Layout("aimed", "scse", _prefixed("cSE.", _CSE_KEYS["aimed"]),
           _prefixed("sSE.", _SSE_KEYS["aimed"])),
    Layout("conv1x1", "scse", _prefixed("cSE.", _CSE_KEYS["conv1x1"]),
           _prefixed("sSE.", _SSE_KEYS["aimed"])),
    Layout("sequential", "scse", _prefixed("cSE.", _CSE_KEYS["sequential"]),
           _prefixed("sSE.", _SSE_KEYS["sequential"])),
    Layout("aimed", "cse", _CSE_KEYS["aimed"], conv_form=False),
    Layout("timm", "cse", _CSE_KEYS["aimed"], conv_form=True),
    Layout("monai", "cse", _CSE_KEYS["monai"]),
    Layout("conv1x1", "cse", _CSE_KEYS["conv1x1"]),
    Layout("sequential", "cse", _CSE_KEYS["sequential"]),
    Layout("aimed", "sse", spatial=_SSE_KEYS["aimed"]),
    Layout("conv1x1", "sse", spatial=_SSE_KEYS["aimed"]),
    Layout("sequential", "sse", spatial=_SSE_KEYS["sequential"]),
)
