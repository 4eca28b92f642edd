"""The evaluations recorded in a ``best/`` folder (``evaluations.json``): one result per dataset and views."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lsvit import LsvitError
from lsvit.io import read_json

EVALUATIONS = "evaluations.json"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def metrics_of(result: Mapping[str, Any]) -> dict[str, float]:
    """Numeric metrics of a result, prefixes dropped (``test/top1`` -> ``top1``)."""
    out = {}
    for k, v in result.items():
        if _is_number(v) and isinstance(k, str) and "/" in k:
            out[k.split("/", 1)[1]] = v
    return out


def prefix_of(result: Mapping[str, Any]) -> str | None:
    """The metrics' prefix of a result (``test`` of ``test/top1``), or None when it has none."""
    return next((k.split("/", 1)[0] for k in result if isinstance(k, str) and "/" in k), None)


# ------------------------------------------------------------------------------------------------ evaluations
def read_evaluations(folder: str | Path) -> list[dict[str, Any]]:
    """The evaluations recorded in ``<folder>/evaluations.json`` (empty when there are none)."""
    path = Path(folder) / EVALUATIONS
    if not path.is_file():
        return []
    data = read_json(path, "evaluation record")
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise LsvitError(f"{path}: expected a list of evaluation objects")
    for i, e in enumerate(data):  # the folder may come from someone else: only numbers where numbers are shown
        metrics = e.get("metrics")
        if (not isinstance(metrics, dict) or not all(_is_number(v) for v in metrics.values())
                or not isinstance(e.get("views", 1), int) or isinstance(e.get("views", 1), bool)):
            raise LsvitError(f"{path}: entry {i} needs 'metrics' of numbers and an integer 'views'")
    return data


