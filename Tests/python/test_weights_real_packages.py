"""Weights of the real MONAI, timm and segmentation_models_pytorch modules
(`make deps` installs them; test_weights_sources.py covers the same layouts
with modules built from their documented architectures). Without a package
its test is skipped, with the reason, except under CI, where it fails
(optional_packages.require). Tolerance: 2e-6 of the largest output magnitude.
"""

import numpy as np
import torch

import scse
from optional_packages import require as _import


def _close(ours, ref, tol=2e-6):
    ref = ref.detach().double().numpy()
    assert np.abs(np.asarray(ours, dtype=np.float64) - ref).max() <= tol * np.abs(ref).max()


def test_monai_channel_se_layer():
    blocks = _import("monai.networks.blocks")
    torch.manual_seed(0)
    for dims, shape in ((2, (2, 24, 5, 6)), (3, (2, 24, 3, 4, 5))):
        module = blocks.ChannelSELayer(dims, 24, r=4)
        layer = scse.ChannelSELayer.from_state_dict(module.state_dict())
        assert scse.detect_source(module.state_dict()) == ("monai", "cse")
        x = torch.randn(shape)
        _close(layer(x.numpy()), module(x))


def test_timm_se_module():
    layers = _import("timm.layers")
    torch.manual_seed(0)
    for channels in (64, 40):
        module = layers.SEModule(channels)
        layer = scse.ChannelSELayer.from_state_dict(module.state_dict())
        assert scse.detect_source(module.state_dict()) == ("timm", "cse")
        assert layer.num_channels_reduced == module.fc1.out_channels
        x = torch.randn(2, channels, 5, 6)
        _close(layer(x.numpy()), module(x))


def test_smp_unet_scse_decoder():
    smp = _import("segmentation_models_pytorch")
    torch.manual_seed(0)
    model = smp.Unet("resnet18", encoder_weights=None, decoder_attention_type="scse").eval()
    blocks = scse.extract_blocks(model.state_dict(), r"decoder\.blocks\.\d+\.attention[12]\.attention")
    assert blocks and all(isinstance(b, scse.ChannelSpatialSELayer) for b in blocks.values())
    for name, layer in blocks.items():
        module = model.get_submodule(name)
        x = torch.randn(1, layer.num_channels, 4, 4)
        with torch.no_grad():
            _close(layer(x.numpy()), module(x))
