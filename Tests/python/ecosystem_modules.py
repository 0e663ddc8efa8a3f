"""PyTorch modules with the architecture and parameter names of the popular
cSE / sSE / scSE implementations, written from their documented designs so
the tests need neither network access nor those packages:

* ai-med ``ChannelSELayer`` / ``SpatialSELayer`` / ``ChannelSpatialSELayer``
  (``fc1``/``fc2`` nn.Linear, ``conv`` nn.Conv2d, few-shot ``weights=``);
  the published package's scSE combines the branches with ``torch.max``
  (``AimedChannelSpatialSE(..., aggregate="max")``), copies of its code sum
  (the default here);
* segmentation_models_pytorch ``SCSEModule`` (``cSE``/``sSE`` nn.Sequential
  of 1x1 convolutions, reduction 16, ``x * cSE(x) + x * sSE(x)``) and a
  miniature of its Unet with ``decoder_attention_type="scse"`` (same module
  paths: ``decoder.blocks.{i}.attention{1,2}.attention``);
* MONAI ``ChannelSELayer`` (``fc`` nn.Sequential of nn.Linear, any spatial
  dimensionality);
* timm ``SEModule`` (``fc1``/``fc2`` 1x1 convolutions, hidden width
  ``make_divisible(C * rd_ratio, 8)``);
* the 1x1-convolution scSE (``Conv_Squeeze``/``Conv_Excitation``) and the
  nn.Sequential scSE (``excitation``/``spatial_excitation``, reduction 16).

The ai-med modules accept 1 to 3 spatial dimensions and channels-last
inputs (``reshape`` where the original uses ``view``, which rejects
channels-last tensors); the math is the original's.
"""

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


def _quiet(build):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return build()


def _pointwise(x, weight, bias):
    d = x.dim() - 2
    return _CONV[d](x, weight.reshape(weight.shape[0], weight.shape[1], *(1,) * d), bias)


# --- ai-med ------------------------------------------------------------------


class AimedChannelSE(nn.Module):
    def __init__(self, num_channels, reduction_ratio=2, bias=True):
        super().__init__()
        reduced = num_channels // reduction_ratio
        self.fc1 = _quiet(lambda: nn.Linear(num_channels, reduced, bias=bias))
        self.fc2 = _quiet(lambda: nn.Linear(reduced, num_channels, bias=bias))
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def forward(self, input_tensor):
        n, c = input_tensor.shape[:2]
        squeeze = input_tensor.reshape(n, c, -1).mean(dim=2)
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(squeeze))))
        return torch.mul(input_tensor, gate.view(n, c, *(1,) * (input_tensor.dim() - 2)))


class AimedSpatialSE(nn.Module):
    def __init__(self, num_channels, bias=True):
        super().__init__()
        self.conv = nn.Conv2d(num_channels, 1, 1, bias=bias)
        self.sigmoid = nn.Sigmoid()

    def forward(self, input_tensor, weights=None):
        if weights is not None:
            weights = torch.mean(weights, dim=0).view(1, input_tensor.shape[1], 1, 1)
            out = _pointwise(input_tensor, weights, None)
        else:
            out = _pointwise(input_tensor, self.conv.weight, self.conv.bias)
        return torch.mul(input_tensor, self.sigmoid(out))


class AimedChannelSpatialSE(nn.Module):
    def __init__(self, num_channels, reduction_ratio=2, aggregate="sum", bias=True):
        super().__init__()
        self.aggregate = aggregate
        self.cSE = AimedChannelSE(num_channels, reduction_ratio, bias)
        self.sSE = AimedSpatialSE(num_channels, bias)

    def forward(self, input_tensor):
        a, b = self.cSE(input_tensor), self.sSE(input_tensor)
        return torch.max(a, b) if self.aggregate == "max" else a + b


# --- segmentation_models_pytorch -----------------------------------------------


