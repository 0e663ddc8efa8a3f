"""``scse.torch.convert``: swaps the SE blocks of a model for scse modules.

A block is recognised by its class: the classes of segmentation_models_pytorch,
MONAI, timm and ai-med's ``squeeze_and_excitation`` package by identity (a
package is looked up only in ``sys.modules``: a model holding one of its
modules has imported it, so nothing is imported here), and the published
seed implementations, which live in users' own code, by class name and
submodule structure. The replacement is built from the block's state_dict
by the weight loaders (``from_state_dict``), which hold the key maps, and is
accepted only after it reproduces the block's output on a probe input.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from ._torch_modules import ChannelSELayer, ChannelSpatialSELayer, SpatialSELayer

__all__ = ["convert"]

_OURS = (ChannelSELayer, SpatialSELayer, ChannelSpatialSELayer)
_BUILD: Dict[str, Any] = {"cse": ChannelSELayer, "sse": SpatialSELayer,
                          "scse": ChannelSpatialSELayer}
# Probe inputs: (N, C, *spatial) with this spatial shape per dimensionality.
_PROBE_SPATIAL = {1: (7,), 2: (3, 5), 3: (2, 3, 4)}
# Largest difference from the block's output accepted on the probe, relative
# to the output's magnitude: float32 rounding is ~1e-7; the other aggregate,
# another activation or a residual differ at order 1.
_PROBE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class _Match:
    """What a recognised block is, or why it stays as it is."""

    kind: str = ""  # "cse", "sse" or "scse"
    source: str = ""  # the from_state_dict source of its key layout
    aggregates: Tuple[str, ...] = ("sum",)  # scSE aggregates to try, in order
    spatial_dims: int = 2
    unsupported: str = ""  # the reason, for blocks left as they are


def _unsupported(reason: str) -> _Match:
    return _Match(unsupported=reason)


def _class(module_name: str, name: str) -> Optional[type]:
    found = getattr(sys.modules.get(module_name), name, None)
    return found if isinstance(found, type) else None


def _is_relu(m: nn.Module) -> bool:
    return type(m) is nn.ReLU


def _is_sigmoid(m: nn.Module) -> bool:
    # timm's gate_layer="sigmoid" is its own Sigmoid module (x.sigmoid()).
    return type(m) is nn.Sigmoid or type(m) is _class("timm.layers.activations", "Sigmoid")


def _is_pointwise_conv(m: nn.Module, out_channels: Optional[int] = None) -> bool:
    return (isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
            and all(k == 1 for k in m.kernel_size) and all(s == 1 for s in m.stride)
            and all(d == 1 for d in m.dilation) and m.groups == 1
            and (not isinstance(m.padding, tuple) or all(p == 0 for p in m.padding))
            and m.padding != "same" and (out_channels is None or m.out_channels == out_channels))


def _is_global_avg_pool(m: nn.Module) -> bool:
    size = getattr(m, "output_size", None)
    return (isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d))
            and all(s == 1 for s in (size if isinstance(size, tuple) else (size,))))


_DIMS = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3, nn.AdaptiveAvgPool1d: 1,
         nn.AdaptiveAvgPool2d: 2, nn.AdaptiveAvgPool3d: 3}


def _spatial_dims(m: nn.Module) -> Optional[int]:
    """The spatial dimensionality of m's convolutions and pools (2 when it
    has none), or None when they disagree."""
    dims = {_DIMS[type(sub)] for sub in m.modules() if type(sub) in _DIMS}
    return None if len(dims) > 1 else dims.pop() if dims else 2


def _children(m: nn.Module, expected: Mapping[str, Callable[[nn.Module], bool]]) -> bool:
    """The module's children are exactly these names, each passing its check."""
    children = dict(m.named_children())
    return children.keys() == expected.keys() and all(check(children[n])
                                                      for n, check in expected.items())


def _sequential(m: nn.Module, *checks: Callable[[nn.Module], bool]) -> bool:
    return (type(m) is nn.Sequential and len(m) == len(checks)
            and all(check(child) for child, check in zip(m, checks)))


def _is_linear(m: nn.Module) -> bool:
    return type(m) is nn.Linear


