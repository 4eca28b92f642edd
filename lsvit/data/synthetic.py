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


def draw_key(cls: str) -> int:
    """The index of the reversal pair ``cls`` belongs to: both classes of a pair share their random draws."""
    return next(i for i, pair in enumerate(REVERSAL_PAIRS) if cls in pair)


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
    paired: bool = True


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth, muted random colours: a static backdrop that holds no motion cue and little texture.

    Fine high-contrast clutter makes every moving edge's sign of change a coin toss (it depends on
    what the edge uncovers) without making the task more about motion, so the backdrop stays smooth.
    """
    coarse = rng.integers(0, 256, (rng.integers(2, 5), rng.integers(2, 5), 3)).astype(np.uint8)
    bg = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    bg += rng.normal(0, 3, (size, size, 3))
    return np.clip(bg * 0.4 + 80, 0, 255).astype(np.uint8)


def _sprite(rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured object: RGB ``(side, side, 3)`` float and its soft mask ``(side, side)`` in [0, 1].

    The texture (a few bold random blocks in two contrasting colours) moves with the object, so its
    motion shows inside it and not only along its outline: rotation and scaling are visible too.
    """
    cells = int(rng.integers(2, 5))
    pattern = rng.random((cells, cells)) < 0.5
    pattern[0, 0], pattern[-1, -1] = True, False  # both colours appear
    a = rng.choice([0, 255], 3) * 0.8 + rng.integers(0, 50, 3)
    b = 255 - a
    tex = np.where(cv2.resize(pattern.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)[..., None],
                   a, b).astype(np.float32)
    kind = int(rng.integers(3))
    mask = np.zeros((side, side), np.float32)
    c = side / 2
    if kind == 0:  # disc-like ellipse
        cv2.ellipse(mask, (int(c), int(c)), (int(c * 0.95), int(c * rng.uniform(0.6, 0.95))), 0, 0, 360, 1.0, -1,
                    cv2.LINE_AA)
    else:  # an irregular polygon (5 to 7 corners, no slivers)
        n = int(rng.integers(5, 8))
        ang = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * (2 * np.pi / n) + rng.uniform(0, 2 * np.pi)
        rad = c * rng.uniform(0.75, 0.95, n)
        pts = np.stack([c + rad * np.cos(ang), c + rad * np.sin(ang)], 1)
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    return tex, mask


def _paste(frame: np.ndarray, tex: np.ndarray, mask: np.ndarray, centre: tuple[float, float], angle: float,
           scale: float) -> None:
    """Composite the sprite onto ``frame`` (float, in place): rotated by ``angle``, scaled, centred at ``centre``."""
    side = tex.shape[0]
    size = frame.shape[0]
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    # sprite -> frame: rotate/scale about the sprite's centre, then move it to ``centre`` (sub-pixel)
    m = np.array([[c, -s, centre[0] - (c * side / 2 - s * side / 2)],
                  [s, c, centre[1] - (s * side / 2 + c * side / 2)]], dtype=np.float64)
    warp = dict(dsize=(size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = cv2.warpAffine(mask, m, **warp)[..., None]
    frame *= 1 - alpha
    frame += alpha * cv2.warpAffine(tex, m, **warp)


def render_video(cls: str, rng: np.random.Generator, num_frames: int, size: int) -> np.ndarray:
    """Frames ``(T, size, size, 3)`` uint8 RGB of one video of class ``cls``.

    One or two textured objects on a smooth backdrop, all doing the class's motion (each with its
    own random extent of it). The random draws do not depend on the direction of the class, and the
    direction only reverses the order of the states: with the same ``rng``, the two classes of a
    reversal pair give the same frames in opposite orders.
    """
    if cls not in CLASSES:
        raise ValueError(f"unknown synthetic class {cls!r}")
    bg = _background(rng, size).astype(np.float32)
    forward = cls in ("move_right", "move_down", "rotate_cw", "grow")
    order = np.linspace(0.0, 1.0, num_frames)
    order = order if forward else order[::-1]
    frames = np.repeat(bg[None], num_frames, axis=0)
    # the whole group moves together (one travel for all), so that a crop never shows objects moving apart
    travel = rng.uniform(0.3, 0.5) * size
    for _ in range(int(rng.integers(3, 6))):
        radius = size * rng.uniform(0.12, 0.2)
        side = max(8, int(round(2 * radius)))
        tex, mask = _sprite(rng, side)
        angle = np.full(num_frames, rng.uniform(0, 2 * np.pi))
        scale = np.full(num_frames, 2 * radius / side)
        centre = rng.uniform(0, size, 2)
        cx, cy = np.full(num_frames, centre[0]), np.full(num_frames, centre[1])
        # draw the *segment* of states first; the class only picks the playing order
        if cls.startswith("move"):
            # objects enter and leave through the borders: positions wrap around a frame-sized loop
            # plus a margin, so that no object pops in or out of view
            span = size + 2 * radius
            path = (centre[0 if cls in ("move_left", "move_right") else 1] + order * travel) % span - radius
            if cls in ("move_left", "move_right"):
                cx = path
            else:
                cy = path
        elif cls.startswith("rotate"):
            # image y points down, so a growing angle under this rotation turns clockwise on screen
            angle = angle[0] + order * rng.uniform(1.2, 2.0) * np.pi
        else:
            s0 = rng.uniform(0.3, 0.4)
            scale = scale * (s0 + order * (s0 * rng.uniform(3.0, 3.5) - s0))
        for i in range(num_frames):
            _paste(frames[i], tex, mask, (cx[i], cy[i]), angle[i], scale[i])
    return np.clip(frames + 0.5, 0, 255).astype(np.uint8)


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
                rng = np.random.default_rng([spec.seed, draw_key(cls) if spec.paired else ci, offset + i])
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
