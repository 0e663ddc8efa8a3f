"""Loading weights of other cSE / sSE / scSE implementations.

The state_dicts come from PyTorch modules built like each source's
documented architecture (ecosystem_modules.py). Our layers built from them
must compute what those modules compute: forward within 2e-6 of the largest
output magnitude (float32 rounding of a differently ordered sum), input
gradients of the torch drop-ins within 1e-5 of the largest gradient.
"""

import re

import numpy as np
import pytest
import torch
import torch.nn as nn

import ecosystem_modules as em
import scse
import scse.torch as st

FORWARD_TOL = 2e-6
GRAD_TOL = 1e-5
PARAM_GRAD_TOL = 1e-4


def _close(ours, ref, tol):
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    scale = max(float(np.abs(ref).max()), 1e-30)
    error = float(np.abs(ours - ref).max())
    assert error <= tol * scale, f"max error {error:.3e} > {tol:.0e} * {scale:.3e}"


def _randomise(module, seed):
    # Default initialisations leave some biases tiny; spread every parameter.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return module


# (id, builder, our class, detected (source, kind), input shape, hidden width)
CASES = [
    ("smp-64", lambda: em.SmpSCSE(64), scse.ChannelSpatialSELayer, ("smp", "scse"), (2, 64, 6, 7), 4),
    ("smp-20", lambda: em.SmpSCSE(20), scse.ChannelSpatialSELayer, ("smp", "scse"), (2, 20, 5, 5), 1),
    ("aimed-scse", lambda: em.AimedChannelSpatialSE(12, 3), scse.ChannelSpatialSELayer,
     ("aimed", "scse"), (2, 12, 4, 5), 4),
    ("aimed-scse-nobias", lambda: em.AimedChannelSpatialSE(12, 2, bias=False),
     scse.ChannelSpatialSELayer, ("aimed", "scse"), (2, 12, 4, 5), 6),
    ("aimed-cse", lambda: em.AimedChannelSE(10, 2), scse.ChannelSELayer, ("aimed", "cse"),
     (3, 10, 4, 4), 5),
    ("aimed-sse", lambda: em.AimedSpatialSE(10), scse.SpatialSELayer, ("aimed", "sse"),
     (3, 10, 4, 4), None),
    ("monai-2d", lambda: em.MonaiChannelSE(2, 24, r=4), scse.ChannelSELayer, ("monai", "cse"),
     (2, 24, 5, 6), 6),
    ("monai-3d", lambda: em.MonaiChannelSE(3, 16, r=2), scse.ChannelSELayer, ("monai", "cse"),
     (2, 16, 3, 4, 5), 8),
    ("timm-64", lambda: em.TimmSE(64), scse.ChannelSELayer, ("timm", "cse"), (2, 64, 5, 5), 8),
    ("timm-40", lambda: em.TimmSE(40), scse.ChannelSELayer, ("timm", "cse"), (2, 40, 5, 5), 8),
    ("timm-quarter", lambda: em.TimmSE(48, rd_ratio=0.25), scse.ChannelSELayer, ("timm", "cse"),
     (2, 48, 4, 6), 16),
    ("timm-nobias", lambda: em.TimmSE(32, rd_channels=12, bias=False), scse.ChannelSELayer,
     ("timm", "cse"), (2, 32, 4, 4), 12),
    ("conv1x1-scse", lambda: em.Conv1x1SCSE(16), scse.ChannelSpatialSELayer, ("conv1x1", "scse"),
     (2, 16, 5, 4), 8),
    ("conv1x1-cse", lambda: em.Conv1x1ChannelSE(16), scse.ChannelSELayer, ("conv1x1", "cse"),
     (2, 16, 5, 4), 8),
    ("sequential-scse", lambda: em.SequentialSCSE(48), scse.ChannelSpatialSELayer, ("sequential", "scse"),
     (2, 48, 4, 4), 3),
    ("sequential-cse-nobias", lambda: em.SequentialChannelSE(32, bias=False), scse.ChannelSELayer,
     ("sequential", "cse"), (2, 32, 4, 4), 2),
    ("sequential-sse", lambda: em.SequentialSpatialSE(8), scse.SpatialSELayer, ("sequential", "sse"),
     (2, 8, 4, 4), None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_source_loads_and_matches_its_module(case):
    _, build, cls, detected, shape, hidden = case
    torch.manual_seed(0)
    module = _randomise(build(), 1)
    sd = module.state_dict()
    x = torch.randn(shape)
    with torch.no_grad():
        expected = module(x)

    assert scse.detect_source(sd) == detected
    for source in ("auto", detected[0]):
        layer = cls.from_state_dict(sd, source=source)
        assert type(layer) is cls
        assert layer.num_channels == shape[1]
        if hidden is not None:
            assert layer.num_channels_reduced == hidden
        if source == "aimed" and cls is scse.ChannelSpatialSELayer:
            # ai-med's published scSE takes the maximum (test_aimed_source_*).
            assert layer.aggregate == "max"
            continue
        _close(layer(x.numpy()), expected, FORWARD_TOL)

    # The torch drop-in built from the same weights: forward and input gradient.
    drop_in = getattr(st, cls.__name__).from_state_dict(sd)
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    grad_y = torch.randn(shape)
    assert drop_in.uses_native(xa)
    ya, yb = drop_in(xa), module(xb)
    _close(ya.detach(), yb.detach(), FORWARD_TOL)
    ya.backward(grad_y)
    yb.backward(grad_y)
    _close(xa.grad, xb.grad, GRAD_TOL)


def test_loaded_parameters_are_the_sources_values():
    smp = _randomise(em.SmpSCSE(32), 2)
    layer = scse.ChannelSpatialSELayer.from_state_dict(smp.state_dict())
    sd = layer.state_dict()
    src = {k: v.detach().numpy() for k, v in smp.state_dict().items()}
    np.testing.assert_array_equal(sd["cSE.fc1.weight"], src["cSE.1.weight"].reshape(2, 32))
    np.testing.assert_array_equal(sd["cSE.fc2.weight"], src["cSE.3.weight"].reshape(32, 2))
    np.testing.assert_array_equal(sd["cSE.fc2.bias"], src["cSE.3.bias"])
    np.testing.assert_array_equal(sd["sSE.conv.weight"], src["sSE.0.weight"])
    np.testing.assert_array_equal(sd["sSE.conv.bias"], src["sSE.0.bias"])
    assert layer.aggregate == "sum"
    assert scse.ChannelSpatialSELayer.from_state_dict(smp.state_dict(), aggregate="max").aggregate == "max"


def test_tensors_that_require_grad_and_numpy_values_both_load():
    timm = em.TimmSE(16, rd_channels=4)
    with_grad = dict(timm.state_dict(keep_vars=True))
    assert with_grad["fc1.weight"].requires_grad
    as_numpy = {k: v.detach().numpy() for k, v in timm.state_dict().items()}
    a = scse.ChannelSELayer.from_state_dict(with_grad)
    b = scse.ChannelSELayer.from_state_dict(as_numpy)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])


