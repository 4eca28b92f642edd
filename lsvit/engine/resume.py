"""``last/``: the exact-resume checkpoint of a run (Accelerate state + ``trainer_state.json``).

Every rank saves its own RNG state; the main process writes the trainer state (:class:`~lsvit.engine.state.RunState`)
last and swaps the folder in with renames (:func:`lsvit.checkpoint.folder.swap_in`), so a torn ``last/`` is never
resumed from.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

from lsvit import LsvitError
from lsvit.checkpoint.folder import disk_errors, swap_in
from lsvit.engine.state import RunState
from lsvit.io import atomic_write_text

STATE = "trainer_state.json"


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
    except RuntimeError as exc:  # load_state_dict's size mismatch / missing keys: another model than last/ holds
        if "state_dict" not in str(exc) and "size mismatch" not in str(exc):
            raise
        detail = next((ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln or "Missing key" in ln
                       or "Unexpected key" in ln), str(exc).splitlines()[0])
        raise LsvitError(f"resume=true: {last} holds another model than this configuration builds ({detail[:160]}); "
                         "resume with the settings it was trained with, or start again with overwrite=true") from None
    return state
