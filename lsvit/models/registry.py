"""The model families a checkpoint may name, and rebuilding one from plain JSON.

Each model module lists its timm entry points as :class:`EntryPoint` s (``ENTRY_POINTS``), and
:func:`lsvit.plugins.setup` registers them with :func:`register_family` (timm's ``register_model`` plus
this allowlist) at one explicit place: importing a model module registers nothing. That is the whole
allowlist: a ``best/`` folder from someone else can only rebuild one of these, with keyword arguments that

* are parameters of the family's constructor (its class signature, following ``**kwargs`` up
  the class hierarchy, e.g. LS-ViT -> timm's ``VisionTransformer``),
* take plain values in the constructor (parameters whose default is a class or a function,
  such as ``block_fn`` or ``embed_layer``, can never be set from a file), and
* are given plain JSON values (numbers, strings, booleans, null, lists of those).

Anything else is refused, naming the key and the value, before anything is imported or called.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch.nn as nn
from timm.models import is_model, register_model

from lsvit import LsvitError
from lsvit.io import is_plain

# construction-time settings: how to initialise, never part of what a checkpoint rebuilds
INIT_ONLY = frozenset({"pretrained", "pretrained_file", "weights_dir", "pretrained_cfg", "pretrained_cfg_overlay",
                       "cache_dir"})
# where and in which precision to build is the loader's decision, not the file's
NEVER_FROM_FILE = frozenset({"device", "dtype"})


@dataclass(frozen=True)
class EntryPoint:
    """A timm entry point of a model family, as its module lists it for registration.

    Args:
        cls: the model class the entry point builds (its signature is the keyword allowlist).
        create: the entry point, ``create(pretrained=False, **kwargs) -> model``; its name is the family's.
        title: the family in words (model cards).
        limitations: ``args -> [sentence, ...]``: what a model of these arguments cannot do (model cards).
    """

    cls: type[nn.Module]
    create: Callable[..., nn.Module]
    title: str
    limitations: Callable[[Mapping[str, Any]], list[str]] | None = None


@dataclass(frozen=True)
class Family:
    """One registered model: its timm name, its constructor class and the keyword names it accepts."""

    name: str
    cls: type[nn.Module]
    create: Callable[..., nn.Module]
    kwargs: frozenset[str]
    title: str = ""
    limitations: Callable[[Mapping[str, Any]], list[str]] | None = None


FAMILIES: dict[str, Family] = {}


def _plain_parameters(cls: type) -> set[str]:
    """Constructor parameters (through ``**kwargs`` to the parents) that take plain values."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        for p in list(params.values())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            default = p.default
            plain = default is inspect.Parameter.empty or is_plain(default, depth=2)
            if plain and p.name not in NEVER_FROM_FILE:
                names.add(p.name)
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            break  # this class does not pass extra keywords on to its parent
    return names


def register_family(entry: EntryPoint) -> Family:
    """Register ``entry`` with timm (``timm.create_model(name)``) and as a family lsvit may rebuild.

    Registering the same entry point again is a no-op, so :func:`lsvit.plugins.setup` may run twice.
    """
    name = entry.create.__name__
    held = FAMILIES.get(name)
    if held is not None and held.create is entry.create:
        return held
    if not is_model(name):  # timm warns about (and overwrites) a second registration
        register_model(entry.create)
    fam = Family(name, entry.cls, entry.create, frozenset(_plain_parameters(entry.cls)), entry.title,
                 entry.limitations)
    FAMILIES[name] = fam
    return fam


def family_of(name: Any, where: str = "model") -> Family:
    """The registered family ``name``, or one clear error listing the known ones."""
    if not isinstance(name, str) or name not in FAMILIES:
        if not FAMILIES:
            raise LsvitError(f"{where}: {name!r}: no model family is registered; call lsvit.setup() first "
                             "(every tools/ entry point does)")
        raise LsvitError(f"{where}: {name!r} is not one of lsvit's model families "
                         f"({', '.join(sorted(FAMILIES))})")
    return FAMILIES[name]


def check_model_args(name: str, args: Mapping[str, Any], where: str = "model") -> dict[str, Any]:
    """``args`` checked against the family's signature: known keywords, plain JSON values only.

    Raises:
        LsvitError: naming the key and the value that are refused.
    """
    fam = family_of(name, where)
    if not isinstance(args, Mapping):
        raise LsvitError(f"{where}.args: expected an object of keyword arguments, got {type(args).__name__}")
    out = {}
    for key, value in args.items():
        if not isinstance(key, str) or key.startswith("_"):
            raise LsvitError(f"{where}.args: key {key!r} is refused (hydra directives and private keys are "
                             "never taken from a file)")
        if key not in fam.kwargs:
            raise LsvitError(f"{where}.args.{key}={value!r}: not a keyword argument of {name} "
                             f"({fam.cls.__name__}); refused")
        if not is_plain(value, depth=2):
            raise LsvitError(f"{where}.args.{key}={value!r}: only numbers, strings, booleans, null and lists of "
                             "those are accepted")
        out[key] = value
    return out


def build_family(name: str, args: Mapping[str, Any], num_classes: int) -> nn.Module:
    """Construct family ``name`` from checked plain ``args`` (random init; weights are loaded after)."""
    args = check_model_args(name, args)
    args = {k: v for k, v in args.items() if k not in INIT_ONLY}
    if "num_classes" in args and int(args["num_classes"]) != num_classes:
        raise LsvitError(f"model.args.num_classes={args['num_classes']} but the checkpoint names {num_classes} classes")
    args["num_classes"] = num_classes
    return FAMILIES[name].create(pretrained=False, **args)