# --- errors --------------------------------------------------------------------


def test_unknown_keys_are_listed_with_the_accepted_layouts():
    sd = {"foo.weight": torch.zeros(3, 4), "foo.bias": torch.zeros(3)}
    with pytest.raises(ValueError) as info:
        scse.ChannelSpatialSELayer.from_state_dict(sd)
    message = str(info.value)
    assert "'foo.weight' (3, 4)" in message and "'foo.bias' (3,)" in message
    assert "cSE.1.weight" in message and "cSE.fc1.weight" in message
    with pytest.raises(ValueError, match="foo.weight"):
        scse.detect_source(sd)


def test_a_block_of_another_kind_points_to_the_right_class():
    smp = em.SmpSCSE(32).state_dict()
    with pytest.raises(ValueError, match=r"smp scSE.*ChannelSpatialSELayer\.from_state_dict"):
        scse.ChannelSELayer.from_state_dict(smp)
    monai = em.MonaiChannelSE(2, 8).state_dict()
    with pytest.raises(ValueError, match=r"monai cSE.*ChannelSELayer\.from_state_dict"):
        scse.ChannelSpatialSELayer.from_state_dict(monai)


def test_source_without_that_block_kind_is_explained():
    with pytest.raises(ValueError, match="'timm' source has no scSE"):
        scse.ChannelSpatialSELayer.from_state_dict(em.TimmSE(32).state_dict(), source="timm")


def test_explicit_source_must_match_the_keys():
    smp = em.SmpSCSE(32).state_dict()
    with pytest.raises(ValueError, match="'aimed' key layout"):
        scse.ChannelSpatialSELayer.from_state_dict(smp, source="aimed")
    with pytest.raises(ValueError, match="source must be 'auto' or one of"):
        scse.ChannelSpatialSELayer.from_state_dict(smp, source="keras")
    with pytest.raises(TypeError, match="mapping"):
        scse.ChannelSpatialSELayer.from_state_dict([("cSE.1.weight", 0)])


def test_misshapen_tensor_is_named_with_the_sources_key():
    sd = dict(em.SmpSCSE(32).state_dict())
    sd["cSE.3.weight"] = torch.zeros(32, 3, 1, 1)
    with pytest.raises(ValueError, match=r"cSE\.3\.weight: expected shape \(32, 2\)"):
        scse.ChannelSpatialSELayer.from_state_dict(sd)
    sd = dict(em.SmpSCSE(32).state_dict())
    sd["sSE.0.weight"] = torch.zeros(1, 16, 1, 1)
    with pytest.raises(ValueError, match=r"sSE\.0\.weight"):
        scse.ChannelSpatialSELayer.from_state_dict(sd)


