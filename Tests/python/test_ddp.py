"""DistributedDataParallel training with the scse.torch drop-in: two gloo
processes on 127.0.0.1, each with half of every batch, end with the
parameters of one process training the PyTorch reference module on whole
batches (DDP averages the ranks' gradients, and the loss is a mean)."""

import os
import socket
import subprocess
import sys

import torch

import ddp_training

WORLD = 2


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_gloo_training_matches_reference(tmp_path):
    out = tmp_path / "rank0.pt"
    port = _free_port()
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ddp_training.py")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ranks = [subprocess.Popen([sys.executable, script, str(rank), str(WORLD), str(port), str(out)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in range(WORLD)]
    for rank, process in enumerate(ranks):
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, f"rank {rank} failed:\n{output}"
    ddp = torch.load(out)

    reference = ddp_training.train(ddp_training.build(None))
    reference64 = ddp_training.train(ddp_training.build(None).double(), dtype=torch.float64)
    initial = ddp_training.build(None).state_dict()
    assert ddp.keys() == reference.keys()
    for key, value in ddp.items():
        # float32 training differs from float64 by rounding: allow 4x the
        # reference's own float32 error plus a few ulps of the values.
        noise = (reference[key].double() - reference64[key]).abs().max().item()
        bound = 4 * noise + 8 * torch.finfo(torch.float32).eps * reference64[key].abs().max().item()
        error = (value.double() - reference64[key]).abs().max().item()
        assert error <= bound, f"{key}: DDP differs from the reference by {error:.3g} > {bound:.3g}"
        # The parameter moved by far more than the bound, so a wrong gradient would show.
        moved = (reference64[key] - initial[key].double()).abs().max().item()
        assert moved > 20 * bound, f"{key} moved by {moved:.3g} only, bound {bound:.3g}"
