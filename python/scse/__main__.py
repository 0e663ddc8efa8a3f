"""Command line: ``python -m scse demo`` and ``python -m scse version``.

The demo runs scSE forward and forward+backward on a (32, 256, 24, 24)
batch, prints the median time over several repeats and, when PyTorch is
importable, the same timings for a PyTorch eager version of the reference
module and the largest absolute differences of y and of the gradients.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

import scse

from . import _reference_torch
from ._contract import AGGREGATES, CHANNEL_KEYS, CHANNEL_PREFIX, SPATIAL_KEYS, SPATIAL_PREFIX


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up: first-touch page faults and lazy initialisation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _torch_reference(params: Dict[str, Any], x: Any, aggregate: str) -> Any:
    """The reference ChannelSpatialSELayer's forward, in PyTorch operations."""
    keys = [CHANNEL_PREFIX + k for k in CHANNEL_KEYS] + [SPATIAL_PREFIX + k for k in SPATIAL_KEYS]
    return _reference_torch.forward(x, params[keys[0]].shape[0], AGGREGATES[aggregate],
                                    *(params.get(key) for key in keys))


def _demo(args: argparse.Namespace) -> int:
    shape = tuple(args.shape)
    if len(shape) != 4:
        print("--shape takes N C H W", file=sys.stderr)
        return 2
    if args.threads is not None:
        scse.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    layer = scse.ChannelSpatialSELayer(shape[1], args.reduction_ratio, args.aggregate, seed=0)
    x = rng.standard_normal(shape, dtype=np.float32)
    grad_y = rng.standard_normal(shape, dtype=np.float32)
    if args.channels_last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)

    print(f"scse {scse.__version__}: scSE (aggregate={args.aggregate!r}, "
          f"reduction_ratio={args.reduction_ratio}) on {shape} float32, "
          f"{'channels last' if args.channels_last else 'channels first'}")
    print(f"threads: {scse.get_num_threads()} (scse and torch), median of {args.repeats} repeats")
    print(f"kernels: {scse.cpu_isa()} (SCSE_CPU_ISA=baseline or avx2 caps the choice)")

    ours_fwd = _median_ms(lambda: layer(x), args.repeats)
    ours_both = _median_ms(lambda: (layer(x), layer.backward(x, grad_y)), args.repeats)
    rows: List[Sequence[str]] = [("", "forward", "forward+backward")]
    rows.append(("scse", f"{ours_fwd:.2f} ms", f"{ours_both:.2f} ms"))

    torch = _import_torch()
    if torch is None:
        _print_table(rows)
        print("PyTorch is not installed: no comparison (pip install torch).")
        return 0

    # Same thread count on both sides, so the comparison is like for like.
    torch.set_num_threads(scse.get_num_threads())
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    xt = torch.from_numpy(np.array(x)).contiguous(memory_format=memory_format)
    gyt = torch.from_numpy(grad_y).contiguous(memory_format=memory_format)
    params = {k: torch.from_numpy(v).requires_grad_(True) for k, v in layer.state_dict().items()}

    def torch_forward() -> Any:
        with torch.no_grad():
            return _torch_reference(params, xt, args.aggregate)

    def torch_both() -> Any:
        xg = xt.detach().requires_grad_(True)
        y = _torch_reference(params, xg, args.aggregate)
        y.backward(gyt)
        return xg.grad

    t_fwd = _median_ms(torch_forward, args.repeats)
    t_both = _median_ms(torch_both, args.repeats)
    rows.append((f"torch {torch.__version__} eager", f"{t_fwd:.2f} ms", f"{t_both:.2f} ms"))
    rows.append(("speed-up", f"{t_fwd / ours_fwd:.2f}x", f"{t_both / ours_both:.2f}x"))
    _print_table(rows)

    for p in params.values():
        p.grad = None
    y = layer(x)
    grad_x, grads = layer.backward(x, grad_y)
    xg = xt.detach().requires_grad_(True)
    yt = _torch_reference(params, xg, args.aggregate)
    yt.backward(gyt)
    print(f"max abs error of y:          {_max_err(y, yt):.3e}")
    print(f"max abs error of grad_input: {_max_err(grad_x, xg.grad):.3e}")
    # Parameter gradients are sums over N * S positions, so their absolute
    # error scales with their size; relative to the largest entry it does not.
    for key, p in params.items():
        scale = float(p.grad.abs().max()) if p.grad.numel() else 0.0
        relative = _max_err(grads[key], p.grad) / scale if scale > 0 else 0.0
        print(f"max error of grad {key}, relative to its max |value|: {relative:.3e}")
    return 0


def _max_err(ours: np.ndarray, theirs: Any) -> float:
    if ours.size == 0:
        return 0.0
    return float(np.max(np.abs(ours.astype(np.float64) - theirs.detach().double().numpy())))


def _import_torch() -> Optional[Any]:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _print_table(rows: List[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m scse``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m scse", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="time scSE against PyTorch and check the results")
    demo.add_argument("--shape", type=int, nargs=4, default=[32, 256, 24, 24],
                      metavar=("N", "C", "H", "W"))
    demo.add_argument("--reduction-ratio", type=int, default=2)
    demo.add_argument("--aggregate", choices=["sum", "max"], default="sum")
    demo.add_argument("--channels-last", action="store_true")
    demo.add_argument("--repeats", type=int, default=10)
    demo.add_argument("--threads", type=int, default=None,
                      help="thread count for scse and torch (default: scse's default)")
    commands.add_parser("version", help="print the library version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(scse.__version__)
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
