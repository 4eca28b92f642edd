"""The built-in motion dataset: classes that only motion tells apart.

Eight classes in four reversal pairs, named by what the picture does on screen: ``move_left``/
``move_right`` (the camera pans), ``move_up``/``move_down`` (it tilts), ``rotate_cw``/``rotate_ccw``
(it rolls), ``grow``/``shrink`` (it zooms in or out). Every video looks at its own random scene
(a "dead leaves" picture: overlapping discs and boxes of power-law sizes, the classic stand-in for
the statistics of natural images) through a camera that does the class's motion. The *segment* of
camera states is drawn first and the class only decides the order in which they are played, so a
clip and its time reversal are equally likely in the two classes of a pair, and with ``paired=True``
(the default) video ``i`` of one class *is* video ``i`` of its partner played backwards: no single
frame and no unordered bag of frames tells ``move_left`` from ``move_right``, only the order does.

Why camera motion, not objects moving over a background (the dataset before November 2026): there,
one small object among high-contrast clutter carried the whole label, and a from-scratch ViT did not
find it within the demo's budget (test top-1 0.17 after 24 epochs, chance 0.125), while the same
model learns whole-image motion in a few hundred steps. Camera work is also the motion every real
video has (docs/lsvit.md, the demo and its levers).

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
DESCRIPTION = ("the built-in synthetic motion dataset (random scenes seen by a camera that pans, tilts, rolls or "
               "zooms; `tools/make_synthetic.py`)")
# the class of each pair whose states play in drawing order (its partner plays them backwards)
_FORWARD = ("move_left", "move_up", "rotate_cw", "grow")


def draw_key(cls: str) -> int:
    """The index of the reversal pair ``cls`` belongs to: both classes of a pair share their random draws."""
    return next(i for i, pair in enumerate(REVERSAL_PAIRS) if cls in pair)


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of a generated dataset (stored in ``manifest.json``)."""

    train_per_class: int = 48
    test_per_class: int = 12
    num_frames: int = 24
    size: int = 80
    fps: int = 25
    seed: int = 0
    fmt: str = "mp4"
    paired: bool = True


def dead_leaves(rng: np.random.Generator, size: int, blur: float = 2.0) -> np.ndarray:
    """A random ``(size, size, 3)`` float picture: overlapping discs and boxes of power-law sizes.

    The blur keeps the picture's finest detail near the distance the camera moves between two
    sampled frames: much finer texture aliases (the sign of a pixel's change then depends on what
    the edge uncovers, not on the motion), which is a property of the renderer, not of the task.
    """
    img = np.full((size, size, 3), rng.uniform(60, 200, 3), np.float32)
    rmin, rmax = size * 0.03, size * 0.2
    # radii drawn from p(r) ~ r^-2.5 on [rmin, rmax] (inverse CDF): few large leaves, many small ones
    radii = (rmin ** -1.5 + rng.random(size * size // 150) * (rmax ** -1.5 - rmin ** -1.5)) ** (-1 / 1.5)
    for r in np.sort(radii)[::-1]:
        colour = tuple(float(v) for v in rng.uniform(20, 235, 3))
        x, y = rng.uniform(0, size, 2)
        if rng.random() < 0.5:
            cv2.circle(img, (int(x * 16), int(y * 16)), int(r * 16), colour, -1, cv2.LINE_AA, shift=4)
        else:
            box = ((float(x), float(y)), (float(2 * r), float(r * rng.uniform(0.5, 2))), float(rng.uniform(0, 180)))
            cv2.fillPoly(img, [np.round(cv2.boxPoints(box) * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(img, (0, 0), blur)


def render_video(cls: str, rng: np.random.Generator, num_frames: int, size: int) -> np.ndarray:
    """Frames ``(T, size, size, 3)`` uint8 RGB of one video of class ``cls``.

    The camera looks at a random scene from a random angle and magnification and pans, tilts,
    rolls or zooms over the video (the extent drawn at random). The random draws do not depend on the
    direction of the class: with the same ``rng``, the two classes of a reversal pair give the same
    frames in opposite orders.
    """
    if cls not in CLASSES:
        raise ValueError(f"unknown synthetic class {cls!r}")
    side = int(size * 2.2)  # room for the camera to move, turn and zoom out without leaving the scene
    scene = dead_leaves(rng, side)
    centre = side / 2 + rng.uniform(-0.1, 0.1, 2) * side
    angle0 = rng.uniform(0, 2 * np.pi)
    # about one pixel per frame at the default sizes: the motion stays smooth at a frame stride of 3
    travel = rng.uniform(0.12, 0.2) * size
    roll = rng.uniform(0.25, 0.4) * np.pi
    zoom0 = rng.uniform(0.75, 0.85)
    zoom1 = zoom0 * rng.uniform(1.7, 2.0)
    order = np.linspace(0.0, 1.0, num_frames)
    order = order if cls in _FORWARD else order[::-1]
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for i, o in enumerate(order):
        angle, zoom, shift = angle0, (zoom0 + zoom1) / 2, np.zeros(2)
        if cls.startswith("move"):  # the camera moves along its own axes: the picture moves the other way
            shift[0 if cls in ("move_left", "move_right") else 1] = -(o - 0.5) * travel
        elif cls.startswith("rotate"):  # image y points down: a growing angle turns the picture clockwise
            angle = angle0 + o * roll
        else:
            zoom = zoom0 + o * (zoom1 - zoom0)
        c, s = np.cos(angle) * zoom, np.sin(angle) * zoom
        m = np.array([[c, -s, 0.0], [s, c, 0.0]])
        m[:, 2] = size / 2 + shift - m[:, :2] @ centre  # scene point ``centre`` lands mid-frame (plus the pan)
        frame = cv2.warpAffine(scene, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frames[i] = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
    return frames


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
            # the same frames give the same file every time (the built-in dataset, and so the demo's figures,
            # are reproducible): one encoder thread, whose output does not depend on timing, and x264's C code
            # (no-asm): with its assembly the same frames still gave one of two files at random (measured: 2
            # distinct results in 8 rounds of 4 videos, 1 with no-asm), at a cost small at these sizes
            stream.options = {"crf": "18", "preset": "veryfast", "threads": "1",
                              "x264-params": "threads=1:lookahead_threads=1:no-asm=1"}
            for f in frames:
                # converted to YUV by OpenCV: PyAV's own conversion (swscale) gave other pixels from run to run
                yuv = av.VideoFrame.from_ndarray(cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
                for packet in stream.encode(yuv):
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
    # the manifest describes the dataset to lsvit (lsvit.data.discovery.dataset_info): its name and what it is for
    # the model card, its splits (data.test_root=auto finds test/), and its source groups (video i of a class
    # and of its reversal partner are one scene played both ways: they must not straddle training and validation)
    want = asdict(spec) | {"classes": list(CLASSES), "name": "synthetic", "synthetic": True,
                           "description": DESCRIPTION, "splits": ["train", "test"],
                           "group_pattern": r"_(\d+)$" if spec.paired else None}
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
