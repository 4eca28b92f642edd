"""What keeps a long run from being lost or silently wrong.

* invalid settings are one clear message before any work starts (:mod:`lsvit.engine.settings` for the engine's,
  the constructors for data and model settings);
* :func:`check_disk_space`: a run folder too full for its checkpoints fails at start, not after an epoch.
* :class:`StopSignals`: SIGTERM / SIGINT (preemption, Ctrl-C) ask the loop to save ``last/`` and leave.
* :class:`NonFiniteGuard`: a NaN/inf loss skips its step; too many in a row stop the run.
"""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.nn as nn

from lsvit import LsvitError


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
    """Never let a NaN/inf gradient reach the weights; count such steps; stop after ``limit`` in a row.

    The decision is the gradient norm's finiteness at each optimizer step (a NaN/inf loss
    makes NaN gradients; after the all-reduce every rank sees the same norm, so every rank
    decides alike). How a step is skipped, fastest first:

    - ``fp16``: the ``GradScaler`` skips it already (and lowers its scale); the guard only
      counts non-finite *losses*, since early scale overflows are routine.
    - an optimizer with on-device skipping (fused Adam/AdamW/SGD/Adagrad, the mechanism
      ``GradScaler`` uses): the flag goes to the optimizer as ``found_inf`` and the kernel
      leaves weights, moments and step count alone. **No host synchronisation.**
    - any other optimizer: one scalar read per optimizer step decides.

    Counters live on the device and are read by :meth:`sync` at log steps and epoch ends,
    so the stop after ``limit`` consecutive skips comes at the next of those.
    """

    def __init__(self, limit: int = 10, device: torch.device | str = "cpu", total: int = 0) -> None:
        self.limit = limit
        self.total = total
        self.in_a_row = 0
        # [skipped since the last sync, current run, longest run since the last sync]
        self._counts = torch.zeros(3, device=device)
        self._window = torch.zeros((), device=device)
        self.mode = "host"

    def attach(self, optimizer: Any, accelerator: Any) -> str:
        """Pick how steps are skipped for this optimizer/precision; returns the mode."""
        inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps optimizers
        if getattr(accelerator, "scaler", None) is not None:
            self.mode = "scaler"
        elif getattr(inner, "_step_supports_amp_scaling", False):
            self.mode = "device"
        else:
            self.mode = "host"
        self._inner = inner
        return self.mode

    def observe(self, loss: torch.Tensor) -> torch.Tensor:
        """Every micro-step: whether this loss is finite (a device bool, for the running metrics)."""
        ok = torch.isfinite(loss.detach())
        if self.mode == "scaler":
            self._window = torch.maximum(self._window, (~ok).float())
        return ok

    def step(self, optimizer: Any, grad_norm: torch.Tensor | None) -> None:
        """At a sync step: run ``optimizer.step()`` unless the gradients are not finite."""
        if self.mode == "scaler":
            bad, self._window = self._window, torch.zeros_like(self._window)
            optimizer.step()  # the scaler skips inf/NaN steps itself
        else:
            bad = (~torch.isfinite(grad_norm.detach().float())).float().reshape(())
            if self.mode == "device":
                self._inner.found_inf = bad
                optimizer.step()
            elif not bool(bad.item()):  # one host sync: the optimizer cannot skip on its own
                optimizer.step()
        c = self._counts
        run = (c[1] + bad) * bad
        self._counts = torch.stack([c[0] + bad, run, torch.maximum(c[2], run)])

    def sync(self, accelerator: Any, where: str, check: bool = True) -> None:
        """Read the counters (one host sync); raise when ``limit`` consecutive steps were skipped (``check``)."""
        counts = self._counts
        if accelerator.num_processes > 1:
            # gradient norms agree across ranks already; under fp16 the loss flags are per rank,
            # and the largest count keeps every rank's decision (and its raise) identical
            from accelerate.utils import gather

            counts = gather(counts[None]).amax(0)
        skipped, run, longest = (int(v) for v in counts.tolist())
        self.total += skipped
        self.in_a_row = run
        self._counts = torch.tensor([0.0, float(run), 0.0], device=self._counts.device)
        if check and max(longest, run) >= self.limit:
            raise LsvitError(f"the loss or its gradients were NaN/inf for {max(longest, run)} consecutive steps "
                             f"(by {where}); every one was skipped. Lower optim.lr, check the inputs, or try "
                             "engine.mixed_precision=no/bf16 (engine.max_nonfinite sets the limit)")