# --- the structures of the published implementations --------------------------


def _aimed_cse(m: nn.Module) -> bool:
    expected = {"fc1": _is_linear, "fc2": _is_linear, "relu": _is_relu, "sigmoid": _is_sigmoid}
    if "avg_pool" in dict(m.named_children()):  # ai-med's 3-D class
        expected["avg_pool"] = _is_global_avg_pool
    return _children(m, expected)


def _aimed_sse(m: nn.Module) -> bool:
    return _children(m, {"conv": lambda c: _is_pointwise_conv(c, 1), "sigmoid": _is_sigmoid})


def _aimed_scse(m: nn.Module) -> bool:
    children = dict(m.named_children())
    return children.keys() == {"cSE", "sSE"} and _aimed_cse(children["cSE"]) \
        and _aimed_sse(children["sSE"])


def _conv1x1_cse(m: nn.Module) -> bool:
    return _children(m, {"avgpool": _is_global_avg_pool, "Conv_Squeeze": _is_pointwise_conv,
                         "relu": _is_relu, "Conv_Excitation": _is_pointwise_conv,
                         "norm": _is_sigmoid})


def _conv1x1_sse(m: nn.Module) -> bool:
    return _children(m, {"conv": lambda c: _is_pointwise_conv(c, 1), "norm": _is_sigmoid})


def _sequential_cse(m: nn.Module) -> bool:
    return _children(m, {"squeeze": _is_global_avg_pool, "excitation": lambda s: _sequential(
        s, _is_linear, _is_relu, _is_linear, _is_sigmoid)})


def _sequential_sse(m: nn.Module) -> bool:
    return _children(m, {"spatial_excitation": lambda s: _sequential(
        s, lambda c: _is_pointwise_conv(c, 1), _is_sigmoid)})


def _pair(cse: Callable[[nn.Module], bool], sse: Callable[[nn.Module], bool]
          ) -> Callable[[nn.Module], bool]:
    def check(m: nn.Module) -> bool:
        children = dict(m.named_children())
        return children.keys() == {"cSE", "sSE"} and cse(children["cSE"]) and sse(children["sSE"])
    return check


# Seed implementations, copied into users' code: class name -> (structure, kind, source).
_SEEDS: Dict[str, Tuple[Callable[[nn.Module], bool], str, str]] = {
    # ai-med's modules as the seeds print them (they sum; the package takes the max).
    "ChannelSELayer": (_aimed_cse, "cse", "aimed"),
    "SpatialSELayer": (_aimed_sse, "sse", "aimed"),
    "ChannelSpatialSELayer": (_aimed_scse, "scse", "aimed"),
    "cSE": (_conv1x1_cse, "cse", "conv1x1"),
    "sSE": (_conv1x1_sse, "sse", "conv1x1"),
    "scSE": (_pair(_conv1x1_cse, _conv1x1_sse), "scse", "conv1x1"),
    "cSE_Module": (_sequential_cse, "cse", "sequential"),
    "sSE_Module": (_sequential_sse, "sse", "sequential"),
    "scSE_Module": (_pair(_sequential_cse, _sequential_sse), "scse", "sequential"),
}


def _instance(m: nn.Module, module_name: str, name: str) -> Optional[type]:
    """The package class `name` when m is an instance of it (or of a subclass)."""
    cls = _class(module_name, name)
    return cls if cls is not None and isinstance(m, cls) else None


def _smp(m: nn.Module) -> Optional[_Match]:
    if _instance(m, "segmentation_models_pytorch.base.modules", "SCSEModule") is None:
        return None
    children = dict(m.named_children())
    if children.keys() == {"cSE", "sSE"} and _sequential(
            children["cSE"], _is_global_avg_pool, _is_pointwise_conv, _is_relu,
            _is_pointwise_conv, _is_sigmoid) and _sequential(
            children["sSE"], lambda c: _is_pointwise_conv(c, 1), _is_sigmoid):
        return _Match("scse", "smp")
    return _unsupported("its cSE/sSE submodules are not those SCSEModule builds")


