# Type stubs for the C extension scse._native (see its module docstring).
from typing import Optional, Tuple

import numpy as np

HEADER_VERSION: str

class Error(Exception):
    status: Optional[int]

_CseGate = Tuple[int, Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]
_SseGate = Tuple[np.ndarray, Optional[np.ndarray]]
_CseGrads = Tuple[np.ndarray, Optional[np.ndarray], np.ndarray, Optional[np.ndarray]]
_SseGrads = Tuple[np.ndarray, Optional[np.ndarray]]

def forward(
    x: np.ndarray,
    cse: Optional[_CseGate] = None,
    sse: Optional[_SseGate] = None,
    aggregate: int = 0,
    out: Optional[np.ndarray] = None,
) -> np.ndarray: ...
def backward(
    x: np.ndarray,
    grad_y: np.ndarray,
    cse: Optional[_CseGate] = None,
    sse: Optional[_SseGate] = None,
    aggregate: int = 0,
) -> Tuple[np.ndarray, Optional[_CseGrads], Optional[_SseGrads]]: ...
def version() -> str: ...
def status_string(code: int) -> str: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
