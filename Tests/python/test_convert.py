"""scse.torch.convert on real models: segmentation_models_pytorch's Unet with
an scSE decoder, timm's seresnet18 and MONAI's blocks (`make deps` installs
them; under CI a missing one fails), ai-med's package (not on PyPI: its
classes are stood in by modules written from its design, registered under
its module names) and the seeds' classes.

A converted model must compute what the original computes: output, input
gradient and every parameter gradient (the SE blocks' under our key names)
are compared with the original model run in float64, and must be within 4x
the original float32 model's own error plus 8 float32 ulps of the largest
value, as in the parity suite (parity_check.accuracy_bound).
"""

import copy
import sys
import types
import warnings

import pytest
import torch
import torch.nn as nn

import ecosystem_modules as eco
import scse.torch
from optional_packages import require
from parity_check import EPS32, F64_SLACK_ULPS

# Our key -> the source block's key, for comparing parameter gradients.
SMP_KEYS = {"cSE.fc1.weight": "cSE.1.weight", "cSE.fc1.bias": "cSE.1.bias",
            "cSE.fc2.weight": "cSE.3.weight", "cSE.fc2.bias": "cSE.3.bias",
            "sSE.conv.weight": "sSE.0.weight", "sSE.conv.bias": "sSE.0.bias"}
MONAI_KEYS = {"fc1.weight": "fc.0.weight", "fc1.bias": "fc.0.bias",
              "fc2.weight": "fc.2.weight", "fc2.bias": "fc.2.bias"}
SAME_KEYS = None  # the source uses our key names

def _count(model, cls):
    return sum(isinstance(m, cls) for m in model.modules())


def _grads(model, x, seed):
    """Output, input gradient and {parameter name: gradient} for a fixed
    random output gradient."""
    x = x.detach().clone().requires_grad_(True)
    y = model(x)
    grad_y = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    y.backward(grad_y)
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()
             if p.grad is not None}  # a few encoder parameters take no part in the output
    return y.detach(), x.grad.detach(), grads


def _renamed(grads, block_paths, keys):
    """The converted model's gradients under the original model's names."""
    if keys is None:
        return grads
    out = {}
    for name, grad in grads.items():
        for path in block_paths:
            prefix = f"{path}." if path else ""
            if name.startswith(prefix) and name[len(prefix):] in keys:
                name = prefix + keys[name[len(prefix):]]
                break
        out[name] = grad
    return out


def _within(label, ours, t32, f64):
    """Checks the bound; returns max |ours - t32| and max |f64|."""
    ours, t32 = ours.double().reshape(f64.shape), t32.double()
    scale = f64.abs().max().item()
    bound = 4 * (t32 - f64).abs().max().item() + F64_SLACK_ULPS * EPS32 * scale
    error = (ours - f64).abs().max().item()
    assert error <= bound, f"{label}: converted model off by {error:.3g} > bound {bound:.3g}"
    return (ours - t32).abs().max().item(), scale


def check_equivalent(name, original, converted, x, block_paths, keys):
    """Converted vs original (float32) vs original in float64."""
    f64_model = copy.deepcopy(original).double()
    y64, gx64, g64 = _grads(f64_model, x.double(), 1)
    y32, gx32, g32 = _grads(original, x, 1)
    yc, gxc, gc = _grads(converted, x, 1)
    gc = _renamed(gc, block_paths, keys)
    assert gc.keys() == g32.keys()
    report = [_within(f"{name} y", yc, y32, y64), _within(f"{name} grad x", gxc, gx32, gx64)]
    params = [_within(f"{name} grad {key}", gc[key], g32[key], g64[key]) for key in g32]
    report.append((max(d for d, _ in params), max(s for _, s in params)))
    # Shown with pytest -s: differences from the original float32 model,
    # relative to the largest value (of all parameter gradients together).
    print(f"convert: {name}: max |converted - original| / max |original|: " + ", ".join(
        f"{what} {d / max(s, 1e-30):.1e}" for what, (d, s) in zip(("y", "grad x", "grad params"),
                                                                  report)))


