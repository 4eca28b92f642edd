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
    """One family's model (eval mode) and its benchmark batch.

    Attributes:
        graph: the module to export when it differs from ``model`` (the frame embedder's one-pass copy).
    """

    model: nn.Module
    inputs: torch.Tensor
    unit: str = "clips"
    what: str = ""
    graph: nn.Module | None = None
    input_name: str = "inputs"
    output_name: str = "logits"


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


def _family(name: str, args: dict[str, Any], num_classes: int) -> nn.Module:
    from lsvit.models.registry import build_family

    torch.manual_seed(0)
    return build_family(name, args, num_classes).eval()


def bilstm_case(smoke: bool) -> DeployCase:
    """The frame-embedding BiLSTM at ``make demo-bilstm``'s size: 16 frames x 3 views of efficientnet_lite0's
    1280-d embeddings (configs/embed/efficientnet_lite0.yaml), the model's defaults plus the Makefile's
    ``temporal_diff=true``, 8 classes (tiny under ``smoke``)."""
    t, c, d, batch = (4, 3, 32, 2) if smoke else (16, 3, 1280, 8)
    args: dict[str, Any] = {"in_channels": c, "in_dim": d, "temporal_diff": True}
    if smoke:
        args.update(hidden=16, attn_hidden=8)
    model = _family("bilstm_attention", args, 8)
    x = torch.randn(batch, t, c, d, generator=torch.Generator().manual_seed(0))
    return DeployCase(model, x, "clips", f"{t} frames x {c} x {d} embeddings, hidden {model.hidden}, batch {batch}")


def probe_case(smoke: bool) -> DeployCase:
    """The BiLSTM's order-blind baseline (``embedding_mean_probe``) on the same embeddings as :func:`bilstm_case`
    (``make demo-bilstm`` trains both on one cache)."""
    t, c, d, batch = (4, 3, 32, 2) if smoke else (16, 3, 1280, 8)
    model = _family("embedding_mean_probe", {"in_channels": c, "in_dim": d}, 8)
    x = torch.randn(batch, t, c, d, generator=torch.Generator().manual_seed(0))
    return DeployCase(model, x, "clips", f"{t} frames x {c} x {d} embeddings, batch {batch}")


def keypoint_case(name: str, features: int, smoke: bool) -> DeployCase:
    """A keypoint LSTM at ``make demo-keypoints``' size: 30 frames of ``features`` numbers, 6 classes (the
    demo's configs: ``keypoint_lstm`` 2 x 128, ``keypoint_lstm_stacked`` seed 002's widths; tiny under ``smoke``)."""
    t, f, batch = (8, 16, 2) if smoke else (30, features, 8)
    args: dict[str, Any] = {"input_size": f}
    if name == "keypoint_lstm":
        args.update(hidden_sizes=[8, 8] if smoke else [128, 128], dropout=0.3)
    elif smoke:
        args.update(hidden_sizes=[8, 8, 8], head_sizes=[8])
    model = _family(name, args, 6)
    x = torch.randn(batch, t, f, generator=torch.Generator().manual_seed(0))
    return DeployCase(model, x, "clips", f"{t} frames x {f} features, batch {batch}")


