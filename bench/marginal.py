"""scSE's marginal cost inside a small model: conv -> scSE -> conv.

A 1x1 convolution, the block, a second 1x1 convolution (the shape of an
SE-ResNet bottleneck's end), timed against the same model without the block,
with PyTorch's own threads busy around the block as in a real network: the
convolutions run on PyTorch's OpenMP pool right before and after scse's own
threads. Marginal cost = time(conv -> block -> conv) - time(conv -> conv),
taken per repeat from samples interleaved within that repeat, then the
median. The block alone (same input, same threads) is timed next to it, so
marginal minus alone is what the neighbourhood costs the block.

The blocks: the scse drop-in (scse.torch) and the reference module
(bench/reference.py) with the same weights; forward calls inside one no_grad block per sample, and
forward+backward with every parameter's gradient.
"""

from __future__ import annotations

from typing import Callable, Dict, List

import numpy as np

import report
from timing import REL_L2_TOLERANCE, rel_l2, round_robin, set_threads, torch_results, torch_timer

DEFAULT_SHAPES = ["8,64,32,32/2", "1,256,28,28/16"]
QUICK_SHAPES = ["1,32,16,16/2"]


def _models(torch, shape, ratio):
    import scse
    import scse.torch as scse_torch
    from reference import reference_from

    nn = torch.nn
    c = shape[1]
    layer = scse.ChannelSpatialSELayer(c, ratio, "sum", seed=1)
    torch.manual_seed(0)
    conv1, conv2 = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)
    blocks = {"none": nn.Identity(), "scse": scse_torch.module_from_layer(layer),
              "ref": reference_from(layer.state_dict(), c, ratio, "sum", len(shape) - 2)}
    models = {name: nn.Sequential(conv1, block, conv2) for name, block in blocks.items()}
    return models, blocks


def _check(models, x, grad_y) -> float:
    """Worst relative L2 error of the scse model's output and gradients against the reference model's."""
    ours, ref = (torch_results(models[name], x, grad_y) for name in ["scse", "ref"])
    return max(rel_l2(ours[k], ref[k]) for k in ref)


def run(torch, args, progress) -> List[dict]:
    import scse

    threads = max(args.threads)
    rows = []
    for shape, ratio in args.marginal_shapes:
        progress(f"marginal cost in conv -> scSE -> conv, {report.shape_text(shape)}/{ratio}")
        set_threads(torch, scse, threads)
        models, blocks = _models(torch, shape, ratio)
        rng = np.random.default_rng(2)
        x = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))
        grad_y = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32))
        err = _check(models, x, grad_y)
        block_input = models["none"][0](x).detach()
        for pass_name in args.passes:
            train = pass_name == "fwdbwd"
            timers: Dict[str, Callable[[int], float]] = {
                f"model_{name}": torch_timer(torch, m, m.parameters(), x, grad_y, train)
                for name, m in models.items()}
            for name in ["scse", "ref"]:
                block = blocks[name]
                timers[f"alone_{name}"] = torch_timer(
                    torch, block, block.parameters(), block_input, grad_y, train)
            timed = round_robin(timers, args.repeats, args.min_sample_ms * 1e-3, args.budget_s,
                                settle_s=args.settle_ms * 1e-3)
            base = timed["model_none"]["samples_s"]
            marginal = {name: report.median([a - b for a, b in zip(
                timed[f"model_{name}"]["samples_s"], base)]) for name in ["scse", "ref"]}
            rows.append({
                "shape": list(shape), "reduction_ratio": ratio, "pass": pass_name,
                "threads": threads, "median_s": {k: v["median_s"] for k, v in timed.items()},
                "marginal_s": marginal, "timings": timed, "rel_l2_diff": err,
                "wrong": err > REL_L2_TOLERANCE,
            })
            progress(f"    {pass_name}: " + " ".join(
                f"{k}={v['median_s'] * 1e6:.1f}us" for k, v in timed.items()))
    return rows