def _monai(m: nn.Module) -> Optional[_Match]:
    if _instance(m, "monai.networks.blocks.squeeze_and_excitation", "ChannelSELayer") is None:
        return None
    if getattr(m, "add_residual", False):
        return _unsupported("add_residual=True adds the input to the gated output")
    fc, pool = getattr(m, "fc", None), getattr(m, "avg_pool", None)
    if not isinstance(fc, nn.Sequential) or len(fc) != 4 or not _is_global_avg_pool(pool):
        return _unsupported("its fc / avg_pool submodules are not those ChannelSELayer builds")
    if not _is_relu(fc[1]):
        return _unsupported(f"acti_type_1 is {type(fc[1]).__name__}; scse's hidden activation "
                            "is ReLU")
    if not _is_sigmoid(fc[3]):
        return _unsupported(f"acti_type_2 is {type(fc[3]).__name__}; scse's gate is a sigmoid")
    if not _sequential(fc, _is_linear, _is_relu, _is_linear, _is_sigmoid):
        return _unsupported("its fc layers are not nn.Linear")
    dims = {nn.AdaptiveAvgPool1d: 1, nn.AdaptiveAvgPool2d: 2, nn.AdaptiveAvgPool3d: 3}[type(pool)]
    return _Match("cse", "monai", spatial_dims=dims)


def _timm(m: nn.Module) -> Optional[_Match]:
    if (_instance(m, "timm.layers.squeeze_excite", "SEModule") is not None
            or _instance(m, "timm.models.senet", "SEModule") is not None):
        children = dict(m.named_children())
        if getattr(m, "add_maxpool", False):
            return _unsupported("add_maxpool=True mixes max pooling into the squeeze")
        bn = children.get("bn")
        if bn is not None and type(bn) is not nn.Identity:
            return _unsupported(f"norm_layer {type(bn).__name__} normalises the hidden layer")
        act = children.get("act", children.get("relu"))
        gate = children.get("gate", children.get("sigmoid"))
        if act is None or not _is_relu(act):
            return _unsupported(f"act_layer is {type(act).__name__}; scse's hidden activation "
                                "is ReLU")
        if gate is None or not _is_sigmoid(gate):
            return _unsupported(f"gate_layer is {type(gate).__name__}; scse's gate is a sigmoid")
        if not all(name in children and _is_pointwise_conv(children[name])
                   for name in ("fc1", "fc2")):
            return _unsupported("its fc1 / fc2 are not 1x1 convolutions")
        return _Match("cse", "timm")
    if _instance(m, "timm.layers.squeeze_excite", "EffectiveSEModule") is not None:
        return _unsupported("EffectiveSEModule has one convolution and a hard-sigmoid gate, "
                            "not the two-layer channel gate scse computes")
    if _instance(m, "timm.layers.squeeze_excite", "SqueezeExciteCl") is not None:
        return _unsupported("SqueezeExciteCl takes (N, H, W, C) inputs")
    if _instance(m, "timm.models._efficientnet_blocks", "SqueezeExcite") is not None:
        act = dict(m.named_children()).get("act1")
        if act is not None and not _is_relu(act):
            return _unsupported(f"EfficientNet-style SqueezeExcite with {type(act).__name__} "
                                "between its convolutions; scse's hidden activation is ReLU")
        return _unsupported("EfficientNet-style SqueezeExcite (conv_reduce / conv_expand) is "
                            "not a key layout scse reads")
    return None


_AIMED_MODULES = ("squeeze_and_excitation.squeeze_and_excitation",
                  "squeeze_and_excitation.squeeze_and_excitation_3D")


def _aimed(m: nn.Module) -> Optional[_Match]:
    for module_name in _AIMED_MODULES:
        dims = 3 if module_name.endswith("_3D") else 2
        suffix = "3D" if dims == 3 else ""
        for name, kind in (("ChannelSpatialSELayer", "scse"), ("ChannelSELayer", "cse"),
                           ("SpatialSELayer", "sse")):
            if _instance(m, module_name, name + suffix) is not None:
                structure = _SEEDS[name][0]
                if not structure(m):
                    return _unsupported(f"its submodules are not those {name}{suffix} builds")
                # The package's scSE takes the element-wise maximum of the branches.
                return _Match(kind, "aimed", ("max",) if kind == "scse" else ("sum",), dims)
        if _instance(m, module_name, "ProjectExciteLayer") is not None:
            return _unsupported("ProjectExciteLayer squeezes along each axis separately, "
                                "which is not an scSE block")
    return None