def _converted(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a supported model converts without a warning
        return scse.torch.convert(copy.deepcopy(model))


def _paths(model, cls):
    return [name for name, m in model.named_modules() if isinstance(m, cls)]


def test_smp_unet_scse_decoder():
    smp = require("segmentation_models_pytorch")
    from segmentation_models_pytorch.base.modules import SCSEModule
    torch.manual_seed(0)
    model = smp.Unet("resnet18", encoder_weights=None, decoder_attention_type="scse",
                     decoder_channels=(64, 32, 32, 16, 16)).eval()
    blocks = _paths(model, SCSEModule)
    converted = _converted(model)
    assert _count(converted, SCSEModule) == 0
    assert _paths(converted, scse.torch.ChannelSpatialSELayer) == blocks and len(blocks) == 10
    assert all(converted.get_submodule(p).aggregate == "sum" for p in blocks)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    check_equivalent("smp Unet(resnet18, scse)", model, converted, x, blocks, SMP_KEYS)


def test_timm_seresnet18():
    timm = require("timm")
    from timm.layers.squeeze_excite import SEModule
    torch.manual_seed(0)
    # zero_init_last=False: with timm's default the last BatchNorm of every
    # residual branch starts at 0, and the SE blocks would not affect the output.
    model = timm.create_model("seresnet18", pretrained=False, num_classes=10,
                              zero_init_last=False).eval()
    blocks = _paths(model, SEModule)
    converted = _converted(model)
    assert _count(converted, SEModule) == 0
    assert _paths(converted, scse.torch.ChannelSELayer) == blocks and len(blocks) == 8
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    check_equivalent("timm seresnet18", model, converted, x, blocks, SAME_KEYS)


def test_timm_legacy_senet_module():
    require("timm")
    from timm.models.senet import SEModule
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 32, 3), SEModule(32, reduction=4), nn.Conv2d(32, 2, 1))
    converted = _converted(model)
    assert isinstance(converted[1], scse.torch.ChannelSELayer)
    x = torch.randn(2, 3, 9, 9, generator=torch.Generator().manual_seed(0))
    check_equivalent("timm senet SEModule", model, converted, x, ["1"], SAME_KEYS)


def test_monai_blocks():
    monai = require("monai.networks.blocks")
    torch.manual_seed(0)
    for dims, shape in ((1, (2, 24, 9)), (2, (2, 24, 5, 6)), (3, (2, 24, 3, 4, 5))):
        model = nn.Sequential(
            nn.Conv1d(24, 24, 1) if dims == 1 else nn.Identity(),
            monai.ChannelSELayer(dims, 24, r=4),
            monai.SEBlock(dims, 24, 16, 16, 24, r=2),
        ).train()
        blocks = _paths(model, monai.ChannelSELayer)
        converted = _converted(model)
        assert _count(converted, monai.ChannelSELayer) == 0 and len(blocks) == 2
        assert converted.training and converted[1].training
        x = torch.randn(shape, generator=torch.Generator().manual_seed(dims))
        check_equivalent(f"monai blocks {dims}-D", model, converted, x, blocks, MONAI_KEYS)


def _warned_paths(model):
    with pytest.warns(UserWarning) as record:
        result = scse.torch.convert(model)
    ours = [w for w in record if "scse.torch.convert" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in record]
    return result, str(ours[0].message)


def test_unsupported_configurations_stay_with_one_warning():
    monai = require("monai.networks.blocks")
    require("timm")
    from timm.layers.squeeze_excite import EffectiveSEModule, SEModule, SqueezeExciteCl
    from timm.models._efficientnet_blocks import SqueezeExcite
    torch.manual_seed(0)
    model = nn.ModuleDict({
        "residual": monai.ChannelSELayer(2, 16, add_residual=True),
        "residual_layer": monai.ResidualSELayer(2, 16),
        "leaky": monai.ChannelSELayer(2, 16, acti_type_1="leakyrelu"),
        "maxpool": SEModule(16, add_maxpool=True),
        "norm": SEModule(16, norm_layer=nn.BatchNorm2d),
        "hard_gate": SEModule(16, gate_layer="hard_sigmoid"),
        "effective": EffectiveSEModule(16),
        "efficientnet": SqueezeExcite(16, act_layer=nn.SiLU),
        "channels_last": SqueezeExciteCl(16),
        "fine": SEModule(16),
    })
    kept = {name: m for name, m in model.items() if name != "fine"}
    result, message = _warned_paths(model)
    assert result is model
    assert isinstance(model["fine"], scse.torch.ChannelSELayer)
    for name, module in kept.items():
        assert model[name] is module, f"{name} was replaced"
        assert f"\n  {name} ({type(module).__name__}): " in message
    for reason in ("add_residual", "acti_type_1 is LeakyReLU", "add_maxpool", "BatchNorm2d",
                   "gate_layer is", "EffectiveSEModule", "SiLU", "(N, H, W, C)"):
        assert reason in message, reason


