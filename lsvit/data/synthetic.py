"""The built-in motion dataset: classes that only motion tells apart.

Eight classes in four reversal pairs: ``move_left``/``move_right``, ``move_up``/``move_down``,
``rotate_cw``/``rotate_ccw``, ``grow``/``shrink``. Every video shows one random object
(shape, colour, size, stripe) on a random textured background. The *set* of object states
is drawn first (a segment of positions, angles or scales) and the class only decides the
order in which the states are played, so a clip and its time reversal are equally likely
in the two classes of a pair: no single frame and no unordered bag of frames tells
``move_left`` from ``move_right`` — only the order does.

Videos are real files (H.264 ``.mp4`` through PyAV, or MJPEG ``.avi`` through OpenCV),
written atomically; generation is seeded and deterministic.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("grow", "move_down", "move_left", "move_right", "move_up", "rotate_ccw", "rotate_cw", "shrink")
REVERSAL_PAIRS = (("move_left", "move_right"), ("move_up", "move_down"), ("rotate_cw", "rotate_ccw"),
                  ("grow", "shrink"))


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of a generated dataset (stored in ``manifest.json``)."""

    train_per_class: int = 48
    test_per_class: int = 12
    num_frames: int = 32
    size: int = 96
    fps: int = 25
    seed: int = 0
    fmt: str = "mp4"


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth random colours plus fine texture: static clutter with no motion cue."""
    coarse = rng.integers(0, 256, (rng.integers(3, 8), rng.integers(3, 8), 3)).astype(np.uint8)
    bg = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    bg += rng.normal(0, 12, (size, size, 3))
    # muted clutter: textured, but the object stays the salient thing in the frame
    return np.clip(bg * 0.45 + 70, 0, 255).astype(np.uint8)


def _polygon(kind: str, radius: float) -> np.ndarray:
    if kind == "triangle":
        ang = np.deg2rad([90, 210, 330])
    elif kind == "rect":
        ang = np.deg2rad([30, 150, 210, 330])
    else:  # 'blob': an irregular pentagon
        ang = np.deg2rad([10, 80, 160, 230, 300])
    return np.stack([np.cos(ang), -np.sin(ang)], 1) * radius


def _render(bg: np.ndarray, shape: np.ndarray, colour: tuple, stripe: tuple, centre: tuple[float, float],
            angle: float, scale: float) -> np.ndarray:
    frame = bg.copy()
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    pts = (shape * scale) @ rot.T + np.asarray(centre)
    sh = 4  # sub-pixel precision for smooth, real motion
    cv2.fillPoly(frame, [np.round(pts * (1 << sh)).astype(np.int32)], colour, cv2.LINE_AA, shift=sh)
    tip = pts[0]
    cv2.line(frame, tuple(np.round(np.asarray(centre) * (1 << sh)).astype(int).tolist()),
             tuple(np.round(tip * (1 << sh)).astype(int).tolist()), stripe, 2, cv2.LINE_AA, shift=sh)
    return frame


def render_video(cls: str, rng: np.random.Generator, num_frames: int, size: int) -> np.ndarray:
    """Frames ``(T, size, size, 3)`` uint8 RGB of one video of class ``cls``."""
    if cls not in CLASSES:
        raise ValueError(f"unknown synthetic class {cls!r}")
    bg = _background(rng, size)
    kind = str(rng.choice(["triangle", "rect", "blob"]))
    radius = size * rng.uniform(0.14, 0.22)
    shape = _polygon(kind, radius)
    # saturated colours, bright or dark, so the object stands out from the muted background
    colour = tuple(int(v) for v in rng.choice([0, 255], 3) * 0.85 + rng.integers(0, 40, 3))
    stripe = tuple(255 - v for v in colour)
    t = np.linspace(0.0, 1.0, num_frames)
    margin = radius * 1.3
    centre = rng.uniform(margin, size - margin, 2)
    angle = np.full(num_frames, rng.uniform(0, 2 * np.pi))
    scale = np.ones(num_frames)
    cx = np.full(num_frames, centre[0])
    cy = np.full(num_frames, centre[1])
    # draw the *segment* of states first; the class picks the playing order (reversal symmetry)
    forward = cls in ("move_right", "move_down", "rotate_cw", "grow")
    order = t if forward else t[::-1]
    if cls.startswith("move"):
        travel = rng.uniform(0.45, 0.85) * (size - 2 * margin)
        lo = rng.uniform(margin, size - margin - travel)
        path = lo + order * travel
        if cls in ("move_left", "move_right"):
            cx = path
        else:
            cy = path
    elif cls.startswith("rotate"):
        sweep = rng.uniform(np.pi / 2, 1.5 * np.pi)
        # image y points down, so a growing angle under this rotation turns clockwise on screen
        angle = angle[0] + order * sweep
    else:
        s0 = rng.uniform(0.5, 0.7)
        s1 = s0 * rng.uniform(1.7, 2.2)
        scale = s0 + order * (s1 - s0)
        centre = rng.uniform(radius * s1 * 1.2, size - radius * s1 * 1.2, 2)
        cx[:] = centre[0]
        cy[:] = centre[1]
    frames = [_render(bg, shape, colour, stripe, (cx[i], cy[i]), angle[i], scale[i]) for i in range(num_frames)]
    return np.stack(frames)


def write_video(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    """Write RGB frames to ``.mp4`` (H.264, PyAV) or ``.avi`` (MJPEG, OpenCV), atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    h, w = frames.shape[1:3]
    if path.suffix == ".mp4":
        import av

        with av.open(str(tmp), mode="w") as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": "18", "preset": "veryfast"}
            for f in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    else:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
    os.replace(tmp, path)


def make_motion_dataset(root: str | Path, spec: SyntheticSpec = SyntheticSpec(), verbose: bool = True) -> Path:
    """Write ``root/{train,test}/<class>/<class>_<i>.<fmt>``; skip if already complete.

    Args:
        root: output folder (``datasets/synthetic`` by default in the tools).
        spec: sizes and seed.
        verbose: print what was done.

    Returns:
        ``root``.
    """
    root = Path(root)
    manifest = root / "manifest.json"
    want = asdict(spec) | {"classes": list(CLASSES)}
    if manifest.exists() and json.loads(manifest.read_text()) == want:
        if verbose:
            print(f"{root}: motion dataset already present ({len(CLASSES)} classes)")
        return root
    if manifest.exists():
        manifest.unlink()  # a different spec: regenerate in place (files are overwritten)
    n = 0
    for split, count, offset in (("train", spec.train_per_class, 0), ("test", spec.test_per_class, 10**6)):
        for ci, cls in enumerate(CLASSES):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                rng = np.random.default_rng([spec.seed, ci, offset + i])
                path = folder / f"{cls}_{i:04d}.{spec.fmt}"
                write_video(path, render_video(cls, rng, spec.num_frames, spec.size), spec.fps)
                n += 1
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(want, indent=2))
    os.replace(tmp, manifest)
    if verbose:
        print(f"{root}: wrote {n} videos ({len(CLASSES)} classes, {spec.train_per_class} train + "
              f"{spec.test_per_class} test per class, {spec.num_frames} frames {spec.size}x{spec.size})")
    return root