def _seed(m: nn.Module) -> Optional[_Match]:
    entry = _SEEDS.get(type(m).__name__)
    if entry is None or not entry[0](m):
        return None
    _, kind, source = entry
    dims = _spatial_dims(m)
    if dims is None:
        return _unsupported("its layers mix 1-D, 2-D and 3-D convolutions or pools")
    # The seeds sum the branches; a copy of ai-med's package takes the maximum:
    # the probe tells which one this class computes.
    return _Match(kind, source, ("sum", "max") if kind == "scse" else ("sum",), dims)


_RECOGNISERS = (_smp, _monai, _timm, _aimed, _seed)


def _recognise(m: nn.Module) -> Optional[_Match]:
    if isinstance(m, _OURS):
        return None
    for recognise in _RECOGNISERS:
        match = recognise(m)
        if match is not None:
            return match
    return None


# --- building and checking the replacement -----------------------------------


def _precondition(m: nn.Module) -> str:
    """Why m cannot be swapped whatever its class, or ""."""
    hooks = [name for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                               "_backward_pre_hooks")
             if any(len(getattr(sub, name, {})) for sub in m.modules())]
    if hooks:
        return "it has hooks registered, which the replacement would not run"
    params = list(m.parameters())
    dtypes = {p.dtype for p in params}
    if dtypes != {torch.float32}:
        names = ", ".join(sorted(str(d).replace("torch.", "") for d in dtypes))
        return f"its parameters are {names}; scse's modules hold float32 (convert before .to(dtype))"
    if len({p.device for p in params}) > 1:
        return "its parameters are on several devices"
    if len({p.requires_grad for p in params}) > 1:
        return "some of its parameters require grad and some do not"
    if list(m.buffers()):
        return "it has buffers, which no cSE / sSE / scSE block has"
    return ""


def _probe(m: nn.Module, candidate: nn.Module, match: _Match, channels: int) -> float:
    """Largest difference between the two modules' outputs on a random
    input, relative to the block's largest output."""
    device = next(m.parameters()).device
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((2, channels) + _PROBE_SPATIAL[match.spatial_dims], generator=generator)
    x = x.to(device)
    with torch.no_grad():
        theirs, ours = m(x.clone()), candidate(x.clone())
    if not isinstance(theirs, torch.Tensor) or theirs.shape != ours.shape:
        return float("inf")
    scale = theirs.abs().max().item()
    return (ours - theirs).abs().max().item() / max(scale, 1e-30)


