"""An optional person or hand crop before the frame embedder's views (seed 001's YOLOv8 hand detector).

``embed.crop=person|hand``: a detector (``embed.crop_detector``, one of :data:`lsvit.data.roi.DETECTORS`, the same
detectors as the keypoint family's ``roi=``) finds boxes in every sampled frame; the crop, grown by
``embed.crop_margin``, replaces the frames before the left / right / whole views are cut and before the augmented
copies are drawn. Per frame the largest ``embed.crop_boxes`` boxes count (null: all of them; 2 keeps both hands).

* ``crop_span=video`` (default): one box for the whole clip, the union of every sampled frame's boxes: the
  framing stays still, so motion inside it stays visible (a hand moving from left to right still moves from the
  left view into the right one, which is what the BiLSTM reads).
* ``crop_span=frame``: every frame its own box (the hand fills the crop whatever it does, its position is lost); a
  frame where nothing is found takes the box of the nearest frame with one, and the crops are resized to the
  clip's largest crop so that the frames stack.

A video with no box in any sampled frame: ``crop_fallback=full`` embeds its whole frames (as the keypoint family's
ROI does when it finds no one) and says so on stderr; ``crop_fallback=skip`` leaves it out, listed with the
unreadable videos and the reason. Every setting goes into the cache's settings (compared on reuse and by a
checkpoint, which crops raw videos the same way at inference), the YOLO weights by their content's fingerprint,
not their path. Weights are the user's own local file, never downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch.utils.data import get_worker_info

from lsvit import LsvitError
from lsvit.data.roi import (
    DETECTORS,
    NEEDS,
    Box,
    Detector,
    DetectorSpec,
    expand_box,
    import_mediapipe,
    union_box,
)
from lsvit.io import file_sha256

CROP_TARGETS = tuple(DETECTORS)  # person, hand
CROP_SPANS = ("video", "frame")
CROP_FALLBACKS = ("full", "skip")
# the settings of EmbedConfig that describe the crop (all recorded; every one but the weights path compared)
CROP_KEYS = ("crop", "crop_detector", "crop_weights", "crop_conf", "crop_margin", "crop_boxes", "crop_classes",
             "crop_span", "crop_fallback")


def check_crop_settings(cfg: Any) -> None:
    """Refuse crop settings that cannot work, naming the key (cheap: no file or module is looked at).

    Args:
        cfg: an :class:`~lsvit.families.embeddings.extract.EmbedConfig` (its ``crop*`` attributes).
    """
    if cfg.crop is None:
        return
    if cfg.crop not in DETECTORS:
        raise LsvitError(f"embed.crop={cfg.crop!r}: choose null, {', '.join(DETECTORS)}")
    names = DETECTORS[cfg.crop]
    if cfg.crop_detector not in names:
        raise LsvitError(f"embed.crop_detector={cfg.crop_detector!r}: a {cfg.crop} crop has {', '.join(names)}")
    if cfg.crop_span not in CROP_SPANS:
        raise LsvitError(f"embed.crop_span={cfg.crop_span!r}: choose one of {', '.join(CROP_SPANS)}")
    if cfg.crop_fallback not in CROP_FALLBACKS:
        raise LsvitError(f"embed.crop_fallback={cfg.crop_fallback!r}: choose one of {', '.join(CROP_FALLBACKS)}")
    if not 0.0 < float(cfg.crop_conf) < 1.0:
        raise LsvitError(f"embed.crop_conf={cfg.crop_conf}: a confidence in (0, 1)")
    if not 0.0 <= float(cfg.crop_margin) <= 2.0:
        raise LsvitError(f"embed.crop_margin={cfg.crop_margin}: a fraction of the box in [0, 2]")
    if cfg.crop_boxes is not None and int(cfg.crop_boxes) < 1:
        raise LsvitError(f"embed.crop_boxes={cfg.crop_boxes}: must be >= 1, or null for every box")
    if cfg.crop_detector == "yolo" and not cfg.crop_weights:
        raise LsvitError(f"embed.crop={cfg.crop} with crop_detector=yolo needs embed.crop_weights=<your local YOLO .pt "
                         "file> (weights are never downloaded)")


def _weights_file(cfg: Any) -> Path | None:
    if cfg.crop_detector != "yolo" or not cfg.crop_weights:
        return None
    path = Path(str(cfg.crop_weights))
    if not path.is_file():
        raise LsvitError(f"embed.crop_weights={cfg.crop_weights}: no such file (YOLO weights are never downloaded; "
                         "give the path of your local .pt file)")
    return path


def file_fingerprint(path: Path) -> str:
    """A short hash of a file's bytes: a cache refuses a detector whose weights differ from its own."""
    return file_sha256(path)[:16]


def crop_record(cfg: Any) -> dict[str, Any] | None:
    """What a cache records about the crop (None: no crop); the weights by path and by content fingerprint.

    Raises:
        LsvitError: a YOLO weights file that is not there (naming ``embed.crop_weights``).
    """
    if cfg.crop is None:
        return None
    path = _weights_file(cfg)
    return {"target": cfg.crop, "detector": cfg.crop_detector, "weights": str(path) if path else None,
            "weights_fingerprint": file_fingerprint(path) if path else None, "conf": float(cfg.crop_conf),
            "margin": float(cfg.crop_margin), "boxes": None if cfg.crop_boxes is None else int(cfg.crop_boxes),
            "classes": None if cfg.crop_classes is None else [int(c) for c in cfg.crop_classes],
            "span": cfg.crop_span, "fallback": cfg.crop_fallback}


def comparable_crop(record: Any) -> Any:
    """The part of a crop record two caches must share (everything but where the weights file lies)."""
    return {k: v for k, v in record.items() if k != "weights"} if isinstance(record, dict) else record


