"""What keeps a long run from being lost or silently wrong.

* :func:`validate_train_config`: invalid settings are one clear message before any work starts.
* :func:`check_disk_space`: a run folder too full for its checkpoints fails at start, not after an epoch.
* :class:`StopSignals`: SIGTERM / SIGINT (preemption, Ctrl-C) ask the loop to save ``last/`` and leave.
* :class:`NonFiniteGuard`: a NaN/inf loss skips its step; too many in a row stop the run.
"""

from __future__ import annotations

import re
import shutil
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.nn as nn
from omegaconf import DictConfig

from lsvit import LsvitError


class Interrupted(Exception):
    """The run was stopped by a signal after saving ``last/``; ``code`` is the exit status to use."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _patch_size(model_cfg: Any) -> int | None:
    if model_cfg.get("patch_size"):
        return int(model_cfg.patch_size)
    m = re.search(r"patch(\d+)", str(model_cfg.get("model_name", "")))
    return int(m.group(1)) if m else None


def validate_train_config(cfg: DictConfig) -> None:
    """Check the settings that would otherwise fail late, or silently, with one clear message.

    Raises:
        LsvitError: naming the key(s) and the rule, before anything is built.
    """
    problems: list[str] = []
    d, m, e = cfg.get("data") or {}, cfg.get("model") or {}, cfg.engine

    def need(ok: bool, msg: str) -> None:
        if not ok:
            problems.append(msg)

    num_frames = d.get("num_frames")
    if num_frames is not None:
        need(int(num_frames) >= 1, f"data.num_frames={num_frames}: must be >= 1")
    if d.get("frame_stride") is not None:
        need(int(d.frame_stride) >= 1, f"data.frame_stride={d.frame_stride}: must be >= 1")
    if d.get("val_ratio") is not None and not (d.get("val_root") or d.get("val_list_file")):
        need(0.0 < float(d.val_ratio) < 1.0, f"data.val_ratio={d.val_ratio}: must be in (0, 1)")
    if m.get("smif", False) and m.get("smif_window") is not None:
        w = int(m.smif_window)
        need(w >= 3 and w % 2 == 1, f"model.smif_window={w}: must be odd and >= 3 (a centred window)")
        if num_frames is not None and int(num_frames) >= 3:
            need(w <= int(num_frames), f"model.smif_window={w} is larger than data.num_frames={num_frames}")
    size, patch = m.get("img_size", d.get("image_size")), _patch_size(m)
    if size is not None and patch:
        need(int(size) % patch == 0, f"data.image_size={size} is not divisible by the patch size {patch} "
                                     f"(model {m.get('model_name')})")
    need(int(e.grad_accum) >= 1, f"engine.grad_accum={e.grad_accum}: must be >= 1")
    need(int(e.batch_size) >= 1, f"engine.batch_size={e.batch_size}: must be >= 1")
    need(int(e.epochs) >= 1, f"engine.epochs={e.epochs}: must be >= 1")
    if e.get("max_nonfinite") is not None:
        need(int(e.max_nonfinite) >= 1, f"engine.max_nonfinite={e.max_nonfinite}: must be >= 1")
    ev = cfg.get("eval") or {}
    for key in ("num_clips", "num_crops"):
        if ev.get(key) is not None:
            need(int(ev[key]) >= 1, f"eval.{key}={ev[key]}: must be >= 1")
    if problems:
        raise LsvitError("invalid configuration:\n  " + "\n  ".join(problems))


def check_model_input(model: nn.Module, cfg: DictConfig) -> None:
    """The built model's own constraint on the input size (a ViT's patch grid), checked before training."""
    pe = getattr(model, "patch_embed", None)
    patch = getattr(pe, "patch_size", None)
    size = (cfg.get("data") or {}).get("image_size")
    if patch is None or size is None:
        return
    ph, pw = (patch, patch) if isinstance(patch, int) else tuple(patch)
    if int(size) % ph or int(size) % pw:
        raise LsvitError(f"invalid configuration:\n  data.image_size={size} is not divisible by the patch size "
                         f"{ph} of {type(model).__name__} ({(cfg.get('model') or {}).get('model_name')})")


def checkpoint_bytes(model: nn.Module, optimizer_states: int = 2) -> int:
    """Disk a run needs for ``best/`` + ``last/`` (weights twice, plus the optimizer's per-parameter states)."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return int((params + buffers) * (2 + optimizer_states) * 1.1) + (1 << 20)


def check_disk_space(run_dir: str | Path, needed: int) -> None:
    """Fail now when ``run_dir``'s filesystem cannot hold the run's checkpoints."""
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise LsvitError(f"run_dir={run_dir}: {free / 2**20:.0f} MiB free, but best/ + last/ need about "
                         f"{needed / 2**20:.0f} MiB; free some space or choose another run_dir=")


class StopSignals:
    """Turn SIGTERM / SIGINT into a request the training loop honours at the next step.

    The loop saves ``last/`` and raises :class:`Interrupted`; ``resume=true`` continues from
    there. A second SIGINT while the first is pending interrupts at once (Ctrl-C twice).
    Handlers are installed only in the main thread and restored on exit.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)

    @property
    def name(self) -> str:
        """The received signal's name."""
        return signal.Signals(self.received).name if self.received else ""


class NonFiniteGuard:
    """Count NaN/inf losses; raise after ``limit`` in a row.

    Checking needs the loss's value on the host: one scalar synchronisation per step (the
    same one a ``GradScaler`` makes in fp16), the price of never letting a NaN reach the
    weights. In a multi-process run every rank takes the same decision (all-reduced).
    """

    def __init__(self, limit: int = 10) -> None:
        self.limit = limit
        self.total = 0
        self.in_a_row = 0

    def ok(self, loss: torch.Tensor, accelerator: Any) -> bool:
        """True when the loss is finite on every process."""
        bad = (~torch.isfinite(loss.detach())).float().reshape(1)
        if accelerator.num_processes > 1:
            bad = accelerator.reduce(bad, reduction="sum")
        if bool(bad.item() == 0):
            self.in_a_row = 0
            return True
        self.total += 1
        self.in_a_row += 1
        return False

    def check_limit(self, where: str) -> None:
        """Raise when the limit of consecutive non-finite losses is reached."""
        if self.in_a_row >= self.limit:
            raise LsvitError(f"the loss was NaN/inf for {self.in_a_row} consecutive steps ({where}); every one was "
                             "skipped. Lower optim.lr, check the inputs, or try engine.mixed_precision=no/bf16 "
                             "(engine.max_nonfinite sets the limit)")
