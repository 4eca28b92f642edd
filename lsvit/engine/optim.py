"""Parameter groups, optimizers and learning-rate schedules.

Optimizers come from hydra ``_partial_`` configs (``torch.optim.AdamW``/``Adam``/``RAdam``);
this module only decides the groups: backbone vs head learning rates, and no weight
decay on norms, biases, tokens and temporal gates (``model.no_weight_decay()``).
Schedulers are factories with one signature,
``(optimizer, total_steps, steps_per_epoch) -> scheduler``; per-step schedulers are stepped
after every optimizer step, ``ReduceLROnPlateau`` after every evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR, ReduceLROnPlateau


def param_groups(model: nn.Module, lr: float, weight_decay: float, head_lr_mult: float = 1.0,
                 head_lr: float | None = None) -> list[dict[str, Any]]:
    """Split parameters into backbone/head x decay/no-decay groups.

    Args:
        model: a timm-interface model (``get_classifier``, ``no_weight_decay``).
        lr: backbone learning rate.
        weight_decay: decay for weight matrices.
        head_lr_mult: head learning rate = ``lr * head_lr_mult`` ...
        head_lr: ... unless given explicitly.

    Returns:
        Non-empty groups with ``name``, ``lr``, ``weight_decay`` and ``params``.
    """
    head_ids = {id(p) for p in model.get_classifier().parameters()} if hasattr(model, "get_classifier") else set()
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    hlr = head_lr if head_lr is not None else lr * head_lr_mult
    groups: dict[str, dict[str, Any]] = {
        "backbone": {"lr": lr, "weight_decay": weight_decay, "params": []},
        "backbone_no_decay": {"lr": lr, "weight_decay": 0.0, "params": []},
        "head": {"lr": hlr, "weight_decay": weight_decay, "params": []},
        "head_no_decay": {"lr": hlr, "weight_decay": 0.0, "params": []},
    }
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "head" if id(p) in head_ids else "backbone"
        no_decay = p.ndim <= 1 or name in skip or name.endswith(".bias")
        groups[part + ("_no_decay" if no_decay else "")]["params"].append(p)
    return [dict(g, name=n) for n, g in groups.items() if g["params"]]


def build_optimizer(optimizer: Callable[..., Optimizer], model: nn.Module, lr: float, weight_decay: float,
                    head_lr_mult: float = 1.0, head_lr: float | None = None) -> Optimizer:
    """Call a partial optimizer (from hydra) on :func:`param_groups`.

    Optimizers with a fused kernel (Adam, AdamW, SGD, Adagrad) get ``fused=True`` unless the
    config says otherwise (``optim.optimizer.fused=false``): one kernel per step instead of a
    dozen, and it can skip a non-finite step on the device (see
    :class:`lsvit.engine.guards.NonFiniteGuard`) without a host synchronisation.
    """
    groups = param_groups(model, lr, weight_decay, head_lr_mult, head_lr)
    given = getattr(optimizer, "keywords", {}) or {}
    if given.get("fused") is None and _has_fused(optimizer):
        try:
            return optimizer(groups, lr=lr, fused=True)
        except (RuntimeError, ValueError):  # parameters on a device or dtype without the fused kernel
            pass
    return optimizer(groups, lr=lr)


def _has_fused(optimizer: Callable[..., Optimizer]) -> bool:
    import inspect

    cls = getattr(optimizer, "func", optimizer)
    try:
        return "fused" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def cosine_with_warmup(optimizer: Optimizer, total_steps: int, steps_per_epoch: int, warmup_epochs: float = 1.0,
                       warmup_steps: int | None = None, min_lr_ratio: float = 0.01) -> LRScheduler:
    """Linear warm-up then cosine decay to ``min_lr_ratio`` x the base rate, per step."""
    warm = int(warmup_steps if warmup_steps is not None else round(warmup_epochs * steps_per_epoch))
    warm = min(warm, max(total_steps - 1, 0))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        progress = (step - warm) / max(1, total_steps - warm)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return LambdaLR(optimizer, factor)


def one_cycle(optimizer: Optimizer, total_steps: int, steps_per_epoch: int, pct_start: float = 0.3,
              div_factor: float = 25.0, final_div_factor: float = 1e4) -> LRScheduler:
    """OneCycle with each group's configured rate as its peak."""
    return OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=max(total_steps, 1),
                      pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor)


def plateau(optimizer: Optimizer, total_steps: int, steps_per_epoch: int, mode: str = "max", factor: float = 0.1,
            patience: int = 2, min_lr: float = 0.0) -> ReduceLROnPlateau:
    """Reduce the rate when the monitored metric stalls (stepped after evaluation)."""
    return ReduceLROnPlateau(optimizer, mode=mode, factor=factor, patience=patience, min_lr=min_lr)


def constant(optimizer: Optimizer, total_steps: int, steps_per_epoch: int) -> LRScheduler:
    """The configured rates throughout (Keras's and seed 002's and 003's plain ``Adam``: no schedule)."""
    return LambdaLR(optimizer, lambda step: 1.0)


def is_epoch_scheduler(scheduler: Any) -> bool:
    """Whether the scheduler steps on the monitored metric after evaluation."""
    inner = getattr(scheduler, "scheduler", scheduler)  # accelerate wraps schedulers
    return isinstance(inner, ReduceLROnPlateau)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The backbone's learning rate (the first group)."""
    return float(optimizer.param_groups[0]["lr"])
