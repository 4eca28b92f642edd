"""Realtime / stream prediction and annotated single-video output, for every family's checkpoint.

One sliding-window loop (:class:`RealtimePredictor`): each frame becomes the model's per-frame
input by the checkpoint's *frame adapter* (:class:`lsvit.contracts.FrameAdapter`, from its registered input
type's ``frame_step``), the last ``window`` of them form the model's input, a prediction is made every
``stride`` frames, and the shown label is smoothed (the majority of the last ``smooth`` predictions above
``threshold``). The built-in types' adapters: clips (frames resized, cropped and normalised like evaluation),
keypoints (MediaPipe per frame, drawn), frame embeddings (each frame's three views through the recorded frame
embedder). ``runtime=onnx`` runs the checkpoint's exported graphs with ONNX Runtime
(:func:`lsvit.deploy.runtime.load_model`; the frame embedder's ``embedder.onnx`` too); the per-frame
preprocessing stays the same Python.

Labels ending in ``_R`` are drawn green, ``_W`` red, others white (seed 004's right/wrong feedback).
With a display a window shows the stream (``q`` quits); without one (``headless``) an annotated
video and a per-frame predictions CSV are written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from lsvit import LsvitError
from lsvit.checkpoint.meta import read_meta
from lsvit.data.streams import FrameWriter, display_available, open_source
from lsvit.deploy.runtime import load_model
from lsvit.draw import WHITE, draw_label, label_color
from lsvit.io import atomic_write_text
from lsvit.registry import type_of


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads (None: unchanged), restoring the previous count after."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(old)


@dataclass
class Step:
    """One frame's outcome."""

    predicted: bool              # a prediction was made at this frame
    raw_label: str | None         # this prediction's top class
    raw_prob: float
    label: str | None             # the smoothed label shown
    confidence: float
    info: dict[str, Any]


class RealtimePredictor:
    """The sliding-window predictor (see the module docstring).

    Args:
        checkpoint: a ``best/`` folder of any family.
        stride: predict every ``stride`` frames (once the window is full).
        threshold: predictions below this probability do not count for the shown label.
        smooth: the shown label is the majority of the last ``smooth`` counted predictions.
        device: where the model runs.
        skip_empty: frames without detections are not added to the window (keypoints; None: the
            adapter's default).
        runtime: ``pytorch``, or ``onnx``: the checkpoint's exported graphs on ONNX Runtime (model and,
            for frame-embedding checkpoints, ``embedder.onnx``).
    """

    def __init__(self, checkpoint: str | Path, stride: int = 1, threshold: float = 0.5, smooth: int = 5,
                 device: str = "cpu", skip_empty: bool | None = None, runtime: str = "pytorch") -> None:
        if stride < 1 or smooth < 1:
            raise LsvitError(f"stride={stride}, smooth={smooth}: both must be >= 1")
        meta = read_meta(checkpoint)
        self.adapter = type_of(meta).frame_step(meta["data"], device, checkpoint, runtime)
        # an ONNX graph takes the threads the family's per-frame work leaves it, as the PyTorch model does
        self.model, self.meta = load_model(checkpoint, device, runtime, self.adapter.model_threads or 0)
        self.class_names = list(self.meta["class_names"])
        if skip_empty is not None:
            self.adapter.skip_empty = bool(skip_empty)
        self.device, self.stride, self.threshold = device, stride, threshold
        self.pieces: deque = deque(maxlen=self.adapter.window)
        self.recent: deque = deque(maxlen=smooth)
        self.label: str | None = None
        self.confidence = 0.0
        self._since = 0

    @torch.no_grad()
    def probs(self, inputs: torch.Tensor) -> np.ndarray:
        """Class probabilities of one model input."""
        return self.model(inputs.to(self.device)).float().softmax(-1)[0].cpu().numpy()

    def step(self, frame_rgb: np.ndarray) -> Step:
        """Feed one RGB frame."""
        piece, info = self.adapter.frame(frame_rgb)
        if info.get("detected", True) or not self.adapter.skip_empty:
            self.pieces.append(piece)
            self._since += 1
        if len(self.pieces) < self.adapter.window or self._since < self.stride:
            return Step(False, None, 0.0, self.label, self.confidence, info)
        self._since = 0
        p = self.probs(self.adapter.batch(list(self.pieces)))
        k = int(p.argmax())
        self.recent.append((k, float(p[k])) if p[k] >= self.threshold else None)
        counted = [r for r in self.recent if r is not None]
        if counted:
            top, n = Counter(i for i, _ in counted).most_common(1)[0]
            if n * 2 > len(self.recent):  # a clear majority of the recent predictions
                self.label = self.class_names[top]
                self.confidence = float(np.mean([q for i, q in counted if i == top]))
        return Step(True, self.class_names[k], float(p[k]), self.label, self.confidence, info)


