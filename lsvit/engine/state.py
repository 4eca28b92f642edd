"""The state of a training run: exactly what ``last/trainer_state.json`` holds."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from lsvit import LsvitError
from lsvit.io import read_json


@dataclass
class RunState:
    """Where a run is and what it found so far.

    Attributes:
        class_names: the classes the run trains on (a resume refuses other data).
        epoch: epochs finished.
        step_in_epoch: batches of epoch ``epoch`` already trained (a mid-epoch save).
        global_step: optimizer steps taken.
        best_metric: the best value of the monitored metric, or None before the first evaluation.
        best_epoch: the epoch (1-based) of ``best/``.
        best_metrics: the validation metrics of ``best/``.
        bad_epochs: evaluations in a row without improvement (early stopping).
        history: one row per epoch, as in ``metrics.csv``.
        skipped: unreadable inputs met so far (messages naming the files).
        nonfinite_steps: optimizer steps skipped for a NaN/inf loss or gradient.
    """

    class_names: list[str]
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    nonfinite_steps: int = 0

    def record(self, row: dict[str, Any], monitor: str, mode: str) -> bool:
        """Add an epoch's row; returns whether the monitored metric improved (then ``best_*`` follow it)."""
        self.history.append(row)
        self.epoch, self.step_in_epoch = int(row["epoch"]), 0
        value = float(row[monitor])
        if improves(value, self.best_metric, mode):
            self.best_metric, self.best_epoch, self.bad_epochs = value, int(row["epoch"]), 0
            self.best_metrics = {k: v for k, v in row.items() if k.startswith("val/")}
            return True
        self.bad_epochs += 1
        return False

    def to_json(self) -> str:
        """The ``trainer_state.json`` text."""
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_file(cls, path: str | Path) -> RunState:
        """Read ``trainer_state.json`` as data: JSON only, every field type-checked.

        Raises:
            LsvitError: not JSON, unknown or missing fields, or a field of the wrong type (named).
        """
        data = read_json(path, "trainer state")
        if not isinstance(data, dict):
            raise LsvitError(f"{path}: expected a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LsvitError(f"{path}: unknown field(s) {unknown}")
        for name, ok in _CHECKS.items():
            if name in data and not ok(data[name]):
                raise LsvitError(f"{path}: field '{name}' has an unexpected value {str(data[name])[:80]!r}")
        if "class_names" not in data:
            raise LsvitError(f"{path}: missing 'class_names'")
        return cls(**data)


def improves(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` beats ``best`` (``mode`` ``max`` or ``min``); NaN never does, anything beats None/NaN."""
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best if mode == "max" else value < best


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v)


def _row(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and (_num(x) or isinstance(x, str)) for k, x in v.items())


_CHECKS = {
    "class_names": _strs, "skipped": _strs, "epoch": _int, "step_in_epoch": _int, "global_step": _int,
    "bad_epochs": _int, "nonfinite_steps": _int, "best_metric": lambda v: v is None or _num(v),
    "best_epoch": lambda v: v is None or _int(v), "best_metrics": _row,
    "history": lambda v: isinstance(v, list) and all(_row(r) for r in v),
}
