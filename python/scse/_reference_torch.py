"""The cSE / sSE / scSE forward pass in PyTorch operations, written once.

``scse.torch`` runs it for inputs libscse does not take (and as the
operators' fallback), ``python -m scse demo`` and the benchmark harness
(bench/) time it as the eager reference. It is the reference modules' op
sequence: mean over space, Linear-ReLU-Linear-sigmoid channel gate, 1x1
convolution + sigmoid spatial gate, sum or element-wise max. PyTorch's
autograd differentiates it. torch is imported on first use, so importing
this module does not import torch.
"""

from __future__ import annotations

from typing import Any, Optional

from ._contract import AGGREGATES


def forward(x: Any, hidden: Optional[int], aggregate: int, w1: Any, b1: Any, w2: Any, b2: Any,
            sw: Any, sb: Any) -> Any:
    """y for x of shape (N, C, *spatial) with 1 to 3 spatial dimensions.

    ``hidden`` None: no channel gate, else ``w1`` [hidden, C(, 1...)], ``w2``
    [C, hidden(, 1...)] and biases ``b1``, ``b2`` (or None). ``sw`` None: no
    spatial gate, else [K, C(, 1...)] whose K rows are averaged, bias ``sb``
    [1] or None. ``aggregate``: a code of ``_contract.AGGREGATES`` (used when
    both gates are given). The parameters' tensors are used as they are
    (their dtype and device), so gradients reach them.
    """
    import torch
    import torch.nn.functional as F

    batch, channels, ones = x.shape[0], x.shape[1], (1,) * (x.dim() - 2)
    branches = []
    if hidden is not None:
        squeezed = x.mean(dim=tuple(range(2, x.dim())))
        h = torch.relu(F.linear(squeezed, w1.reshape(w1.shape[0], channels), b1))
        gate = torch.sigmoid(F.linear(h, w2.reshape(channels, w2.shape[1]), b2))
        branches.append(x * gate.view(batch, channels, *ones))
    if sw is not None:
        weight = sw.reshape(sw.shape[0], channels).mean(dim=0).view(1, channels, *ones)
        conv = (F.conv1d, F.conv2d, F.conv3d)[x.dim() - 3]
        branches.append(x * torch.sigmoid(conv(x, weight, sb)))
    if len(branches) == 1:
        return branches[0]
    if aggregate == AGGREGATES["max"]:
        return torch.max(branches[0], branches[1])
    return branches[0] + branches[1]
