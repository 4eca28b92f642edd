"""Clip transforms: one draw of random parameters for all frames of a clip.

albumentations' ``Compose(...)(images=frames)`` applies the same crop, flip and colour
change to every frame of a ``(T, H, W, C)`` stack; calling it frame by frame would draw
new parameters per frame and destroy the motion the models must see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import albumentations as A
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
            if self.color_jitter > 0:
                ops.append(A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05,
                                         p=self.color_jitter))
        else:
            ops = [A.SmallestMaxSize(max_size=s), A.CenterCrop(height=s, width=s)]
        self._pipeline = A.Compose(ops)
        self._mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
        self._inv_std = 1.0 / (torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

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
        if crop_index is not None and num_crops > 1 and not self.train:
            frames = _spatial_view(frames, int(self.image_size), crop_index, num_crops)
        else:
            frames = self._pipeline(images=frames)["images"]
        x = torch.from_numpy(np.ascontiguousarray(frames))
        x = rearrange(x, "t h w c -> t c h w").float()
        return (x - self._mean) * self._inv_std


def _spatial_view(frames: np.ndarray, size: int, index: int, num: int) -> np.ndarray:
    """Resize the short side to ``size`` and take view ``index`` of ``num`` along the long side."""
    resized = A.SmallestMaxSize(max_size=size)(images=frames)["images"]
    h, w = resized.shape[1:3]
    frac = index / (num - 1)
    if w >= h:
        x0 = int(round((w - size) * frac))
        return resized[:, (h - size) // 2:(h - size) // 2 + size, x0:x0 + size]
    y0 = int(round((h - size) * frac))
    return resized[:, y0:y0 + size, (w - size) // 2:(w - size) // 2 + size]
