"""The engine's settings as typed dataclasses, built once from the composed config.

:func:`train_settings` reads ``engine.*``, ``eval.*``, ``optim.*``, ``logger.*`` and the run's top-level keys
once, checks them, and refuses a key that no code reads (``engine.epoch=1`` is a typo of ``engine.epochs``,
not a new setting: Hydra's ``+engine.epoch=1`` would otherwise be accepted and ignored). Data and model
settings are checked by their own constructors, which take typed keyword arguments.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lsvit import LsvitError
from lsvit.device import MATMUL_PRECISIONS

MONITOR_MODES = ("max", "min")


@dataclass(frozen=True)
class EngineSettings:
    """``engine.*``: how the loop runs (``configs/engine/default.yaml`` documents each key)."""

    epochs: int = 30
    batch_size: int = 8             # global batch per step, split over processes
    eval_batch_size: int | None = None
    grad_accum: int = 1
    mixed_precision: str = "auto"
    device: str = "auto"
    num_workers: int = 4
    pin_memory: bool | str = "auto"
    persistent_workers: bool = True
    prefetch_factor: int = 2
    clip_grad: float | None = 1.0
    label_smoothing: float = 0.1
    monitor: str = "val/top1"
    monitor_mode: str = "max"
    patience: int = 0
    log_every: int = 10
    save_every_steps: int = 0
    stop_after_epochs: int | None = None
    compile: bool = False
    max_nonfinite: int = 10
    deterministic: bool | str = False
    matmul_precision: str = "highest"

    def check(self) -> list[str]:
        """The rules each value must follow, as messages naming the key (empty when all hold)."""
        problems = []
        for key, low in (("batch_size", 1), ("epochs", 1), ("max_nonfinite", 1), ("grad_accum", 1),
                         ("log_every", 1), ("num_workers", 0), ("patience", 0), ("save_every_steps", 0)):
            if getattr(self, key) < low:
                problems.append(f"engine.{key}={getattr(self, key)}: must be >= {low}")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            problems.append(f"engine.eval_batch_size={self.eval_batch_size}: must be >= 1 (or null)")
        if self.monitor_mode not in MONITOR_MODES:
            problems.append(f"engine.monitor_mode={self.monitor_mode}: choose one of {MONITOR_MODES}")
        if not 0.0 <= self.label_smoothing < 1.0:
            problems.append(f"engine.label_smoothing={self.label_smoothing}: must be in [0, 1)")
        if self.deterministic not in (True, False, "warn"):
            problems.append(f"engine.deterministic={self.deterministic}: choose true, false or warn")
        if self.matmul_precision not in MATMUL_PRECISIONS:
            problems.append(f"engine.matmul_precision={self.matmul_precision}: choose one of {MATMUL_PRECISIONS}")
        return problems

    @property
    def pinned(self) -> bool | None:
        """``pin_memory`` as a bool, or None for ``auto`` (on when the device is CUDA)."""
        return None if self.pin_memory == "auto" else bool(self.pin_memory)


@dataclass(frozen=True)
class EvalSettings:
    """``eval.*``: the final test of the best checkpoint (views per video, batch)."""

    num_clips: int = 1
    num_crops: int = 1
    batch_size: int | None = None

    def check(self) -> list[str]:
        """Messages naming the key of every broken rule."""
        return [f"eval.{k}={getattr(self, k)}: must be >= 1" for k in ("num_clips", "num_crops")
                if getattr(self, k) < 1]


@dataclass(frozen=True)
class TrainSettings:
    """Everything of a training config that is neither data, model, optimizer nor schedule: the run itself."""

    engine: EngineSettings
    eval: EvalSettings = field(default_factory=EvalSettings)
    seed: int = 42
    run_dir: str = "outputs/run"
    resume: bool = False
    overwrite: bool = False
    init_from: str | None = None
    wandb: dict[str, Any] | None = None
    tensorboard: dict[str, Any] | None = None

    @property
    def eval_batch(self) -> int:
        """The batch of evaluation and the final test."""
        return int(self.eval.batch_size or self.engine.eval_batch_size or self.engine.batch_size)

    @property
    def trackers(self) -> list[str] | None:
        """Accelerate's trackers the config asks for (``logger=wandb``, ``logger=tensorboard``, both), or None."""
        names = (["wandb"] if self.wandb else []) + (["tensorboard"] if self.tensorboard is not None else [])
        return names or None


