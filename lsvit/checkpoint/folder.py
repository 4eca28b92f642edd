"""The ``best/`` folder as a format: written atomically, read back into a model, nothing else trusted.

``best/`` holds ``model.safetensors`` + ``meta.json`` (model family and arguments, class names, the data's
settings, metrics, epoch: :mod:`~lsvit.checkpoint.meta`), the model card ``README.md``
(:mod:`~lsvit.checkpoint.card`), and once evaluated or exported ``evaluations.json`` and ``export.json``.
Inference rebuilds everything from this folder alone. It is written into a temporary sibling folder and
swapped in with renames, ``meta.json`` last, so a folder without it (a torn write) is never taken for a
checkpoint. (``last/``, the exact-resume state, is the engine's: :mod:`lsvit.engine.resume`.)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from lsvit import LsvitError, __version__
from lsvit.checkpoint.card import write_card
from lsvit.checkpoint.meta import FORMAT, META, WEIGHTS, read_meta
from lsvit.models.registry import build_family


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


def build_from_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a ``best/`` folder (a registered family only) and load its weights.

    Returns:
        ``(model in eval mode, meta)``.
    """
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