# ------------------------------------------------------------------------------------------ geometry
def frame_box(boxes: Sequence[Sequence[float]], max_boxes: int | None) -> Box | None:
    """One frame's box: the union of its largest ``max_boxes`` boxes (detectors return them largest first)."""
    return union_box(list(boxes) if max_boxes is None else list(boxes)[:max_boxes])


def _nearest_filled(boxes: list[Box | None]) -> list[Box]:
    """Every missing entry takes the nearest present one (the earlier on a tie)."""
    have = [i for i, b in enumerate(boxes) if b is not None]
    return [b if b is not None else boxes[min(have, key=lambda j: (abs(j - i), j))]  # type: ignore[misc]
            for i, b in enumerate(boxes)]


def crop_boxes(detections: Sequence[Sequence[Sequence[float]]], frame_size: tuple[int, int], margin: float,
               max_boxes: int | None = 1, span: str = "video") -> list[Box] | None:
    """The crop of every frame from its detections, or None when no frame has a usable box.

    Args:
        detections: per frame, its boxes ``(x0, y0, x1, y1)`` largest first.
        frame_size: ``(width, height)``.
        margin: the box grows by this fraction of its size on every side (clipped to the frame).
        max_boxes: boxes of a frame that count (None: all).
        span: ``video`` (one box, the union over the frames) or ``frame`` (each frame's own; a frame without a box
            takes the nearest frame's).
    """
    per_frame = [frame_box(d, max_boxes) for d in detections]
    if span == "video":
        whole = union_box([b for b in per_frame if b is not None])
        box = expand_box(whole, frame_size, margin) if whole is not None else None
        return [box] * len(per_frame) if box is not None else None
    grown = [expand_box(b, frame_size, margin) if b is not None else None for b in per_frame]
    return _nearest_filled(grown) if any(b is not None for b in grown) else None


def apply_crop(frames: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` cut to each frame's box -> ``(T, h, w, 3)`` (the largest crop's size; one box for
    all frames: a plain slice, no resampling)."""
    if all(b == boxes[0] for b in boxes):
        x0, y0, x1, y1 = boxes[0]
        return np.ascontiguousarray(frames[:, y0:y1, x0:x1])
    w = max(b[2] - b[0] for b in boxes)
    h = max(b[3] - b[1] for b in boxes)
    out = np.empty((len(frames), h, w, 3), dtype=np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        cv2.resize(frames[i, y0:y1, x0:x1], (w, h), dst=out[i], interpolation=cv2.INTER_LINEAR)
    return out


# ------------------------------------------------------------------------------------------ the crop step
class Cropper:
    """The crop step of one extraction: ``frames -> cropped frames`` (or None: skip the video).

    What the detector needs (its module, the weights file) is checked at once, in the process that starts the
    extraction; the detector itself is built on first use in each process that crops (a DataLoader worker must not
    inherit a MediaPipe graph or a model through fork). In the decoding workers a YOLO detector runs on the CPU
    (CUDA cannot start in a process forked from one that uses it); with ``num_workers=0`` it runs in the main
    process, on ultralytics' default device.

    Args:
        cfg: the :class:`~lsvit.families.embeddings.extract.EmbedConfig` (``crop*`` settings; ``crop`` set).
        detector: a detector to use instead of building the configured one (tests: deterministic boxes).
    """

    def __init__(self, cfg: Any, detector: Detector | None = None) -> None:
        check_crop_settings(cfg)
        self.cfg = cfg
        self._given = detector
        self._built: tuple[int, Detector] | None = None
        if detector is None:
            weights = _weights_file(cfg)
            need = NEEDS.get(cfg.crop_detector)
            if need == "mediapipe":
                import_mediapipe()  # a missing or 1.x MediaPipe is one message here, not one per worker
            elif need and importlib.util.find_spec(need) is None:
                raise LsvitError(f"embed.crop_detector={cfg.crop_detector} needs {need}, which is not installed: "
                                 f"pip install {need} (under constraints.txt)")
            self.spec = DetectorSpec(str(weights) if weights else None, float(cfg.crop_conf),
                                     tuple(int(c) for c in cfg.crop_classes) if cfg.crop_classes is not None else None,
                                     cfg.crop_boxes, "embed.crop_weights")

    @property
    def detector(self) -> Callable[[np.ndarray], list[Box]]:
        """The detector of this process (built on first use)."""
        if self._given is not None:
            return self._given
        if self._built is None or self._built[0] != os.getpid():
            # a DataLoader worker is forked from a process whose backbones may hold the GPU: CUDA cannot start in it
            spec = replace(self.spec, device="cpu") if get_worker_info() is not None else self.spec
            self._built = (os.getpid(), DETECTORS[self.cfg.crop][self.cfg.crop_detector](spec))
        return self._built[1]

    def __call__(self, frames: np.ndarray, name: str = "") -> np.ndarray | None:
        """uint8 ``(T, H, W, 3)`` -> the cropped frames; no box in any frame: the frames themselves
        (``crop_fallback=full``, said on stderr) or None (``skip``)."""
        c = self.cfg
        det = self.detector
        boxes = crop_boxes([det(f) for f in frames], (frames.shape[2], frames.shape[1]), float(c.crop_margin),
                           c.crop_boxes, c.crop_span)
        if boxes is not None:
            return apply_crop(frames, boxes)
        if c.crop_fallback == "skip":
            return None
        print(f"{name}: no {c.crop} found in its {len(frames)} sampled frames: the whole frames are embedded "
              "(embed.crop_fallback=full)", file=sys.stderr)
        return frames