def _aimed_package(monkeypatch):
    """ai-med's module names with classes written from its design (2-D and
    3-D); its scSE takes the maximum of the branches."""
    package = types.ModuleType("squeeze_and_excitation")
    monkeypatch.setitem(sys.modules, package.__name__, package)
    modules = []
    for suffix in ("", "3D"):
        name = "squeeze_and_excitation" + ("_3D" if suffix else "")
        module = types.ModuleType(f"squeeze_and_excitation.{name}")

        class ChannelSELayer(eco.AimedChannelSE):
            def __init__(self, num_channels, reduction_ratio=2, three_d=bool(suffix)):
                super().__init__(num_channels, reduction_ratio)
                if three_d:
                    self.avg_pool = nn.AdaptiveAvgPool3d(1)

        class SpatialSELayer(eco.AimedSpatialSE):
            def __init__(self, num_channels, three_d=bool(suffix)):
                super().__init__(num_channels)
                if three_d:
                    self.conv = nn.Conv3d(num_channels, 1, 1)

        class ChannelSpatialSELayer(eco.AimedChannelSpatialSE):
            def __init__(self, num_channels, reduction_ratio=2):
                super().__init__(num_channels, reduction_ratio, aggregate="max")
                self.cSE = ChannelSELayer(num_channels, reduction_ratio)
                self.sSE = SpatialSELayer(num_channels)

        classes = {"ChannelSELayer": ChannelSELayer, "SpatialSELayer": SpatialSELayer,
                   "ChannelSpatialSELayer": ChannelSpatialSELayer}
        if suffix:
            classes["ProjectExciteLayer"] = type("ProjectExciteLayer", (nn.Module,), {})
        for cls_name, cls in classes.items():
            full = cls_name if cls_name == "ProjectExciteLayer" else cls_name + suffix
            cls.__name__ = cls.__qualname__ = full
            cls.__module__ = module.__name__
            setattr(module, full, cls)
        setattr(package, name, module)
        monkeypatch.setitem(sys.modules, module.__name__, module)
        modules.append(module)
    return modules


@pytest.mark.parametrize("three_d", [False, True])
def test_aimed_package_layers(monkeypatch, three_d):
    se = _aimed_package(monkeypatch)[three_d]
    suffix = "3D" if three_d else ""
    torch.manual_seed(0)
    model = nn.Sequential(getattr(se, "ChannelSpatialSELayer" + suffix)(16),
                          getattr(se, "ChannelSELayer" + suffix)(16, 4),
                          getattr(se, "SpatialSELayer" + suffix)(16))
    original = copy.deepcopy(model)
    if three_d:
        model.append(se.ProjectExciteLayer())
        result, message = _warned_paths(model)
        assert "\n  3 (ProjectExciteLayer): " in message and message.count("\n  ") == 1
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = scse.torch.convert(model)
    assert result is model
    assert [type(m) for m in model[:3]] == [scse.torch.ChannelSpatialSELayer,
                                            scse.torch.ChannelSELayer, scse.torch.SpatialSELayer]
    assert model[0].aggregate == "max"
    shape = (2, 16, 3, 4, 5) if three_d else (2, 16, 5, 6)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    check_equivalent(f"ai-med package {suffix or '2D'}", original, model[:3], x, ["0", "1", "2"],
                     SAME_KEYS)


def _named(cls, name):
    return type(name, (cls,), {})


@pytest.mark.parametrize("aggregate", ["sum", "max"])
def test_seed_classes(aggregate):
    torch.manual_seed(0)

    class ChannelSpatialSELayer(eco.AimedChannelSpatialSE):  # a seed's copy of ai-med's class
        def __init__(self, channels):
            super().__init__(channels, 2, aggregate=aggregate)

    model = nn.Sequential(
        ChannelSpatialSELayer(16),
        _named(eco.AimedChannelSE, "ChannelSELayer")(16),
        _named(eco.Conv1x1SCSE, "scSE")(16),
        nn.Conv2d(16, 32, 1),
        _named(eco.SequentialSCSE, "scSE_Module")(32),
        _named(eco.SequentialChannelSE, "cSE_Module")(32),
        nn.Conv2d(32, 16, 1),
        _named(eco.Conv1x1SpatialSE, "sSE")(16),
    )
    converted = _converted(model)
    kinds = [type(m).__name__ for m in converted]
    assert kinds == ["ChannelSpatialSELayer", "ChannelSELayer", "ChannelSpatialSELayer", "Conv2d",
                     "ChannelSpatialSELayer", "ChannelSELayer", "Conv2d", "SpatialSELayer"]
    assert all(type(converted[i]).__module__ == "scse.torch" for i in (0, 1, 2, 4, 5, 7))
    assert converted[0].aggregate == aggregate and converted[2].aggregate == "sum"
    x = torch.randn(2, 16, 5, 6, generator=torch.Generator().manual_seed(0))
    y, y_converted = model(x), converted(x)
    scale = y.abs().max().item()
    assert (y - y_converted).abs().max().item() <= 1e-5 * scale


