"""ONNX export of ``torch.ops.scse.forward`` as standard ONNX operators.

The block becomes GlobalAveragePool, Flatten, Gemm, Relu, Sigmoid and
Reshape (channel gate), Conv and Sigmoid (spatial gate; few-shot weights
averaged by a MatMul), Mul, and Add or Max: a model any ONNX runtime runs
without libscse. The graph is written once (:func:`_block`) for both
exporters through a small emitter:

* ``torch.onnx.export(..., dynamo=False)`` (TorchScript-based): importing
  ``scse.torch`` registers the symbolic function for ``scse::forward``.
* ``torch.onnx.export(..., dynamo=True)`` (torch.export-based): pass
  ``custom_translation_table=scse.torch.onnx_translation_table()``; without
  it the exporter stops with an error naming ``scse.forward`` (it never
  writes a constant in its place).

The backward operator is not exported (ONNX graphs are inference graphs).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from ._contract import AGGREGATE_MAX

# Lowest opset whose operators _block uses with these signatures.
MIN_OPSET = 13


def _block(op: Callable[..., Any], const: Callable[[np.ndarray], Any], x: Any, rank: int,
           w1: Any, b1: Any, w2: Any, b2: Any, sw: Any, sb: Any, shots: int,
           aggregate: int) -> Any:
    """The ONNX graph of the block. ``op(name, *inputs, **attributes)`` adds a
    node, ``const(array)`` a constant; ``rank`` is x's rank, ``shots`` the
    number of rows of ``sw`` (few-shot weights are averaged)."""
    branches = []
    if w1 is not None:
        pooled = op("GlobalAveragePool", x)  # (N, C, 1...)
        squeezed = op("Flatten", pooled, axis=1)  # (N, C)
        hidden = op("Relu", _linear(op, squeezed, w1, b1))
        gate = op("Sigmoid", _linear(op, hidden, w2, b2))
        branches.append(op("Mul", x, op("Reshape", gate, op("Shape", pooled))))
    if sw is not None:
        weight = op("Flatten", sw, axis=1)  # (K, C)
        if shots != 1:
            weight = op("MatMul", const(np.full((1, shots), 1.0 / shots, np.float32)), weight)
        kernel = op("Reshape", weight, const(np.array([1, -1] + [1] * (rank - 2), np.int64)))
        logits = op("Conv", x, kernel) if sb is None else op("Conv", x, kernel, sb)
        branches.append(op("Mul", x, op("Sigmoid", logits)))
    if len(branches) == 1:
        return branches[0]
    return op("Max" if aggregate == AGGREGATE_MAX else "Add", *branches)


def _linear(op: Callable[..., Any], inputs: Any, weight: Any, bias: Any) -> Any:
    matrix = op("Flatten", weight, axis=1)  # [out, in, 1...] -> [out, in]
    if bias is None:
        return op("Gemm", inputs, matrix, transB=1)
    return op("Gemm", inputs, matrix, bias, transB=1)


# --- dynamo=False: TorchScript symbolic -------------------------------------------------


def _symbolic_forward(g: Any, x: Any, w1: Any, b1: Any, w2: Any, b2: Any, sw: Any, sb: Any,
                      aggregate: Any) -> Any:
    from torch.onnx import symbolic_helper as helper

    def present(value: Any) -> Any:
        return None if helper._is_none(value) else value

    suffix = {int: "_i", float: "_f"}

    def op(name: str, *inputs: Any, **attributes: Any) -> Any:
        named = {key + suffix[type(value)]: value for key, value in attributes.items()}
        return g.op(name, *inputs, **named)

    def const(value: np.ndarray) -> Any:
        return g.op("Constant", value_t=torch.from_numpy(value))

    rank = helper._get_tensor_rank(x)
    sw = present(sw)
    sizes = helper._get_tensor_sizes(sw) if sw is not None else [1]
    if rank is None or sizes is None or sizes[0] is None:
        raise RuntimeError("scse::forward ONNX export needs the input's rank and the spatial "
                           "weights' first dimension to be known")
    return _block(op, const, x, rank, present(w1), present(b1), present(w2), present(b2), sw,
                  present(sb), sizes[0], helper._maybe_get_const(aggregate, "i"))


def register_symbolic() -> None:
    """Registers the dynamo=False export of scse::forward for every opset it supports."""
    from torch.onnx import register_custom_op_symbolic

    register_custom_op_symbolic("scse::forward", _symbolic_forward, MIN_OPSET)


# --- dynamo=True: onnxscript translation --------------------------------------------------


def _translate_forward(x: Any, w1: Any = None, b1: Any = None, w2: Any = None, b2: Any = None,
                       sw: Any = None, sb: Any = None, aggregate: int = 0) -> Any:
    import onnx_ir as ir
    from onnxscript import opset18

    def op(name: str, *inputs: Any, **attributes: Any) -> Any:
        return getattr(opset18, name)(*inputs, **attributes)

    def const(value: np.ndarray) -> Any:
        return opset18.Constant(value=ir.tensor(value))

    shots = 1 if sw is None else sw.shape[0]
    if not isinstance(shots, int):
        raise RuntimeError("scse::forward ONNX export needs the spatial weights' first "
                           "dimension to be static")
    return _block(op, const, x, len(x.shape), w1, b1, w2, b2, sw, sb, shots, aggregate)


def onnx_translation_table() -> Dict[Any, Callable[..., Any]]:
    """``custom_translation_table`` for ``torch.onnx.export(..., dynamo=True)``:
    scse's operators as standard ONNX operators.

    >>> torch.onnx.export(model, (x,), "model.onnx", dynamo=True,
    ...                   custom_translation_table=scse.torch.onnx_translation_table())
    """
    return {torch.ops.scse.forward.default: _translate_forward}
