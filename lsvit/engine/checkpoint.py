"""Run-folder checkpoints.

``best/``: ``model.safetensors`` + ``meta.json`` (model config, class names, data/transform
settings, metrics, epoch). Inference rebuilds everything from this folder alone.
``last/``: Accelerate state (model, optimizer, scheduler, RNG) + ``trainer_state.json``
(:class:`~lsvit.engine.state.RunState`): :func:`save_last` / :func:`load_last`.

Both are written into a temporary sibling folder and swapped in with renames, and
``meta.json``/``trainer_state.json`` are written last, so a folder without them (a torn
write) is never taken for a checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from lsvit import LsvitError, __version__
from lsvit.deploy.card import write_card
from lsvit.engine.state import RunState
from lsvit.io import atomic_write_text, read_json

META = "meta.json"
WEIGHTS = "model.safetensors"
STATE = "trainer_state.json"
FORMAT = 1


def swap_in(tmp_dir: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp_dir`` with renames; the old copy goes only after."""
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp_dir, final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def staging_dir(final: Path) -> Path:
    """A clean temporary sibling of ``final`` to write into."""
    tmp = final.with_name(f".{final.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def save_best(folder: str | Path, model: nn.Module, meta: dict[str, Any]) -> None:
    """Write ``best/`` atomically: safetensors weights, then ``meta.json``, then the model card ``README.md``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = staging_dir(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
    meta = dict(meta, format=FORMAT, lsvit_version=__version__, saved_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    (tmp / META).write_text(json.dumps(meta, indent=2, default=_json_default))
    write_card(tmp)  # README.md (the model card), from the staged files: it travels with them
    swap_in(tmp, folder)


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


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
    from lsvit.models.registry import INIT_ONLY, check_model_args

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


def build_from_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a ``best/`` folder (a registered family only) and load its weights.

    Returns:
        ``(model in eval mode, meta)``.
    """
    from lsvit.models.registry import build_family

    meta = read_meta(folder)
    model = build_family(meta["model"]["name"], meta["model"]["args"], len(meta["class_names"]))
    load_weights(model, folder)
    return model.to(device).eval(), meta


def load_weights(model: nn.Module, folder: str | Path, expect_classes: list[str] | None = None) -> None:
    """Load ``best/`` weights into ``model``; a different model or class set is one clear error."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_meta(folder)
    if expect_classes is not None and list(expect_classes) != list(meta["class_names"]):
        raise LsvitError(f"checkpoint={folder}: trained on classes {meta['class_names'][:8]}... "
                         f"({len(meta['class_names'])}), the data has {list(expect_classes)[:8]}... "
                         f"({len(expect_classes)})")
    try:
        sd = load_file(str(folder / WEIGHTS))
    except Exception as exc:  # safetensors raises its own error types for torn or corrupt headers
        raise LsvitError(f"{folder / WEIGHTS}: not a readable safetensors file "
                         f"({str(exc).splitlines()[0][:160]})") from exc
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = sorted(k for k in set(sd) & set(own) if sd[k].shape != own[k].shape)
    if missing or unexpected or wrong:
        name = meta["model"]["name"]
        raise LsvitError(f"checkpoint={folder} ({name}) does not fit this model: "
                         f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} wrong-shape "
                         f"tensors (e.g. {(missing + unexpected + wrong)[:3]})")
    model.load_state_dict(sd)


@contextlib.contextmanager
def disk_errors(target: Path) -> Iterator[None]:
    """A failed checkpoint write (disk full, quota, permissions) is one clear error; the old copy is intact."""
    try:
        yield
    except OSError as exc:
        why = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror or str(exc)
        raise LsvitError(f"could not write {target} ({why}); the previous checkpoint there is intact") from exc


def save_last(accelerator: Any, last: Path, state: RunState) -> None:
    """Write ``last/`` (Accelerate state, then ``trainer_state.json``) and swap it in atomically.

    Every rank calls it (each saves its own RNG state); only the main process writes the
    trainer state and swaps the folder.
    """
    tmp = last.with_name(f".{last.name}.tmp")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    with disk_errors(last):
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            atomic_write_text(tmp / STATE, state.to_json())
            swap_in(tmp, last)
    accelerator.wait_for_everyone()


def load_last(accelerator: Any, last: Path, class_names: list[str]) -> RunState | None:
    """Restore ``last/`` into the prepared objects; the run state, or None when there is no complete ``last/``.

    Raises:
        LsvitError: ``last/`` was trained on other classes, or holds a file that is not plain
            tensors (refused by ``weights_only`` loading).
    """
    from accelerate.utils.other import load as accelerate_load

    if not (last / STATE).is_file():
        return None
    state = RunState.from_file(last / STATE)
    if state.class_names != class_names:
        raise LsvitError(f"resume=true: {last} was trained on {len(state.class_names)} classes "
                         f"{state.class_names[:5]}..., the data has {len(class_names)} {class_names[:5]}...")
    try:
        # Accelerate skips an RNG file it cannot load with only an INFO log, which would make the
        # resumed run silently differ: load them here first (weights_only, as Accelerate does)
        for rng_file in sorted(last.glob("random_states_*.pkl")):
            accelerate_load(rng_file)
        accelerator.load_state(str(last))
    except pickle.UnpicklingError as exc:  # torch.load(weights_only=True) refused a pickled object
        raise LsvitError(f"resume=true: {last} holds a file that is not plain tensors and was refused "
                         f"(weights_only loading): {str(exc).splitlines()[0][:200]}") from exc
    return state
