"""PyTorch reference modules for the parity tests.

Written from the math of the three reference designs the project follows:

* ``ChannelSELayer`` / ``SpatialSELayer`` / ``ChannelSpatialSELayer``: the
  ai-med layout (``fc1``/``fc2`` nn.Linear, ``conv`` nn.Conv2d, few-shot
  ``weights=`` for the spatial gate, scSE as sum or element-wise max).
* ``ConvCSE`` / ``ConvSSE`` / ``ConvSCSE``: the 1x1-convolution layout
  (``Conv_Squeeze`` / ``Conv_Excitation`` after adaptive average pooling).
* ``LinearCSE`` / ``LinearSSE`` / ``LinearSCSE``: the ``excitation``
  nn.Sequential layout with reduction 16, with or without bias, and the
  ``spatial_excitation`` Sequential spatial gate.

The originals are written for 2-D images. These versions accept 1 to 3
spatial dimensions while keeping every parameter's shape (a 1x1 Conv2d weight
stays [out, in, 1, 1]): the squeeze is a mean over all spatial positions and a
1x1 convolution is applied as the pointwise convolution of matching
dimensionality, which for 2-D inputs is exactly the original computation.
"""

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

_CONV_BY_SPATIAL_DIMS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_POOL_BY_SPATIAL_DIMS = {
    1: F.adaptive_avg_pool1d,
    2: F.adaptive_avg_pool2d,
    3: F.adaptive_avg_pool3d,
}


def _spatial_dims(x):
    if not 3 <= x.dim() <= 5:
        raise ValueError(f"expected (N, C, *spatial) with 1-3 spatial dims, got {tuple(x.shape)}")
    return x.dim() - 2


def _broadcast_shape(x, per_channel):
    return (x.shape[0], per_channel) + (1,) * _spatial_dims(x)


def pointwise_conv(x, weight, bias):
    """A 1x1 convolution of x with a [out, in, 1, 1] (or [out, in]) weight."""
    d = _spatial_dims(x)
    out_ch, in_ch = weight.shape[0], weight.shape[1]
    if out_ch == 0 or in_ch == 0:
        # PyTorch's convolutions reject zero channels; nn.Linear does not, and
        # with an empty contraction the result is just the bias (or zeros).
        y = torch.einsum("oc,nc...->no...", weight.reshape(out_ch, in_ch), x)
        if bias is not None:
            y = y + bias.view((1, out_ch) + (1,) * d)
        return y
    return _CONV_BY_SPATIAL_DIMS[d](x, weight.reshape((out_ch, in_ch) + (1,) * d), bias)


def _combine(aggregate, a, b):
    if aggregate == "sum":
        return a + b
    if aggregate == "max":
        return torch.max(a, b)
    raise ValueError(f"aggregate must be 'sum' or 'max', got {aggregate!r}")


def _quiet(build):
    # Zero-width layers make PyTorch warn that initialising an empty tensor
    # is a no-op; that is the case under test, not a problem.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return build()


# --- ai-med layout -----------------------------------------------------------


class ChannelSELayer(nn.Module):
    def __init__(self, num_channels, reduction_ratio=2, bias=True):
        super().__init__()
        hidden = num_channels // reduction_ratio
        self.fc1 = _quiet(lambda: nn.Linear(num_channels, hidden, bias=bias))
        self.fc2 = _quiet(lambda: nn.Linear(hidden, num_channels, bias=bias))

    def forward(self, x):
        n, c = x.shape[:2]
        squeezed = x.reshape(n, c, -1).mean(dim=2)
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(squeezed))))
        return x * gate.view(_broadcast_shape(x, c))


class SpatialSELayer(nn.Module):
    def __init__(self, num_channels, bias=True):
        super().__init__()
        self.conv = nn.Conv2d(num_channels, 1, 1, bias=bias)

    def forward(self, x, weights=None):
        if weights is not None:
            # Few-shot form: the K conditioner weights are averaged, no bias.
            mean_weight = torch.mean(weights, dim=0).reshape(1, x.shape[1], 1, 1)
            logits = pointwise_conv(x, mean_weight, None)
        else:
            logits = pointwise_conv(x, self.conv.weight, self.conv.bias)
        return x * torch.sigmoid(logits)


class ChannelSpatialSELayer(nn.Module):
    def __init__(self, num_channels, reduction_ratio=2, aggregate="sum", bias=True):
        super().__init__()
        self.aggregate = aggregate
        self.cSE = ChannelSELayer(num_channels, reduction_ratio, bias=bias)
        self.sSE = SpatialSELayer(num_channels, bias=bias)

    def forward(self, x):
        return _combine(self.aggregate, self.cSE(x), self.sSE(x))


# --- 1x1-convolution layout --------------------------------------------------


class ConvCSE(nn.Module):
    def __init__(self, channel, r=2):
        super().__init__()
        self.Conv_Squeeze = _quiet(lambda: nn.Conv2d(channel, channel // r, kernel_size=1))
        self.Conv_Excitation = _quiet(lambda: nn.Conv2d(channel // r, channel, kernel_size=1))

    def forward(self, x):
        z = _POOL_BY_SPATIAL_DIMS[_spatial_dims(x)](x, 1)
        z = torch.relu(pointwise_conv(z, self.Conv_Squeeze.weight, self.Conv_Squeeze.bias))
        z = torch.sigmoid(pointwise_conv(z, self.Conv_Excitation.weight, self.Conv_Excitation.bias))
        return x * z.expand_as(x)


class ConvSSE(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.conv = nn.Conv2d(channel, 1, kernel_size=1)

    def forward(self, x):
        return x * torch.sigmoid(pointwise_conv(x, self.conv.weight, self.conv.bias))


class ConvSCSE(nn.Module):
    def __init__(self, channel, r=2, aggregate="sum"):
        super().__init__()
        self.aggregate = aggregate
        self.cSE = ConvCSE(channel, r)
        self.sSE = ConvSSE(channel)

    def forward(self, x):
        return _combine(self.aggregate, self.cSE(x), self.sSE(x))


# --- nn.Sequential layout, reduction 16 --------------------------------------


class LinearCSE(nn.Module):
    def __init__(self, channel, ratio=16, bias=True):
        super().__init__()
        self.excitation = _quiet(
            lambda: nn.Sequential(
                nn.Linear(channel, channel // ratio, bias=bias),
                nn.ReLU(inplace=True),
                nn.Linear(channel // ratio, channel, bias=bias),
                nn.Sigmoid(),
            )
        )

    def forward(self, x):
        b, c = x.shape[:2]
        y = _POOL_BY_SPATIAL_DIMS[_spatial_dims(x)](x, 1).view(b, c)
        z = self.excitation(y).view(_broadcast_shape(x, c))
        return x * z.expand_as(x)


class LinearSSE(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.spatial_excitation = nn.Sequential(
            nn.Conv2d(channel, 1, kernel_size=1, stride=1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, x):
        conv = self.spatial_excitation[0]
        z = self.spatial_excitation[1](pointwise_conv(x, conv.weight, conv.bias))
        return x * z.expand_as(x)


class LinearSCSE(nn.Module):
    # The bias-free excitation appears only as a standalone channel gate in
    # this design; its scSE always has biases.
    def __init__(self, channel, ratio=16, aggregate="sum"):
        super().__init__()
        self.aggregate = aggregate
        self.cSE = LinearCSE(channel, ratio)
        self.sSE = LinearSSE(channel)

    def forward(self, x):
        return _combine(self.aggregate, self.cSE(x), self.sSE(x))
