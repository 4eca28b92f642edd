"""The built-in keypoint dataset: gestures done right and wrong, as MediaPipe would see them.

No camera needed: a skeleton (MediaPipe pose's 33 landmarks, a 468-point face, two 21-point
hands) performs three gestures, each right (``_R``) and wrong (``_W``), with a random position
and size in the frame, speed, timing, jitter and dropped hand detections:

* ``swipe``: the right hand sweeps across at chest height; wrong: it turns back for a moment half-way.
* ``raise``: the right arm rises from the hip to above the head; wrong: it stops at head height and
  sinks back a little.
* ``touch_point``: touch the head, then point out to the side; wrong: the same moves in the wrong order.

The sequences are written in both seeds' formats: seed 002's ``MP_Data/<action>/<sequence>/<frame>.npy``
(Holistic's 1662 numbers per frame) and seed 004's landmark CSV (``class, accuracy, sequence``, then
``x y z v`` of pose 33 + right hand 21 + left hand 21; the first file with the header, the next without).
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsvit.families.keypoints.layout import mode_layout, seed004_layout

GESTURES = ("swipe", "raise", "touch_point")
# hand template: wrist, then 4 joints per finger (thumb .. pinky), in palm units, fingers pointing "up" (-y)
_FINGER_X = (-0.55, -0.25, 0.0, 0.22, 0.42)
_FINGER_LEN = (0.7, 1.0, 1.1, 1.0, 0.8)


def _hand_template() -> np.ndarray:
    pts = [(0.0, 0.0)]
    for fx, ln in zip(_FINGER_X, _FINGER_LEN):
        base_y = -0.45 if fx != -0.55 else -0.2
        for j in range(4):
            pts.append((fx * (1 + 0.15 * j), base_y - ln * 0.3 * (j + 1)))
    return np.asarray(pts, dtype=np.float32)


def _face_template(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = np.sqrt(rng.random(468))
    a = rng.random(468) * 2 * np.pi
    pts = np.stack([0.4 * r * np.cos(a), 0.55 * r * np.sin(a), 0.05 * rng.standard_normal(468)], 1)
    return pts.astype(np.float32)


_HAND, _FACE = _hand_template(), _face_template()


def _ease(u: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def _path(points: list[tuple[float, float]], u: np.ndarray) -> np.ndarray:
    """Piecewise eased motion through ``points`` (equal time per segment), ``u`` in [0, 1]."""
    pts = np.asarray(points, dtype=np.float32)
    seg = np.clip(u * (len(pts) - 1), 0, len(pts) - 1 - 1e-6)
    i = seg.astype(int)
    f = _ease(seg - i)[:, None]
    return pts[i] * (1 - f) + pts[i + 1] * f


def wrist_path(gesture: str, right: bool, u: np.ndarray) -> np.ndarray:
    """The right wrist's position (body units: shoulder width 1, origin between the shoulders, y down)."""
    if gesture == "swipe":
        start, end = (0.4, 0.35), (-1.5, 0.35)
        pts = [start, end] if right else [start, (-0.8, 0.3), (-0.45, 0.4), end]
    elif gesture == "raise":
        pts = [(-0.7, 1.3), (-0.75, -1.8)] if right else [(-0.7, 1.3), (-0.95, -0.7), (-0.9, -0.2)]
    elif gesture == "touch_point":
        head, point, rest = (-0.1, -1.05), (-1.8, -0.1), (-0.7, 1.3)
        pts = [rest, head, point] if right else [rest, point, head]
    else:
        raise ValueError(gesture)
    return _path(pts, u)


@dataclass
class DemoSpec:
    """Size of the built-in keypoint dataset."""

    train_per_class: int = 30
    test_per_class: int = 10
    min_frames: int = 26
    max_frames: int = 40
    seed: int = 0


