"""Writes the seed corpus of fuzz/scse_fuzz.c into fuzz/corpus/.

Each seed is one hand-picked call (the byte map is at the top of
scse_fuzz.c); the fuzzer mutates from there. Rerun after changing the byte
map: python3 fuzz/make_seed_corpus.py
"""
import pathlib
import random

HERE = pathlib.Path(__file__).resolve().parent
CSE_F, SSE_F, SCSE_F, CSE_B, SSE_B, SCSE_B = range(6)
# Buffer numbers of the harness (enum B_*), and its lists of movable ones.
B_X, B_GY, B_OUT, B_W1 = 0, 1, 2, 3
OUTPUTS = ["out", "gw1", "gb1", "gw2", "gb2", "gws", "gbs"]
INPUTS = ["x", "gy", "w1", "b1", "w2", "b2", "ws", "bs"]


def seed(entry, layout=0, aggregate=0, n=2, c=5, s=7, hidden=2, rows=1, threads=1,
         opt_lo=0, opt_hi=0, required=0, alias=0, alias_at=0, share=0, share_at=0,
         wild=0, shift=0, data=None, seed_value=0):
    """The bytes of one input; sizes are the real values (1-based)."""
    header = [entry, layout, aggregate, n - 1, c - 1, s - 1, hidden, rows - 1, threads,
              opt_lo, opt_hi, required, alias, alias_at, share, share_at, wild, shift]
    rng = random.Random(seed_value)
    body = data if data is not None else [rng.randrange(256) for _ in range(24)]
    return bytes(header + body)


def alias_byte(output, target):
    """Byte 12: alias % 7 picks the output, (alias / 7) % 15 the buffer it moves to."""
    o = OUTPUTS.index(output)
    return next(a for a in range(128, 256) if a % 7 == o and (a // 7) % 15 == target)


def share_byte(moved, host):
    """Byte 14: share % 8 picks the input, (share / 8) % 8 the input it moves into."""
    m, h = INPUTS.index(moved), INPUTS.index(host)
    return next(v for v in range(160, 256) if v % 8 == m and (v // 8) % 8 == h)


def in_place(entry, n, c, s):
    """Output moved exactly onto its in-place partner (x, or grad_y in backward).
    The byte at 13 is the offset from `length of the output` before the target."""
    target = B_GY if entry >= 3 else B_X
    return dict(alias=alias_byte("out", target), alias_at=n * c * s)


def main():
    seeds = {}
    for entry in range(6):
        for layout in (0, 1):
            seeds[f"valid-e{entry}-l{layout}"] = seed(entry, layout, seed_value=entry * 2 + layout)
    seeds["scse-max-forward"] = seed(SCSE_F, aggregate=1, n=3, c=9, s=17, hidden=4, rows=2)
    seeds["scse-max-backward-last"] = seed(SCSE_B, layout=1, aggregate=1, n=1, c=33, s=5, hidden=3)
    seeds["fewshot-rows4"] = seed(SSE_B, rows=4, c=6, s=11)
    seeds["hidden0-no-weights"] = seed(CSE_B, hidden=0, opt_hi=64, opt_lo=1)
    seeds["hidden-wider-than-c"] = seed(SCSE_B, c=3, hidden=5)
    seeds["no-bias"] = seed(SCSE_B, opt_lo=0b111)
    seeds["bias-grad-without-bias"] = seed(CSE_B, opt_lo=0b1, opt_hi=32)
    seeds["no-grads"] = seed(SCSE_B, opt_hi=0b11110)
    seeds["some-grads"] = seed(SCSE_B, opt_lo=0b10101000)
    seeds["one-of-everything"] = seed(SCSE_B, n=1, c=1, s=1, hidden=1)
    seeds["vector-width"] = seed(SCSE_F, layout=1, n=1, c=40, s=80, hidden=8, threads=4)
    seeds["default-threads"] = seed(SCSE_B, threads=0, n=4, c=16, s=33)
    seeds["in-place-forward"] = seed(SCSE_F, **in_place(SCSE_F, 2, 5, 7))
    seeds["in-place-backward"] = seed(SCSE_B, **in_place(SCSE_B, 2, 5, 7))
    seeds["in-place-and-x-is-grad-y"] = seed(SCSE_B, share=share_byte("x", "gy"), share_at=2 * 5 * 7,
                                             **in_place(SCSE_B, 2, 5, 7))
    seeds["partial-overlap"] = seed(CSE_F, alias=alias_byte("out", B_X), alias_at=3)
    seeds["grad-on-weight"] = seed(CSE_B, alias=alias_byte("gw1", B_W1), alias_at=2 * 5)
    seeds["x-is-grad-y"] = seed(SCSE_B, share=share_byte("x", "gy"), share_at=2 * 5 * 7)
    seeds["weight-inside-x"] = seed(SSE_F, share=share_byte("ws", "x"), share_at=9)
    seeds["layout-invalid"] = seed(SSE_F, layout=243)
    seeds["aggregate-invalid"] = seed(SCSE_B, aggregate=250)
    seeds["required-null-x"] = seed(CSE_F, required=218)
    seeds["required-null-gate"] = seed(SCSE_B, required=216)
    seeds["required-null-weight"] = seed(SSE_B, required=223)
    seeds["wild-pointer"] = seed(SCSE_F, wild=240)
    seeds["shifted-arena"] = seed(SCSE_B, shift=7)
    for i, hostile in enumerate((224, 227, 228, 232, 236)):
        seeds[f"hostile-batch-{i}"] = bytes([SCSE_F, 0, 0, hostile]) + seed(SCSE_F)[4:]
        seeds[f"hostile-spatial-{i}"] = bytes([CSE_B, 1, 0, 1, 4, hostile]) + seed(CSE_B)[6:]
    seeds["hostile-hidden"] = seed(CSE_F)[:6] + bytes([233]) + seed(CSE_F)[7:]
    seeds["hostile-rows"] = seed(SSE_F)[:7] + bytes([235]) + seed(SSE_F)[8:]
    seeds["empty"] = b""

    out = HERE / "corpus"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    for name, data in seeds.items():
        (out / name).write_bytes(data)
    print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
