"""Train-step throughput, measured side by side in one process.

Every model gets the same synthetic batch, optimizer (AdamW) and number of timed steps,
after warm-up; the measurements interleave the models round by round so that a
slow-down of the machine hits all of them alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import timm
import torch

import lsvit.models  # noqa: F401  (registers the model families)


@dataclass
class StepResult:
    """Throughput of one model."""

    name: str
    clips_per_s: float
    step_ms: float
    params_m: float


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    """One plain training step (cross-entropy, backward, optimizer step), as the benchmarks time it."""
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def compare_train_steps(models: dict[str, dict[str, Any] | Callable[[], torch.nn.Module]], batch_size: int = 8,
                        num_frames: int = 8, image_size: int = 64, steps: int = 10, warmup: int = 3,
                        rounds: int = 3, num_classes: int = 8, seed: int = 0, device: str = "cpu",
                        amp: bool = False, compile: bool = False,
                        channels_last: bool | set[str] = False) -> list[StepResult]:
    """Time forward + backward + fused AdamW step of several models on one batch.

    Args:
        models: label -> ``timm.create_model`` keyword arguments (including ``model_name``), or a
            zero-argument builder (e.g. a Hugging Face model wrapped to return logits).
        batch_size: clips per step.
        num_frames: T.
        image_size: square frame side.
        steps: timed steps per round and model.
        warmup: untimed steps per model first.
        rounds: interleaved measurement rounds; the best round counts (least disturbed).
        num_classes: classifier size.
        seed: input seed.
        device: where the models run (on CUDA the timing synchronises after each round).
        amp: bf16 autocast (as ``engine.mixed_precision=bf16``).
        compile: ``torch.compile`` every model (as ``engine.compile=true``); compilation happens
            in the warm-up and is not timed.
        channels_last: hand the models (all, or the labels in a set) frames in channels-last
            memory order (``(B, T, C, H, W)`` with C innermost, as decoded frames are laid out).

    Returns:
        One result per model, in the given order.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, num_frames, 3, image_size, image_size, generator=g).to(device)
    wanted = set(models) if channels_last is True else (channels_last or set())
    x_cl = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3) if wanted else x
    inputs = {label: x_cl if label in wanted else x for label in models}
    y = torch.randint(0, num_classes, (batch_size,), generator=g).to(device)
    ctx = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=amp)
    built = {}
    for label, kw in models.items():
        if callable(kw):
            m = kw()
        else:
            kw = dict(kw)
            m = timm.create_model(kw.pop("model_name"), num_classes=num_classes, num_frames=num_frames,
                                  img_size=image_size, **kw)
        m = m.to(device)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True)  # the engine's default
        if compile:
            m = torch.compile(m)
        with ctx:
            for _ in range(warmup):
                train_step(m, opt, inputs[label], y)
        built[label] = (m, opt)
    best = {label: float("inf") for label in built}
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(rounds):
        for label, (m, opt) in built.items():
            sync()
            t0 = time.perf_counter()
            with ctx:
                for _ in range(steps):
                    train_step(m, opt, inputs[label], y)
            sync()
            best[label] = min(best[label], (time.perf_counter() - t0) / steps)
    return [StepResult(label, batch_size / best[label], best[label] * 1e3,
                       sum(p.numel() for p in built[label][0].parameters()) / 1e6) for label in built]
