"""PyTorch drop-in versions of the reference modules, computed by libscse.

``scse.torch.ChannelSELayer``, ``SpatialSELayer`` and
``ChannelSpatialSELayer`` are ``nn.Module`` s with the reference modules'
constructor arguments, submodules and state_dict keys (``fc1``/``fc2``
nn.Linear, ``conv`` nn.Conv2d, ``cSE.``/``sSE.`` prefixes), so a model
switches by changing one import, and state_dicts load either way. Built
after ``torch.manual_seed(s)`` they even get the reference's initial
parameters, since the submodules are created in the same order.

When libscse runs: the input is a CPU float32 tensor with 3 to 5 dimensions
and no zero-size one, dense in one of two memory formats (contiguous, or
channels-last: ``torch.channels_last`` / ``torch.channels_last_3d``, or for
3-D inputs ``x.transpose(1, 2).contiguous().transpose(1, 2)``), and every
parameter (and few-shot ``weights``) is a CPU float32 tensor; under CPU
autocast also bfloat16/float16 ones, computed in float32. The forward pass
reads the input's memory in place and the output keeps the input's strides;
so does the gradient with respect to the input.

libscse is reached two ways (``scse._torch_route`` decides): directly when
no gradient is needed and nothing traces the call, else through the
operators ``torch.ops.scse.forward`` / ``torch.ops.scse.backward``, which
autograd, ``torch.compile``, ``torch.export``, ``torch.jit`` and the ONNX
exporters see (``scse._torch_ops``). Everything else (CUDA, float64 or half
tensors without autocast, non-dense views such as ``x[..., ::2]``,
functorch transforms) runs a pure-PyTorch version of the same math
instead, with PyTorch's autograd; :meth:`uses_native` tells which path an
input takes. The native path supports first-order gradients only:
differentiating its backward again (``create_graph=True`` then a second
backward) raises RuntimeError; use the float64 or CUDA path, which falls
back to PyTorch, for higher orders.

Gradients flow to the input and to every parameter that requires grad, and
to the few-shot ``weights`` of SpatialSELayer, as PyTorch's autograd
computes them on the reference modules (ReLU passes no gradient at 0;
``aggregate="max"`` splits the gradient in half on ties). Importing this
module imports torch; ``import scse`` alone never does.
"""

from ._convert import convert
from ._torch_modules import (ChannelSELayer, ChannelSpatialSELayer, SpatialSELayer, extract_blocks,
                             module_from_layer)
from ._torch_onnx import onnx_translation_table

__all__ = [
    "ChannelSELayer",
    "SpatialSELayer",
    "ChannelSpatialSELayer",
    "convert",
    "extract_blocks",
    "module_from_layer",
    "onnx_translation_table",
]
