"""Loading the weights of other cSE / sSE / scSE implementations.

Each supported implementation stores the same parameters under its own key
names, sometimes as 1x1 convolutions instead of linear layers. This module
knows those layouts, recognises them in a state_dict, and builds our layers
from them; the channel count, hidden width and bias are read from the
tensors.
The sources and their semantics are described in :func:`detect_source`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Pattern, Sequence, Tuple, Union

import numpy as np

from ._layers import ChannelSELayer, ChannelSpatialSELayer, SpatialSELayer, _to_float32

__all__ = ["SOURCES", "detect_source", "extract_blocks", "layer_from_state_dict"]

#: Accepted ``source=`` names besides ``"auto"``.
SOURCES: Tuple[str, ...] = ("aimed", "smp", "monai", "timm", "seed002", "seed003")

#: What extract_blocks returns for each block.
Layer = Union[ChannelSELayer, SpatialSELayer, ChannelSpatialSELayer]

_KINDS = ("scse", "cse", "sse")
_KIND_NAMES = {"scse": "scSE (ChannelSpatialSELayer)", "cse": "cSE (ChannelSELayer)",
               "sse": "sSE (SpatialSELayer)"}
_CLASS_NAMES = {"scse": "ChannelSpatialSELayer", "cse": "ChannelSELayer",
                "sse": "SpatialSELayer"}

# Our canonical names, in the order of the other tuples below.
_CHANNEL = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
_SPATIAL = ("conv.weight", "conv.bias")


@dataclass(frozen=True)
class _Layout:
    """Key names of one source's block; weights first, then biases."""

    source: str
    kind: str
    channel: Tuple[str, ...] = ()  # keys for _CHANNEL, or () without a channel gate
    spatial: Tuple[str, ...] = ()  # keys for _SPATIAL, or () without a spatial gate
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
        gate_prefix = {"scse": ("cSE.", "sSE."), "cse": ("", ""), "sse": ("", "")}[self.kind]
        for canon, theirs in zip(_CHANNEL, self.channel):
            ours[gate_prefix[0] + canon] = prefix + theirs
        for canon, theirs in zip(_SPATIAL, self.spatial):
            ours[gate_prefix[1] + canon] = prefix + theirs
        return ours


def _prefixed(prefix: str, keys: Tuple[str, ...]) -> Tuple[str, ...]:
    return tuple(prefix + k for k in keys)


_CSE_KEYS = {
    "aimed": _CHANNEL,
    "monai": ("fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"),
    "seed002": ("Conv_Squeeze.weight", "Conv_Squeeze.bias",
                "Conv_Excitation.weight", "Conv_Excitation.bias"),
    "seed003": ("excitation.0.weight", "excitation.0.bias",
                "excitation.2.weight", "excitation.2.bias"),
}
_SSE_KEYS = {
    "aimed": _SPATIAL,
    "seed003": ("spatial_excitation.0.weight", "spatial_excitation.0.bias"),
}

# Order matters only among layouts with equal keys: the first one wins.
_LAYOUTS: Tuple[_Layout, ...] = (
    _Layout("smp", "scse", _prefixed("cSE.", ("1.weight", "1.bias", "3.weight", "3.bias")),
            _prefixed("sSE.", ("0.weight", "0.bias"))),
    _Layout("aimed", "scse", _prefixed("cSE.", _CSE_KEYS["aimed"]),
            _prefixed("sSE.", _SSE_KEYS["aimed"])),
    _Layout("seed002", "scse", _prefixed("cSE.", _CSE_KEYS["seed002"]),
            _prefixed("sSE.", _SSE_KEYS["aimed"])),
    _Layout("seed003", "scse", _prefixed("cSE.", _CSE_KEYS["seed003"]),
            _prefixed("sSE.", _SSE_KEYS["seed003"])),
    _Layout("aimed", "cse", _CSE_KEYS["aimed"], conv_form=False),
    _Layout("timm", "cse", _CSE_KEYS["aimed"], conv_form=True),
    _Layout("monai", "cse", _CSE_KEYS["monai"]),
    _Layout("seed002", "cse", _CSE_KEYS["seed002"]),
    _Layout("seed003", "cse", _CSE_KEYS["seed003"]),
    _Layout("aimed", "sse", spatial=_SSE_KEYS["aimed"]),
    _Layout("seed002", "sse", spatial=_SSE_KEYS["aimed"]),
    _Layout("seed003", "sse", spatial=_SSE_KEYS["seed003"]),
)


