"""The other libraries the tests run against: segmentation_models_pytorch,
timm and MONAI (`make deps` installs them).

:func:`require` imports one for a test. Outside CI a missing package skips
the test with the reason; under CI (CI=true or CI=1) it fails it, since a
CI run must not report a comparison it did not make.

:func:`declare_unloadable_torchvision_ops` lets timm and
segmentation_models_pytorch import next to a torchvision whose compiled
operators cannot load: PyPI's torchvision for a torch release can be a CUDA
build, which fails to load next to the CPU torch, and importing torchvision
then stops with "operator torchvision::nms does not exist" (its fake-tensor
registrations name two operators the missing library would define). The
tests use none of torchvision's operators, so declaring those two schemas
without kernels is enough; a torchvision whose library loads is left alone.
"""

import glob
import importlib
import importlib.util
import os

import pytest


def in_ci():
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def require(name):
    """The imported module `name`; skips the test without it, fails it under CI."""
    if in_ci():
        try:
            return importlib.import_module(name)
        except ImportError as error:
            pytest.fail(f"CI run without {name} ({error}); `make deps` installs it")
    return pytest.importorskip(name, reason=f"{name} is not installed; `make deps` installs it")


# Kept alive for the process: the schemas go away with the Library object.
_TORCHVISION_SCHEMAS = None


def declare_unloadable_torchvision_ops():
    """Declares torchvision::nms and torchvision::qnms when torchvision is
    installed and its operator library cannot load. Returns a note for the
    test report, or None when nothing was done."""
    global _TORCHVISION_SCHEMAS
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations or _TORCHVISION_SCHEMAS is not None:
        return None
    libraries = glob.glob(os.path.join(spec.submodule_search_locations[0], "_C*.so"))
    try:
        for path in libraries:
            torch.ops.load_library(path)
        return None
    except OSError as error:
        reason = str(error).splitlines()[0]
    library = torch.library.Library("torchvision", "DEF")
    for name in ("nms", "qnms"):
        library.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _TORCHVISION_SCHEMAS = library
    return (f"torchvision's operators cannot load ({reason}); torchvision::nms and ::qnms "
            "declared without kernels so that timm and segmentation_models_pytorch import")
