"""Input files for scse_apply and a numpy check of its output.

    python3 example_data.py make DIR [--shape N C D1 [D2 [D3]]] [--reduction R] [--seed S]
        writes DIR/weights.scse (cSE.* and sSE.* entries) and DIR/input.scse
        (x and grad_y)
    python3 example_data.py check DIR OUTPUT [--aggregate sum|max]
        recomputes y, grad_x and the parameter gradients in float64 and
        fails when OUTPUT differs by more than float32 rounding allows

File format (see scse_apply.c): the line "scse-tensors 1", then per tensor a
line "<name> <ndim> <dims...>" and its float32 values, little-endian.
"""

import argparse
import pathlib
import sys

import numpy as np

MAGIC = b"scse-tensors 1\n"


def write_tensors(path, tensors):
    with open(path, "wb") as f:
        f.write(MAGIC)
        for name, value in tensors.items():
            value = np.asarray(value, dtype="<f4")
            f.write(f"{name} {value.ndim} {' '.join(map(str, value.shape))}".rstrip().encode() + b"\n")
            f.write(np.ascontiguousarray(value).tobytes())


def read_tensors(path):
    data = pathlib.Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError(f"{path}: not an scse tensor file")
    pos, tensors = len(MAGIC), {}
    while pos < len(data):
        end = data.index(b"\n", pos)
        name, ndim, *dims = data[pos:end].decode().split()
        shape = tuple(int(d) for d in dims)
        assert len(shape) == int(ndim), f"{path}: bad header for {name}"
        count = int(np.prod(shape, dtype=np.int64))
        tensors[name] = np.frombuffer(data, "<f4", count, end + 1).reshape(shape)
        pos = end + 1 + 4 * count
    return tensors


def make(args):
    rng = np.random.default_rng(args.seed)
    n, c = args.shape[:2]
    hidden = c // args.reduction

    def uniform(shape, fan_in):
        bound = 1 / np.sqrt(fan_in) if fan_in else 0.0
        return rng.uniform(-bound, bound, shape)

    weights = {
        "cSE.fc1.weight": uniform((hidden, c), c),
        "cSE.fc1.bias": uniform((hidden,), c),
        "cSE.fc2.weight": uniform((c, hidden), hidden),
        "cSE.fc2.bias": uniform((c,), hidden),
        "sSE.conv.weight": uniform((1, c, 1, 1), c),
        "sSE.conv.bias": uniform((1,), c),
    }
    inputs = {
        "x": rng.standard_normal(args.shape),
        "grad_y": rng.standard_normal(args.shape),
    }
    out = pathlib.Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tensors(out / "weights.scse", weights)
    write_tensors(out / "input.scse", inputs)
    print(f"wrote {out}/weights.scse and {out}/input.scse: x {tuple(args.shape)}, hidden {hidden}")


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def reference(w, x, gy, aggregate):
    """scSE forward and backward in float64 (PyTorch semantics)."""
    n, c = x.shape[:2]
    x = x.reshape(n, c, -1)
    gy = gy.reshape(n, c, -1)
    w1, b1, w2, b2 = (w[k] for k in ("cSE.fc1.weight", "cSE.fc1.bias", "cSE.fc2.weight", "cSE.fc2.bias"))
    ws, bs = w["sSE.conv.weight"].reshape(-1, c).mean(0), w["sSE.conv.bias"]

    m = x.mean(2)
    a1 = m @ w1.T + b1
    h = np.maximum(a1, 0)
    gc = sigmoid(h @ w2.T + b2)
    gs = sigmoid(np.einsum("c,ncs->ns", ws, x) + bs)
    yc, ys = x * gc[:, :, None], x * gs[:, None, :]
    if aggregate == "sum":
        y, gyc, gys = yc + ys, gy, gy
    else:
        y = np.maximum(yc, ys)
        share = np.where(yc > ys, 1.0, np.where(yc < ys, 0.0, 0.5))
        gyc, gys = gy * share, gy * (1 - share)

    dgc = (gyc * x).sum(2)
    da2 = dgc * gc * (1 - gc)
    da1 = (da2 @ w2) * (a1 > 0)
    dgs = (gys * x).sum(1)
    dz = dgs * gs * (1 - gs)
    gx = gyc * gc[:, :, None] + gys * gs[:, None, :] + (da1 @ w1)[:, :, None] / x.shape[2]
    gx += ws[None, :, None] * dz[:, None, :]
    k = w["sSE.conv.weight"].shape[0]
    grads = {
        "cSE.fc1.weight": da1.T @ m,
        "cSE.fc1.bias": da1.sum(0),
        "cSE.fc2.weight": da2.T @ h,
        "cSE.fc2.bias": da2.sum(0),
        "sSE.conv.weight": np.repeat(np.einsum("ns,ncs->c", dz, x)[None] / k, k, 0),
        "sSE.conv.bias": np.array([dz.sum()]),
    }
    return y, gx, grads


def check(args):
    d = pathlib.Path(args.dir)
    w = {k: v.astype(np.float64) for k, v in read_tensors(d / "weights.scse").items()}
    inp = {k: v.astype(np.float64) for k, v in read_tensors(d / "input.scse").items()}
    got = read_tensors(args.output)
    y, gx, grads = reference(w, inp["x"], inp["grad_y"], args.aggregate)
    expected = {"y": y, "grad_x": gx}
    expected.update({"grad." + k: v.reshape(w[k].shape) for k, v in grads.items()})
    if set(got) != set(expected):
        sys.exit(f"FAIL: {args.output} holds {sorted(got)}, expected {sorted(expected)}")
    worst = 0.0
    for name, ref in expected.items():
        ref = ref.reshape(got[name].shape)
        # float32 rounding of sums over up to N*S terms, relative to the scale.
        tol = 1e-5 * max(1.0, float(np.abs(ref).max(initial=0.0)))
        err = float(np.abs(got[name] - ref).max(initial=0.0))
        worst = max(worst, err / tol)
        if not err <= tol:
            sys.exit(f"FAIL: {name}: max |error| {err:.3g} > {tol:.3g}")
    print(f"ok: {args.output} matches the float64 reference ({len(expected)} tensors, "
          f"worst error {worst:.2f} of the tolerance)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--shape", type=int, nargs="+", default=[2, 16, 12, 10])
    m.add_argument("--reduction", type=int, default=4)
    m.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("output")
    c.add_argument("--aggregate", choices=["sum", "max"], default="sum")
    args = p.parse_args()
    make(args) if args.command == "make" else check(args)


if __name__ == "__main__":
    main()
