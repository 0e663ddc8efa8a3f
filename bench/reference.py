"""PyTorch reference scSE for the benchmark.

The module holds the reference ChannelSpatialSELayer's submodules (``cSE.fc1``
/ ``cSE.fc2`` nn.Linear, ``sSE.conv`` a 1x1 convolution of the input's
spatial rank) and runs the package's one PyTorch version of the math,
``scse._reference_torch.forward`` (mean over space, Linear-ReLU-Linear-Sigmoid
channel gate, 1x1 convolution + sigmoid spatial gate, sum or element-wise
max), so eager and torch.compile timings are those of the reference's ops.
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import torch
from torch import nn

from scse import _reference_torch
from scse._contract import AGGREGATES


class ChannelSELayer(nn.Module):
    def __init__(self, num_channels: int, reduction_ratio: int = 2) -> None:
        super().__init__()
        hidden = num_channels // reduction_ratio
        self.fc1 = nn.Linear(num_channels, hidden, bias=True)
        self.fc2 = nn.Linear(hidden, num_channels, bias=True)


class SpatialSELayer(nn.Module):
    def __init__(self, num_channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]
        self.conv = conv(num_channels, 1, 1)


class ChannelSpatialSELayer(nn.Module):
    def __init__(self, num_channels: int, reduction_ratio: int = 2, aggregate: str = "sum",
                 spatial_dims: int = 2) -> None:
        super().__init__()
        self.cSE = ChannelSELayer(num_channels, reduction_ratio)
        self.sSE = SpatialSELayer(num_channels, spatial_dims)
        self.aggregate = AGGREGATES[aggregate]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fc1, fc2, conv = self.cSE.fc1, self.cSE.fc2, self.sSE.conv
        return _reference_torch.forward(x, fc1.out_features, self.aggregate, fc1.weight, fc1.bias,
                                        fc2.weight, fc2.bias, conv.weight, conv.bias)


def reference_from(state_dict: Dict[str, np.ndarray], num_channels: int, reduction_ratio: int,
                   aggregate: str, spatial_dims: int) -> ChannelSpatialSELayer:
    """A reference module holding the given scse state dict's values."""
    module = ChannelSpatialSELayer(num_channels, reduction_ratio, aggregate, spatial_dims)
    own = module.state_dict()
    values = {}
    for key, value in state_dict.items():
        # scse stores the sSE weight as [1, C, 1, 1]; ConvNd wants its own rank.
        values[key] = torch.from_numpy(np.array(value)).reshape(own[key].shape)
    module.load_state_dict(values)
    return module
