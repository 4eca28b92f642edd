"""Capture and label keypoint sequences from a webcam, a video file or a stream (seed 004's workflow).

The frames play with the MediaPipe landmarks drawn on them. Pressing ``r`` starts a sequence done right, ``w`` one
done wrong, ``s`` stops it and ``q`` quits; each finished sequence is appended to a CSV in seed 004's layout
(``class, accuracy, sequence, x1, y1, z1, v1, ... x75 ... v75``: the 33 pose points, then the right hand's 21,
then the left hand's, each ``x y z v``), the header written only into a new file. The class name comes from the
command line; sequence numbers continue after the file's largest. What it writes imports with
``tools/import_keypoints.py format=csv`` and trains unchanged.

Without a display (or for a recorded video), a key timeline does the same headless: ``keys=[r@10,s@40,w@55,s@90]``
presses ``r`` at frame 10, ``s`` at frame 40, and so on. ``mirror=true`` flips the frames first (a webcam shown as
a mirror, as seed 004 recorded). A sequence is written whole when it ends, so a crash never leaves half of one in
the file; frames without any detection are not rows (seed 004 skipped them too).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from lsvit import LsvitError
from lsvit.data.streams import FrameWriter, display_available, open_source
from lsvit.draw import GREEN, RED, WHITE, draw_label
from lsvit.families.keypoints.layout import seed004_layout
from lsvit.families.keypoints.mediapipe import ExtractionSettings, KeypointExtractor
from lsvit.families.keypoints.realtime import draw_keypoints

KEYS = {"r": "record right", "w": "record wrong", "s": "stop", "q": "quit"}
# seed 004's columns: class, accuracy (1 right, 0 wrong), sequence, then x y z v of 75 landmarks
HEADER = ["class", "accuracy", "sequence"] + [f"{c}{i}" for i in range(1, 76) for c in "xyzv"]


def parse_keys(spec: str | Sequence[str] | None) -> dict[int, str]:
    """``"r@10,s@40"`` or ``["r@10", "s@40"]`` -> ``{10: "r", 40: "s"}`` (frame numbers count from 0).

    On the command line the list form is the one Hydra takes as it is (``keys=[r@10,s@40]``; an unquoted
    ``keys=r@10,s@40`` is a sweep to Hydra).

    Raises:
        LsvitError: an entry that is not ``<key>@<frame>`` with a key of :data:`KEYS`.
    """
    out: dict[int, str] = {}
    parts = (spec or "").split(",") if spec is None or isinstance(spec, str) else [str(p) for p in spec]
    for part in parts:
        part = part.strip()
        if not part:
            continue
        key, _, frame = part.partition("@")
        if key not in KEYS or not frame.strip().isdigit():
            raise LsvitError(f"keys={spec}: {part!r} is not <key>@<frame> with a key of {', '.join(KEYS)} "
                             "(e.g. keys=[r@10,s@40])")
        out[int(frame)] = key
    return out


@dataclass
class CaptureReport:
    """What a capture did: frames shown, sequences written (and their rows), where."""

    frames: int = 0
    sequences: list[tuple[int, str, int]] = field(default_factory=list)  # (sequence, "right"|"wrong", rows)
    output: str = ""
    preview: str | None = None


class SequenceCsv:
    """Seed 004's CSV, appended one finished sequence at a time (the header only into a new or empty file)."""

    def __init__(self, path: str | Path, label: str) -> None:
        self.path, self.label = Path(path), label
        if self.path.suffix.lower() != ".csv":
            raise LsvitError(f"out={self.path}: expected a .csv file (seed 004's layout)")
        self.next_sequence = self._last_sequence() + 1

    def _last_sequence(self) -> int:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return 0
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))
        if rows and rows[0][:3] != HEADER[:3] and rows[0][0].strip().lower() == "class":
            raise LsvitError(f"{self.path}: its header is not seed 004's (class, accuracy, sequence, x1, ...)")
        if rows and rows[0] and rows[0][0].strip().lower() == "class" and len(rows[0]) != len(HEADER):
            raise LsvitError(f"{self.path}: it has {len(rows[0])} columns, a capture writes {len(HEADER)}")
        numbers = [int(float(r[2])) for r in rows[1 if rows and rows[0][0].strip().lower() == "class" else 0:]
                   if len(r) > 2 and r[2].strip()]
        return max(numbers, default=0)

    def write(self, right: bool, vectors: list[np.ndarray]) -> int:
        """Append one sequence (rows of ``x y z v`` x 75); returns its sequence number."""
        seq = self.next_sequence
        new = not self.path.is_file() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(HEADER)
            w.writerows([self.label, "1" if right else "0", str(seq), *(f"{v:.6f}" for v in vec)] for vec in vectors)
            f.flush()
            os.fsync(f.fileno())  # a finished sequence is on disk before the next one starts
        self.next_sequence += 1
        return seq


