"""Clip transforms, split between the loader (geometry on uint8) and the device (colour).

The loader does only what must see the whole frame: one random-resized crop and flip per
clip (the same parameters for every frame: drawing them per frame would destroy the
motion the models must see), resized with OpenCV straight into the output buffer, and
hands the device **uint8** frames: a quarter of the bytes of float32 through worker
queues, pinned memory and the host-to-device copy.

Colour jitter (brightness, contrast, saturation, hue) and the normalisation are affine
maps of RGB, so they fold into one per-clip ``(3, 6)`` "colour" tensor: a 3x3 matrix, an
offset and the clamp range. :func:`to_model_input` applies it to the whole batch on the
device in one pass. Measured (``tools/benchmark.py``): albumentations' crop and per-frame
HSV jitter plus a float normalisation in the worker cost more than decoding the clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

# ITU-R BT.601 luma, as in torchvision's and albumentations' grayscale
_LUMA = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                       dtype=torch.float64)


@dataclass
class ClipTransform:
    """uint8 ``(T, H, W, 3)`` frames -> uint8 ``(T, S, S, 3)`` frames and their ``(3, 6)`` colour map.

    :func:`to_model_input` turns the pair into the model's normalised float ``(T, 3, S, S)``.

    Args:
        image_size: output side S.
        mean: per-channel mean in [0, 1] units (the model's pretrained config).
        std: per-channel std.
        train: training augmentation (random resized crop, flip, colour jitter) or
            evaluation (the short side resized to S, centre crop).
        scale: random-resized-crop area range (fraction of the frame).
        ratio: random-resized-crop aspect-ratio range.
        hflip: flip probability. Set 0 when left/right is part of the label (e.g.
            "move left" vs "move right"): a flipped clip would carry the wrong label.
        color_jitter: probability of brightness/contrast/saturation/hue jitter.
        aug: an extra clip-consistent augmentation applied to the decoded frames before the crop in
            training (a :class:`lsvit.data.augment.ClipAugment`, e.g. ``data.aug=gesture_strong``).
    """

    image_size: int = 224
    mean: Sequence[float] = (0.485, 0.456, 0.406)
    std: Sequence[float] = (0.229, 0.224, 0.225)
    train: bool = False
    scale: Sequence[float] = (0.25, 1.0)
    ratio: Sequence[float] = (3 / 4, 4 / 3)
    hflip: float = 0.5
    color_jitter: float = 0.8
    aug: Any = None

    def __post_init__(self) -> None:
        self._mean = torch.tensor(self.mean, dtype=torch.float64) * 255.0
        self._std = torch.tensor(self.std, dtype=torch.float64) * 255.0

    def __call__(self, frames: np.ndarray, seed: int | None = None, crop_index: int | None = None,
                 num_crops: int = 1, flip: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform one clip.

        Args:
            frames: uint8 ``(T, H, W, 3)``.
            seed: seeds the random draw (training), making augmentation a function of
                ``(seed, epoch, sample)`` and so identical however many processes load data.
            crop_index: for evaluation with ``num_crops`` > 1, which spatial view to take.
            num_crops: number of evaluation views spread along the long side.
            flip: training: a flip decided by the caller (the dataset's motion-aware augmentation, which also
                maps the label); None: drawn here with probability ``hflip``.

        Returns:
            ``(frames, color)``: uint8 ``(T, S, S, 3)`` and float32 ``(3, 6)``.
        """
        h, w = frames.shape[1:3]
        s = int(self.image_size)
        if not self.train:  # the centre view, or view ``crop_index`` of ``num_crops``
            many = crop_index is not None and num_crops > 1
            box = spatial_view_box(h, w, crop_index if many else 0, num_crops if many else 1)
            return torch.from_numpy(crop_resize(frames, box, s)), self.color()
        rng = np.random.default_rng([int(seed) % (2**32), 7]) if seed is not None else np.random.default_rng()
        if self.aug is not None:
            frames = self.aug(frames, seed=int(rng.integers(2**31 - 1)))
            h, w = frames.shape[1:3]
        box = random_resized_crop_box(rng, h, w, self.scale, self.ratio)
        if flip is None:
            flip = self.hflip > 0 and rng.random() < self.hflip
        out = crop_resize(frames, box, s, flip)
        jitter = self.color_jitter > 0 and rng.random() < self.color_jitter
        if not jitter:
            return torch.from_numpy(out), self.color()
        # the contrast pivot is the clip's mean gray after cropping (cv2.mean: SIMD, no copy)
        mean_rgb = np.mean([cv2.mean(f)[:3] for f in out], axis=0)
        return torch.from_numpy(out), self.color(jitter_matrix(rng, mean_rgb))

    def color(self, jitter: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """The ``(3, 6)`` colour map: ``[M | b | lo | hi]``, ``y = clamp(M x + b, lo, hi)`` on RGB in [0, 255].

        Jitter ``(J, c)`` (on [0, 255]) is followed by the clamp to [0, 255] and the
        normalisation ``(x - mean) / std``; the clamp commutes with the (diagonal, positive)
        normalisation, so it becomes the range of the normalised images of 0 and 255.
        """
        j, c = jitter if jitter is not None else (torch.eye(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
        inv = 1.0 / self._std
        m = inv[:, None] * j
        b = inv * (c - self._mean)
        lo, hi = -self._mean * inv, (255.0 - self._mean) * inv
        return torch.cat([m, b[:, None], lo[:, None], hi[:, None]], dim=1).float()


def random_resized_crop_box(rng: np.random.Generator, h: int, w: int, scale: Sequence[float] = (0.08, 1.0),
                            ratio: Sequence[float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """``(y0, x0, crop_h, crop_w)`` of a random-resized crop, drawn as torchvision and albumentations do.

    Ten tries of an area fraction ``U(scale)`` and a log-uniform aspect ratio; if none fits,
    the largest centred crop with the ratio clamped to ``ratio``.
    """
    area = h * w
    log_r = np.log(np.asarray(ratio, dtype=np.float64))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = float(np.exp(rng.uniform(log_r[0], log_r[1])))
        cw, ch = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        ch, cw = h, int(round(h * max(ratio)))
    else:
        ch, cw = h, w
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def spatial_view_box(h: int, w: int, index: int = 0, num: int = 1) -> tuple[int, int, int, int]:
    """The square of side ``min(h, w)``: view ``index`` of ``num`` along the long side (centre if 1).

    Resized to S, it is "resize the short side to S, then crop S x S", without resizing the
    parts the crop throws away.
    """
    side = min(h, w)
    frac = index / (num - 1) if num > 1 else 0.5
    off = int(round((max(h, w) - side) * frac))
    return (0, off, side, side) if w >= h else (off, 0, side, side)


def crop_resize(frames: np.ndarray, box: tuple[int, int, int, int], size: int, flip: bool = False) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` -> ``(T, size, size, 3)``: the ``box`` of every frame, bilinear, optionally mirrored.

    OpenCV reads each frame's crop in place (a strided view) and writes into the output
    buffer: no intermediate copies.
    """
    y0, x0, ch, cw = box
    t = frames.shape[0]
    out = np.empty((t, size, size, 3), dtype=np.uint8)
    buf = np.empty((size, size, 3), dtype=np.uint8) if flip else None
    for i in range(t):
        roi = frames[i, y0:y0 + ch, x0:x0 + cw]
        if flip:
            cv2.resize(roi, (size, size), dst=buf, interpolation=cv2.INTER_LINEAR)
            cv2.flip(buf, 1, dst=out[i])
        elif (ch, cw) == (size, size):
            out[i] = roi
        else:
            cv2.resize(roi, (size, size), dst=out[i], interpolation=cv2.INTER_LINEAR)
    return out


def jitter_matrix(rng: np.random.Generator, mean_rgb: Sequence[float], brightness: float = 0.3,
                  contrast: float = 0.3, saturation: float = 0.3, hue: float = 0.05
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """One random colour jitter as ``y = M x + b`` on RGB in [0, 255] (float64).

    Brightness scales, contrast blends with the clip's mean gray, saturation blends with
    each pixel's gray, and hue rotates chroma about the gray axis (YIQ): all linear, so
    they compose into one matrix. Factors are drawn like torchvision's ``ColorJitter``
    (``U(1 - a, 1 + a)``; hue ``U(-h, h)`` turns).

    Args:
        rng: the sample's generator.
        mean_rgb: the clip's mean R, G, B (its mean gray sets the contrast pivot).
    """
    bri = rng.uniform(1 - brightness, 1 + brightness)
    con = rng.uniform(1 - contrast, 1 + contrast)
    sat = rng.uniform(1 - saturation, 1 + saturation)
    theta = rng.uniform(-hue, hue) * 2 * np.pi
    eye = torch.eye(3, dtype=torch.float64)
    gray = torch.outer(torch.ones(3, dtype=torch.float64), _LUMA)  # x -> (luma, luma, luma)
    c, s = float(np.cos(theta)), float(np.sin(theta))
    rot = torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]], dtype=torch.float64)
    hue_m = torch.linalg.inv(_TO_YIQ) @ rot @ _TO_YIQ
    sat_m = sat * eye + (1 - sat) * gray
    m = hue_m @ sat_m @ (con * eye) @ (bri * eye)
    # contrast pivots on the clip's mean gray after brightness: (1 - con) * bri * mean gray, then sat/hue
    pivot = (1 - con) * bri * float((torch.as_tensor(mean_rgb, dtype=torch.float64) * _LUMA).sum())
    b = hue_m @ sat_m @ torch.full((3,), pivot, dtype=torch.float64)
    return m, b
