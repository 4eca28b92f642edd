"""Files written whole or not at all, and JSON read as data.

Everything lsvit writes (checkpoints' metadata, ``metrics.csv``, reports, ``submission.csv``,
extraction parts) goes through a temporary name in the same folder and an ``os.replace``, so a
reader never sees half a file. Everything lsvit reads from files that may come from someone
else (``meta.json``, ``trainer_state.json``, HDF5 attributes, keypoint/CSV files) is parsed as
JSON or numbers, never evaluated, and checked to hold only plain values.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from lsvit import LsvitError

# JSON scalars; containers are checked element by element
PLAIN_SCALARS = (str, int, float, bool, type(None))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 8 MiB blocks (checkpoint exports, dataset sources, detector weights)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 23), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file via a temporary file and a rename (never half-written)."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file via a temporary file in the same folder, fsync and rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_json(path: str | Path, what: str = "file") -> Any:
    """Parse a JSON file (data only: nothing in it is evaluated).

    Raises:
        LsvitError: unreadable or not JSON, naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise LsvitError(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise LsvitError(f"{path}: not valid JSON ({exc})") from exc


def _no_constant(name: str) -> float:
    # NaN/Infinity are legal in Python's JSON and appear in metrics; keep them as floats
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def is_plain(value: Any, depth: int = 1) -> bool:
    """Whether ``value`` is a JSON scalar or a list of such (nested up to ``depth`` levels)."""
    if isinstance(value, PLAIN_SCALARS):
        return True
    if isinstance(value, (list, tuple)) and depth > 0:
        return all(is_plain(v, depth - 1) for v in value)
    return False
