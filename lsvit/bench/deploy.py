"""g. deployment: ONNX Runtime vs PyTorch eager inference, side by side, for each family at its demo size.

Each family's model is exported exactly as ``tools/export.py`` does (:func:`lsvit.deploy.export.export_graph`,
dynamic batch, opset 18; the smoke size uses the faster TorchScript exporter, opset 17), checked against
PyTorch on the benchmark batch, and both runtimes are timed on
that batch on the CPU with the same number of threads, round by round interleaved so that a slow-down
of the machine hits both alike. Families: LS-ViT and its control (clips), the frame-embedding BiLSTM
and its order-blind probe (a clip's embeddings, as ``make demo-bilstm`` makes them), both keypoint LSTMs
(a clip's keypoint sequence, as ``make demo-keypoints``); a "clip" is one model input of the family. The
BiLSTM's frame embedder (``embedder.onnx``) is timed apart, in frames per second.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import torch

from lsvit import LsvitError
from lsvit.deploy.export import DEFAULT_OPSET, FP32_ATOL, export_graph, max_abs_diff, require_onnx
from lsvit.perf import BenchContext, Check, DeployCase, PerfReport
from lsvit.registry import input_types

SECTION = "g. deployment: ONNX Runtime vs PyTorch eager inference (CPU, fp32)"
PARITY_CHECK = "ONNX Runtime vs PyTorch max |logits difference|"


# the smoke run (the test suite's) checks the section's wiring, not the graphs' speed: the TorchScript exporter
# writes a tiny model in ~0.5 s where the torch.export one takes 4-6 s on a 2-core CPU; the default and GPU
# sizes time the graphs tools/export.py writes (DEFAULT_OPSET), and tests/test_deploy.py checks that exporter
SMOKE_OPSET = 17


def _mean_time(fn: Callable[[], Any], reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def compare_runtimes(case: DeployCase, path: Any, rounds: int = 3, reps: int = 3, min_round_s: float = 0.0,
                     opset: int | None = None) -> dict[str, float]:
    """Export ``case.model``, check it, and time PyTorch eager and ONNX Runtime on ``case.inputs``.

    Each runtime is called at least ``reps`` times per round, and as often as fills ``min_round_s``: a
    sub-millisecond model timed over 3 calls on a shared machine measures the other processes' scheduling.
    ``opset``: None for the graph ``tools/export.py`` writes (:data:`lsvit.deploy.export.DEFAULT_OPSET`).

    Returns:
        ``pytorch`` and ``onnxruntime`` items/s (best round), ``max_abs_diff`` of the outputs, ``scale``
        (``max(1, |output|)``) and ``export_s``.
    """
    import onnxruntime as ort


    x = case.inputs
    t0 = time.perf_counter()
    export_graph(case.graph if case.graph is not None else case.model, x[:2] if x.shape[0] >= 2 else torch.cat([x, x]),
                 path, opset=opset or DEFAULT_OPSET, input_name=case.input_name, output_name=case.output_name)
    export_s = time.perf_counter() - t0
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()  # the same threads as PyTorch
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    diff = max_abs_diff(case.model, session, x, None, case.input_name, case.output_name)
    with torch.inference_mode():
        scale = max(1.0, float(case.model(x).float().abs().max()))
    feed = {case.input_name: x.numpy()}

    def eager() -> None:
        with torch.inference_mode():
            case.model(x)

    def onnx() -> None:
        session.run(None, feed)

    eager(), onnx()  # warm-up
    # one call's time, the best of 3 (a single call may wait for a core), sets the calls per round
    calls = {name: max(reps, math.ceil(min_round_s / max(min(_mean_time(fn, 1) for _ in range(3)), 1e-6)))
             for name, fn in (("pytorch", eager), ("onnxruntime", onnx))}
    best = {"pytorch": float("inf"), "onnxruntime": float("inf")}
    for _ in range(rounds):
        best["pytorch"] = min(best["pytorch"], _mean_time(eager, calls["pytorch"]))
        best["onnxruntime"] = min(best["onnxruntime"], _mean_time(onnx, calls["onnxruntime"]))
    n = x.shape[0]
    return {"pytorch": n / best["pytorch"], "onnxruntime": n / best["onnxruntime"], "max_abs_diff": diff,
            "scale": scale, "export_s": export_s}


def bench_deploy(report: PerfReport, tmp: Any, smoke: bool = False) -> None:
    """Section g: the deploy cases of every registered input type (:meth:`~lsvit.contracts.InputType.bench_cases`);
    says so (and measures nothing) without onnxruntime."""
    try:
        require_onnx(exporting=True)
    except LsvitError as exc:
        report.add(SECTION, "not measured", str(exc))
        report.notes.append(f"deployment section skipped: {exc}")
        return
    threads = torch.get_num_threads()
    _load(report, "start")
    # one timing recipe for every graph: a single pass under smoke, interleaved rounds of >= 0.3 s otherwise
    timing = dict(rounds=1, reps=1, min_round_s=0.0, opset=SMOKE_OPSET) if smoke else \
        dict(rounds=5, reps=3, min_round_s=0.3, opset=None)
    for input_type in input_types().values():
        for case in input_type.bench_cases(smoke):
            res = compare_runtimes(case, tmp / f"{case.label.replace(' ', '_')}.onnx", **timing)
            label = case.label
            report.add(SECTION, f"{label}: size", f"{case.what}, {threads} threads")
            report.add(SECTION, f"{label}: PyTorch eager {case.unit}/s", res["pytorch"])
            report.add(SECTION, f"{label}: ONNX Runtime {case.unit}/s", res["onnxruntime"])
            report.add(SECTION, f"{label}: ONNX Runtime / PyTorch eager (x)", res["onnxruntime"] / res["pytorch"])
            report.add(SECTION, f"{label}: export (s)", res["export_s"])
            if case.relative is None:
                report.checks.append(Check(f"[deploy] {label} {PARITY_CHECK}", res["max_abs_diff"], FP32_ATOL, "<=",
                                           note=f"{res['max_abs_diff']:.1e} at batch {case.inputs.shape[0]}, "
                                                "random inputs"))
            else:
                rel = res["max_abs_diff"] / res["scale"]
                out = case.output_name
                report.checks.append(Check(f"[deploy] {label} ONNX Runtime vs PyTorch max |{out} difference| / "
                                           f"max(1, |{out}|)", rel, case.relative, "<=",
                                           note=f"{res['max_abs_diff']:.1e} of {out} up to {res['scale']:.2g}, "
                                                "random inputs"))
    _load(report, "end")


def _load(report: PerfReport, when: str) -> None:
    """The machine's 1-minute load average beside the figures: on a shared machine it says how far to trust them."""
    if hasattr(os, "getloadavg"):
        report.add(SECTION, f"load average (1 min, {os.cpu_count()} cores) at the {when}", os.getloadavg()[0])


def section_deploy(report: PerfReport, ctx: BenchContext) -> None:
    """g. ONNX Runtime vs PyTorch eager inference (tiny models at ``ctx.smoke``)."""
    bench_deploy(report, ctx.tmp, ctx.smoke)
