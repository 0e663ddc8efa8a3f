"""The explicit hidden width of the channel gate (``hidden=``) of the numpy
layers: shapes, validation, the unchanged positional signatures, and the
computation against a PyTorch module of that width."""

import numpy as np
import pytest
import torch

import ecosystem_modules as em
import scse


def test_hidden_overrides_the_reduction_ratio():
    layer = scse.ChannelSELayer(64, 16, hidden=8, seed=0)
    assert layer.num_channels_reduced == 8 and layer.reduction_ratio == 16
    shapes = {k: v.shape for k, v in layer.state_dict().items()}
    assert shapes == {"fc1.weight": (8, 64), "fc1.bias": (8,), "fc2.weight": (64, 8), "fc2.bias": (64,)}
    assert "hidden=8" in repr(layer)
    scse_layer = scse.ChannelSpatialSELayer(40, hidden=8, seed=0)
    assert scse_layer.num_channels_reduced == 8
    assert scse_layer.state_dict()["cSE.fc1.weight"].shape == (8, 40)
    assert "hidden=8" in repr(scse_layer)


def test_hidden_equal_to_the_ratio_width_changes_nothing():
    a = scse.ChannelSpatialSELayer(12, 3, "max", False, seed=5)
    b = scse.ChannelSpatialSELayer(12, 3, "max", False, hidden=4, seed=5)
    assert repr(a) == repr(b) and "hidden" not in repr(a)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])


def test_positional_signatures_still_work():
    cse = scse.ChannelSELayer(8, 4, False)
    assert cse.num_channels_reduced == 2 and not cse.has_bias
    both = scse.ChannelSpatialSELayer(8, 2, "max", False)
    assert both.aggregate == "max" and both.num_channels_reduced == 4


def test_zero_hidden_width_gives_the_bias_gate():
    layer = scse.ChannelSELayer(6, hidden=0, seed=1)
    x = np.random.default_rng(0).standard_normal((2, 6, 3, 3), dtype=np.float32)
    gate = 1.0 / (1.0 + np.exp(-layer.state_dict()["fc2.bias"]))
    np.testing.assert_allclose(layer(x), x * gate[None, :, None, None], rtol=1e-6)


@pytest.mark.parametrize("bad,error", [(-1, ValueError), (1.5, TypeError), (True, TypeError),
                                       ("8", TypeError)])
def test_bad_hidden_is_rejected(bad, error):
    with pytest.raises(error, match="hidden"):
        scse.ChannelSELayer(8, hidden=bad)
    with pytest.raises(error, match="hidden"):
        scse.ChannelSpatialSELayer(8, hidden=bad)


def test_a_width_that_is_no_ratio_computes_like_pytorch():
    # C = 40 with 8 hidden units: no integer r gives 40 // r == 8.
    torch.manual_seed(0)
    module = em.TimmSE(40, rd_channels=8)
    layer = scse.ChannelSELayer(40, hidden=8)
    layer.load_state_dict(module.state_dict())
    x = torch.randn(2, 40, 5, 5)
    grad_y = torch.randn(2, 40, 5, 5)
    xt = x.clone().requires_grad_()
    y = module(xt)
    y.backward(grad_y)
    ours, grads = layer(x.numpy()), layer.backward(x.numpy(), grad_y.numpy())
    scale = y.abs().max().item()
    assert np.abs(ours - y.detach().numpy()).max() <= 2e-6 * scale
    gscale = xt.grad.abs().max().item()
    assert np.abs(grads[0] - xt.grad.numpy()).max() <= 1e-5 * gscale
    fc1 = module.fc1.weight.grad.reshape(8, 40).numpy()
    assert np.abs(grads[1]["fc1.weight"] - fc1).max() <= 1e-5 * np.abs(fc1).max()