def _check_source(source: str) -> str:
    if source != "auto" and source not in SOURCES:
        raise ValueError(f"source must be 'auto' or one of {', '.join(map(repr, SOURCES))}, "
                         f"got {source!r}")
    return source


def _check_kinds(kinds: Optional[Sequence[str]]) -> Tuple[str, ...]:
    if kinds is None:
        return _KINDS
    if isinstance(kinds, str):
        kinds = (kinds,)
    unknown = [k for k in kinds if k not in _KINDS]
    if unknown:
        raise ValueError(f"kinds must be among 'scse', 'cse', 'sse', got {unknown}")
    return tuple(kinds)


def _candidates(kinds: Sequence[str], source: str) -> List[_Layout]:
    return [lay for lay in _LAYOUTS
            if lay.kind in kinds and (source == "auto" or lay.source == source)]


def _find_layout(block: Mapping[str, Any], kinds: Sequence[str], source: str) -> Optional[_Layout]:
    found = [lay for lay in _candidates(kinds, source) if lay.matches(block)]
    if not found:
        return None
    if source == "auto" and len(found) > 1 and found[0].conv_form is not None:
        # aimed and timm share key names; timm stores 1x1 convolutions.
        conv = np.ndim(block[found[0].channel[0]]) > 2
        found.sort(key=lambda lay: lay.conv_form != conv)
    return found[0]


def _shape(value: Any) -> Any:
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else type(value).__name__


def _describe_keys(state_dict: Mapping[str, Any], limit: int = 12) -> str:
    items = [f"{k!r} {_shape(v)}" for k, v in list(state_dict.items())[:limit]]
    more = len(state_dict) - limit
    if more > 0:
        items.append(f"... and {more} more")
    return ", ".join(items) if items else "none"


def _describe_layouts(kinds: Sequence[str], source: str) -> str:
    lines = []
    for lay in _candidates(kinds, source):
        lines.append(f"  {lay.source} {lay.kind}: {', '.join(lay.all_keys())} "
                     "(biases optional)")
    return "\n".join(lines)