def _replacement(m: nn.Module, match: _Match) -> Tuple[Optional[nn.Module], str]:
    """The scse module equivalent to m, or None and the reason."""
    reason = _precondition(m)
    if reason:
        return None, reason
    state = {k: v.detach() for k, v in m.state_dict().items()}
    params = list(m.parameters())
    worst = float("inf")
    for aggregate in match.aggregates:
        options = {"aggregate": aggregate} if match.kind == "scse" else {}
        try:
            new = _BUILD[match.kind].from_state_dict(state, match.source, **options)
        except (ValueError, TypeError) as error:
            return None, f"its weights do not load: {error}"
        new = new.to(params[0].device)
        for p in new.parameters():
            p.requires_grad_(params[0].requires_grad)
        new.train(m.training)
        try:
            difference = _probe(m, new, match, new.num_channels)
        except Exception as error:  # noqa: BLE001 - any failure keeps the block
            return None, f"running it on a probe input raised {type(error).__name__}: {error}"
        if difference <= _PROBE_TOLERANCE:
            return new, ""
        worst = min(worst, difference)
    return None, (f"its output differs from the equivalent scse module's by {worst:.2g} "
                  "(relative to its largest output) on a probe input; it computes something else")


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def convert(model: nn.Module) -> nn.Module:
    """Replaces every recognised cSE / sSE / scSE block of ``model`` by the
    equivalent scse module holding the same weights, in place, and returns
    the model (or, when ``model`` is itself such a block, its replacement).

    Recognised, each package only when the model uses it:

    * segmentation_models_pytorch ``SCSEModule`` -> :class:`ChannelSpatialSELayer`
      (sum), e.g. the decoder of ``Unet(..., decoder_attention_type="scse")``;
    * MONAI ``ChannelSELayer`` with the default activations (ReLU, sigmoid)
      and ``add_residual=False``, 1 to 3 spatial dimensions -> :class:`ChannelSELayer`;
    * timm ``SEModule`` (``timm.layers``, as in ``seresnet*``, and the legacy
      ``timm.models.senet`` one) with ReLU, a sigmoid gate, no norm layer and
      no ``add_maxpool`` -> :class:`ChannelSELayer` (hidden width from the weights);
    * ai-med's ``squeeze_and_excitation`` package: ``ChannelSELayer``,
      ``SpatialSELayer``, ``ChannelSpatialSELayer`` and their ``3D`` versions;
      its scSE takes the element-wise maximum -> ``aggregate="max"``;
    * the published seed implementations, which live in users' code, by
      class name and exact submodule structure: ai-med-style
      ``ChannelSELayer`` / ``SpatialSELayer`` / ``ChannelSpatialSELayer``,
      ``cSE`` / ``sSE`` / ``scSE`` (1x1 convolutions, ``Conv_Squeeze``) and
      ``cSE_Module`` / ``sSE_Module`` / ``scSE_Module`` (``excitation``
      Sequential). Which aggregate such an scSE class uses is found out by
      the probe below.

    Every replacement is checked before it is put in: on a small random
    input (``torch.Generator`` seeded 0; the global RNG is untouched) its
    output must equal the block's to 1e-4 of the largest value. The new
    modules are float32, on the block's device, in its training mode, with
    its ``requires_grad``; they are new parameters, so build the optimizer
    after converting. A module used at several paths is replaced by one new
    module at all of them.

    Blocks of those kinds that cannot be replaced exactly stay as they are,
    and one ``UserWarning`` lists each with its path and the reason: other
    activations or a residual (MONAI ``add_residual``, ``ResidualSELayer``),
    timm's ``norm_layer``, ``add_maxpool``, gate variants,
    ``EffectiveSEModule``, ``SqueezeExciteCl`` and EfficientNet-style
    ``SqueezeExcite``, ai-med's ``ProjectExciteLayer``, subclasses that
    compute something else, blocks with hooks, non-float32 parameters or
    partly frozen parameters, blocks that raise on the probe input. Modules
    of other classes are not looked at. Seed-style blocks are probed in the
    dimensionality of their convolutions and pools. Replacements are put in
    only after every block is checked: if convert raises, the model is
    unchanged.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    done: Dict[int, Optional[nn.Module]] = {}
    skipped: List[str] = []
    # (parent, attribute, replacement), set only once every block is checked,
    # so an exception raised on the way leaves the model as it was.
    swaps: List[Tuple[nn.Module, str, nn.Module]] = []

    def visit(module: nn.Module, path: str) -> Optional[nn.Module]:
        """The replacement of module, or None (its children are visited then)."""
        if id(module) in done:
            return done[id(module)]
        match = _recognise(module)
        new: Optional[nn.Module] = None
        if match is not None and not match.unsupported:
            new, reason = _replacement(module, match)
        elif match is not None:
            reason = match.unsupported
        done[id(module)] = new
        if match is not None and new is None:
            skipped.append(f"{path or '(the model itself)'} ({type(module).__name__}): {reason}")
        if match is None:
            # _modules, not named_children(), which lists a shared module once.
            for name, child in list(module._modules.items()):
                if child is None:
                    continue
                replacement = visit(child, _path(path, name))
                if replacement is not None:
                    swaps.append((module, name, replacement))
        return new

    result = visit(model, "")
    for parent, name, replacement in swaps:
        setattr(parent, name, replacement)
    if skipped:
        warnings.warn("scse.torch.convert left these modules as they are:\n  "
                      + "\n  ".join(skipped), UserWarning, stacklevel=2)
    return result if result is not None else model
