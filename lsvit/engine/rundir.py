"""The run folder: one writer at a time, agreed on by every process, replaced whole or not at all.

* **One writer.** The main process holds an exclusive OS lock on the run folder for the whole run
  (:class:`lsvit.locks.WriterLock`, released by the kernel when the process dies, ``kill -9``
  included); a second run into the same folder stops at once naming the holder. Other ranks never
  touch the lock: they learn the outcome from the main process.
* **No silent overwrite.** A folder holding a run is continued only with ``resume=true`` and
  replaced only with ``overwrite=true`` (a preset never sets it).
* **Replaced whole.** ``overwrite=true`` renames the old folder aside in one step while holding
  the lock and deletes it after, so no file of the earlier run can be read as part of the new one.
  It refuses a folder holding anything a run does not write (it never deletes what it did not make).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

from lsvit import LsvitError
from lsvit.locks import WriterLock, lock_for_job

# what a run (and tools/evaluate.py beside its best/) writes into its folder
# what a run folder holds: the engine's files, a family's evaluation_report files (``<name>_{val,test}.<ext>``,
# e.g. the BiLSTM's attention_test.png) and the submission.csv the demos' inference writes beside them
RUN_FILES = re.compile(r"^(best|last|eval|wandb|metrics\.csv|config\.yaml|summary\.json|split_summary\.json|"
                       r"report\.md|curves\.png|(val|test)_[\w.-]+|[\w-]+_(val|test)\.(json|png|csv|md|txt)|"
                       r"submission[\w.-]*\.csv|\.(best|last)\.(tmp|old)|\..*\.tmp\d*)$")


def holds_run(path: Path) -> bool:
    """Whether ``path`` holds (part of) a training run."""
    return any((path / p).exists() for p in ("metrics.csv", "last", "best"))


def open_run_dir(run_dir: str, accelerator: Accelerator, resume: bool, overwrite: bool) -> tuple[Path, WriterLock | None]:
    """Agree on one run folder, lock it, and make it ready for this run.

    Args:
        run_dir: the configured folder.
        accelerator: the run's accelerator (the main process locks and prepares; the others wait).
        resume: continue the run in it.
        overwrite: replace the run in it.

    Returns:
        ``(path, lock)``; the lock is held by the main process (None on the others) until
        released. On an error the lock is already released.

    Raises:
        LsvitError: the folder is being written by another process (the holder is named), holds a
            run and neither ``resume`` nor ``overwrite`` is set, holds files that are not a run's
            (with ``overwrite``), or is not writable.
    """
    chosen = broadcast_object_list([str(Path(run_dir).resolve())])[0] if accelerator.num_processes > 1 else run_dir
    path = Path(chosen)
    lock = lock_for_job(path, "run_dir", "wait for it to finish, stop it, or choose another run_dir=", accelerator)
    error = None
    if accelerator.is_main_process:
        try:
            _prepare(path, resume, overwrite)
        except LsvitError as exc:
            error = str(exc)
    if accelerator.num_processes > 1:
        error = broadcast_object_list([error])[0]
    if error:
        if lock is not None:
            lock.release()
        raise LsvitError(error)
    accelerator.wait_for_everyone()
    return path, lock


def remove_if_empty(path: Path) -> None:
    """Remove the folder ``path`` when it holds nothing (a run that failed before writing anything)."""
    with contextlib.suppress(OSError):  # not empty, gone already, or not ours to remove: leave it
        path.rmdir()


def _prepare(path: Path, resume: bool, overwrite: bool) -> None:
    if holds_run(path) and not resume:
        if not overwrite:
            raise LsvitError(f"run_dir={path} already holds a run. Pass resume=true to continue it, "
                             "overwrite=true to replace it, or another run_dir=")
        replace_run_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write_test_{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise LsvitError(f"run_dir={path}: not writable ({exc.strerror})") from exc


def replace_run_dir(path: Path) -> None:
    """Move the run in ``path`` aside in one rename, then delete it; ``path`` is left empty.

    Raises:
        LsvitError: ``path`` holds files a run does not write (they are listed, nothing is moved).
    """
    foreign = sorted(p.name for p in path.iterdir() if not RUN_FILES.match(p.name))
    if foreign:
        raise LsvitError(f"run_dir={path}: overwrite=true refused: the folder also holds files that are not a run's "
                         f"({', '.join(foreign[:8])}{', ...' if len(foreign) > 8 else ''}); move them or choose "
                         "another run_dir=")
    aside = path.with_name(f".{path.name}.replaced-{os.getpid()}-{int(time.time())}")
    os.replace(path, aside)  # one step: from here on nothing of the old run is under run_dir
    path.mkdir()
    shutil.rmtree(aside, ignore_errors=True)