def embedder_case(smoke: bool) -> DeployCase:
    """The BiLSTM demo's frame embedder: efficientnet_lite0 (random weights: the speed is the same) on the three
    112 px views of 16 frames, one video's worth (tiny resnet10t at 32 px under ``smoke``)."""
    from lsvit.deploy.embedder import EMBEDDINGS_NAME, VIEWS_NAME, graph_module
    from lsvit.features.extract import EmbedConfig

    if smoke:
        cfg = EmbedConfig(vit=None, cnn="resnet10t", image_size=32, pretrained=False,
                          cnn_args={"channels": [8, 16, 32, 96]})
        frames = 2
    else:
        cfg = EmbedConfig(vit=None, cnn="efficientnet_lite0", image_size=112, pretrained=False)
        frames = 16
    embedder = cfg.build().eval()
    s = int(cfg.image_size)
    views = torch.randint(0, 256, (frames, 3, s, s, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return DeployCase(embedder, views, "frames", f"{cfg.cnn} on 3 views of {s} px, {frames} frames per call",
                      graph_module(embedder), VIEWS_NAME, EMBEDDINGS_NAME)


# label -> case builder (``smoke`` -> DeployCase); a family adds one line here
DEPLOY_CASES: dict[str, Callable[[bool], DeployCase]] = {
    "lsvit": partial(lsvit_case, "lsvit_tiny_patch16_224"),
    "vit_frame_avg": partial(lsvit_case, "lsvit_frameavg_tiny_patch16_224"),
    "bilstm": bilstm_case,
    "embedding_mean_probe": probe_case,
    "keypoint_lstm": partial(keypoint_case, "keypoint_lstm", 225),
    "keypoint_lstm_stacked": partial(keypoint_case, "keypoint_lstm_stacked", 1662),
}
EMBEDDER_LABEL = "bilstm frame embedder"
EMBEDDER_CHECK = "ONNX Runtime vs PyTorch max |embeddings difference| / max(1, |embeddings|)"


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

    from lsvit.deploy.export import DEFAULT_OPSET, export_graph, max_abs_diff

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
    """Section g: every family of :data:`DEPLOY_CASES` and the BiLSTM's frame embedder; says so (and measures
    nothing) without onnxruntime."""
    from lsvit.deploy.embedder import EMBED_RTOL
    from lsvit.deploy.export import FP32_ATOL, require_onnx

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
    for label, make in DEPLOY_CASES.items():
        case = make(smoke)
        res = compare_runtimes(case, tmp / f"{label}.onnx", **timing)
        report.add(SECTION, f"{label}: size", f"{case.what}, {threads} threads")
        report.add(SECTION, f"{label}: PyTorch eager {case.unit}/s", res["pytorch"])
        report.add(SECTION, f"{label}: ONNX Runtime {case.unit}/s", res["onnxruntime"])
        report.add(SECTION, f"{label}: ONNX Runtime / PyTorch eager (x)", res["onnxruntime"] / res["pytorch"])
        report.add(SECTION, f"{label}: export (s)", res["export_s"])
        report.checks.append(Check(f"[deploy] {label} {PARITY_CHECK}", res["max_abs_diff"], FP32_ATOL, "<=",
                                   note=f"{res['max_abs_diff']:.1e} at batch {case.inputs.shape[0]}, random inputs"))
    case = embedder_case(smoke)
    res = compare_runtimes(case, tmp / "embedder.onnx", **timing)
    label = EMBEDDER_LABEL
    report.add(SECTION, f"{label}: size", f"{case.what}, {threads} threads")
    report.add(SECTION, f"{label}: PyTorch eager {case.unit}/s", res["pytorch"])
    report.add(SECTION, f"{label}: ONNX Runtime {case.unit}/s", res["onnxruntime"])
    report.add(SECTION, f"{label}: ONNX Runtime / PyTorch eager (x)", res["onnxruntime"] / res["pytorch"])
    report.add(SECTION, f"{label}: export (s)", res["export_s"])
    rel = res["max_abs_diff"] / res["scale"]
    report.checks.append(Check(f"[deploy] {label} {EMBEDDER_CHECK}", rel, EMBED_RTOL, "<=",
                               note=f"{res['max_abs_diff']:.1e} of embeddings up to {res['scale']:.2g}, random views"))
    _load(report, "end")


def _load(report: PerfReport, when: str) -> None:
    """The machine's 1-minute load average beside the figures: on a shared machine it says how far to trust them."""
    if hasattr(os, "getloadavg"):
        report.add(SECTION, f"load average (1 min, {os.cpu_count()} cores) at the {when}", os.getloadavg()[0])


def section_deploy(report: PerfReport, ctx: BenchContext) -> None:
    """g. ONNX Runtime vs PyTorch eager inference (tiny models at ``ctx.smoke``)."""
    bench_deploy(report, ctx.tmp, ctx.smoke)
