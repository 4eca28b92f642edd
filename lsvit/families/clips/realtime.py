"""The clips family's realtime step: frames resized, cropped and normalised like the checkpoint's evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsvit.data.dataset import to_model_input
from lsvit.data.sampling import sample_indices
from lsvit.families.clips.transforms import ClipTransform, crop_resize, spatial_view_box


class VideoFrames:
    """Raw frames for clip models (LS-ViT ...): resized/cropped and normalised like the checkpoint's evaluation."""

    skip_empty = False
    model_threads: int | None = None  # the clip model takes every core

    def __init__(self, data: dict[str, Any], device: str = "cpu", checkpoint: str | Path | None = None,
                 runtime: str = "pytorch") -> None:
        self.size = int(data["image_size"])
        self.num_frames, self.stride = int(data["num_frames"]), int(data.get("frame_stride", 1))
        self.sampling, self.short = data.get("sampling", "dense"), data.get("short", "loop")
        self.window = self.num_frames * self.stride
        self.color = ClipTransform(self.size, tuple(data["mean"]), tuple(data["std"]), train=False).color()[None]

    def frame(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        box = spatial_view_box(*frame_rgb.shape[:2])
        return crop_resize(frame_rgb[None], box, self.size)[0], {"detected": True}

    def _input(self, frames: list[np.ndarray]) -> torch.Tensor:
        clip = torch.from_numpy(np.stack(frames))[None]
        return to_model_input(clip, self.color)

    def batch(self, pieces: list[np.ndarray]) -> torch.Tensor:
        return self._input(pieces[::self.stride][-self.num_frames:])

    def whole(self, pieces: list[np.ndarray]) -> torch.Tensor:
        idx = sample_indices(len(pieces), self.num_frames, self.stride, self.sampling, False, None, self.short)
        return self._input([pieces[int(i)] for i in idx])

    def draw(self, image_bgr: np.ndarray, info: dict[str, Any], color: tuple[int, int, int]) -> None:
        return None
