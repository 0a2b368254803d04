"""Compatibility shim for a torchvision wheel whose C++ extension cannot load.

The registry's torchvision 0.28 wheel is a CUDA build. On a CPU-only torch 2.13 its
``_C`` extension fails to load, and torchvision's Python side then registers a fake
kernel for ``torchvision::nms``, an operator whose schema was never defined, so
``import torchvision`` dies with ``RuntimeError: operator torchvision::nms does not
exist`` (measured; see shared notes/environment.md).

:func:`import_torchvision` first tries the native import. Only when it fails with
that error does it define the two missing operator schemas (``nms`` and ``qnms``,
the ones torchvision registers fake kernels for at import) and import again. The
models and ``transforms.v2`` then work; ``torchvision.ops.nms`` and
``torchvision.io.read_image`` stay unavailable, which is why this project decodes
images with Pillow. On a matching build the shim does nothing.
"""

from __future__ import annotations

import sys
from types import ModuleType

import torch

_MISSING_OPERATOR = "operator torchvision::nms does not exist"
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
# Kept at module level: a torch.library.Library drops its definitions when collected.
_shim_library: torch.library.Library | None = None


def shim_active() -> bool:
    """Whether the operator schemas had to be defined by this module."""
    return _shim_library is not None


def import_torchvision() -> ModuleType:
    """Import torchvision, defining its missing operator schemas only if needed.

    Returns:
        The imported ``torchvision`` module.

    Raises:
        RuntimeError: any import failure other than the known missing-operator one.
    """
    global _shim_library
    try:
        import torchvision
    except RuntimeError as err:
        if _MISSING_OPERATOR not in str(err) or _shim_library is not None:
            raise
        _purge_partial_import()
        _shim_library = torch.library.Library("torchvision", "DEF")
        for schema in _SCHEMAS:
            _shim_library.define(schema)
        import torchvision
    return torchvision


def _purge_partial_import() -> None:
    """Forget the half-imported torchvision modules so the second import starts clean."""
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
