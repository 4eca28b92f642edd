"""The built-in gesture dataset: a hand whose frames *look* different over time, for frame-embedding models.

Eight classes in four time-reversal pairs, named so that a generic antonym rule finds each class's
partner (``left<->right``, ``grow<->shrink``, ``open<->close``, ``appear<->disappear``):

* ``move_left`` / ``move_right``: the hand travels from inside one half of the frame into the other;
* ``grow`` / ``shrink``: the hand comes towards the camera (2-3x bigger) or goes away, across the middle
  of the frame, so both halves see it;
* ``open`` / ``close``: the fingers stretch out of a fist, or fold back into one, inside one half;
* ``appear`` / ``disappear``: the hand fades in over the background, or out of it, inside one half.

Every video shows one rendered hand (a palm, 3-4 fingers and a thumb; random colour, size, tilt,
handedness and openness) over its own random backdrop (a two-colour gradient with blurred static
clutter), filmed by a slightly shaky camera, with pixel noise. The gesture takes a random part of the
clip (it starts in the first 30 % and ends in the last 30 %, eased), and where a stationary gesture
happens (left or right half, height) is random: the left / right / whole views of a frame-embedding
extractor (:func:`lsvit.families.embeddings.backbones.frame_views`) tell *where* it happens, their order *what*.

Why this and not the camera-motion dataset (:mod:`lsvit.data.synthetic`, made for LS-ViT): a pooled CNN
embedding of a frame says what the picture shows (a fist or an open hand, a big or a small hand, a hand
in the left half or none) but little about a small shift of a textured scene; here the classes differ in
what the frames show and in which order.

Reversal pairs: the random draws of a video depend on its pair, not its class, and the second class of
a pair plays the first one's frames backwards. In a *paired* split (the test split by default) video
``i`` of ``disappear`` *is* video ``i`` of ``appear`` reversed, frame for frame: any order-blind model (the
mean of the frame embeddings, a bag of frames) sees the two alike (identically with MJPEG ``.avi``; up to
H.264's coding noise with ``.mp4``), so its direction within pairs is 0.5 while a sequence model can reach 1.0. The training split is unpaired by default: twice
as many different scenes for the same number of videos, and time-reversal augmentation
(``data.reverse_pairs``) supplies the reversals. ``num_frames`` defaults to 16, the frames an
extractor samples (``embed.num_frames``): uniform sampling then takes every frame of a video and of its
reversal (any odd multiple of T keeps that symmetry; an even multiple does not).

Videos are written with :func:`lsvit.data.synthetic.write_video` (H.264 ``.mp4`` through PyAV, or MJPEG
``.avi`` through OpenCV), atomically; generation is seeded and deterministic, and a folder whose
``manifest.json`` matches the spec is left as it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from lsvit import LsvitError
from lsvit.data.synthetic import write_video

# (first, second): the second class is the first one played backwards
REVERSAL_PAIRS: tuple[tuple[str, str], ...] = (("move_left", "move_right"), ("grow", "shrink"), ("open", "close"),
                                               ("appear", "disappear"))
CLASSES: tuple[str, ...] = tuple(sorted(c for pair in REVERSAL_PAIRS for c in pair))
_FORWARD = frozenset(pair[0] for pair in REVERSAL_PAIRS)
_SUBPIXEL = 4  # OpenCV drawing with shift=4: coordinates in 1/16 pixel, so slow changes stay smooth
_ONE = 1 << _SUBPIXEL
DESCRIPTION = ("the built-in gesture dataset (a rendered hand that moves, grows, opens or appears over a random "
               "backdrop, in one half of the frame or across it; `tools/make_gestures.py`)")
GENERATOR = "gestures-v2"  # recorded in the manifest: a changed renderer regenerates old folders


def partner(cls: str) -> str:
    """The class whose videos are ``cls``'s videos played backwards."""
    for a, b in REVERSAL_PAIRS:
        if cls in (a, b):
            return b if cls == a else a
    raise ValueError(f"unknown gesture class {cls!r}; classes: {CLASSES}")


def pair_index(cls: str) -> int:
    """The index of the reversal pair ``cls`` belongs to."""
    for i, pair in enumerate(REVERSAL_PAIRS):
        if cls in pair:
            return i
    raise ValueError(f"unknown gesture class {cls!r}; classes: {CLASSES}")


