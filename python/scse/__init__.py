"""scse: fast, exact Concurrent Spatial and Channel Squeeze & Excitation.

Numpy implementation of the cSE, sSE and scSE blocks (Roy et al., MICCAI
2018) with forward and backward passes that match the PyTorch reference
modules, computed by the native library libscse.

    >>> import numpy as np, scse
    >>> layer = scse.ChannelSpatialSELayer(64, reduction_ratio=2, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 64, 8, 8), dtype=np.float32)
    >>> y = layer(x)
    >>> grad_x, grads = layer.backward(x, np.ones_like(y))

Weights of other implementations (segmentation_models_pytorch, MONAI, timm,
ai-med) load with ``ChannelSpatialSELayer.from_state_dict`` and friends, or
:func:`extract_blocks` for a whole model. ``scse.torch`` (imported only on
request, as it imports torch) has ``nn.Module`` drop-ins for the reference
modules.
"""

import operator as _operator

from . import _native
from ._layers import ChannelSELayer, ChannelSpatialSELayer, SpatialSELayer, extract_blocks
from ._weights import detect_source

__all__ = [
    "ChannelSELayer",
    "SpatialSELayer",
    "ChannelSpatialSELayer",
    "extract_blocks",
    "detect_source",
    "Error",
    "set_num_threads",
    "get_num_threads",
    "cpu_isa",
    "__version__",
]

#: Raised when a libscse call fails; ``status`` holds the scse_status code.
Error = _native.Error

#: The version of the loaded libscse (scse_version()); the extension refuses
#: to import when it differs from the header version it was built against.
__version__: str = _native.version()


def set_num_threads(n: int) -> None:
    """Sets how many threads later calls may use.

    ``n >= 1`` for that many threads; ``0`` restores the default (the
    SCSE_NUM_THREADS environment variable when it holds a positive integer,
    else the number of online processors). Results do not depend on it.
    A negative ``n`` raises :class:`Error`.
    """
    _native.set_num_threads(_operator.index(n))


def get_num_threads() -> int:
    """The number of threads calls will use, always >= 1."""
    return _native.get_num_threads()


def cpu_isa() -> str:
    """The kernel variant this process runs (scse_cpu_isa()).

    ``"avx2"`` (x86-64-v3: AVX2 and FMA) or ``"baseline"`` (any x86-64 CPU;
    NEON on aarch64): the strongest one the CPU supports, capped by the
    SCSE_CPU_ISA environment variable when the first call is made.
    """
    return _native.cpu_isa()
