"""PyTorch reference scSE for the benchmark, written from the block's math.

The module structure and the op sequence are those of the ai-med reference
ChannelSpatialSELayer (mean over space, Linear-ReLU-Linear-Sigmoid channel
gate, 1x1 convolution + sigmoid spatial gate, sum or element-wise max), so
eager and torch.compile timings are those of the layer people actually use.
The convolution follows the input's spatial rank (Conv1d/2d/3d), as the
reference's 3D variant does for volumes.
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import torch
from torch import nn


class ChannelSELayer(nn.Module):
    def __init__(self, num_channels: int, reduction_ratio: int = 2) -> None:
        super().__init__()
        hidden = num_channels // reduction_ratio
        self.fc1 = nn.Linear(num_channels, hidden, bias=True)
        self.fc2 = nn.Linear(hidden, num_channels, bias=True)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        squeeze = x.reshape(n, c, -1).mean(dim=2)
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(squeeze))))
        return torch.mul(x, gate.view(n, c, *([1] * (x.dim() - 2))))


class SpatialSELayer(nn.Module):
    def __init__(self, num_channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]
        self.conv = conv(num_channels, 1, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mul(x, self.sigmoid(self.conv(x)))


class ChannelSpatialSELayer(nn.Module):
    def __init__(self, num_channels: int, reduction_ratio: int = 2, aggregate: str = "sum",
                 spatial_dims: int = 2) -> None:
        super().__init__()
        self.cSE = ChannelSELayer(num_channels, reduction_ratio)
        self.sSE = SpatialSELayer(num_channels, spatial_dims)
        self.aggregate = aggregate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.aggregate == "max":
            return torch.max(self.cSE(x), self.sSE(x))
        return self.cSE(x) + self.sSE(x)


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
