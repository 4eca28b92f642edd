"""What every benchmark section shares: checks against targets, the report, timing helpers, and the two things a
family contributes to the benchmark (:class:`DeployCase`, sections run with a :class:`BenchContext`).

It sits below the families so that each family's benchmark code lives in its own folder
(``lsvit/families/<type>/bench.py``) and :mod:`lsvit.bench` only asks the registered input types for it.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from lsvit.models.registry import build_family as _build_family


@dataclass
class Check:
    """One target: ``value`` against ``target`` (``>=`` or ``<=``)."""

    name: str
    value: float | None
    target: float
    op: str = ">="
    note: str = ""

    @property
    def status(self) -> str:
        """PASS, FAIL, or N/A when it could not be measured here."""
        if self.value is None:
            return "N/A"
        ok = self.value >= self.target if self.op == ">=" else self.value <= self.target
        return "PASS" if ok else "FAIL"


@dataclass
class PerfReport:
    """Every figure (section -> name -> value) and every check."""

    device: str
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, name: str, value: Any) -> None:
        """Record one figure."""
        self.figures.setdefault(section, {})[name] = value

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {"device": self.device, "figures": self.figures, "notes": self.notes,
                "checks": [dict(asdict(c), status=c.status) for c in self.checks]}

    def text(self) -> str:
        """The printed table."""
        lines = [f"device: {self.device}"]
        for section, figs in self.figures.items():
            lines.append(f"\n[{section}]")
            for k, v in figs.items():
                lines.append(f"  {k:58s} {v:10.3f}" if isinstance(v, float) else f"  {k:58s} {v}")
        lines.append("\n[targets]")
        for c in self.checks:
            val = "-" if c.value is None else f"{c.value:.3f}"
            lines.append(f"  {c.status:4s}  {c.name:52s} {val:>8s} (target {c.op} {c.target}){'  ' + c.note if c.note else ''}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def device_name() -> str:
    """The CPU (and GPU) this runs on, in words."""
    cpu = f"{platform.machine()} CPU ({torch.get_num_threads()} threads)"
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} + {cpu}"
    return cpu


def training_mfu(forward_flops_per_clip: float, clips_per_s: float, peak_flops: float) -> float:
    """Model FLOP utilisation of training: a step costs ~3x the forward (forward + 2x backward)."""
    return 3.0 * forward_flops_per_clip * clips_per_s / peak_flops


def idle_fraction(step_on_device_s: float, step_fed_s: float) -> float:
    """Share of a loader-fed step spent waiting for data: ``1 - t(batch on device) / t(fed by the loader)``.

    Clamped at 0: a fed step can come out a little faster than the reference through noise.
    """
    return max(0.0, 1.0 - step_on_device_s / step_fed_s)


def time_per_item(fn: Callable[[int], Any], n: int, reps: int) -> float:
    """Best-of-``reps`` mean seconds per call of ``fn(i)`` over ``i < n``."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def synced(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, waiting for the GPU so that its time is counted."""
    out = fn(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out


class Cycle(torch.utils.data.Sampler):
    """``length`` keys from a seeded sampler, cycling over epochs."""

    def __init__(self, inner: Any, length: int) -> None:
        self.inner, self.length = inner, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Any]:
        epoch, given = 0, 0
        while given < self.length:
            self.inner.set_epoch(epoch)
            for key in self.inner:
                if given == self.length:
                    return
                given += 1
                yield key
            epoch += 1


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    """One plain training step (cross-entropy, backward, optimizer step), as the benchmarks time it."""
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


@dataclass
class DeployCase:
    """One model of a family (eval mode) and its benchmark batch, for the deployment section.

    Attributes:
        label: the row label (``"bilstm"``).
        model: the PyTorch reference.
        inputs: the benchmark batch.
        unit: what one input is called in the figures (``"clips"``, ``"frames"``).
        what: the size, in words.
        graph: the module to export when it differs from ``model`` (the frame embedder's one-pass copy).
        relative: parity checked relative to ``max(1, |output|)`` with this tolerance (None: absolute, fp32 atol).
    """

    label: str
    model: nn.Module
    inputs: torch.Tensor
    unit: str = "clips"
    what: str = ""
    graph: nn.Module | None = None
    input_name: str = "inputs"
    output_name: str = "logits"
    relative: float | None = None


@dataclass
class BenchContext:
    """What every section gets: the size preset, the device and a scratch folder with test videos.

    Attributes:
        realtime: the realtime loop (:func:`lsvit.realtime.run_realtime`), for sections that time it end to end
            (handed down by :mod:`lsvit.bench`, which sits above the families).
    """

    size: str
    device: str
    tmp: Path
    videos: list[Path]
    peak_flops: float | None = None
    compile: bool = False
    workers: int | None = None
    realtime: Callable[..., Any] | None = None

    @property
    def smoke(self) -> bool:
        """The seconds-long size the test suite runs."""
        return self.size == "smoke"


def built_family(name: str, args: dict[str, Any], num_classes: int) -> nn.Module:
    """A registered family, seeded random weights, in eval mode (the deployment cases)."""
    torch.manual_seed(0)
    return _build_family(name, args, num_classes).eval()