def _build(layout: _Layout, block: Mapping[str, Any], aggregate: str, prefix: str = "") -> Layer:
    """Our layer with the block's parameters; ValueError names the source's keys."""
    renames = layout.renames(prefix)
    ours = {canon: _to_float32(block[theirs[len(prefix):]], theirs)
            for canon, theirs in renames.items() if theirs[len(prefix):] in block}
    has_bias = any(key.endswith("bias") for key in ours)
    if layout.kind == "sse":
        layer: Layer = SpatialSELayer(_spatial_channels(ours["conv.weight"], renames["conv.weight"]),
                                      bias=has_bias, seed=0)
    else:
        key = "fc1.weight" if layout.kind == "cse" else "cSE.fc1.weight"
        w1 = ours[key]
        if w1.ndim < 2:
            raise ValueError(f"{renames[key]}: expected shape (hidden, C) or (hidden, C, 1, 1), "
                             f"got {w1.shape}")
        hidden, channels = w1.shape[0], w1.shape[1]
        # Informational only (hidden= decides); a width above C has ratio 1.
        ratio = max(1, channels // hidden) if hidden > 0 else channels + 1
        if layout.kind == "cse":
            layer = ChannelSELayer(channels, ratio, has_bias, hidden=hidden, seed=0)
        else:
            layer = ChannelSpatialSELayer(channels, ratio, aggregate, has_bias, hidden=hidden, seed=0)
    try:
        layer.load_state_dict(ours)
    except ValueError as exc:
        message = str(exc)
        for canon, theirs in renames.items():
            if message.startswith(canon + ":"):
                message = theirs + message[len(canon):]
                break
        else:
            message = f"{message} (keys renamed from the {layout.source} layout)"
        raise ValueError(f"{layout.source} {layout.kind} weights do not fit together: "
                         f"{message}") from None
    return layer


def _spatial_channels(weight: np.ndarray, key: str) -> int:
    if weight.ndim == 1:
        return int(weight.shape[0])
    if weight.ndim >= 2 and weight.shape[0] == 1:
        return int(weight.shape[1])
    raise ValueError(f"{key}: expected shape (1, C, 1, 1), got {weight.shape}")


def _require_mapping(state_dict: Any) -> Mapping[str, Any]:
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
    return state_dict


def layer_from_state_dict(state_dict: Mapping[str, Any], kind: str, source: str = "auto",
                          aggregate: str = "sum") -> Layer:
    """Our ``kind`` layer ("cse", "sse" or "scse") from a block's state_dict."""
    state_dict = _require_mapping(state_dict)
    source = _check_source(source)
    layout = _find_layout(state_dict, (kind,), source)
    if layout is None:
        raise ValueError(_no_match_message(state_dict, kind, source))
    return _build(layout, state_dict, aggregate)


def _no_match_message(state_dict: Mapping[str, Any], kind: str, source: str) -> str:
    wanted = "a known" if source == "auto" else f"the {source!r}"
    lines = [f"no {_KIND_NAMES[kind]} weights in {wanted} key layout found. "
             f"Keys given: {_describe_keys(state_dict)}."]
    layouts = _describe_layouts((kind,), source)
    if layouts:
        lines.append("Accepted layouts:\n" + layouts)
    else:
        lines.append(f"The {source!r} source has no {_KIND_NAMES[kind]} block; "
                     f"sources with one: "
                     f"{', '.join(sorted({lay.source for lay in _LAYOUTS if lay.kind == kind}))}.")
    other = _find_layout(state_dict, [k for k in _KINDS if k != kind], "auto")
    if other is not None:
        lines.append(f"These are {other.source} {_KIND_NAMES[other.kind]} weights: use "
                     f"scse.{_CLASS_NAMES[other.kind]}.from_state_dict.")
    else:
        try:
            blocks = extract_blocks(state_dict)
        except ValueError:
            blocks = {}
        if blocks:
            names = ", ".join(repr(name) for name in list(blocks)[:5])
            lines.append(f"This looks like a whole model's state_dict with blocks at {names}: "
                         "use scse.extract_blocks.")
    return "\n".join(lines)


def detect_source(state_dict: Mapping[str, Any]) -> Tuple[str, str]:
    """Recognises the implementation a block's state_dict comes from.

    Returns ``(source, kind)``, e.g. ``("smp", "scse")`` or ``("timm",
    "cse")``; kind is "scse", "cse" or "sse". The keys must be exactly one
    block's (use :func:`extract_blocks` for a whole model). Layouts with the
    same key names are told apart by shape (timm's 1x1-convolution weights
    vs ai-med's linear ones) or reported under the first name: the sSE
    ``conv`` keys of ai-med and seed 002 are both reported as "aimed".
    Raises ValueError, listing the keys, when no layout matches.

    The sources and how their math relates to ours:

    ``"aimed"``
        ai-med ``squeeze_and_excitation``: ``ChannelSELayer`` (``fc1``/``fc2``
        nn.Linear), ``SpatialSELayer`` (``conv``, a 1x1 nn.Conv2d),
        ``ChannelSpatialSELayer`` (``cSE.``/``sSE.`` of those). The reference
        our layers reproduce; its scSE sums the branches (the max variant is a
        commented-out line there: pass ``aggregate="max"`` if it was used).
    ``"smp"``
        segmentation_models_pytorch ``SCSEModule(in_channels, reduction=16)``:
        ``cSE`` = Sequential(AdaptiveAvgPool2d(1), Conv2d(C, C//16, 1), ReLU,
        Conv2d(C//16, C, 1), Sigmoid), ``sSE`` = Sequential(Conv2d(C, 1, 1),
        Sigmoid), forward ``x * cSE(x) + x * sSE(x)``: our ``"sum"`` scSE, with
        biases always. SMP runs it on 2-D images only.
    ``"monai"``
        MONAI ``ChannelSELayer(spatial_dims, in_channels, r=2, acti_type_1=relu,
        acti_type_2=sigmoid, add_residual=False)``: ``fc`` = Sequential(Linear,
        act1, Linear, act2), biases always. Equal to ours only with those
        default activations and without ``add_residual``. Neither is recorded in
        the state_dict, so weights of a layer built otherwise (e.g. MONAI's
        ``ResidualSELayer``: leaky ReLU, ReLU gate, ``x + SE(x)``, same keys)
        load without complaint but compute something else.
    ``"timm"``
        timm ``SEModule`` / ``SqueezeExcite``: ``fc1``/``fc2`` as 1x1 Conv2d.
        Its hidden width is ``make_divisible(C * rd_ratio, 8)`` (8 for C = 64),
        not C // r, hence read from the tensors. Equal to ours with the
        defaults act_layer=ReLU, gate_layer='sigmoid', add_maxpool=False,
        norm_layer=None; a norm layer adds ``bn.*`` keys and is rejected, the
        other options are not recorded in the state_dict. timm's EfficientNet /
        MobileNetV3 ``SqueezeExcite`` (``conv_reduce``/``conv_expand``, SiLU or
        hard-sigmoid gates) is a different computation and is not accepted.
    ``"seed002"``
        1x1-convolution scSE: ``cSE.Conv_Squeeze`` / ``cSE.Conv_Excitation``
        (r = 2) after adaptive average pooling, ``sSE.conv``; sum.
    ``"seed003"``
        ``cSE.excitation.0`` / ``.2`` (nn.Linear, ratio 16; the standalone
        channel gate also exists without biases), ``sSE.spatial_excitation.0``
        (1x1 Conv2d); sum.

    All of them use ReLU between the two channel-gate layers and sigmoid gates,
    as our kernels do; ReLU(inplace=True) changes nothing in the math.
    """
    state_dict = _require_mapping(state_dict)
    layout = _find_layout(state_dict, _KINDS, "auto")
    if layout is None:
        raise ValueError(f"no known cSE / sSE / scSE key layout matches. Keys given: "
                         f"{_describe_keys(state_dict)}.\nAccepted layouts:\n"
                         f"{_describe_layouts(_KINDS, 'auto')}")
    return layout.source, layout.kind


def _module_name(prefix_with_dot: str) -> str:
    return prefix_with_dot[:-1] if prefix_with_dot else ""


def extract_blocks(state_dict: Mapping[str, Any],
                   prefix_pattern: Union[str, Pattern[str], None] = None, *,
                   source: str = "auto", kinds: Optional[Sequence[str]] = None,
                   aggregate: str = "sum") -> Dict[str, Layer]:
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
        aggregate: aggregate of the scSE layers returned.

    A block is a module whose keys are exactly one layout's. The outermost
    match wins: the ``cSE.`` part of an scSE block is not returned again.
    Without a pattern or ``kinds``, other modules with the same parameters
    are found too: a module holding just an MLP ``fc1``/``fc2`` with weights
    [H, C] and [C, H] looks like an ai-med channel gate, and one holding
    just a 1x1 convolution to one channel named ``conv`` like a spatial
    gate. Pass a pattern or ``kinds=("scse",)`` to avoid them.
    """
    state_dict = _require_mapping(state_dict)
    source = _check_source(source)
    kinds = _check_kinds(kinds)
    if isinstance(prefix_pattern, str):
        prefix_pattern = re.compile(prefix_pattern)
    layouts = _candidates(kinds, source)
    keys = [k for k in state_dict if isinstance(k, str)]

    prefixes = set()
    for key in keys:
        for layout in layouts:
            anchor = layout.weight_keys()[0]
            if key == anchor:
                prefixes.add("")
            elif key.endswith("." + anchor):
                prefixes.add(key[: -len(anchor)])
    found: Dict[str, Layer] = {}
    taken: List[str] = []
    # Outer blocks first, so their inner cSE / sSE parts are not reported.
    for prefix in sorted(prefixes, key=lambda p: (p.count("."), p)):
        if any(prefix.startswith(outer) for outer in taken):
            continue
        name = _module_name(prefix)
        if prefix_pattern is not None and not prefix_pattern.fullmatch(name):
            continue
        block = {k[len(prefix):]: state_dict[k] for k in keys if k.startswith(prefix)}
        match = _find_layout(block, kinds, source)
        if match is None:
            continue
        try:
            layer = _build(match, block, aggregate, prefix)
        except ValueError:
            if prefix_pattern is not None:
                raise
            continue
        found[name] = layer
        taken.append(prefix)
    order: Dict[str, int] = {}
    for index, key in enumerate(keys):
        for prefix in taken:
            if key.startswith(prefix):
                order.setdefault(_module_name(prefix), index)
    return dict(sorted(found.items(), key=lambda item: order[item[0]]))
