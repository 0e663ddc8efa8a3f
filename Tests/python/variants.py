"""The reference designs under test and how their parameters map onto ours.

A Variant builds a float32 PyTorch reference module and the matching scse
layer, and renames the reference's state_dict keys to the scse keys
(ai-med names are already ours; the 1x1-conv and nn.Sequential designs are
renamed by hand). Copying goes through scse's own load_state_dict, which
accepts the [out, in, 1, 1] conv form of the Linear weights.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

import reference_modules as ref

# Module-path renames, reference -> scse, matched on whole dotted segments.
CONV_RENAMES = {"Conv_Squeeze": "fc1", "Conv_Excitation": "fc2"}
SEQUENTIAL_RENAMES = {"excitation.0": "fc1", "excitation.2": "fc2", "spatial_excitation.0": "conv"}


def rename_key(key, renames):
    module_path, _, param = key.rpartition(".")
    for old, new in renames.items():
        if module_path == old:
            module_path = new
            break
        if module_path.endswith("." + old):
            module_path = module_path[: -len(old)] + new
            break
    return f"{module_path}.{param}" if module_path else param


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str  # "cse", "sse" or "scse"
    design: str  # "aimed", "conv" or "sequential"
    bias: bool = True
    aggregate: str = "sum"
    fixed_ratio: int = 0  # 0: use the test case's reduction ratio
    few_shot_rows: int = 0  # K > 0: SpatialSELayer called with weights (K, C, 1, 1)
    renames: dict = field(default_factory=dict)

    def ratio(self, case_ratio):
        return self.fixed_ratio or case_ratio

    def build_reference(self, channels, ratio):
        r = self.ratio(ratio)
        if self.design == "aimed":
            if self.kind == "cse":
                return ref.ChannelSELayer(channels, r, bias=self.bias)
            if self.kind == "sse":
                return ref.SpatialSELayer(channels, bias=self.bias)
            return ref.ChannelSpatialSELayer(channels, r, self.aggregate, bias=self.bias)
        if self.design == "conv":
            return {"cse": lambda: ref.ConvCSE(channels, r), "sse": lambda: ref.ConvSSE(channels),
                    "scse": lambda: ref.ConvSCSE(channels, r, self.aggregate)}[self.kind]()
        if self.kind == "cse":
            return ref.LinearCSE(channels, r, bias=self.bias)
        if self.kind == "sse":
            return ref.LinearSSE(channels)
        return ref.LinearSCSE(channels, r, self.aggregate)

    def build_ours(self, scse, channels, ratio, seed=0):
        r = self.ratio(ratio)
        if self.kind == "cse":
            return scse.ChannelSELayer(channels, r, bias=self.bias, seed=seed)
        if self.kind == "sse":
            return scse.SpatialSELayer(channels, bias=self.bias, seed=seed)
        return scse.ChannelSpatialSELayer(channels, r, aggregate=self.aggregate, bias=self.bias,
                                          seed=seed)

    def our_key(self, reference_key):
        return rename_key(reference_key, self.renames)

    def reference_state_as_ours(self, module):
        """The reference parameters under scse names, as detached tensors."""
        return {self.our_key(k): v.detach().clone() for k, v in module.state_dict().items()}


def _aimed(kind, **kw):
    tags = [kw.get("aggregate", "sum")] if kind == "scse" else []
    tags.append("bias" if kw.get("bias", True) else "nobias")
    if kw.get("few_shot_rows"):
        tags.append(f"fewshot{kw['few_shot_rows']}")
    return Variant(f"aimed-{kind}-{'-'.join(tags)}", kind, "aimed", **kw)


VARIANTS = [
    _aimed("cse", bias=True),
    _aimed("cse", bias=False),
    _aimed("sse", bias=True),
    _aimed("sse", bias=False),
    _aimed("sse", bias=True, few_shot_rows=3),
    _aimed("sse", bias=False, few_shot_rows=1),
    _aimed("scse", aggregate="sum", bias=True),
    _aimed("scse", aggregate="sum", bias=False),
    _aimed("scse", aggregate="max", bias=True),
    _aimed("scse", aggregate="max", bias=False),
    Variant("conv-cse", "cse", "conv", renames=CONV_RENAMES),
    Variant("conv-sse", "sse", "conv", renames=CONV_RENAMES),
    Variant("conv-scse-sum", "scse", "conv", renames=CONV_RENAMES),
    Variant("conv-scse-max", "scse", "conv", aggregate="max", renames=CONV_RENAMES),
    Variant("seq16-cse-bias", "cse", "sequential", fixed_ratio=16, renames=SEQUENTIAL_RENAMES),
    Variant("seq16-cse-nobias", "cse", "sequential", bias=False, fixed_ratio=16,
            renames=SEQUENTIAL_RENAMES),
    Variant("seq16-sse", "sse", "sequential", renames=SEQUENTIAL_RENAMES),
    Variant("seq16-scse-sum", "scse", "sequential", fixed_ratio=16, renames=SEQUENTIAL_RENAMES),
]
VARIANTS_BY_NAME = {v.name: v for v in VARIANTS}


def build_pair(scse, variant, channels, ratio, torch_seed, setup=None):
    """A reference module (PyTorch's own initialisation, seeded, then
    setup(module) if given) and our layer holding a copy of its parameters."""
    torch.manual_seed(torch_seed)
    module = variant.build_reference(channels, ratio)
    if setup is not None:
        with torch.no_grad():
            setup(module)
    layer = variant.build_ours(scse, channels, ratio, seed=torch_seed)
    layer.load_state_dict(variant.reference_state_as_ours(module))
    return module, layer


def few_shot_weights(variant, channels, rng):
    if not variant.few_shot_rows:
        return None
    return rng.standard_normal((variant.few_shot_rows, channels, 1, 1), dtype=np.float32)
