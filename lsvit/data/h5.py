"""HDF5 caches read safely: opened lazily per process, attributes as JSON data, incomplete files refused.

Two pitfalls every HDF5-backed dataset meets, solved once here:

* **h5py + fork**: a file handle opened in the main process and inherited by DataLoader
  workers gives corrupted reads. :class:`LazyH5` opens the file on first use *in each process*
  (it remembers the pid) and never pickles the handle.
* **Trust**: attributes of a file made by someone else are data. Structured attributes are
  stored as JSON strings and read with :func:`read_json_attr` (parsed, never evaluated);
  :func:`open_h5` refuses a truncated or corrupt file, or one whose writer did not finish
  (``lsvit_complete`` is the last attribute written), naming the file. A format written by other code has no such
  flag: the reader of that kind says whether a file without it is a finished file of such a format
  (``foreign``, e.g. seed 000's keypoint files), or what it lacks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsvit import LsvitError

COMPLETE_ATTR = "lsvit_complete"


def write_json_attr(obj: Any, key: str, value: Any) -> None:
    """Store ``value`` as a JSON string attribute of an h5py file, group or dataset."""
    obj.attrs[key] = json.dumps(value)


def read_json_attr(obj: Any, key: str, where: str = "", default: Any = ...) -> Any:
    """A JSON attribute parsed as data; a missing or malformed one is one clear error (unless ``default``)."""
    if key not in obj.attrs:
        if default is not ...:
            return default
        raise LsvitError(f"{where or obj.file.filename}: attribute '{key}' is missing")
    raw = obj.attrs[key]
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        return json.loads(str(raw))
    except ValueError as exc:
        raise LsvitError(f"{where or obj.file.filename}: attribute '{key}' is not valid JSON ({exc})") from exc


def mark_complete(f: Any) -> None:
    """Write the completion flag: call last, after every dataset and attribute."""
    f.attrs[COMPLETE_ATTR] = True


# what a file holding one of these top-level members is, for messages about a file given in the wrong place
MEMBER_HINTS = {"embeddings": "an embedding cache (tools/extract_features.py)",
                "sequences": "a keypoint file (tools/extract_keypoints.py, tools/import_keypoints.py)"}


# what a reader says of a file without lsvit's completion flag: None (one of ours, unfinished), "" (a finished file
# of another writer's format that it reads as it is) or what the file lacks to be either (the message)
ForeignCheck = Callable[[Any], "str | None"]


def open_h5(path: str | Path, kind: str = "HDF5 file", member: str | None = None,
            foreign: ForeignCheck | None = None) -> Any:
    """Open a cache for reading, refusing files that are not a complete lsvit cache of the expected kind.

    Args:
        path: the file.
        kind: what it should be, in words (messages).
        member: a top-level dataset or group every file of that kind has: a file without it is another kind.
        foreign: for a file without the completion flag: None when it is one of ours left unfinished (refused:
            rerun the writer), ``""`` when it is a finished file of a format without the flag (opened), else the
            message saying what it lacks (refused with it).

    Raises:
        LsvitError: missing, not HDF5, truncated/corrupt, of another kind (saying which, when known), still
            being written, or (``foreign``) a file of no format this reader knows, saying what it lacks.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise LsvitError(f"{path}: no such {kind}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise LsvitError(f"{path}: not a readable {kind} (truncated, corrupt or not HDF5: "
                         f"{str(exc).splitlines()[0][:160]})") from exc
    if member is not None and member not in f:
        held = sorted(f.keys())
        what = next((MEMBER_HINTS[m] for m in held if m in MEMBER_HINTS), None)
        f.close()
        raise LsvitError(f"{path}: not a {kind}: it has no '{member}'" + (f"; it is {what}" if what else
                         f" (it holds {', '.join(held[:6]) or 'nothing'})"))
    if not bool(f.attrs.get(COMPLETE_ATTR, False)):
        verdict = foreign(f) if foreign is not None else None
        if verdict == "":
            return f
        f.close()
        if verdict:
            raise LsvitError(f"{path}: {verdict}")
        raise LsvitError(f"{path}: incomplete {kind} (its writer did not finish: still being written, or "
                         "interrupted); rerun the extraction to complete it")
    return f


class LazyH5:
    """An HDF5 file opened on first use in each process (safe under DataLoader workers).

    Args:
        path: the file.
        kind: how it is named in messages.
        foreign: as :func:`open_h5`'s (a module-level function: it travels to worker processes).
    """

    def __init__(self, path: str | Path, kind: str = "HDF5 file", foreign: ForeignCheck | None = None) -> None:
        self.path = Path(path)
        self.kind = kind
        self.foreign = foreign
        self._file: Any = None
        self._pid: int | None = None

    @property
    def file(self) -> Any:
        """The open file of this process."""
        if self._file is None or self._pid != os.getpid():
            self._file = open_h5(self.path, self.kind, foreign=self.foreign)
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        """Close this process's handle."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._pid = None, None

    def __getstate__(self) -> dict[str, Any]:
        # handles never travel to worker processes: each opens its own
        return {"path": self.path, "kind": self.kind, "foreign": self.foreign, "_file": None, "_pid": None}
