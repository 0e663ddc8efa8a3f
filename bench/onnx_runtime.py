"""ONNX Runtime running the reference module (bench/reference.py) exported to ONNX.

The reference is plain PyTorch, so the TorchScript-based exporter
(`dynamo=False`) writes it as standard ONNX ops: ReduceMean, Gemm, Relu,
Sigmoid, Conv, Mul, Add or Max. The session uses the CPU execution provider
with the run's thread count as its intra-op threads, and runs through an
IOBinding into a preallocated output, as the NumPy layer writes into `out=`.
"""

from __future__ import annotations

import os
import warnings
from typing import Optional

import numpy as np

OPSET = 17


def available() -> Optional[str]:
    """onnxruntime's version, or None when it or onnx cannot be imported."""
    try:
        import onnx  # noqa: F401 - the exporter needs it
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def export(torch, module, x: np.ndarray, path: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(module, (torch.from_numpy(x),), path, dynamo=False,
                          input_names=["x"], output_names=["y"], opset_version=OPSET)


class Session:
    """One InferenceSession bound to x and to a preallocated y."""

    def __init__(self, path: str, threads: int, x: np.ndarray) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.x = np.ascontiguousarray(x)
        self.y = np.empty_like(self.x)
        self._binding = self._session.io_binding()
        self._binding.bind_cpu_input("x", self.x)
        self._binding.bind_output("y", "cpu", 0, np.float32, list(self.y.shape), self.y.ctypes.data)

    def __call__(self) -> np.ndarray:
        self._session.run_with_iobinding(self._binding)
        return self.y


def model_path(directory: str, tag: str) -> str:
    return os.path.join(directory, f"reference-{tag}.onnx")
