"""Client of a native driver: bench/native/scse_bench.c, or any program that
speaks its protocol (the Swift driver in bench/swift does).

One driver process per configuration and variant (thread count, CPU ISA);
it sits blocked on its stdin between commands, so its timed runs interleave
with the Python implementations' without competing with them for the cores.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Dict, Optional, Sequence

import numpy as np

# File names the driver reads, in the order of the scse state dict keys.
_PARAM_FILES = {
    "cSE.fc1.weight": "fc1_weight", "cSE.fc1.bias": "fc1_bias",
    "cSE.fc2.weight": "fc2_weight", "cSE.fc2.bias": "fc2_bias",
    "sSE.conv.weight": "conv_weight", "sSE.conv.bias": "conv_bias",
}


def memory_order(a: np.ndarray, channels_last: bool) -> np.ndarray:
    """a's elements in the order they sit in memory for the given layout."""
    return np.ascontiguousarray(np.moveaxis(a, 1, -1) if channels_last else a)


def from_memory_order(flat: np.ndarray, shape: tuple, channels_last: bool) -> np.ndarray:
    if not channels_last:
        return flat.reshape(shape)
    return np.moveaxis(flat.reshape((shape[0],) + shape[2:] + (shape[1],)), -1, 1)


class NativeDriver:
    """A running scse_bench process fed with one configuration's data."""

    def __init__(self, exe: str, x: np.ndarray, grad_y: np.ndarray, params: Dict[str, np.ndarray],
                 hidden: int, channels_last: bool, aggregate: str, threads: Optional[int],
                 env: Optional[Dict[str, str]] = None, launcher: Sequence[str] = ()) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="scse-bench-")
        self.shape = x.shape
        self.channels_last = channels_last
        self.hidden = hidden
        memory_order(x, channels_last).tofile(os.path.join(self._tmp.name, "x"))
        memory_order(grad_y, channels_last).tofile(os.path.join(self._tmp.name, "grad_y"))
        for key, name in _PARAM_FILES.items():
            params[key].astype(np.float32).tofile(os.path.join(self._tmp.name, name))
        n, c = x.shape[:2]
        args = [*launcher, exe, self._tmp.name, str(n), str(c), str(x.size // (n * c)), str(hidden),
                "last" if channels_last else "first", aggregate, str(threads or 0)]
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, bufsize=1, env=dict(os.environ, **(env or {})))
        ready = self._reply()
        fields = dict(f.split("=", 1) for f in ready.split()[1:])
        self.threads = int(fields["threads"])
        self.version = fields["version"]
        self.isa = fields.get("isa")  # the CPU variant in use, if the library reports one
        # The inputs are in the driver's memory now; the files are not needed.
        for name in ["x", "grad_y"]:
            os.remove(os.path.join(self._tmp.name, name))

    def _reply(self) -> str:
        line = self._proc.stdout.readline().strip()
        if not line or line.startswith("error"):
            self.close()
            raise RuntimeError(f"native driver failed: {line or 'no reply'}")
        return line

    def _command(self, text: str) -> str:
        self._proc.stdin.write(text + "\n")
        self._proc.stdin.flush()
        return self._reply()

    def time(self, pass_name: str, count: int) -> float:
        """Seconds for `count` back-to-back runs of fwd or fwdbwd."""
        return float(self._command(f"time {pass_name} {count}").split()[1]) * 1e-9

    def copy_time(self, nbytes: int, count: int) -> float:
        """Seconds for `count` memcpy calls of `nbytes` bytes each."""
        return float(self._command(f"copy {nbytes} {count}").split()[1]) * 1e-9

    def results(self) -> Dict[str, np.ndarray]:
        """y, grad_x and the parameter gradients (scse state dict keys) of one step."""
        out = os.path.join(self._tmp.name, "out")
        os.makedirs(out, exist_ok=True)
        self._command(f"check {out}")
        read = lambda name: np.fromfile(os.path.join(out, name), dtype=np.float32)  # noqa: E731
        results = {k: from_memory_order(read(k), self.shape, self.channels_last)
                   for k in ["y", "grad_x"]}
        c, h = self.shape[1], self.hidden
        shapes = {"fc1_weight": (h, c), "fc1_bias": (h,), "fc2_weight": (c, h), "fc2_bias": (c,),
                  "conv_weight": (1, c, 1, 1), "conv_bias": (1,)}
        for key, name in _PARAM_FILES.items():
            results[key] = read(name).reshape(shapes[name])
        return results

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write("quit\n")
                self._proc.stdin.close()
            except OSError:
                pass
            self._proc.wait(timeout=30)
        self._tmp.cleanup()
