"""Where a run's numbers go: ``metrics.csv`` (always, written whole and atomically after every
evaluation) and, with ``logger=wandb``, Weights & Biases through Accelerate's trackers."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

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


def init_trackers(accelerator: Any, cfg: DictConfig, run_dir: Path, wandb: Mapping[str, Any] | None) -> None:
    """Start the configured trackers with the flattened config (no-op without any).

    Args:
        wandb: ``logger.wandb`` (project, entity, mode, tags), or None when the run logs to ``metrics.csv`` only.
    """
    if not wandb:
        return
    init = {k: v for k, v in dict(name=run_dir.name, dir=str(run_dir), mode=wandb.get("mode"),
                                  entity=wandb.get("entity"), tags=list(wandb.get("tags") or [])).items() if v}
    accelerator.init_trackers(str(wandb.get("project", "lsvit")), config=flat_config(cfg),
                              init_kwargs={"wandb": init})


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
