"""Frame streams: a webcam, a video file, a stream URL or a folder of images, one BGR frame at a time.

Shared by the realtime loop (:mod:`lsvit.realtime`) and keypoint capture (:mod:`lsvit.families.keypoints.capture`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lsvit import LsvitError
from lsvit.data.discovery import IMAGE_EXTS, frame_key


def open_source(source: str | int, mirror: bool = False) -> tuple[Iterator[np.ndarray], float, str]:
    """Frames (BGR) of a webcam index, a video file, a stream URL or a folder of images; its fps and name.

    Args:
        source: ``0`` (a webcam index), a video file, ``rtsp://...``, or a folder of images.
        mirror: flip every frame left-right (a webcam then shows what a mirror would, as seed 004 did).
    """
    src = str(source)
    if Path(src).is_dir():
        files = sorted((p for p in Path(src).iterdir() if p.suffix.lower() in IMAGE_EXTS), key=frame_key)
        if not files:
            raise LsvitError(f"source={src}: no images in the folder")

        def images() -> Iterator[np.ndarray]:
            for p in files:
                img = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if img is None:
                    raise LsvitError(f"{p}: cannot read the image")
                yield cv2.flip(img, 1) if mirror else img
        return images(), 30.0, Path(src).name
    is_cam = src.isdigit()
    if not is_cam and "://" not in src and not Path(src).is_file():
        raise LsvitError(f"source={src}: no such file, folder or camera")
    cap = cv2.VideoCapture(int(src) if is_cam else src)
    if not cap.isOpened():
        raise LsvitError(f"source={src}: cannot open it" + (" (is the camera connected?)" if is_cam else ""))
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield cv2.flip(frame, 1) if mirror else frame
        finally:
            cap.release()
    return frames(), fps if 1.0 <= fps <= 240.0 else 30.0, ("camera" + src) if is_cam else Path(src).stem


def display_available() -> bool:
    """Whether a window can be shown: a display, and an OpenCV build with a GUI."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("lsvit")
        cv2.destroyWindow("lsvit")
        return True
    except cv2.error:
        return False


class FrameWriter:
    """Annotated frames -> an .mp4/.avi (temporary name, renamed at the end) or numbered images in a folder."""

    def __init__(self, output: Path, fps: float) -> None:
        self.output, self.fps = output, fps
        self.images = output.suffix.lower() not in (".mp4", ".avi", ".mkv", ".mov")
        self.tmp = output if self.images else output.with_name(f".{output.stem}.tmp{os.getpid()}{output.suffix}")
        self.writer: Any = None
        self.count = 0
        if self.images:
            output.mkdir(parents=True, exist_ok=True)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)

    def write(self, image: np.ndarray) -> None:
        if self.images:
            cv2.imwrite(str(self.output / f"frame_{self.count:06d}.jpg"), image)
        else:
            if self.writer is None:
                fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.output.suffix.lower() == ".avi" else "mp4v"))
                self.writer = cv2.VideoWriter(str(self.tmp), fourcc, self.fps, (image.shape[1], image.shape[0]))
                if not self.writer.isOpened():
                    raise LsvitError(f"output={self.output}: OpenCV cannot write this video format")
            self.writer.write(image)
        self.count += 1

    def close(self, keep: bool = True) -> None:
        if self.writer is not None:
            self.writer.release()
            if keep:
                os.replace(self.tmp, self.output)
            elif self.tmp.exists():
                self.tmp.unlink()
