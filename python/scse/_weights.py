"""Reading the weights of other cSE / sSE / scSE implementations.

Each supported implementation stores the same parameters under its own key
names (the key maps are in ``_contract``), sometimes as 1x1 convolutions
instead of linear layers. This module converts state-dict values, checks
their shapes, recognises a layout in a state_dict and turns it into a
:class:`Block`: the channel count, hidden width, bias and parameters under
our keys, read from the tensors. ``_layers`` builds layers from blocks; this
module knows nothing of layers.
The sources and their semantics are described in :func:`detect_source`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Pattern, Sequence, Tuple, Union

import numpy as np

from . import _contract as contract
from ._contract import KIND_NAMES, KINDS, LAYOUTS, Layout

__all__ = ["Block", "detect_source", "find_blocks", "read_block", "to_float32", "prepare"]

Array = np.ndarray


def to_float32(value: Any, key: str) -> Array:
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


def _conform(array: Array, key: str, shape: Tuple[int, ...],
             accepted: Tuple[Tuple[int, ...], ...]) -> Array:
    """Reshapes an accepted form of a parameter to its canonical shape."""
    if array.shape not in accepted:
        forms = " or ".join(str(form) for form in accepted)
        raise ValueError(f"{key}: expected shape {forms}, got {array.shape}")
    return array.reshape(shape)


def require_mapping(state_dict: Any) -> Mapping[str, Any]:
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
    return state_dict


def prepare(state_dict: Mapping[str, Any], expected: contract.Expected,
            prefix: str = "") -> Dict[str, Array]:
    """The ``expected`` parameters of ``state_dict`` (keys under ``prefix``) as
    float32 arrays of their canonical shapes; ValueError names a missing or
    misshapen entry, TypeError an unconvertible one."""
    state_dict = require_mapping(state_dict)
    missing = [prefix + key for key in expected if prefix + key not in state_dict]
    if missing:
        raise ValueError(f"missing keys in state_dict: {', '.join(missing)}")
    return {key: _conform(to_float32(state_dict[prefix + key], prefix + key), prefix + key,
                          shape, accepted)
            for key, (shape, accepted) in expected.items()}


@dataclass(frozen=True)
class Block:
    """One block's parameters under our keys, with what they imply."""

    source: str
    kind: str  # "scse", "cse" or "sse"
    channels: int
    hidden: Optional[int]  # None for "sse"
    reduction_ratio: Optional[int]  # informational: hidden decides
    has_bias: bool
    aggregate: str  # used by "scse" only
    params: Dict[str, Array]


def check_source(source: Any) -> str:
    """The source name, with deprecated spellings mapped (and warned about)."""
    if isinstance(source, str) and source in contract.DEPRECATED_SOURCES:
        new = contract.DEPRECATED_SOURCES[source]
        # 4: check_source <- read_block / find_blocks <- public method <- caller.
        warnings.warn(f"source={source!r} is deprecated, use source={new!r}",
                      DeprecationWarning, stacklevel=4)
        return new
    if source != "auto" and source not in contract.SOURCES:
        raise ValueError(f"source must be 'auto' or one of "
                         f"{', '.join(map(repr, contract.SOURCES))}, got {source!r}")
    return source


def _check_kinds(kinds: Optional[Sequence[str]]) -> Tuple[str, ...]:
    if kinds is None:
        return KINDS
    if isinstance(kinds, str):
        kinds = (kinds,)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"kinds must be among 'scse', 'cse', 'sse', got {unknown}")
    return tuple(kinds)


def _aggregate(aggregate: Optional[str], source: str) -> str:
    """The scSE aggregate: as given, else the source's (sum for "auto")."""
    if aggregate is None:
        return contract.default_aggregate(source)
    contract.aggregate_code(aggregate)  # ValueError for an unknown name
    return aggregate


def _candidates(kinds: Sequence[str], source: str) -> List[Layout]:
    return [lay for lay in LAYOUTS
            if lay.kind in kinds and (source == "auto" or lay.source == source)]


