"""Resumable, shardable extraction: one result per video, assembled into one file at the end.

Every extraction (frame embeddings, keypoints) is "for each video, compute some arrays". The
:class:`ExtractionStore` makes that survive anything:

* **Per video, atomically.** A finished video is one ``.npz`` in a parts folder beside the
  output (``features.h5`` -> ``.features.h5.parts/``), written to a temporary name and renamed.
  A run killed at any point (SIGKILL included) loses at most the videos in flight; a rerun skips
  every finished one.
* **Settings recorded first.** ``settings.json`` (backbones, layout, frames, size, ...) is written
  when the parts folder is created; a rerun with other settings is refused instead of mixing two
  extractions in one file.
* **Sharded.** Rank ``r`` of ``w`` takes the videos ``r, r + w, ...`` of the (sorted) list; every
  rank writes into the same parts folder and the main process assembles. Assembly follows the
  list order, not completion order, so 1 and N processes give the same file.
* **Never half a file.** The final file is written by the caller's ``write`` function to a
  temporary name and renamed; only then is the parts folder removed.
* **Data, never code.** Parts are read with ``np.load(allow_pickle=False)``.

The caller holds the writer lock on the output (:func:`lsvit.locks.lock_for_job`) for the whole run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from lsvit import LsvitError
from lsvit.io import atomic_write_text, read_json


def parts_dir(out: str | Path) -> Path:
    """The parts folder of output ``out``: ``<parent>/.<name>.parts``."""
    out = Path(out)
    return out.with_name(f".{out.name}.parts")


def _file_key(key: str) -> str:
    # ids are relative paths ("class/video"): one flat, reversible, filesystem-safe name each
    return quote(key, safe="")


class ExtractionStore:
    """Finished videos of one extraction run (see the module docstring).

    Args:
        out: the final output file.
        settings: JSON-able settings of the extraction; stored and compared on resume.
        rank: this process's index.
        world: number of processes.
    """

    def __init__(self, out: str | Path, settings: dict[str, Any], rank: int = 0, world: int = 1) -> None:
        self.out = Path(out)
        self.dir = parts_dir(out)
        self.settings = json.loads(json.dumps(settings))  # normalised (tuples -> lists) for comparison
        self.rank, self.world = rank, world
        self._items = self.dir / "items"
        self._failed = self.dir / "failed"

    # ------------------------------------------------------------------------------------ setup
    def open(self) -> ExtractionStore:
        """Create the parts folder (main process) or check its settings (a resumed run).

        Raises:
            LsvitError: the parts folder holds an extraction made with other settings.
        """
        settings_file = self.dir / "settings.json"
        if settings_file.is_file():
            old = read_json(settings_file, "extraction settings")
            if old != self.settings:
                diff = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
                raise LsvitError(f"{self.dir} holds an unfinished extraction made with other settings "
                                 f"(differing: {', '.join(diff)}); rerun with the same settings to continue it, "
                                 f"or delete the folder to start again")
        elif self.rank == 0:
            self._items.mkdir(parents=True, exist_ok=True)
            self._failed.mkdir(parents=True, exist_ok=True)
            atomic_write_text(settings_file, json.dumps(self.settings, indent=1, sort_keys=True))
        return self

    def share(self, keys: Sequence[str]) -> list[str]:
        """This rank's share of ``keys`` (their order kept): every ``world``-th one from ``rank``."""
        return list(keys[self.rank::self.world])

    def todo(self, keys: Sequence[str]) -> list[str]:
        """This rank's share of ``keys`` minus the videos already finished (failed ones are retried)."""
        return [k for k in self.share(keys) if not self.done(k)]

    # ------------------------------------------------------------------------------------ items
    def _item(self, key: str) -> Path:
        return self._items / f"{_file_key(key)}.npz"

    def done(self, key: str) -> bool:
        """Whether video ``key`` is finished."""
        return self._item(key).is_file()

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store one finished video's arrays, atomically (safe from several processes at once)."""
        self._items.mkdir(parents=True, exist_ok=True)
        target = self._item(key)
        fd, tmp = tempfile.mkstemp(dir=self._items, prefix=".tmp", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        (self._failed / f"{_file_key(key)}.json").unlink(missing_ok=True)

    def load(self, key: str) -> dict[str, np.ndarray]:
        """One finished video's arrays (plain arrays only: pickled objects are refused)."""
        path = self._item(key)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise LsvitError(f"{path}: unreadable extraction part ({exc}); delete it to extract that video "
                             "again") from exc

    def fail(self, key: str, message: str) -> None:
        """Record that video ``key`` could not be read (listed at the end, never fatal)."""
        self._failed.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self._failed / f"{_file_key(key)}.json", json.dumps({"id": key, "error": message}))

    def failures(self, keys: Iterable[str]) -> dict[str, str]:
        """``{id: reason}`` of the videos among ``keys`` that failed and are not finished."""
        out = {}
        for k in keys:
            f = self._failed / f"{_file_key(k)}.json"
            if f.is_file() and not self.done(k):
                out[k] = str(read_json(f, "failure record").get("error", "unreadable"))
        return out

    # ------------------------------------------------------------------------------------ end
    def finish(self, keys: Sequence[str], write: Callable[[Path, list[str]], None]) -> Path:
        """Assemble the output (main process only; call after every rank has finished its share).

        Args:
            keys: every video of the run, in the order the file should list them.
            write: ``write(tmp_path, finished_keys)`` writes the whole output to ``tmp_path``
                (reading parts with :meth:`load`); it is renamed to the output afterwards.

        Returns:
            The output path.
        """
        finished = [k for k in keys if self.done(k)]
        tmp = self.out.with_name(f".{self.out.name}.tmp{os.getpid()}")
        try:
            write(tmp, finished)
            os.replace(tmp, self.out)
        finally:
            if tmp.exists():
                tmp.unlink()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.out


# ------------------------------------------------------------------------------------ finished outputs
RECIPE_ATTR = "lsvit_recipe"


def read_recipe(out: Path) -> Any:
    """The recipe a finished HDF5 output records (what made it: settings, sources), or None (none, or unreadable)."""
    import h5py

    try:
        with h5py.File(out, "r") as f:
            raw = f.attrs.get(RECIPE_ATTR)
            return json.loads(str(raw)) if raw is not None else None
    except (OSError, ValueError):
        return None


def reuse_or_replace(out: str | Path, recipe: Any, overwrite: bool, what: str) -> bool:
    """The same rule as run folders, for extraction and import outputs: never replace a finished file silently.

    Args:
        out: the output file.
        recipe: everything that decides its content (settings, sources), JSON-able; it is recorded in the file
            (:data:`RECIPE_ATTR`) by the writer.
        overwrite: replace a finished file made another way (``overwrite=true``).
        what: what the file is, in words.

    Returns:
        True when ``out`` is already the finished result of ``recipe`` (nothing to do); False when it has to
        be written (it did not exist, or ``overwrite`` removed it).

    Raises:
        LsvitError: ``out`` holds a file made with other settings (named) and ``overwrite`` is off.
    """
    out = Path(out)
    if not out.exists():
        return False
    have, want = read_recipe(out), json.loads(json.dumps(recipe))
    if have == want:
        return True
    if not overwrite:
        if isinstance(have, dict) and isinstance(want, dict):
            diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            how = f"with other settings (differing: {', '.join(diff)})"
        else:
            how = "by another run or tool (it records no settings to compare)"
        raise LsvitError(f"out={out} already holds {'an' if what[:1] in 'aeiou' else 'a'} {what} made {how}; give overwrite=true to replace it, or "
                         "another out=")
    out.unlink()
    return False