# the top-level keys of a training config; a key not here is a typo (or a setting of another tool)
TOP_LEVEL = frozenset({"name", "seed", "run_dir", "resume", "overwrite", "init_from", "eval", "data", "model",
                       "engine", "optim", "scheduler", "logger", "benchmark"})
OPTIM_KEYS = frozenset({"lr", "weight_decay", "head_lr_mult", "head_lr", "optimizer"})
LOGGER_KEYS = frozenset({"wandb", "tensorboard"})


def _unknown(keys: Any, known: Any, where: str) -> list[str]:
    out = []
    for k in sorted(set(keys) - set(known)):
        close = difflib.get_close_matches(k, sorted(known), n=1)
        hint = f" (did you mean {where}{close[0]}?)" if close else f" (known: {', '.join(sorted(known))})"
        out.append(f"{where}{k}: no such setting{hint}")
    return out


def _coerce(value: Any, annotation: str, key: str) -> Any:
    """``value`` as the field's annotated type (``"int | None"``, ``"bool | str"`` ...); ValueError when it is not."""
    kinds = [k.strip() for k in annotation.split("|")]
    if value is None:
        if "None" in kinds:
            return None
        raise ValueError(f"{key}=null: expected a value")
    if "bool" in kinds and isinstance(value, bool):
        return value
    if "int" in kinds and isinstance(value, (int, float)) and not isinstance(value, bool) and int(value) == value:
        return int(value)
    if "float" in kinds and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if "str" in kinds and isinstance(value, str):
        return value
    raise ValueError(f"{key}={value!r}: expected {' or '.join(k for k in kinds if k != 'None')}")


def _typed(cls: type, node: Mapping[str, Any], where: str, problems: list[str]) -> Any:
    """``cls(**node)``, every unknown key and wrongly typed value added to ``problems`` (defaults kept for those)."""
    problems += _unknown(node.keys(), {f.name for f in fields(cls)}, where)
    values = {}
    for f in fields(cls):
        if f.name in node:
            try:
                values[f.name] = _coerce(node[f.name], str(f.type), where + f.name)
            except ValueError as exc:
                problems.append(str(exc))
    return cls(**values)


def _tensorboard(logger: Mapping[str, Any]) -> dict[str, Any] | None:
    """``logger.tensorboard``: its settings (an empty mapping counts: TensorBoard with its defaults), or None."""
    node = logger.get("tensorboard")
    return None if node is None or node is False else dict(node or {})


def train_settings(cfg: DictConfig | Mapping[str, Any]) -> TrainSettings:
    """The run's settings from a composed training config, checked once, before any work starts.

    Raises:
        LsvitError: every unknown key (with the closest known one) and every broken rule, in one message.
    """
    node = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    problems = _unknown(node.keys(), TOP_LEVEL, "")
    engine = _typed(EngineSettings, node.get("engine") or {}, "engine.", problems)
    evals = _typed(EvalSettings, node.get("eval") or {}, "eval.", problems)
    problems += _unknown((node.get("optim") or {}).keys(), OPTIM_KEYS, "optim.")
    logger = node.get("logger") or {}
    problems += _unknown(logger.keys(), LOGGER_KEYS, "logger.")
    problems += engine.check() + evals.check()
    if problems:
        raise LsvitError("invalid configuration: " + "; ".join(problems))
    return TrainSettings(engine, evals, int(node.get("seed", 42)), str(node.get("run_dir")),
                         bool(node.get("resume", False)), bool(node.get("overwrite", False)), node.get("init_from"),
                         logger.get("wandb") or None, _tensorboard(logger))
