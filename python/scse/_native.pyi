# Type stubs for the C extension scse._native, the thin binding of libscse's
# C ABI (include/scse.h). The layer classes in scse are the supported API.
from typing import Optional, Tuple

import numpy as np

#: The SCSE_VERSION_* of the header the extension was compiled against.
HEADER_VERSION: str
#: The header's scse_aggregate codes (scse._contract.AGGREGATES must agree).
AGGREGATE_SUM: int
AGGREGATE_MAX: int
#: Activations have this many spatial dimensions (scse._contract agrees).
MIN_SPATIAL_DIMS: int
MAX_SPATIAL_DIMS: int

class Error(Exception):
    """A libscse call failed; ``status`` is the scse_status code."""

    status: Optional[int]

#: (hidden, fc1_weight [hidden, C], fc1_bias [hidden] or None,
#:  fc2_weight [C, hidden], fc2_bias [C] or None); weights may be None when
#:  hidden == 0 and may carry trailing 1-extents ([out, in, 1, 1]).
_CseGate = Tuple[int, Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]
#: (weight [K, C, 1...] whose K rows are averaged, bias [1] or None).
_SseGate = Tuple[np.ndarray, Optional[np.ndarray]]
#: Gradients shaped like the parameters given (None for absent biases).
_CseGrads = Tuple[np.ndarray, Optional[np.ndarray], np.ndarray, Optional[np.ndarray]]
_SseGrads = Tuple[np.ndarray, Optional[np.ndarray]]

def forward(
    x: np.ndarray,
    cse: Optional[_CseGate] = None,
    sse: Optional[_SseGate] = None,
    aggregate: int = 0,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """cSE (only ``cse``), sSE (only ``sse``) or scSE (both) forward.

    ``x``: float32 (N, C, *spatial), 1-3 spatial dims, C-contiguous or
    channels-last dense. ``aggregate``: 0 sum, 1 max. ``out``: x itself or
    a writeable array of x's shape and layout; a new array in x's layout
    when None. Returns the output array.
    """

def backward(
    x: np.ndarray,
    grad_output: np.ndarray,
    cse: Optional[_CseGate] = None,
    sse: Optional[_SseGate] = None,
    aggregate: int = 0,
    out: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, Optional[_CseGrads], Optional[_SseGrads]]:
    """Gradients of ``sum(grad_output * forward(x, ...))``.

    Returns ``(grad_x, cse_grads, sse_grads)``: grad_x written to ``out``
    (checked as forward's ``out``; it may be grad_output itself) or a new
    array in x's layout (grad_output in the other dense layout is copied
    first), the gradient tuples None for an absent gate.
    """

def version() -> str:
    """The loaded library's scse_version()."""

def status_string(code: int) -> str:
    """scse_status_string(code)."""

def set_num_threads(n: int) -> None:
    """scse_set_num_threads(n); raises Error for n < 0."""

def get_num_threads() -> int:
    """scse_get_num_threads(), always >= 1."""

def cpu_isa() -> str:
    """scse_cpu_isa(): "avx2" or "baseline"."""