def test_partial_or_mixed_biases_are_rejected():
    sd = dict(em.SmpSCSE(32).state_dict())
    del sd["cSE.1.bias"]
    with pytest.raises(ValueError, match="no scSE"):
        scse.ChannelSpatialSELayer.from_state_dict(sd)
    sd = dict(em.AimedChannelSpatialSE(8).state_dict())
    del sd["sSE.conv.bias"]  # channel gate with biases, spatial gate without
    with pytest.raises(ValueError, match="no scSE"):
        scse.ChannelSpatialSELayer.from_state_dict(sd)


def test_extra_keys_such_as_a_norm_layer_are_rejected():
    sd = dict(em.TimmSE(32).state_dict())
    sd["bn.weight"] = torch.ones(8)
    with pytest.raises(ValueError, match="'bn.weight'"):
        scse.ChannelSELayer.from_state_dict(sd)


def test_a_whole_model_points_to_extract_blocks():
    with pytest.raises(ValueError, match=r"whole model.*decoder\.blocks\.0\.attention1\.attention"
                                         r".*extract_blocks"):
        scse.ChannelSpatialSELayer.from_state_dict(em.MiniSmpUnet().state_dict())


# --- extract_blocks --------------------------------------------------------------

SMP_ATTENTION = r"decoder\.blocks\.\d+\.attention[12]\.attention"
SMP_NAMES = [f"decoder.blocks.{i}.attention{j}.attention" for i in range(2) for j in (1, 2)]


def _mini_unet():
    torch.manual_seed(4)
    return _randomise(em.MiniSmpUnet(), 5).eval()


def test_extract_blocks_finds_every_smp_decoder_attention():
    model = _mini_unet()
    blocks = scse.extract_blocks(model.state_dict(), SMP_ATTENTION)
    assert list(blocks) == SMP_NAMES
    for name, layer in blocks.items():
        module = model.get_submodule(name)
        assert isinstance(layer, scse.ChannelSpatialSELayer)
        xi = torch.randn(2, module.cSE[1].in_channels, 5, 6)
        with torch.no_grad():
            _close(layer(xi.numpy()), module(xi), FORWARD_TOL)


def test_extract_blocks_by_kind_and_the_look_alike_caveat():
    sd = _mini_unet().state_dict()
    assert list(scse.extract_blocks(sd, kinds=("scse",))) == SMP_NAMES
    everything = scse.extract_blocks(sd)
    # The head holds just a 1x1 convolution to one channel named `conv`:
    # exactly an ai-med spatial gate's keys and shapes, as the docstring warns.
    assert list(everything) == SMP_NAMES + ["head"]
    assert isinstance(everything["head"], scse.SpatialSELayer)
    assert scse.extract_blocks(sd, source="sequential") == {}


def test_an_mlp_is_a_channel_gate_look_alike_unless_kinds_exclude_it():
    mlp = nn.Sequential()
    mlp.fc1, mlp.fc2 = nn.Linear(8, 32), nn.Linear(32, 8)  # widens: hidden 32 > C 8
    sd = {"block." + k: v for k, v in mlp.state_dict().items()}
    found = scse.extract_blocks(sd)
    assert list(found) == ["block"] and found["block"].num_channels_reduced == 32
    assert scse.extract_blocks(sd, kinds=("scse",)) == {}


def test_extract_blocks_with_a_wrapper_prefix_and_nested_blocks():
    sd = {"module." + k: v for k, v in em.AimedChannelSpatialSE(8).state_dict().items()}
    blocks = scse.extract_blocks(sd)
    # The outer scSE block, not its cSE / sSE parts.
    assert list(blocks) == ["module"]
    assert isinstance(blocks["module"], scse.ChannelSpatialSELayer)
    top = scse.extract_blocks(em.AimedChannelSpatialSE(8).state_dict())
    assert list(top) == [""]
    parts = scse.extract_blocks(sd, r"module\.(cSE|sSE)")
    assert [type(v) for v in parts.values()] == [scse.ChannelSELayer, scse.SpatialSELayer]


def test_extract_blocks_raises_for_a_misfit_block_only_when_asked_for_it():
    sd = dict(_mini_unet().state_dict())
    sd["decoder.blocks.1.attention2.attention.cSE.3.weight"] = torch.zeros(32, 5, 1, 1)
    names = list(scse.extract_blocks(sd, kinds=("scse",)))
    assert names == SMP_NAMES[:-1]
    with pytest.raises(ValueError, match=re.escape("decoder.blocks.1.attention2.attention.cSE.3.weight")):
        scse.extract_blocks(sd, SMP_ATTENTION)


