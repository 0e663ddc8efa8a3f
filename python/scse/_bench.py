"""``python -m scse bench [options]``: the benchmark harness of a source checkout.

The harness (bench/run.py: scse next to PyTorch eager, torch.compile and
memcpy) and its reference module live in the repository, not in the
installed package; this finds them from $SCSE_SOURCE_DIR or from the
current directory and its parents, and runs them with this interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Optional


def _find_harness() -> Optional[str]:
    starts = [os.environ["SCSE_SOURCE_DIR"]] if os.environ.get("SCSE_SOURCE_DIR") else []
    here = os.getcwd()
    while True:
        starts.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for root in starts:
        script = os.path.join(root, "bench", "run.py")
        if os.path.isfile(script):
            return script
    return None


def main(argv: List[str]) -> int:
    script = _find_harness()
    if script is None:
        print("python -m scse bench runs bench/run.py of an scse source checkout: run it inside "
              "the checkout or set SCSE_SOURCE_DIR to its path.", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, script, *argv])
