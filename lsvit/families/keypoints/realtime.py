"""The keypoint family's realtime step: MediaPipe keypoints per frame with the checkpoint's settings, drawn."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from lsvit.families.keypoints.dataset import extraction_settings_for
from lsvit.families.keypoints.layout import HAND_EDGES, POSE_EDGES, Layout, is_hand
from lsvit.families.keypoints.mediapipe import ExtractionSettings, KeypointExtractor
from lsvit.families.keypoints.sequences import prepare_sequence


class KeypointFrames:
    """MediaPipe keypoints per frame (the checkpoint's extraction settings), drawn on the frame."""

    # MediaPipe's own thread pool and torch's OpenMP threads fight over the cores: measured on 2 cores, a
    # 0.4 ms LSTM window took 166 ms beside a running MediaPipe graph with 2 torch threads, 0.5 ms with 1
    model_threads = 1

    def __init__(self, data: dict[str, Any], device: str = "cpu", checkpoint: str | Path | None = None,
                 runtime: str = "pytorch", skip_empty: bool = True) -> None:
        self.data = data
        self.layout = Layout.from_json(data.get("layout"), "checkpoint meta.json data.layout")
        self.extractor = KeypointExtractor(ExtractionSettings.from_json(extraction_settings_for(data)))
        self.window = int(data["num_frames"])
        # seed 004 appends only frames where something was detected
        self.skip_empty = skip_empty
        self.aspect = 1.0

    def frame(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        h, w = frame_rgb.shape[:2]
        self.aspect = w / max(h, 1)
        r = self.extractor(frame_rgb)
        return r.vector, {"detected": any(r.detected.values()), "parts": r.parts, "rois": r.rois}

    def _input(self, pieces: list[np.ndarray], sampling: str) -> torch.Tensor:
        x = prepare_sequence(np.stack(pieces), self.layout, self.window, sampling,
                             self.data.get("normalize", "anchor"), self.aspect)
        return torch.from_numpy(x)[None]

    def batch(self, pieces: list[np.ndarray]) -> torch.Tensor:
        return self._input(pieces[-self.window:], "pad")

    def whole(self, pieces: list[np.ndarray]) -> torch.Tensor:
        return self._input(pieces, self.data.get("sampling", "pad"))

    def draw(self, image_bgr: np.ndarray, info: dict[str, Any], color: tuple[int, int, int]) -> None:
        draw_keypoints(image_bgr, info.get("parts") or {}, color, info.get("rois"))


def draw_keypoints(image_bgr: np.ndarray, parts: dict[str, np.ndarray | None], color: tuple[int, int, int],
                   rois: Sequence[tuple[int, int, int, int]] | None = None) -> None:
    """Skeleton lines and points of ``(P, 4)`` landmark arrays in [0, 1] frame coordinates, in place; the person
    crops MediaPipe saw (``rois``) as boxes."""
    h, w = image_bgr.shape[:2]
    for roi in rois or ():
        cv2.rectangle(image_bgr, roi[:2], roi[2:], (200, 200, 0), 1)
    for name, arr in parts.items():
        if arr is None:
            continue
        pts = np.stack([arr[:, 0] * w, arr[:, 1] * h], axis=1).round().astype(int)
        edges = POSE_EDGES if name == "pose" else HAND_EDGES if is_hand(name) else ()
        for a, b in edges:
            if a < len(pts) and b < len(pts):
                cv2.line(image_bgr, tuple(pts[a]), tuple(pts[b]), color, 1, cv2.LINE_AA)
        radius = 1 if name == "face" else 2
        for p in pts:
            cv2.circle(image_bgr, tuple(p), radius, color, -1, cv2.LINE_AA)
