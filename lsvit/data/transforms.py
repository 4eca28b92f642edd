"""Clip transforms: one draw of random parameters for all frames of a clip.

albumentations' ``Compose(...)(images=frames)`` applies the same crop and flip to every
frame of a ``(T, H, W, C)`` stack; calling it frame by frame would draw new parameters per
frame and destroy the motion the models must see.

Colour jitter (brightness, contrast, saturation, hue) is one affine map of RGB, so it is
folded with the normalisation into a single 3x3 matrix and offset applied to the whole clip
in one pass (measured: albumentations' per-frame HSV jitter plus a separate normalisation
cost more than decoding the clip; see ``tools/benchmark.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np
import torch
from einops import rearrange


@dataclass
class ClipTransform:
    """uint8 ``(T, H, W, 3)`` frames -> normalised float ``(T, 3, S, S)``.

    Args:
        image_size: output side S.
        mean: per-channel mean in [0, 1] units (the model's pretrained config).
        std: per-channel std.
        train: training augmentation (random resized crop, flip, colour jitter) or
            evaluation (resize the short side, centre crop).
        scale: random-resized-crop area range.
        hflip: flip probability. Set 0 when left/right is part of the label (e.g.
            "move left" vs "move right"): a flipped clip would carry the wrong label.
        color_jitter: probability of brightness/contrast/saturation/hue jitter.
    """

    image_size: int = 224
    mean: Sequence[float] = (0.485, 0.456, 0.406)
    std: Sequence[float] = (0.229, 0.224, 0.225)
    train: bool = False
    scale: Sequence[float] = (0.25, 1.0)
    hflip: float = 0.5
    color_jitter: float = 0.8

    def __post_init__(self) -> None:
        s = int(self.image_size)
        if self.train:
            ops: list = [A.RandomResizedCrop(size=(s, s), scale=tuple(self.scale), ratio=(3 / 4, 4 / 3))]
            if self.hflip > 0:
                ops.append(A.HorizontalFlip(p=self.hflip))
            self._pipeline = A.Compose(ops)
        self._mean = torch.tensor(self.mean, dtype=torch.float32) * 255.0
        self._inv_std = 1.0 / (torch.tensor(self.std, dtype=torch.float32) * 255.0)

    def __call__(self, frames: np.ndarray, seed: int | None = None, crop_index: int | None = None,
                 num_crops: int = 1) -> torch.Tensor:
        """Transform one clip.

        Args:
            frames: uint8 ``(T, H, W, 3)``.
            seed: seeds the random draw (training), making augmentation a function of
                ``(seed, epoch, sample)`` and so identical however many processes load data.
            crop_index: for evaluation with ``num_crops`` > 1, which spatial view to take.
            num_crops: number of evaluation views spread along the long side.
        """
        if seed is not None:
            self._pipeline.set_random_seed(int(seed) % (2**32))
        if not self.train:  # the centre view, or view ``crop_index`` of ``num_crops``
            many = crop_index is not None and num_crops > 1
            frames = _spatial_view(frames, int(self.image_size), crop_index if many else 0, num_crops if many else 1)
        else:
            frames = self._pipeline(images=frames)["images"]
        # channels first while still uint8 (a quarter of the bytes to move), then one fused pass
        x = rearrange(torch.from_numpy(np.ascontiguousarray(frames)), "t h w c -> t c h w").contiguous().float()
        rng = np.random.default_rng([int(seed) % (2**32), 7]) if seed is not None else np.random.default_rng()
        if self.train and self.color_jitter > 0 and rng.random() < self.color_jitter:
            m, b = jitter_matrix(rng, x)
            x = torch.matmul(m, x.flatten(2)).view_as(x).add_(b.view(1, 3, 1, 1)).clamp_(0.0, 255.0)
        return x.sub_(self._mean.view(1, 3, 1, 1)).mul_(self._inv_std.view(1, 3, 1, 1))


def _spatial_view(frames: np.ndarray, size: int, index: int, num: int) -> np.ndarray:
    """Resize the short side to ``size`` and take view ``index`` of ``num`` along the long side (centre if 1)."""
    h, w = frames.shape[1:3]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    # bilinear per frame with OpenCV: about 8x faster here than albumentations' SmallestMaxSize on a stack
    resized = frames if (nh, nw) == (h, w) else np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_LINEAR)
                                                          for f in frames])
    h, w = resized.shape[1:3]
    frac = index / (num - 1) if num > 1 else 0.5
    if w >= h:
        x0 = int(round((w - size) * frac))
        return resized[:, (h - size) // 2:(h - size) // 2 + size, x0:x0 + size]
    y0 = int(round((h - size) * frac))
    return resized[:, y0:y0 + size, (w - size) // 2:(w - size) // 2 + size]


# ITU-R BT.601 luma, as in torchvision's and albumentations' grayscale
_LUMA = torch.tensor([0.299, 0.587, 0.114])


def jitter_matrix(rng: np.random.Generator, x: torch.Tensor, brightness: float = 0.3, contrast: float = 0.3,
                  saturation: float = 0.3, hue: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """One random colour jitter as ``y = M x + b`` on RGB in [0, 255].

    Brightness scales, contrast blends with the clip's mean gray, saturation blends with
    each pixel's gray, and hue rotates chroma about the gray axis (YIQ): all linear, so
    they compose into one matrix. Factors are drawn like torchvision's ``ColorJitter``
    (``U(1 - a, 1 + a)``; hue ``U(-h, h)`` turns).

    Args:
        rng: the sample's generator.
        x: the clip ``(T, 3, H, W)`` float (its mean gray sets the contrast pivot).
    """
    bri = rng.uniform(1 - brightness, 1 + brightness)
    con = rng.uniform(1 - contrast, 1 + contrast)
    sat = rng.uniform(1 - saturation, 1 + saturation)
    theta = rng.uniform(-hue, hue) * 2 * np.pi
    eye = torch.eye(3)
    gray = torch.outer(torch.ones(3), _LUMA)  # x -> (luma, luma, luma)
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    c, s = float(np.cos(theta)), float(np.sin(theta))
    rot = torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    hue_m = torch.linalg.inv(to_yiq) @ rot @ to_yiq
    sat_m = sat * eye + (1 - sat) * gray
    m = hue_m @ sat_m @ (con * eye) @ (bri * eye)
    # contrast pivots on the clip's mean gray after brightness: (1 - con) * bri * mean gray, then sat/hue
    pivot = (1 - con) * bri * float((x.mean(dim=(0, 2, 3)) * _LUMA).sum())
    b = hue_m @ sat_m @ torch.full((3,), pivot)
    return m.float(), b.float()