def make_sequence(gesture: str, right: bool, rng: np.random.Generator, num_frames: int) -> dict[str, np.ndarray]:
    """One performance: per frame ``(P, 4)`` x y z v arrays of pose, face, left and right hand (zeros: not seen)."""
    t = num_frames
    lead, tail = rng.integers(0, 5), rng.integers(0, 5)
    u = np.clip((np.arange(t) - lead) / max(1, t - lead - tail - 1), 0, 1).astype(np.float32)
    u = u ** np.exp(rng.uniform(-0.3, 0.3))  # uneven speed
    cx, cy = rng.uniform(0.35, 0.65), rng.uniform(0.38, 0.5)
    sw = rng.uniform(0.14, 0.24)  # shoulder width in frame units: distance to the camera
    sway = np.cumsum(rng.normal(0, 0.002, (t, 2)), 0)
    wr = wrist_path(gesture, right, u) + rng.normal(0, 0.06, (t, 2))
    pose = np.zeros((t, 33, 4), np.float32)
    body = {0: (0.0, -0.75), 2: (0.08, -0.82), 5: (-0.08, -0.82), 1: (0.05, -0.82), 3: (0.11, -0.82),
            4: (-0.05, -0.82), 6: (-0.11, -0.82), 7: (0.2, -0.78), 8: (-0.2, -0.78), 9: (0.05, -0.65), 10: (-0.05, -0.65),
            11: (0.5, 0.0), 12: (-0.5, 0.0), 23: (0.35, 1.5), 24: (-0.35, 1.5), 25: (0.37, 2.3), 26: (-0.37, 2.3),
            27: (0.38, 3.0), 28: (-0.38, 3.0), 29: (0.38, 3.1), 30: (-0.38, 3.1), 31: (0.45, 3.15),
            32: (-0.45, 3.15)}
    for k, (bx, by) in body.items():
        pose[:, k, 0], pose[:, k, 1] = bx, by
    # left arm rests; right arm: the elbow bends outwards between shoulder and wrist
    lw = np.array([0.75, 1.35]) + rng.normal(0, 0.02, (t, 2))
    pose[:, 13, :2] = (np.array([0.5, 0.0]) + lw) / 2 + [0.1, 0.0]
    pose[:, 15, :2] = lw
    sh = np.array([-0.5, 0.0])
    pose[:, 14, :2] = (sh + wr) / 2 + [-0.25, 0.1]
    pose[:, 16, :2] = wr
    for a, b, w in ((17, 15, 0), (19, 15, 0), (21, 15, 0), (18, 16, 0), (20, 16, 0), (22, 16, 0)):
        pose[:, a, :2] = pose[:, b, :2] + rng.normal(0, 0.02, 2)
    pose[:, :, 2] = rng.normal(0, 0.05, (t, 33))
    pose[:, :, 3] = np.where(np.arange(33) < 25, rng.uniform(0.85, 1.0, (t, 33)), rng.uniform(0.2, 0.6, (t, 33)))
    pose[:, :, :2] += sway[:, None]
    face = np.zeros((t, 468, 4), np.float32)
    face[:, :, :3] = _FACE[None] * [1, 1, 1]
    face[:, :, :2] += pose[:, 0:1, :2] + [0.0, -0.05]
    hands = {}
    for name, wrist, ang in (("right_hand", wr, np.arctan2(*(wr - sh).T[::-1]) + np.pi / 2),
                             ("left_hand", lw, np.full(t, np.pi))):
        c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
        tx = _HAND[None, :, 0] * c - _HAND[None, :, 1] * s
        ty = _HAND[None, :, 0] * s + _HAND[None, :, 1] * c
        arr = np.zeros((t, 21, 4), np.float32)
        arr[:, :, 0], arr[:, :, 1] = wrist[:, 0:1] + 0.18 * tx, wrist[:, 1:2] + 0.18 * ty
        arr[:, :, 2] = rng.normal(0, 0.02, (t, 21))
        arr[:, :, :2] += sway[:, None]
        hands[name] = arr
    out = {"pose": pose, "face": face, **hands}
    for arr in out.values():  # body units -> frame coordinates, with landmark jitter
        arr[:, :, 0] = cx + arr[:, :, 0] * sw + rng.normal(0, 0.003, arr.shape[:2])
        arr[:, :, 1] = cy + arr[:, :, 1] * sw + rng.normal(0, 0.003, arr.shape[:2])
        arr[:, :, 2] *= sw
    if rng.random() < 0.3:  # the resting left hand is often not detected at all
        out["left_hand"][:] = 0
    lost = rng.random(t) < 0.1  # the moving hand is lost now and then
    out["right_hand"][lost] = 0
    return out


def _labels() -> list[tuple[str, str, bool]]:
    return [(f"{g}_{'R' if r else 'W'}", g, r) for g in GESTURES for r in (True, False)]


def make_keypoint_demo(root: str | Path, spec: DemoSpec | None = None, verbose: bool = True) -> Path:
    """Write the dataset under ``root``: ``{train,test}/MP_Data/`` (seed 002), ``{train,test}/csv/`` (seed 004)."""
    root, spec = Path(root), spec or DemoSpec()
    for split in ("train", "test"):  # a smaller rerun must not leave sequences of a larger one behind
        for sub in ("MP_Data", "csv"):
            shutil.rmtree(root / split / sub, ignore_errors=True)
    holistic, csv_layout = mode_layout("holistic"), seed004_layout(True)
    header = ["class", "accuracy", "sequence"] + [f"{c}{i}" for i in range(1, 76) for c in "xyzv"]
    for split, per_class, seed in (("train", spec.train_per_class, spec.seed), ("test", spec.test_per_class,
                                                                                   spec.seed + 1000)):
        rng = np.random.default_rng(seed)
        rows: list[list[str]] = []
        for label, gesture, right in _labels():
            for n in range(per_class):
                t = int(rng.integers(spec.min_frames, spec.max_frames + 1))
                parts = make_sequence(gesture, right, rng, t)
                seq_dir = root / split / "MP_Data" / label / str(n)
                seq_dir.mkdir(parents=True, exist_ok=True)
                for f in range(t):
                    frame = {k: v[f] for k, v in parts.items()}
                    np.save(seq_dir / f"{f}.npy", holistic.assemble(frame))
                    vec = csv_layout.assemble(frame)
                    rows.append([gesture, "1" if right else "0", str(n)] + [f"{v:.5f}" for v in vec])
        csv_dir = root / split / "csv"
        csv_dir.mkdir(parents=True, exist_ok=True)
        half = len(rows) // 2
        while half < len(rows) and rows[half][:3] == rows[half - 1][:3]:
            half += 1  # never split a sequence between the two files
        for i, chunk in enumerate((rows[:half], rows[half:]), start=1):
            with open(csv_dir / f"coordinates_{i}.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                if i == 1:  # as in seed 004, only the first file has the header
                    w.writerow(header)
                w.writerows(chunk)
        if verbose:
            print(f"{split}: {per_class * len(_labels())} sequences -> {root / split}")
    return root