@dataclass(frozen=True)
class GestureSpec:
    """Parameters of a generated gesture dataset (stored in ``manifest.json``).

    Attributes:
        train_per_class: training videos per class.
        test_per_class: test videos per class.
        num_frames: frames per video (16: the extractor's T, see the module docstring).
        width: frame width in pixels (even: H.264).
        height: frame height in pixels (even).
        fps: frame rate written into the files.
        seed: base seed; test videos use other draws than training ones.
        fmt: ``mp4`` (H.264 via PyAV) or ``avi`` (MJPEG via OpenCV).
        paired_train: training video ``i`` of a class is video ``i`` of its partner played backwards.
        paired_test: the same for the test videos (keeps an order-blind model's test direction at exactly 0.5).
    """

    train_per_class: int = 40
    test_per_class: int = 12
    num_frames: int = 16
    width: int = 160
    height: int = 120
    fps: int = 8
    seed: int = 0
    fmt: str = "mp4"
    paired_train: bool = False
    paired_test: bool = True

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2 or min(self.width, self.height) < 48:
            raise LsvitError(f"width={self.width} height={self.height}: both must be even and >= 48")
        if self.num_frames < 2:
            raise LsvitError(f"frames={self.num_frames}: a gesture needs >= 2 frames")
        if self.fmt not in ("mp4", "avi"):
            raise LsvitError(f"fmt={self.fmt!r}: choose mp4 or avi")
        if self.train_per_class < 0 or self.test_per_class < 0:
            raise LsvitError("train_per_class and test_per_class must be >= 0")


# ------------------------------------------------------------------------------------------ drawing
def _luma(rgb: np.ndarray) -> float:
    return float(np.dot(rgb, (0.299, 0.587, 0.114)))


