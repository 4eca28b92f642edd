"""The ONNX exports recorded in a ``best/`` folder (``export.json``) and the graphs' file names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsvit import LsvitError
from lsvit.io import read_json

ONNX_FILE = "model.onnx"
EXPORT_RECORD = "export.json"


def read_exports(folder: str | Path) -> dict[str, dict[str, Any]]:
    """``export.json`` of a checkpoint folder: file name -> export record (empty when there is none)."""
    path = Path(folder) / EXPORT_RECORD
    if not path.is_file():
        return {}
    data = read_json(path, "export record")
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise LsvitError(f"{path}: expected an object of export records")
    for fname, rec in data.items():  # the folder may come from someone else: numbers where numbers are shown
        diffs = (rec.get("verified") or {}).get("max_abs_diff", {})
        if not isinstance(diffs, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in diffs.values()):
            raise LsvitError(f"{path}: {fname}.verified.max_abs_diff must map labels to numbers")
    return data