def run_realtime(checkpoint: str | Path, source: str | int = 0, stride: int = 1, threshold: float = 0.5,
                 smooth: int = 5, headless: bool | None = None, output: str | Path | None = None,
                 csv_path: str | Path | None = None, max_frames: int | None = None, device: str = "cpu",
                 skip_empty: bool | None = None, progress: bool = True, runtime: str = "pytorch",
                 mirror: bool = False) -> dict[str, Any]:
    """Predict on a stream with a sliding window; show it, or write an annotated video + predictions CSV.

    Args:
        checkpoint: a ``best/`` folder of any family.
        source: webcam index, video file, stream URL or folder of frames.
        stride, threshold, smooth, skip_empty: see :class:`RealtimePredictor`.
        headless: write files instead of showing a window (None: headless when no display is available).
        output: the annotated video (``.mp4``/``.avi``) or a folder for frame images (headless; default
            ``outputs/realtime/<source>.mp4``).
        csv_path: the per-frame predictions CSV (default: ``output`` with ``.csv``).
        max_frames: stop after this many frames.
        device: where the model runs.
        progress: print a line every 100 frames.
        runtime: ``pytorch`` or ``onnx`` (the checkpoint's exported graphs on ONNX Runtime).
        mirror: flip every frame left-right first (a webcam shown as a mirror; use it when the model was trained
            on mirrored captures, as seed 004's were).

    Returns:
        ``{"frames", "predictions", "fps", "output", "csv", "last_label", "note"}`` (``note`` says why there was no
        prediction, when there was none).
    """
    pred = RealtimePredictor(checkpoint, stride, threshold, smooth, device, skip_empty, runtime)
    frames, fps, name = open_source(source, mirror)
    show = not headless and display_available()
    if headless is False and not show:
        print("no display (or an OpenCV without a GUI): writing an annotated video instead", file=sys.stderr)
    out_path = Path(output) if output else Path("outputs/realtime") / f"{name}.mp4"
    csv_file = Path(csv_path) if csv_path else (out_path.with_suffix(".csv") if out_path.suffix else
                                                out_path.with_name(out_path.name + ".csv"))
    writer = None if show else FrameWriter(out_path, fps)
    rows: list[list[Any]] = []
    n = n_pred = 0
    t0 = time.perf_counter()
    ok = False
    stack = contextlib.ExitStack()
    stack.enter_context(torch_threads(pred.adapter.model_threads))
    try:
        for frame in frames:
            if max_frames is not None and n >= max_frames:
                break
            step = pred.step(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            n_pred += step.predicted
            color = label_color(step.label)
            pred.adapter.draw(frame, step.info, color)
            shown = f"{step.label} {step.confidence:.2f}" if step.label else "..."
            draw_label(frame, shown, color)
            if step.predicted:
                draw_label(frame, f"now: {step.raw_label} {step.raw_prob:.2f}", WHITE, line=1)
            rows.append([n, f"{n / fps:.3f}", int(bool(step.info.get("detected", True))),
                         step.raw_label or "", f"{step.raw_prob:.4f}" if step.predicted else "", step.label or "",
                         f"{step.confidence:.4f}" if step.label else ""])
            n += 1
            if show:
                cv2.imshow("lsvit realtime (q quits)", frame)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
            else:
                writer.write(frame)  # type: ignore[union-attr]
            if progress and n % 100 == 0:
                print(f"{n} frames, {n / (time.perf_counter() - t0):.1f} fps, shown: {shown}", file=sys.stderr)
        ok = True
    finally:
        stack.close()
        if writer is not None:
            writer.close(keep=ok and writer.count > 0)
        if show:
            cv2.destroyAllWindows()
        close = getattr(getattr(pred.adapter, "extractor", None), "close", None)
        if close:
            close()
    elapsed = time.perf_counter() - t0
    if n == 0:
        raise LsvitError(f"source={source}: no frame could be read")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "time_s", "detected", "predicted", "probability", "label", "confidence"])
    w.writerows(rows)
    csv_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(csv_file, buf.getvalue())
    note = None
    if n_pred == 0:  # say why nothing was predicted, instead of "0 predictions, last shown: None"
        kept = len(pred.pieces)
        note = (f"no prediction: the window needs {pred.adapter.window} frames"
                + (f" with detections, and {kept} of the {n} frames had one" if pred.adapter.skip_empty
                   else f" and the source has {n}") + "; use a longer clip, or whole_video=true")
    return {"frames": n, "predictions": n_pred, "fps": n / elapsed if elapsed > 0 else 0.0,
            "output": None if show else str(out_path), "csv": str(csv_file), "last_label": pred.label, "note": note}


def annotate_video(checkpoint: str | Path, video: str | Path, output: str | Path, device: str = "cpu",
                   max_frames: int | None = None, runtime: str = "pytorch") -> dict[str, Any]:
    """Single-video inference with annotated output: one prediction for the whole video (sampled as
    evaluation does), drawn with the keypoints on every frame; ``output`` is a video (``.mp4``/``.avi``)
    or a folder of frame images.

    Returns:
        ``{"label", "probability", "probs", "frames", "output"}``.
    """
    pred = RealtimePredictor(checkpoint, device=device, runtime=runtime)
    frames, fps, _ = open_source(str(video))
    pieces, infos = [], []
    with torch_threads(pred.adapter.model_threads):
        for i, frame in enumerate(frames):
            if max_frames is not None and i >= max_frames:
                break
            piece, info = pred.adapter.frame(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            pieces.append(piece)
            infos.append(info)
        if not pieces:
            raise LsvitError(f"{video}: no frame could be read")
        p = pred.probs(pred.adapter.whole(pieces))
    k = int(p.argmax())
    label, prob = pred.class_names[k], float(p[k])
    color = label_color(label)
    writer = FrameWriter(Path(output), fps)
    ok = False
    try:
        frames, _, _ = open_source(str(video))
        for i, (frame, info) in enumerate(zip(frames, infos)):
            pred.adapter.draw(frame, info, color)
            draw_label(frame, f"{label} {prob:.2f}", color)
            draw_label(frame, f"frame {i + 1}/{len(infos)}", WHITE, line=1)
            writer.write(frame)
        ok = True
    finally:
        writer.close(keep=ok)
    return {"label": label, "probability": prob, "probs": dict(zip(pred.class_names, p.tolist())),
            "frames": len(infos), "output": str(output)}