def backdrop(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A random ``(height, width, 3)`` float32 backdrop: a two-colour gradient and blurred static clutter.

    The clutter (things in the room) is in every frame, in both halves: only what changes tells the class.
    It is blended half-way into the gradient so that it does not outshine the hand.
    """
    c0, c1 = rng.uniform(30, 225, 3), rng.uniform(30, 225, 3)
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = np.cos(theta) * xx / width + np.sin(theta) * yy / height
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    plain = (c0 * (1 - ramp[..., None]) + c1 * ramp[..., None]).astype(np.float32)
    img = plain.copy()
    for _ in range(int(rng.integers(2, 6))):
        colour = tuple(float(v) for v in rng.uniform(20, 235, 3))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        if rng.random() < 0.5:
            axes = (int(rng.uniform(4, 0.22 * width) * _ONE), int(rng.uniform(4, 0.22 * height) * _ONE))
            cv2.ellipse(img, (int(cx * _ONE), int(cy * _ONE)), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1,
                        cv2.LINE_AA, _SUBPIXEL)
        else:
            box = ((float(cx), float(cy)), (float(rng.uniform(6, 0.4 * width)), float(rng.uniform(3, 0.15 * height))),
                   float(rng.uniform(0, 180)))
            cv2.fillPoly(img, [np.round(cv2.boxPoints(box) * _ONE).astype(np.int32)], colour, cv2.LINE_AA, _SUBPIXEL)
    img = 0.35 * img + 0.65 * plain
    return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(1.0, 3.0)))


@dataclass(frozen=True)
class Hand:
    """One hand's fixed looks (drawn once per video).

    Attributes:
        colour: RGB in 0..255.
        fingers: fingers beside the thumb (3 or 4).
        tilt: rotation in degrees (0: fingers up).
        mirror: a left hand (thumb on the other side).
        finger_width: finger thickness as a fraction of the palm radius.
        finger_length: length of a stretched finger as a fraction of the palm radius.
    """

    colour: tuple[float, float, float]
    fingers: int
    tilt: float
    mirror: bool
    finger_width: float
    finger_length: float


def draw_hand(canvas: np.ndarray, hand: Hand, x: float, y: float, radius: float, openness: float,
              alpha: float = 1.0) -> None:
    """Draw ``hand`` into the float ``canvas`` in place.

    Args:
        canvas: ``(H, W, 3)`` float32 picture.
        hand: the hand's looks.
        x: palm centre, pixels from the left.
        y: palm centre, pixels from the top.
        radius: palm radius in pixels.
        openness: 0 a fist (short knuckle stubs, thumb folded) .. 1 fingers stretched and spread.
        alpha: < 1 blends the hand over the picture (fading in or out); 0 draws nothing.
    """
    if alpha <= 0.0:
        return
    layer = canvas.copy() if alpha < 1.0 else canvas
    rot = np.deg2rad(hand.tilt)
    side = -1.0 if hand.mirror else 1.0

    def at(dx: float, dy: float) -> tuple[int, int]:  # hand coordinates (y up) -> image, turned by the tilt
        u, v = dx * np.cos(rot) - dy * np.sin(rot), dx * np.sin(rot) + dy * np.cos(rot)
        return int(round((x + u) * _ONE)), int(round((y - v) * _ONE))

    thick = max(2, int(round(hand.finger_width * radius)))
    length = radius * (0.35 + (hand.finger_length - 0.35) * openness)
    spread = np.deg2rad(8 + 14 * openness)
    for k in range(hand.fingers):
        a = (k - (hand.fingers - 1) / 2) * spread
        bx, by = 0.7 * radius * np.sin(a), 0.8 * radius
        cv2.line(layer, at(bx, by), at(bx + length * np.sin(a), by + length * np.cos(a)), hand.colour, thick,
                 cv2.LINE_AA, _SUBPIXEL)
    # the thumb: out to the side when open, folded over the palm when closed
    ta = np.deg2rad(20 + 45 * openness)
    base = (side * 0.75 * radius, 0.0)
    tl = radius * (0.5 + 0.55 * openness)
    tip = (base[0] + side * tl * np.sin(ta) * (2 * openness - 0.3), base[1] + tl * np.cos(ta) * 0.8)
    cv2.line(layer, at(*base), at(*tip), hand.colour, thick, cv2.LINE_AA, _SUBPIXEL)
    cv2.ellipse(layer, at(0, 0), (int(radius * _ONE), int(1.1 * radius * _ONE)), -hand.tilt, 0, 360, hand.colour, -1,
                cv2.LINE_AA, _SUBPIXEL)
    if alpha < 1.0:
        cv2.addWeighted(layer, alpha, canvas, 1.0 - alpha, 0.0, dst=canvas)


def _ease(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """0 before ``t0``, 1 after ``t1``, a smoothstep between: the gesture's progress over the clip."""
    s = np.clip((t - t0) / max(t1 - t0, 1e-6), 0.0, 1.0)
    return s * s * (3 - 2 * s)


def render_video(cls: str, rng: np.random.Generator, num_frames: int = 16, width: int = 160,
                 height: int = 120) -> np.ndarray:
    """Frames ``(T, height, width, 3)`` uint8 RGB of one video of class ``cls``.

    The random draws do not depend on which class of its pair ``cls`` is: with generators in the same
    state, the two classes of a pair give the same frames in opposite orders.
    """
    kind = REVERSAL_PAIRS[pair_index(cls)][0]
    scene = backdrop(rng, width, height)
    mean_luma = _luma(scene.reshape(-1, 3).mean(0))
    colour = rng.uniform(0, 255, 3)
    for _ in range(100):  # a hand the eye can see against this backdrop (luma contrast >= 50)
        if abs(_luma(colour) - mean_luma) >= 50:
            break
        colour = rng.uniform(0, 255, 3)
    hand = Hand(colour=(float(colour[0]), float(colour[1]), float(colour[2])), fingers=int(rng.integers(3, 5)),
                tilt=float(rng.uniform(-30, 30)), mirror=bool(rng.random() < 0.5),
                finger_width=float(rng.uniform(0.3, 0.45)), finger_length=float(rng.uniform(1.2, 1.6)))
    radius = rng.uniform(0.15, 0.2) * height  # a palm about a third of a view high: the embedding sees it
    openness = rng.uniform(0.3, 1.0)
    half = int(rng.integers(2))  # the half of the frame a stationary gesture happens in
    x = width * (0.25 + 0.5 * half + rng.uniform(-0.08, 0.08))
    y = height * rng.uniform(0.45, 0.62)
    t0, t1 = rng.uniform(0.0, 0.3), rng.uniform(0.7, 1.0)
    p = _ease(np.linspace(0.0, 1.0, num_frames), t0, t1)
    xs, ys = np.full(num_frames, x), np.full(num_frames, y)
    radii, opens, alphas = np.full(num_frames, radius), np.full(num_frames, openness), np.ones(num_frames)
    if kind == "move_left":  # from inside the right half to inside the left half of the picture
        x0, x1 = width * rng.uniform(0.62, 0.8), width * rng.uniform(0.2, 0.38)
        xs = x0 + (x1 - x0) * p
        ys = y + rng.uniform(-0.1, 0.1) * height * p
    elif kind == "grow":  # towards the camera, across the middle: both halves see it
        r0 = radius * rng.uniform(0.5, 0.65)
        radii = r0 * (1 + (rng.uniform(2.0, 3.0) - 1) * p)
        ys = np.full(num_frames, height * rng.uniform(0.4, 0.5))
        xs = np.full(num_frames, width * rng.uniform(0.45, 0.55))
    elif kind == "open":  # from a fist to a stretched hand
        o0, o1 = rng.uniform(0.0, 0.1), rng.uniform(0.85, 1.0)
        opens = o0 + (o1 - o0) * p
    else:  # appear: fades in over the backdrop
        alphas = p
    # a hand-held camera: the whole picture shakes by about a pixel; pixel noise on top
    shake = rng.normal(0, 0.8, (num_frames, 2))
    noise_sigma = rng.uniform(2.0, 5.0)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        img = scene.copy()
        draw_hand(img, hand, float(xs[i]), float(ys[i]), float(radii[i]), float(opens[i]), float(alphas[i]))
        m = np.float32([[1, 0, shake[i, 0]], [0, 1, shake[i, 1]]])
        img = cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        img += rng.normal(0, noise_sigma, img.shape).astype(np.float32)
        frames[i] = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return frames if cls in _FORWARD else np.ascontiguousarray(frames[::-1])


# ------------------------------------------------------------------------------------------ the dataset
def make_gesture_dataset(root: str | Path, spec: GestureSpec = GestureSpec(), verbose: bool = True,
                         progress: Callable[[int, int], None] | None = None) -> Path:
    """Write ``root/{train,test}/<class>/<class>_<i>.<fmt>``, ``classes.txt`` and ``manifest.json``.

    A folder whose manifest equals ``spec`` is left as it is; another spec regenerates it in place.
    In a paired split, video ``i`` of both classes of a pair shares its draws, and ``<class>_<i>`` names it
    in both, so ``data.group_pattern='_(\\d+)$'`` keeps a video and its reversal on one side of a
    validation hold-out.

    Args:
        root: output folder (``datasets/gestures`` in the tools).
        spec: sizes, frames, pairing and seed.
        verbose: print what was done.
        progress: called as ``progress(done, total)`` after every video.

    Returns:
        ``root``.
    """
    root = Path(root)
    manifest = root / "manifest.json"
    # the manifest describes the dataset to lsvit (lsvit.data.discovery.dataset_info), as the motion dataset's does:
    # its name and description for the model card, its splits (data.test_root=auto), and its source groups (video i
    # of every class: in a paired split video i of a class and of its partner are one scene played both ways)
    want = asdict(spec) | {"classes": list(CLASSES), "reversal_pairs": [list(p) for p in REVERSAL_PAIRS],
                           "generator": GENERATOR, "name": "gestures", "synthetic": True, "description": DESCRIPTION,
                           "splits": ["train", "test"], "group_pattern": r"_(\d+)$"}
    if manifest.exists() and json.loads(manifest.read_text()) == want:
        if verbose:
            print(f"{root}: gesture dataset already present ({len(CLASSES)} classes)")
        return root
    if manifest.exists():
        manifest.unlink()  # a different spec: regenerate in place (files are overwritten)
    total = len(CLASSES) * (spec.train_per_class + spec.test_per_class)
    n = 0
    for split, count, offset, paired in (("train", spec.train_per_class, 0, spec.paired_train),
                                         ("test", spec.test_per_class, 10**6, spec.paired_test)):
        for ci, cls in enumerate(CLASSES):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            # paired: both classes of a pair draw from the pair's stream; unpaired: every class from its own
            stream = pair_index(cls) if paired else len(REVERSAL_PAIRS) + ci
            for i in range(count):
                rng = np.random.default_rng([spec.seed, stream, offset + i])
                frames = render_video(cls, rng, spec.num_frames, spec.width, spec.height)
                write_video(folder / f"{cls}_{i:04d}.{spec.fmt}", frames, spec.fps)
                n += 1
                if progress is not None:
                    progress(n, total)
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(want, indent=2))
    os.replace(tmp, manifest)
    if verbose:
        print(f"{root}: wrote {n} videos ({len(CLASSES)} classes in {len(REVERSAL_PAIRS)} reversal pairs, "
              f"{spec.train_per_class} train + {spec.test_per_class} test per class, {spec.num_frames} frames "
              f"{spec.width}x{spec.height})")
    return root
