"""Performance figures measured side by side: the data path, the models, inference.

Each section compares the project's path with a reference *in the same run* (interleaved
where it matters), prints absolute numbers with the device, and checks the performance
targets (PASS/FAIL with the reason). ``tools/benchmark.py`` is the entry point; one module per
section: :mod:`~lsvit.bench.loading` (a, f), :mod:`~lsvit.bench.models` (b), :mod:`~lsvit.bench.inference` (e),
:mod:`~lsvit.bench.deploy` (g); each registered input type adds its own (``InputType.bench_sections``) and its
models to the deployment section (``InputType.bench_cases``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from lsvit import LsvitError
from lsvit.bench.deploy import section_deploy
from lsvit.bench.inference import bench_inference
from lsvit.bench.loading import bench_data_path, bench_loading, make_videos
from lsvit.bench.models import MFU_CHECK, bench_models, compare_train_steps, flops_per_clip, train_step
from lsvit.perf import BenchContext, Check, PerfReport, device_name
from lsvit.realtime import run_realtime
from lsvit.registry import input_types


def section_loading(report: PerfReport, ctx: BenchContext) -> None:
    """a. clip loading."""
    s = ctx.smoke
    bench_loading(ctx.videos, report, num_frames=8 if s else 16, image_size=64 if s else 224, reps=1 if s else 5,
                  workers=(0, 1) if s else (0, 1, 2), loader_batches=2 if s else 6, device=ctx.device)


def section_models(report: PerfReport, ctx: BenchContext) -> None:
    """b. train steps (and their compiled versions with ``--compile``), with every LS-ViT variant beside them.

    One step per round, the best of three rounds (the least disturbed step). Every variant at the first
    size (the demo's: SMIF's forms cost most there, on 64-pixel frames); the LMI variants at ViT-Ti too
    (SMIF's forms cost 1-2 % of a ViT-Ti step, LMI's up to 14 %).
    """
    s = ctx.smoke
    sizes = ["smoke"] if s else ["demo", "tiny", "small"] + (["base16"] if ctx.size == "gpu" else [])
    variant_sizes = {sizes[0]: ("smif", "lmi")} if s else {"demo": ("smif", "lmi"), "tiny": ("lmi",)}
    bench_models(report, sizes, steps=1, rounds=1 if s else 3, peak_flops=ctx.peak_flops, device=ctx.device,
                 variant_sizes=variant_sizes)
    if ctx.compile:
        bench_models(report, [sizes[0]], steps=1, rounds=1 if s else 3, peak_flops=ctx.peak_flops,
                     device=ctx.device, compile=True)


def section_data_path(report: PerfReport, ctx: BenchContext) -> None:
    """f. the data path under training."""
    workers = ctx.workers if ctx.workers is not None else min(8, os.cpu_count() or 1)
    bench_data_path(ctx.videos, report, "smoke" if ctx.smoke else ("base16" if ctx.size == "gpu" else "tiny"),
                    ctx.device, workers=min(workers, 1) if ctx.smoke else workers,
                    steps=2 if ctx.smoke else (48 if ctx.size == "gpu" else 6))


def section_inference(report: PerfReport, ctx: BenchContext) -> None:
    """e. end-to-end inference."""
    bench_inference(ctx.videos, report)


# the benchmark's own sections, in the order they print; each registered input type adds its own after them
# (InputType.bench_sections: the frame-embedding cache, the keypoint family), then the deployment section
SECTIONS: list[Callable[[PerfReport, BenchContext], None]] = [section_loading, section_models, section_data_path,
                                                              section_inference]


def all_sections() -> list[Callable[[PerfReport, BenchContext], None]]:
    """:data:`SECTIONS`, the registered input types' sections, and the deployment section last."""
    families = [s for t in input_types().values() for s in t.bench_sections()]
    return [*SECTIONS, *families, section_deploy]


def section_names() -> list[str]:
    """The names ``only=`` selects sections by: each function's name without ``section_`` (``deploy``, ...)."""
    return [f.__name__.removeprefix("section_") for f in all_sections()]


def run_benchmark(size: str = "default", out_json: str | Path | None = None, device: str = "cpu",
                  peak_tflops: float | None = None, compile: bool = False, workers: int | None = None,
                  only: Sequence[str] | None = None) -> PerfReport:
    """Every section (or those named in ``only``) at one size preset.

    Args:
        size: ``smoke`` (seconds: tiny inputs and the demo model, for the test suite), ``default``
            (CPU, <= 5 min: ViT-Ti and ViT-S sized models at 8x224, 4 videos) or ``gpu`` (adds
            ViT-B 16x224 and MFU).
        out_json: where to write the JSON.
        device: where the models run.
        peak_tflops: the device's dense bf16 peak, for MFU.
        compile: also time the train steps with ``torch.compile`` (ViT-Ti size; compiling
            costs minutes on a CPU, so it is not in the default run).
        workers: DataLoader workers for the data-path section (default: the CPU count, at most 8).
        only: run just these sections (:func:`section_names`, e.g. ``["deploy"]``); None: all.

    Raises:
        LsvitError: a name in ``only`` that is no section.
    """
    names = section_names()
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise LsvitError(f"only={','.join(unknown)}: no such benchmark section (choose from {', '.join(names)})")
    sections = [f for f, n in zip(all_sections(), names) if only is None or n in only]
    report = PerfReport(device_name())
    with tempfile.TemporaryDirectory() as tmp:
        smoke = size == "smoke"
        videos = make_videos(Path(tmp) / "videos", count=2 if smoke else 4, frames=60 if smoke else 300,
                             width=160 if smoke else 320, height=120 if smoke else 240)
        ctx = BenchContext(size, device, Path(tmp), videos, peak_tflops * 1e12 if peak_tflops else None, compile,
                           workers, run_realtime)
        for section in sections:
            section(report, ctx)
    if section_models in sections and not any(c.name.startswith(MFU_CHECK) for c in report.checks):
        report.checks.append(Check(f"{MFU_CHECK} (bf16, GPU)", None, 0.40, ">=",
                                   "no GPU on this machine" if not torch.cuda.is_available() else "run --size gpu"))
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report.to_json(), indent=2))
    return report


__all__ = ["SECTIONS", "BenchContext", "all_sections", "Check", "PerfReport", "bench_data_path", "bench_inference", "bench_loading",
           "bench_models", "compare_train_steps", "flops_per_clip", "make_videos", "run_benchmark", "section_names",
           "train_step"]
