"""A small segmentation-style model trained for a few SGD steps, either with
DistributedDataParallel over gloo (run as a script, one process per rank) or
in one process. test_ddp.py compares the two.

    python ddp_training.py RANK WORLD_SIZE PORT OUT   # one DDP rank
"""

import sys

import torch
import torch.nn as nn

import reference_modules

CHANNELS, BATCH, STEPS, LR = 16, 8, 3, 0.5


def build(block):
    """conv -> SE block -> 1x1 conv, identically initialised whatever the block."""
    torch.manual_seed(0)
    stem = nn.Conv2d(3, CHANNELS, 3, padding=1)
    reference = reference_modules.ChannelSpatialSELayer(CHANNELS, 4)
    head = nn.Conv2d(CHANNELS, 2, 1)
    if block is not None:
        block.load_state_dict(reference.state_dict())
        reference = block
    return nn.Sequential(stem, reference, nn.ReLU(), head)


def batch():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(STEPS, BATCH, 3, 12, 12, generator=generator)
    target = torch.randn(STEPS, BATCH, 2, 12, 12, generator=generator)
    return x, target


def train(model, rows=slice(None), dtype=torch.float32):
    """STEPS of SGD on the mean squared error of the given rows of each batch;
    returns the final parameters."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    xs, targets = (t.to(dtype) for t in batch())
    for x, target in zip(xs, targets):
        optimizer.zero_grad()
        loss = (model(x[rows]) - target[rows]).pow(2).mean()
        loss.backward()
        optimizer.step()
    inner = model.module if hasattr(model, "module") else model
    return {k: v.detach().clone() for k, v in inner.state_dict().items()}


def main(rank, world, port, out):
    import torch.distributed as dist

    import scse.torch

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        block = scse.torch.ChannelSpatialSELayer(CHANNELS, 4)
        model = nn.parallel.DistributedDataParallel(build(block))
        share = BATCH // world
        params = train(model, slice(rank * share, (rank + 1) * share))
        if rank == 0:
            torch.save(params, out)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
