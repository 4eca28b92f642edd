"""g. deployment: ONNX Runtime vs PyTorch eager inference, side by side, for each family at its demo size.

Each family's model is exported exactly as ``tools/export.py`` does (:func:`lsvit.deploy.export.export_graph`,
dynamic batch, opset 18), checked against PyTorch on the benchmark batch, and both runtimes are timed on
that batch on the CPU with the same number of threads, round by round interleaved so that a slow-down
of the machine hits both alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from lsvit import LsvitError
from lsvit.bench.models import SIZES, build_model
from lsvit.bench.report import Check, PerfReport

if TYPE_CHECKING:
    from lsvit.bench import BenchContext

SECTION = "g. deployment: ONNX Runtime vs PyTorch eager inference (CPU, fp32)"
PARITY_CHECK = "ONNX Runtime vs PyTorch max |logits difference|"


@dataclass
class DeployCase:
    """One family's model (eval mode) and its benchmark batch."""

    model: nn.Module
    inputs: torch.Tensor
    unit: str = "clips"
    what: str = ""


def lsvit_case(model_name: str, smoke: bool) -> DeployCase:
    """LS-ViT (or its control) at the demo dims of :data:`lsvit.bench.models.SIZES` (tiny under ``smoke``)."""
    s = dict(SIZES["demo"])
    if smoke:
        s.update(embed_dim=32, depth=2, num_heads=2, frames=4, image=32, batch=2, smif_window=3)
    frames, image, batch = s.pop("frames"), s.pop("image"), s.pop("batch")
    model = build_model({"model_name": model_name, **s}, frames, image).eval()
    with torch.no_grad():  # the temporal branches start as exact zeros: give them weights, as training would
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.02)
    x = torch.randn(batch, frames, 3, image, image, generator=torch.Generator().manual_seed(0))
    return DeployCase(model, x, "clips", f"dim {s['embed_dim']}, depth {s['depth']}, {frames}x{image}, batch {batch}")


# label -> case builder (``smoke`` -> DeployCase); a family adds one line here
DEPLOY_CASES: dict[str, Callable[[bool], DeployCase]] = {
    "lsvit": partial(lsvit_case, "lsvit_tiny_patch16_224"),
    "vit_frame_avg": partial(lsvit_case, "lsvit_frameavg_tiny_patch16_224"),
}


def _mean_time(fn: Callable[[], Any], reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def compare_runtimes(case: DeployCase, path: Any, rounds: int = 3, reps: int = 3) -> dict[str, float]:
    """Export ``case.model``, check it, and time PyTorch eager and ONNX Runtime on ``case.inputs``.

    Returns:
        ``pytorch`` and ``onnxruntime`` items/s (best round), ``max_abs_diff`` of the logits and
        ``export_s``.
    """
    import onnxruntime as ort

    from lsvit.deploy.export import INPUT_NAME, export_graph, max_abs_diff

    x = case.inputs
    t0 = time.perf_counter()
    export_graph(case.model, x[:2] if x.shape[0] >= 2 else torch.cat([x, x]), path)
    export_s = time.perf_counter() - t0
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()  # the same threads as PyTorch
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    diff = max_abs_diff(case.model, session, x, x.numpy().dtype)
    feed = {INPUT_NAME: x.numpy()}

    def eager() -> None:
        with torch.inference_mode():
            case.model(x)

    def onnx() -> None:
        session.run(None, feed)

    eager(), onnx()  # warm-up
    best = {"pytorch": float("inf"), "onnxruntime": float("inf")}
    for _ in range(rounds):
        best["pytorch"] = min(best["pytorch"], _mean_time(eager, reps))
        best["onnxruntime"] = min(best["onnxruntime"], _mean_time(onnx, reps))
    n = x.shape[0]
    return {"pytorch": n / best["pytorch"], "onnxruntime": n / best["onnxruntime"], "max_abs_diff": diff,
            "export_s": export_s}


def bench_deploy(report: PerfReport, tmp: Any, smoke: bool = False) -> None:
    """Section g: every family of :data:`DEPLOY_CASES`; says so (and measures nothing) without onnxruntime."""
    from lsvit.deploy.export import FP32_ATOL, require_onnx

    try:
        require_onnx(exporting=True)
    except LsvitError as exc:
        report.add(SECTION, "not measured", str(exc))
        report.notes.append(f"deployment section skipped: {exc}")
        return
    threads = torch.get_num_threads()
    for label, make in DEPLOY_CASES.items():
        case = make(smoke)
        res = compare_runtimes(case, tmp / f"{label}.onnx", rounds=1 if smoke else 5, reps=1 if smoke else 3)
        report.add(SECTION, f"{label}: size", f"{case.what}, {threads} threads")
        report.add(SECTION, f"{label}: PyTorch eager {case.unit}/s", res["pytorch"])
        report.add(SECTION, f"{label}: ONNX Runtime {case.unit}/s", res["onnxruntime"])
        report.add(SECTION, f"{label}: ONNX Runtime / PyTorch eager (x)", res["onnxruntime"] / res["pytorch"])
        report.add(SECTION, f"{label}: export (s)", res["export_s"])
        report.checks.append(Check(f"[deploy] {label} {PARITY_CHECK}", res["max_abs_diff"], FP32_ATOL, "<=",
                                   note=f"{res['max_abs_diff']:.1e} at batch {case.inputs.shape[0]}, random inputs"))


def section_deploy(report: PerfReport, ctx: BenchContext) -> None:
    """g. ONNX Runtime vs PyTorch eager inference (tiny models at ``ctx.smoke``)."""
    bench_deploy(report, ctx.tmp, ctx.smoke)
