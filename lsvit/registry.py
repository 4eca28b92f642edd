"""The input-type registry: one :class:`~lsvit.contracts.InputType` per data type, registered once.

:func:`lsvit.plugins.setup` registers the built-in types (clips, frame embeddings, keypoints); a user's own
family registers its type the same way (``register_input_type(MyType())``), and from then on inference,
export, the ONNX runtime, realtime, the model card and the benchmark serve it like the built-in ones.
Nothing here imports a family: the shared layers ask this registry, and the families are registered from
above, so no layer has to import the one above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lsvit import LsvitError
from lsvit.contracts import InputContract, InputType

_TYPES: dict[str, InputType] = {}
_ALIASES: dict[str, str] = {}
# checkpoints written before types were named explicitly carry no "type": they were clips
DEFAULT_TYPE = "clips"


def register_input_type(input_type: InputType) -> InputType:
    """Register ``input_type`` under its name and aliases (again with the same object: no-op).

    Raises:
        LsvitError: another object already holds the name, or it does not offer the protocol.
    """
    if not isinstance(input_type, InputType):
        raise LsvitError(f"{type(input_type).__name__} does not implement lsvit.contracts.InputType")
    for name in (input_type.name, *input_type.aliases):
        held = _TYPES.get(_ALIASES.get(name, name))
        if held is not None and held is not input_type:
            raise LsvitError(f"input type '{name}' is already registered ({type(held).__name__})")
    _TYPES[input_type.name] = input_type
    for alias in input_type.aliases:
        _ALIASES[alias] = input_type.name
    return input_type


def unregister_input_type(name: str) -> None:
    """Remove a registered type and its aliases (tests, notebooks)."""
    _TYPES.pop(name, None)
    for alias in [a for a, n in _ALIASES.items() if n == name]:
        del _ALIASES[alias]


def input_types() -> dict[str, InputType]:
    """The registered types by name."""
    return dict(_TYPES)


def canonical_type(name: str) -> str:
    """The registered name of ``name`` (an alias such as the older ``video`` maps to ``clips``)."""
    return _ALIASES.get(name, name)


def input_type(name: Any, where: str = "data.type") -> InputType:
    """The registered type ``name`` (or one of its aliases).

    Raises:
        LsvitError: an unknown name, listing the known ones (and saying how to register, when none is).
    """
    if not isinstance(name, str):
        raise LsvitError(f"{where}={name!r}: expected the name of an input type")
    found = _TYPES.get(canonical_type(name))
    if found is None:
        if not _TYPES:
            raise LsvitError(f"{where}={name!r}: no input type is registered; call lsvit.setup() first "
                             "(every tools/ entry point does)")
        raise LsvitError(f"{where}={name!r}: not a registered input type (known: {', '.join(sorted(_TYPES))})")
    return found


def type_of(meta: Mapping[str, Any]) -> InputType:
    """The input type of a checkpoint's ``meta`` (``meta["data"]["type"]``)."""
    data = meta.get("data") or {}
    return input_type(data.get("type", DEFAULT_TYPE), "meta.json data.type")


def input_contract(meta: Mapping[str, Any]) -> InputContract:
    """The input contract of a checkpoint's ``meta`` (as :func:`lsvit.checkpoint.read_meta` returns it).

    Raises:
        LsvitError: an unknown type, or a missing/ill-typed key its contract needs.
    """
    return type_of(meta).contract(meta.get("data") or {}, (meta.get("model") or {}).get("args") or {})