def _in_dims(block, dims):
    """The block with its 2-D convolutions and pools made dims-D (same weights)."""
    for module in list(block.modules()):
        for name, child in module.named_children():
            if type(child) is nn.Conv2d:
                conv = getattr(nn, f"Conv{dims}d")(child.in_channels, child.out_channels, 1)
                conv.weight.data = child.weight.data.reshape(conv.weight.shape)
                conv.bias.data = child.bias.data
                setattr(module, name, conv)
            elif type(child) is nn.AdaptiveAvgPool2d:
                setattr(module, name, getattr(nn, f"AdaptiveAvgPool{dims}d")(1))
    return block


def test_seed_classes_in_1d_2d_3d():
    torch.manual_seed(0)
    dims = [2, None, 3, 1, 3, 1]
    model = nn.Sequential(
        _named(eco.Conv1x1ChannelSE, "cSE")(8), nn.Identity(),
        _in_dims(_named(eco.Conv1x1ChannelSE, "cSE")(8), 3),
        _in_dims(_named(eco.Conv1x1SpatialSE, "sSE")(8), 1),
        _in_dims(_named(eco.Conv1x1SCSE, "scSE")(8), 3),
        _in_dims(_named(eco.Conv1x1SCSE, "scSE")(8), 1))
    converted = _converted(model)
    assert [type(m).__name__ for m in converted] == [
        "ChannelSELayer", "Identity", "ChannelSELayer", "SpatialSELayer",
        "ChannelSpatialSELayer", "ChannelSpatialSELayer"]
    for i, d in enumerate(dims):
        if d is not None:
            x = torch.randn((2, 8) + (5, 4, 3)[:d], generator=torch.Generator().manual_seed(i))
            y = model[i](x)
            assert (converted[i](x) - y).abs().max().item() <= 1e-5 * y.abs().max().item(), i


def test_probe_that_raises_leaves_the_block(monkeypatch):
    class sSE(eco.Conv1x1SpatialSE):  # noqa: N801 - a seed's class name, a 3-D-only forward
        def forward(self, x):
            if x.dim() != 5:
                raise RuntimeError("expects a 5-D input")
            return super().forward(x)

    torch.manual_seed(0)
    model = nn.Sequential(_named(eco.Conv1x1ChannelSE, "cSE")(8), sSE(8))
    raising, state = model[1], copy.deepcopy(model[1].state_dict())
    result, message = _warned_paths(model)
    assert result is model and isinstance(model[0], scse.torch.ChannelSELayer)
    assert model[1] is raising and message.count("\n  ") == 1
    assert "\n  1 (sSE): running it on a probe input raised RuntimeError: expects a 5-D" in message
    assert all(torch.equal(v, state[k]) for k, v in raising.state_dict().items())

    # An unexpected exception: convert raises and has replaced nothing.
    def fail(*args, **kwargs):
        raise RuntimeError("unexpected")
    model = nn.Sequential(_named(eco.Conv1x1ChannelSE, "cSE")(8),
                          _named(eco.Conv1x1SpatialSE, "sSE")(8))
    before = list(model)
    monkeypatch.setattr(scse.torch.SpatialSELayer, "from_state_dict", fail)
    with pytest.raises(RuntimeError, match="unexpected"):
        scse.torch.convert(model)
    assert list(model) == before


def test_look_alikes_and_preserved_state():
    torch.manual_seed(0)

    class cSE(eco.Conv1x1ChannelSE):  # noqa: N801 - a seed's class name, another forward
        def forward(self, x):
            return x + super().forward(x)

    frozen = eco.TimmSE(16)  # not timm's class: not looked at
    shared = _named(eco.SequentialChannelSE, "cSE_Module")(16)
    hooked = _named(eco.Conv1x1SpatialSE, "sSE")(16)
    hooked.register_forward_hook(lambda m, i, o: None)
    model = nn.Sequential(cSE(16), frozen, shared, shared, hooked,
                          _named(eco.SequentialChannelSE, "cSE_Module")(16)).eval()
    model[5].requires_grad_(False)
    result, message = _warned_paths(model)
    assert "\n  0 (cSE): its output differs" in message
    assert "\n  4 (sSE): it has hooks" in message and message.count("\n  ") == 2
    assert model[1] is frozen and isinstance(model[0], cSE) and model[4] is hooked
    assert isinstance(model[2], scse.torch.ChannelSELayer) and model[2] is model[3]
    assert not model[2].training
    assert not any(p.requires_grad for p in model[5].parameters())
    assert all(p.requires_grad for p in model[2].parameters())

    # A block as the model itself: the replacement is returned.
    block = _named(eco.Conv1x1SCSE, "scSE")(8)
    assert isinstance(scse.torch.convert(block), scse.torch.ChannelSpatialSELayer)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        scse.torch.convert({"not": "a module"})
