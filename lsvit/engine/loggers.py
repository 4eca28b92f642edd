"""metrics.csv, written whole and atomically after every evaluation."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from lsvit.io import atomic_write_text


def write_metrics_csv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write all epochs' rows (union of keys, first-seen order) to ``path``."""
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(v) for k, v in r.items()})
    atomic_write_text(path, buf.getvalue())


def _fmt(v: Any) -> Any:
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.6g}"
    return v