class SmpSCSE(nn.Module):
    def __init__(self, in_channels, reduction=16):
        super().__init__()
        self.cSE = _quiet(lambda: nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, in_channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels // reduction, in_channels, 1),
            nn.Sigmoid(),
        ))
        self.sSE = nn.Sequential(nn.Conv2d(in_channels, 1, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.cSE(x) + x * self.sSE(x)


class _SmpAttention(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.attention = SmpSCSE(channels)

    def forward(self, x):
        return self.attention(x)


class _SmpDecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.attention1 = _SmpAttention(in_channels)
        self.conv2 = nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.attention2 = _SmpAttention(out_channels)

    def forward(self, x):
        return self.attention2(self.conv2(self.conv1(self.attention1(x))))


class _Decoder(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.blocks = nn.ModuleList(_SmpDecoderBlock(a, b) for a, b in zip(widths, widths[1:]))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class _Head(nn.Module):
    def __init__(self, channels):
        super().__init__()
        # A 1x1 convolution to one channel named ``conv``: the same keys and
        # shapes as an ai-med spatial gate.
        self.conv = nn.Conv2d(channels, 1, 1)

    def forward(self, x):
        return self.conv(x)


class MiniSmpUnet(nn.Module):
    """Encoder convolution, SMP-style decoder blocks with scSE attention, head."""

    def __init__(self, widths=(32, 48, 32)):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, widths[0], 3, padding=1), nn.ReLU())
        self.decoder = _Decoder(widths)
        self.head = _Head(widths[-1])

    def forward(self, x):
        return self.head(self.decoder(self.encoder(x)))


# --- MONAI ---------------------------------------------------------------------


class MonaiChannelSE(nn.Module):
    def __init__(self, spatial_dims, in_channels, r=2):
        super().__init__()
        self.avg_pool = _POOL[spatial_dims](1)
        hidden = in_channels // r
        self.fc = nn.Sequential(
            nn.Linear(in_channels, hidden, bias=True),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, in_channels, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c = x.shape[:2]
        y = self.avg_pool(x).view(b, c)
        return x * self.fc(y).view([b, c] + [1] * (x.ndim - 2))


# --- timm ----------------------------------------------------------------------


def timm_make_divisible(value, divisor=8, min_value=None, round_limit=0.9):
    """Rounds to the nearest multiple of divisor, at least min_value (timm's rule)."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


class TimmSE(nn.Module):
    def __init__(self, channels, rd_ratio=1.0 / 16, rd_channels=None, rd_divisor=8, bias=True):
        super().__init__()
        if not rd_channels:
            rd_channels = timm_make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)
        self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1, bias=bias)
        self.bn = nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1, bias=bias)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        x_se = x.mean((2, 3), keepdim=True)
        x_se = self.act(self.bn(self.fc1(x_se)))
        return x * self.gate(self.fc2(x_se))


# --- 1x1-convolution scSE (source "conv1x1") ----------------------------------


class Conv1x1ChannelSE(nn.Module):
    def __init__(self, channel, r=2):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.Conv_Squeeze = _quiet(lambda: nn.Conv2d(channel, channel // r, kernel_size=1))
        self.relu = nn.ReLU()
        self.Conv_Excitation = _quiet(lambda: nn.Conv2d(channel // r, channel, kernel_size=1))
        self.norm = nn.Sigmoid()

    def forward(self, x):
        z = self.norm(self.Conv_Excitation(self.relu(self.Conv_Squeeze(self.avgpool(x)))))
        return x * z.expand_as(x)


class Conv1x1SpatialSE(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.conv = nn.Conv2d(channel, 1, kernel_size=1)
        self.norm = nn.Sigmoid()

    def forward(self, x):
        return x * self.norm(self.conv(x))


class Conv1x1SCSE(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.cSE = Conv1x1ChannelSE(channel)
        self.sSE = Conv1x1SpatialSE(channel)

    def forward(self, x):
        return self.cSE(x) + self.sSE(x)


# --- nn.Sequential scSE, reduction 16 ("sequential")----------------------------


class SequentialChannelSE(nn.Module):
    def __init__(self, channel, ratio=16, bias=True):
        super().__init__()
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excitation = _quiet(lambda: nn.Sequential(
            nn.Linear(channel, channel // ratio, bias=bias),
            nn.ReLU(inplace=True),
            nn.Linear(channel // ratio, channel, bias=bias),
            nn.Sigmoid(),
        ))

    def forward(self, x):
        b, c = x.shape[:2]
        z = self.excitation(self.squeeze(x).view(b, c)).view(b, c, 1, 1)
        return x * z.expand_as(x)


class SequentialSpatialSE(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.spatial_excitation = nn.Sequential(
            nn.Conv2d(channel, 1, kernel_size=1, stride=1, padding=0), nn.Sigmoid())

    def forward(self, x):
        return x * self.spatial_excitation(x).expand_as(x)


class SequentialSCSE(nn.Module):
    def __init__(self, channel, ratio=16):
        super().__init__()
        self.cSE = SequentialChannelSE(channel, ratio)
        self.sSE = SequentialSpatialSE(channel)

    def forward(self, x):
        return self.cSE(x) + self.sSE(x)