def _keypresses(show: bool, timeline: dict[int, str]) -> Iterator[str | None]:
    """The key pressed at each frame: the window's keyboard, or the timeline (frame -> key)."""
    frame = 0
    while True:
        key = timeline.get(frame)
        if show:
            code = cv2.waitKey(1) & 0xFF
            typed = chr(code) if 0 < code < 128 else ""
            key = typed if typed in KEYS else key
        yield key
        frame += 1


def capture_keypoints(source: str | int, label: str, out: str | Path, keys: str | None = None, mirror: bool = False,
                      headless: bool | None = None, preview: str | Path | None = None, max_frames: int | None = None,
                      min_detection_confidence: float = 0.5) -> CaptureReport:
    """Play ``source`` with the landmarks drawn and append the labelled sequences to ``out`` (see the module).

    Args:
        source: a webcam index, a video file, a stream URL or a folder of images.
        label: the class of the sequences captured in this run (seed 004 labels one movement per run).
        out: the CSV to append to (created with its header when new).
        keys: a key timeline (``r@10,s@40,...``) for a headless run or a recorded video.
        mirror: flip the frames left-right first.
        headless: no window (None: headless when no display is available; then ``keys`` is needed).
        preview: also write the annotated frames to this video (or folder of images).
        max_frames: stop after this many frames.
        min_detection_confidence: MediaPipe's detection threshold.

    Raises:
        LsvitError: a headless run without ``keys``, an unreadable source, a CSV of another layout.
    """
    if not label or "," in label:
        raise LsvitError(f"label={label!r}: give the class name of the movement captured (no commas)")
    timeline = parse_keys(keys)
    show = display_available() if headless is None else not headless
    if not show and not timeline:
        raise LsvitError("no display to press keys in: give a key timeline, e.g. keys=[r@10,s@40,w@55,s@90] "
                         "(r right, w wrong, s stop, q quit; frame numbers)")
    sink = SequenceCsv(out, label)
    layout = seed004_layout(True)
    extractor = KeypointExtractor(ExtractionSettings(mode="pose_hands", layout=layout.to_json(),
                                                     min_detection_confidence=min_detection_confidence))
    frames, fps, _ = open_source(source, mirror)
    writer = None
    report = CaptureReport(output=str(sink.path), preview=str(preview) if preview else None)
    recording: bool | None = None  # True right, False wrong, None not recording
    rows: list[np.ndarray] = []

    def finish() -> None:
        nonlocal rows
        if recording is not None and rows:
            report.sequences.append((sink.write(recording, rows), "right" if recording else "wrong", len(rows)))
        rows = []

    try:
        for frame_bgr, key in zip(frames, _keypresses(show, timeline)):
            if max_frames is not None and report.frames >= max_frames:
                break
            if key in ("s", "q") or (key in ("r", "w") and recording is not None):
                finish()
                recording = None
            if key == "q":
                break
            if key in ("r", "w"):
                recording = key == "r"
            r = extractor(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
            if recording is not None and any(r.detected.values()):
                rows.append(r.vector)
            canvas = frame_bgr.copy()
            colour = WHITE if recording is None else GREEN if recording else RED
            draw_keypoints(canvas, r.parts, colour, r.rois)
            state = "r right / w wrong / s stop / q quit" if recording is None else \
                f"recording {'RIGHT' if recording else 'WRONG'} #{sink.next_sequence}: {len(rows)} frames"
            draw_label(canvas, f"{label}: {state}", colour)
            if show:
                cv2.imshow("lsvit capture", canvas)
            if preview is not None:
                if writer is None:
                    writer = FrameWriter(Path(preview), fps)
                writer.write(canvas)
            report.frames += 1
        finish()  # the source ended while recording: the sequence is kept
    finally:
        extractor.close()
        if writer is not None:
            writer.close()
        if show:
            cv2.destroyAllWindows()
            time.sleep(0.01)
    if report.frames == 0:
        raise LsvitError(f"source={source}: no frame could be read")
    return report