def _find_layout(block: Mapping[str, Any], kinds: Sequence[str], source: str) -> Optional[Layout]:
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


def _build(layout: Layout, block: Mapping[str, Any], aggregate: str, prefix: str = "") -> Block:
    """The block's parameters under our keys; ValueError names the source's keys."""
    renames = layout.renames(prefix)
    values = {canon: to_float32(block[theirs[len(prefix):]], theirs)
              for canon, theirs in renames.items() if theirs[len(prefix):] in block}
    has_bias = any(key.endswith("bias") for key in values)
    hidden: Optional[int] = None
    ratio: Optional[int] = None
    if layout.kind == "sse":
        channels = _spatial_channels(values["conv.weight"], renames["conv.weight"])
        expected = contract.spatial_shapes(channels, has_bias)
    else:
        key = "fc1.weight" if layout.kind == "cse" else contract.CHANNEL_PREFIX + "fc1.weight"
        w1 = values[key]
        if w1.ndim < 2:
            raise ValueError(f"{renames[key]}: expected shape (hidden, C) or (hidden, C, 1, 1), "
                             f"got {w1.shape}")
        hidden, channels = int(w1.shape[0]), int(w1.shape[1])
        # Informational only (hidden decides); a width above C has ratio 1.
        ratio = max(1, channels // hidden) if hidden > 0 else channels + 1
        expected = (contract.channel_shapes(channels, hidden, has_bias) if layout.kind == "cse"
                    else contract.scse_shapes(channels, hidden, has_bias))
    try:
        params = {canon: _conform(values[canon], renames[canon], shape, accepted)
                  for canon, (shape, accepted) in expected.items()}
    except ValueError as exc:
        raise ValueError(f"{layout.source} {layout.kind} weights do not fit together: "
                         f"{exc}") from None
    return Block(layout.source, layout.kind, channels, hidden, ratio, has_bias, aggregate, params)


def _spatial_channels(weight: np.ndarray, key: str) -> int:
    if weight.ndim == 1:
        return int(weight.shape[0])
    if weight.ndim >= 2 and weight.shape[0] == 1:
        return int(weight.shape[1])
    raise ValueError(f"{key}: expected shape (1, C, 1, 1), got {weight.shape}")


def read_block(state_dict: Mapping[str, Any], kind: str, source: str = "auto",
               aggregate: Optional[str] = None) -> Block:
    """The ``kind`` block ("cse", "sse" or "scse") of a block's state_dict.

    ``aggregate`` None takes the source's (``"max"`` for ``"aimed"``,
    ``"sum"`` otherwise and for ``"auto"``).
    """
    state_dict = require_mapping(state_dict)
    source = check_source(source)
    aggregate = _aggregate(aggregate, source)
    layout = _find_layout(state_dict, (kind,), source)
    if layout is None:
        raise ValueError(_no_match_message(state_dict, kind, source))
    return _build(layout, state_dict, aggregate)


def _no_match_message(state_dict: Mapping[str, Any], kind: str, source: str) -> str:
    wanted = "a known" if source == "auto" else f"the {source!r}"
    lines = [f"no {KIND_NAMES[kind]} weights in {wanted} key layout found. "
             f"Keys given: {_describe_keys(state_dict)}."]
    layouts = _describe_layouts((kind,), source)
    if layouts:
        lines.append("Accepted layouts:\n" + layouts)
    else:
        lines.append(f"The {source!r} source has no {KIND_NAMES[kind]} block; "
                     f"sources with one: "
                     f"{', '.join(sorted({lay.source for lay in LAYOUTS if lay.kind == kind}))}.")
    other = _find_layout(state_dict, [k for k in KINDS if k != kind], "auto")
    if other is not None:
        lines.append(f"These are {other.source} {KIND_NAMES[other.kind]} weights: use "
                     f"scse.{contract.CLASS_NAMES[other.kind]}.from_state_dict.")
    else:
        try:
            blocks = _find_blocks(state_dict, None, "auto", KINDS, "sum")
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
    ``conv`` keys of ai-med and of the 1x1-convolution scSE are both reported
    as "aimed".
    Raises ValueError, listing the keys, when no layout matches.

    The aggregate of an scSE block (sum or element-wise max of the branches)
    is not stored in its weights and cannot be read from them. Loading with
    ``source="auto"`` gives ``"sum"`` (the paper's choice, and what SMP, the
    1x1-convolution and nn.Sequential variants and many copies of ai-med's
    code use); ``source="aimed"`` gives ``"max"``, what ai-med's published
    package computes; ``aggregate=`` overrides either.

    The sources and how their math relates to ours:

    ``"aimed"``
        ai-med's ``squeeze_and_excitation`` package: ``ChannelSELayer``
        (``fc1``/``fc2`` nn.Linear), ``SpatialSELayer`` (``conv``, a 1x1
        nn.Conv2d), ``ChannelSpatialSELayer`` (``cSE.``/``sSE.`` of those),
        whose forward is ``torch.max(cSE(x), sSE(x))``: loading with
        ``source="aimed"`` gives ``aggregate="max"``. The key names are also
        those of this package's own layers and of copies of ai-med's code that
        sum the branches, which ``source="auto"`` (sum) loads.
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
    ``"conv1x1"`` (formerly ``"seed002"``)
        scSE with a 1x1-convolution channel gate: ``cSE.Conv_Squeeze`` /
        ``cSE.Conv_Excitation`` (r = 2) after adaptive average pooling,
        ``sSE.conv``; sum.
    ``"sequential"`` (formerly ``"seed003"``)
        scSE with nn.Sequential gates: ``cSE.excitation.0`` / ``.2``
        (nn.Linear, ratio 16; the standalone channel gate also exists without
        biases), ``sSE.spatial_excitation.0`` (1x1 Conv2d); sum.

    The old spellings ``"seed002"`` and ``"seed003"`` are still accepted as
    ``source=`` with a DeprecationWarning.

    All of them use ReLU between the two channel-gate layers and sigmoid gates,
    as our kernels do; ReLU(inplace=True) changes nothing in the math.
    """
    state_dict = require_mapping(state_dict)
    layout = _find_layout(state_dict, KINDS, "auto")
    if layout is None:
        raise ValueError(f"no known cSE / sSE / scSE key layout matches. Keys given: "
                         f"{_describe_keys(state_dict)}.\nAccepted layouts:\n"
                         f"{_describe_layouts(KINDS, 'auto')}")
    return layout.source, layout.kind


def _module_name(prefix_with_dot: str) -> str:
    return prefix_with_dot[:-1] if prefix_with_dot else ""


def find_blocks(state_dict: Mapping[str, Any],
                prefix_pattern: Union[str, Pattern[str], None] = None, *,
                source: str = "auto", kinds: Optional[Sequence[str]] = None,
                aggregate: Optional[str] = None) -> Dict[str, Block]:
    """Every block of a whole model's state_dict: see :func:`scse.extract_blocks`."""
    state_dict = require_mapping(state_dict)
    source = check_source(source)
    return _find_blocks(state_dict, prefix_pattern, source, _check_kinds(kinds),
                        _aggregate(aggregate, source))


def _find_blocks(state_dict: Mapping[str, Any], prefix_pattern: Union[str, Pattern[str], None],
                 source: str, kinds: Sequence[str], aggregate: str) -> Dict[str, Block]:
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
    found: Dict[str, Block] = {}
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
            built = _build(match, block, aggregate, prefix)
        except ValueError:
            if prefix_pattern is not None:
                raise
            continue
        found[name] = built
        taken.append(prefix)
    order: Dict[str, int] = {}
    for index, key in enumerate(keys):
        for prefix in taken:
            if key.startswith(prefix):
                order.setdefault(_module_name(prefix), index)
    return dict(sorted(found.items(), key=lambda item: order[item[0]]))
