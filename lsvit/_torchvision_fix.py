"""Work around a CUDA torchvision wheel sitting beside a CPU torch build.

On machines where pip can only find a CUDA build of torchvision (there is no CPU
wheel of torchvision 0.28 on the registry) while torch is the CPU build, the
compiled extension of torchvision fails to load, and ``import torchvision`` dies in
``torchvision/_meta_registrations.py`` with ``operator torchvision::nms does not
exist``: it registers fake kernels for ``torchvision::nms``/``qnms`` whose schemas
only the (unloaded) extension defines. timm and the accelerate CLI import
torchvision, so they break too.

The fix defines those two schemas (and a pure-torch CPU ``nms``) *before*
torchvision is first imported. ``install()`` is called from a ``.pth`` start-up
file that ``scripts/install.py`` writes into the virtual environment only when the
broken import is detected; it adds a meta-path hook, so torch is imported lazily
(only when something imports torchvision), never at interpreter start.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

_APPLIED = False
_LIB: Any = None


def _nms_cpu(dets: "Any", scores: "Any", iou_threshold: float) -> "Any":
    """Greedy non-maximum suppression in pure torch (boxes as x1, y1, x2, y2)."""
    import torch

    order = scores.argsort(descending=True)
    x1, y1, x2, y2 = dets.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    suppressed = torch.zeros(dets.shape[0], dtype=torch.bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        xx1 = torch.maximum(x1[i], x1)
        yy1 = torch.maximum(y1[i], y1)
        xx2 = torch.minimum(x2[i], x2)
        yy2 = torch.minimum(y2[i], y2)
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[i] + areas - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long)


def apply() -> None:
    """Define the ``torchvision::nms``/``qnms`` schemas if nothing has yet."""
    global _APPLIED, _LIB
    if _APPLIED:
        return
    _APPLIED = True
    import torch

    try:
        torch.ops.torchvision.nms  # noqa: B018 - probing whether the op exists
        return
    except (AttributeError, RuntimeError):
        pass
    _LIB = torch.library.Library("torchvision", "DEF")  # kept alive: dropping it unregisters
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.impl("nms", _nms_cpu, "CPU")


class _Finder(importlib.abc.MetaPathFinder):
    """Runs :func:`apply` the first time ``torchvision`` is imported, then steps aside."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            apply()
        return None  # let the normal finders import the real module


def install() -> None:
    """Arm the lazy fix (called from the venv's ``.pth`` file)."""
    if "torchvision" in sys.modules:
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