def test_torch_blocks_swap_into_the_model_without_changing_its_output():
    model = _mini_unet()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        before = model(x)
    blocks = st.extract_blocks(model.state_dict(), SMP_ATTENTION)
    for name, block in blocks.items():
        model.set_submodule(name, block)
    assert all(isinstance(model.get_submodule(n), st.ChannelSpatialSELayer) for n in SMP_NAMES)
    with torch.no_grad():
        after = model(x)
    _close(after, before, 1e-5)


# --- ai-med's aggregate and the source names --------------------------------------


def _aimed_pair(aggregate):
    torch.manual_seed(3)
    return _randomise(em.AimedChannelSpatialSE(12, 3, aggregate=aggregate), 6)


@pytest.mark.parametrize("source, aggregate", [("aimed", "max"), ("auto", "sum")])
def test_aimed_source_is_the_published_max_and_auto_sums(source, aggregate):
    """source="aimed" loads ai-med's package, whose scSE is torch.max of the
    branches; "auto" keeps the paper's sum. Forward and every gradient, against
    the module run in float64 (parameter gradients are sums over N * S
    positions: within PARAM_GRAD_TOL of their largest entry)."""
    module = _aimed_pair(aggregate)
    sd = module.state_dict()
    x = torch.randn(2, 12, 5, 4)
    grad_y = torch.randn(x.shape)
    exact = _aimed_pair(aggregate).double()
    xr = x.double().requires_grad_()
    yr = exact(xr)
    yr.backward(grad_y.double())
    expected_grads = {k: p.grad for k, p in exact.named_parameters()}

    layer = scse.ChannelSpatialSELayer.from_state_dict(sd, source=source)
    assert layer.aggregate == aggregate
    _close(layer(x.numpy()), yr.detach(), FORWARD_TOL)
    grad_x, grads = layer.backward(x.numpy(), grad_y.numpy())
    _close(grad_x, xr.grad, GRAD_TOL)
    assert set(grads) == set(expected_grads)
    for key, value in grads.items():
        _close(value.reshape(expected_grads[key].shape), expected_grads[key], PARAM_GRAD_TOL)

    drop_in = st.ChannelSpatialSELayer.from_state_dict(sd, source=source)
    assert drop_in.aggregate == aggregate
    xd = x.clone().requires_grad_()
    yd = drop_in(xd)
    _close(yd.detach(), yr.detach(), FORWARD_TOL)
    yd.backward(grad_y)
    _close(xd.grad, xr.grad, GRAD_TOL)
    for key, p in drop_in.named_parameters():
        _close(p.grad, expected_grads[key], PARAM_GRAD_TOL)

    blocks = scse.extract_blocks({"se." + k: v for k, v in sd.items()}, source=source)
    assert blocks["se"].aggregate == aggregate
    modules = st.extract_blocks({"se." + k: v for k, v in sd.items()}, source=source)
    assert modules["se"].aggregate == aggregate


def test_an_explicit_aggregate_overrides_the_sources():
    sd = _aimed_pair("sum").state_dict()
    assert scse.ChannelSpatialSELayer.from_state_dict(sd, source="aimed",
                                                      aggregate="sum").aggregate == "sum"
    assert st.ChannelSpatialSELayer.from_state_dict(sd, aggregate="max").aggregate == "max"
    with pytest.raises(ValueError, match="aggregate"):
        scse.ChannelSpatialSELayer.from_state_dict(sd, aggregate="mean")


@pytest.mark.parametrize("old, new, build, cls", [
    ("seed002", "conv1x1", lambda: em.Conv1x1SCSE(16), scse.ChannelSpatialSELayer),
    ("seed003", "sequential", lambda: em.SequentialChannelSE(32), scse.ChannelSELayer),
])
def test_old_source_names_still_load_with_a_deprecation_warning(old, new, build, cls):
    sd = build().state_dict()
    with pytest.warns(DeprecationWarning, match=f"source={old!r} is deprecated, use "
                                                f"source={new!r}") as record:
        layer = cls.from_state_dict(sd, source=old)
    # The warning points at the caller, not into the package.
    assert record[0].filename == __file__
    expected = cls.from_state_dict(sd, source=new)
    for key, value in expected.state_dict().items():
        np.testing.assert_array_equal(layer.state_dict()[key], value)
    with pytest.warns(DeprecationWarning):
        assert list(scse.extract_blocks({"m." + k: v for k, v in sd.items()}, source=old)) == ["m"]
    with pytest.warns(DeprecationWarning):
        assert list(st.extract_blocks({"m." + k: v for k, v in sd.items()}, source=old)) == ["m"]
    with pytest.warns(DeprecationWarning):
        getattr(st, cls.__name__).from_state_dict(sd, source=old)
    assert new in scse._contract.SOURCES and old not in scse._contract.SOURCES
