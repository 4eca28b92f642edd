"""Where a run's numbers go: ``metrics.csv`` (always, written whole and atomically after every
evaluation) and, through Accelerate's trackers, Weights & Biases (``logger=wandb``) and TensorBoard
(``logger=tensorboard``: event files in ``<run_dir>/tensorboard/``), or both (``logger=[wandb,tensorboard]``)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accelerate.tracking import TensorBoardTracker
from accelerate.utils import is_tensorboard_available
from omegaconf import DictConfig, OmegaConf

from lsvit import LsvitError
from lsvit.io import atomic_write_text

TENSORBOARD_DIR = "tensorboard"  # <run_dir>/tensorboard: `tensorboard --logdir outputs` shows every run
TENSORBOARD_KEYS = frozenset({"flush_secs", "max_queue"})


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


class RunTensorBoard(TensorBoardTracker):
    """Accelerate's TensorBoard tracker writing into ``<run_dir>/tensorboard``, whose hyperparameters are the run's
    flattened config: unset values (None, which TensorBoard's hparams refuse) as ``"null"``, in the same folder as the
    scalars (Accelerate's own adds a timestamped sub-run and a YAML copy; the run folder has ``config.yaml``)."""

    def __init__(self, run_dir: str | Path, **writer_kwargs: Any) -> None:
        super().__init__(TENSORBOARD_DIR, str(run_dir), **writer_kwargs)

    def store_init_configuration(self, values: dict) -> None:  # main process only: start() made the writer there
        if getattr(self, "writer", None) is None:
            return
        self.writer.add_hparams({k: "null" if v is None else v for k, v in values.items()}, metric_dict={},
                                run_name=".")
        self.writer.flush()


def make_trackers(run_dir: str | Path, wandb: Mapping[str, Any] | None,
                  tensorboard: Mapping[str, Any] | None) -> list[Any]:
    """What ``Accelerator(log_with=...)`` gets for the configured loggers (empty: ``metrics.csv`` only).

    Raises:
        LsvitError: ``logger=tensorboard`` without TensorBoard installed (Accelerate would drop it silently), or an
            unknown ``logger.tensorboard`` key.
    """
    out: list[Any] = ["wandb"] if wandb else []
    if tensorboard is not None:
        unknown = sorted(set(tensorboard) - TENSORBOARD_KEYS)
        if unknown:
            raise LsvitError(f"invalid configuration: logger.tensorboard.{unknown[0]}: no such setting (known: "
                             f"{', '.join(sorted(TENSORBOARD_KEYS))})")
        if not is_tensorboard_available():
            raise LsvitError("logger=tensorboard needs TensorBoard, which is not installed: pip install tensorboard "
                             '(or pip install -e ".[tensorboard]"), or choose logger=csv')
        out.append(RunTensorBoard(run_dir, **{k: v for k, v in tensorboard.items() if v is not None}))
    return out


def init_trackers(accelerator: Any, cfg: DictConfig, run_dir: Path, wandb: Mapping[str, Any] | None) -> None:
    """Start the configured trackers with the flattened config (no-op without any).

    Args:
        wandb: ``logger.wandb`` (project, entity, mode, tags), or None when the run does not log to Weights & Biases.
    """
    if not accelerator.log_with:
        return
    wandb = wandb or {}
    init = {k: v for k, v in dict(name=run_dir.name, dir=str(run_dir), mode=wandb.get("mode"),
                                  entity=wandb.get("entity"), tags=list(wandb.get("tags") or [])).items() if v}
    accelerator.init_trackers(str(wandb.get("project", "lsvit")), config=flat_config(cfg),
                              init_kwargs={"wandb": init} if wandb else {})


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """``{"a.b.c": value}`` for every leaf of the resolved config (non-scalars as strings)."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = node if isinstance(node, (int, float, str, bool)) or node is None else str(node)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return out
