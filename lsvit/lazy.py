"""Lazy package exports: a package names what it offers without importing it until it is used.

Why: ``lsvit.data`` re-exports the data modules of every family, and importing them pulls in torch, timm
and their dependencies (several seconds). Tools that only write or check files (``tools/make_synthetic.py``,
``tools/prepare_hmdb51.py``) import a leaf module and should start in well under a second; with eager
re-exports, importing any ``lsvit.data.*`` module first ran the package's ``__init__`` and paid for all of it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` (PEP 562) that import each export on first use.

    Args:
        package: the package's ``__name__`` (for the error message).
        exports: public name -> the module that defines it, e.g. ``{"VideoDataset": "lsvit.data.dataset"}``.

    Returns:
        ``(__getattr__, __dir__)`` to assign at the package's module level.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
