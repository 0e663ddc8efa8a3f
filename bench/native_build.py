"""Finds the native drivers: scse_bench (C), compiled when there is none, and
the Swift driver.

`make bench` builds scse_bench with CMake (SCSE_BUILD_BENCH=ON) and the
Swift driver with SwiftPM (bench/swift), and passes their paths. Without
one, `auto` takes build/bench/scse_bench of this checkout, else compiles
bench/native/scse_bench.c with the system C compiler against the libscse.so
of the installed scse package (the one the Python side uses); for Swift it
takes bench/swift's release build if there is one.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
from typing import Callable, Optional

_BENCH = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_BENCH)
SWIFT_DRIVER = os.path.join(_BENCH, "swift", ".build", "release", "scse-bench-swift")


def _compile(log: Callable[[str], None]) -> Optional[str]:
    import scse

    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    libs = sorted(glob.glob(os.path.join(os.path.dirname(scse.__file__), "libscse.so*")))
    if cc is None or not libs:
        log("no native driver: no C compiler or no libscse.so next to the scse package")
        return None
    out_dir = tempfile.mkdtemp(prefix="scse-bench-driver-")
    atexit.register(shutil.rmtree, out_dir, True)
    exe = os.path.join(out_dir, "scse_bench")
    cmd = [cc, "-O2", "-std=c99", "-I", os.path.join(_ROOT, "include"),
           os.path.join(_BENCH, "native", "scse_bench.c"), libs[0],
           "-Wl,-rpath," + os.path.dirname(libs[0]), "-o", exe]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        log(f"no native driver: compiling it failed:\n{proc.stderr.strip()}")
        return None
    log(f"native driver compiled against {libs[0]}")
    return exe


def _given(spec: str, option: str, target: str) -> str:
    if not os.access(spec, os.X_OK):
        raise SystemExit(f"{option} {spec}: no such executable (build it with `make {target}`)")
    return os.path.abspath(spec)


def locate(spec: str, log: Callable[[str], None]) -> Optional[str]:
    """The C driver's path for --native SPEC, or None when there is none to run."""
    if spec == "none":
        return None
    if spec != "auto":
        return _given(spec, "--native", "bench-native")
    built = os.path.join(_ROOT, "build", "bench", "scse_bench")
    if os.access(built, os.X_OK):
        return built
    return _compile(log)


def locate_swift(spec: str, log: Callable[[str], None]) -> Optional[str]:
    """The Swift driver's path for --swift SPEC, or None when there is none to run."""
    if spec == "none":
        return None
    if spec != "auto":
        return _given(spec, "--swift", "bench-swift")
    if os.access(SWIFT_DRIVER, os.X_OK):
        return SWIFT_DRIVER
    log("no Swift driver: build it with `make bench-swift`")
    return None
