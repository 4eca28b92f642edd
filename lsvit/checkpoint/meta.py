"""``meta.json`` of a ``best/`` folder: read as data, validated, never executed.

A checkpoint may come from someone else: its model is rebuilt only as one of lsvit's registered families
(:mod:`lsvit.models.registry`) with plain JSON keyword arguments; hydra directives anywhere are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsvit import LsvitError
from lsvit.io import read_json
from lsvit.models.registry import INIT_ONLY, check_model_args

META = "meta.json"
WEIGHTS = "model.safetensors"
FORMAT = 1


# hydra's directives: a file from outside may never carry one (it would make instantiate call code)
DIRECTIVES = frozenset({"_target_", "_partial_", "_args_", "_recursive_", "_convert_"})
# meta.json written before the family allowlist: {"_target_": <one of these>, "model_name": ..., kwargs...}
LEGACY_TARGETS = frozenset({"timm.create_model", "timm.models.create_model", "timm.models._factory.create_model"})


def model_spec(model_cfg: dict[str, Any], where: str = "model") -> dict[str, Any]:
    """The ``meta.json`` form of a model: ``{"name": <registered family>, "args": {plain keyword values}}``.

    Accepts that form, or a hydra model config / a legacy ``meta.json`` model section
    (``_target_: timm.create_model`` + ``model_name`` + keyword arguments), and checks it against
    the family's signature (:func:`lsvit.models.check_model_args`): nothing is imported or called.

    Raises:
        LsvitError: naming the key and the value refused (an unknown family or target, a hydra
            directive, an unknown keyword, a non-plain value).
    """
    if not isinstance(model_cfg, dict):
        raise LsvitError(f"{where}: expected a JSON object, got {type(model_cfg).__name__}")
    if "_target_" in model_cfg:  # hydra config or legacy meta.json
        target = model_cfg["_target_"]
        if target not in LEGACY_TARGETS:
            raise LsvitError(f"{where}._target_={target!r}: refused; a model is rebuilt only as one of lsvit's "
                             "registered families (timm.create_model with a registered model_name)")
        rest = {k: v for k, v in model_cfg.items() if k not in ("_target_", "model_name")}
        name, args = model_cfg.get("model_name"), {k: v for k, v in rest.items() if k not in INIT_ONLY}
    else:
        unknown = sorted(set(model_cfg) - {"name", "args"})
        if unknown:
            raise LsvitError(f"{where}: unknown key(s) {unknown} (expected 'name' and 'args')")
        name, args = model_cfg.get("name"), model_cfg.get("args", {})
    _refuse_directives(args, f"{where}.args")
    return {"name": name, "args": check_model_args(name, args, where)}


def _refuse_directives(node: Any, where: str) -> None:
    """Refuse a hydra directive (``_target_``, ``_partial_``, ``_args_`` ...) anywhere under ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in DIRECTIVES:
                raise LsvitError(f"{where}.{k}={v!r}: refused; a checkpoint's files are data, never code")
            _refuse_directives(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _refuse_directives(v, f"{where}[{i}]")


def read_meta(folder: str | Path) -> dict[str, Any]:
    """``meta.json`` of a ``best/`` folder, read as data and validated; nothing in it is imported or called.

    The model section comes back in its current form (``{"name", "args"}``), converted from the
    form written before the family allowlist when needed.

    Raises:
        LsvitError: a missing/torn folder, invalid JSON, a missing section, or anything refused
            by :func:`model_spec` (the message names the file, the key and the value).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LsvitError(f"checkpoint={folder}: no such folder (expected a run's best/ folder)")
    meta_path, weights = folder / META, folder / WEIGHTS
    if not meta_path.is_file() or not weights.is_file():
        raise LsvitError(f"checkpoint={folder}: incomplete checkpoint (needs {META} and {WEIGHTS}); "
                         "it may be a torn write or not a best/ folder")
    meta = read_json(meta_path, "checkpoint metadata")
    if not isinstance(meta, dict):
        raise LsvitError(f"{meta_path}: expected a JSON object")
    for key in ("model", "class_names", "data"):
        if key not in meta:
            raise LsvitError(f"{meta_path}: missing '{key}'")
    names = meta["class_names"]
    if not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names):
        raise LsvitError(f"{meta_path}: 'class_names' must be a non-empty list of strings")
    if not isinstance(meta["data"], dict) or not isinstance(meta["data"].get("type", "video"), str):
        raise LsvitError(f"{meta_path}: 'data' must be an object with a string 'type'")
    try:
        meta["model"] = model_spec(meta["model"], "model")
        _refuse_directives({k: v for k, v in meta.items() if k != "model"}, "meta")
    except LsvitError as exc:
        raise LsvitError(f"{meta_path}: {exc}") from None
    return meta
