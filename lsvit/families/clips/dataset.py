"""Clips decoded on the fly from videos or frame folders, sampled and transformed (:class:`VideoDataset`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lsvit.data.dataset import Key, sample_or_stand_in, split_key
from lsvit.data.discovery import VideoItem
from lsvit.data.labelmaps import MotionAugment
from lsvit.data.readers import VideoReadError, read_clip
from lsvit.data.sampling import sample_indices
from lsvit.families.clips.transforms import ClipTransform


class VideoDataset(Dataset):
    """Clips decoded on the fly from video files or frame folders.

    Args:
        items: the videos (see :mod:`lsvit.data.discovery`).
        transform: maps uint8 ``(T, H, W, 3)`` to uint8 ``(T, S, S, 3)`` and its colour map.
        num_frames: T.
        frame_stride: step between frames for dense sampling.
        sampling: ``dense`` or ``uniform``.
        short: ``loop`` or ``repeat_last`` for videos shorter than the span.
        train: random sampling and augmentation.
        backend: decoder, ``auto|decord|pyav|opencv``.
        strict: raise on a broken video instead of skipping it.
        decode_threads: decoder threads per worker.
        num_clips: temporal views per video for evaluation (``inputs`` gains a leading V axis).
        num_crops: spatial views per clip for evaluation.
        motion: training: a horizontal flip and a time reversal drawn per clip, with the label they imply
            (:class:`lsvit.data.labelmaps.MotionAugment`; flips then come from it, not from the transform's ``hflip``).

    Broken videos: in training another video takes the broken one's place (so every
    batch stays full and every process takes the same number of steps); in evaluation
    a zero clip with ``label=-1`` and an ``error`` message keeps the batch shape, and the
    engine leaves it out of the metrics.
    """

    def __init__(self, items: Sequence[VideoItem], transform: ClipTransform, num_frames: int = 16,
                 frame_stride: int = 2, sampling: str = "dense", short: str = "loop", train: bool = False,
                 backend: str = "auto", strict: bool = False, decode_threads: int = 1,
                 num_clips: int = 1, num_crops: int = 1, motion: MotionAugment | None = None) -> None:
        self.items = list(items)
        self.motion = motion if motion is not None and motion.active and train else None
        self.transform = transform
        self.num_frames = num_frames
        self.frame_stride = frame_stride
        self.sampling = sampling
        self.short = short
        self.train = train
        self.backend = backend
        self.strict = strict
        self.decode_threads = decode_threads
        self.num_clips = num_clips
        self.num_crops = num_crops

    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_views(self) -> int:
        """Views per sample in evaluation (``inputs`` is ``(V, T, C, H, W)`` when above 1)."""
        return 1 if self.train else self.num_clips * self.num_crops

    @property
    def labels(self) -> list[int]:
        """Label of every item, in order."""
        return [it.label for it in self.items]

    def _load(self, item: VideoItem, seed: int | None, flip: bool | None = None, reverse: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(seed) if self.train else None
        views = 1 if self.train else self.num_clips

        def pick(n: int) -> np.ndarray:
            # all temporal views in one request: the video is opened and decoded once
            return np.concatenate([sample_indices(n, self.num_frames, self.frame_stride, self.sampling, self.train,
                                                  rng, self.short, clip_index=v, num_clips=views)
                                   for v in range(views)])

        frames, _ = read_clip(item.source, pick, self.backend, self.decode_threads, name=item.id)
        if reverse:  # the clip played backwards (its label is the reversal partner's)
            frames = frames[::-1]
        clips = []
        for v in range(views):
            clip = frames[v * self.num_frames:(v + 1) * self.num_frames]
            if self.train or self.num_crops == 1:
                tseed = int(rng.integers(2**31 - 1)) if rng is not None else None
                clips.append(self.transform(clip, seed=tseed, flip=flip))
            else:
                clips.extend(self.transform(clip, crop_index=c, num_crops=self.num_crops)
                             for c in range(self.num_crops))
        if len(clips) == 1:
            return clips[0]
        # evaluation views share one colour map (no jitter)
        return torch.stack([c[0] for c in clips]), clips[0][1]

    def _sample(self, item: VideoItem, seed: int | None) -> dict[str, Any]:
        flip, reverse, label = None, False, item.label
        if self.motion is not None:  # motion-aware flip / reversal: its own stream, the others' draws unchanged
            flip, reverse, label = self.motion.draw(item.label, np.random.default_rng([int(seed or 0) % 2**32, 13]))
        inputs, color = self._load(item, seed, flip, reverse)
        return {"inputs": inputs, "color": color, "label": label, "id": item.id}

    def __getitem__(self, key: Key) -> dict[str, Any]:
        index, seed = split_key(key)
        return sample_or_stand_in(lambda i: self._sample(self.items[i], seed), index, seed, len(self.items), self.train,
                                  self.strict, (VideoReadError,), lambda error: self._blank(self.items[index], error))

    def _blank(self, item: VideoItem, error: str) -> dict[str, Any]:
        """A zero clip with ``label=-1`` keeps an evaluation batch's shape; the engine leaves it out of the metrics."""
        s = int(self.transform.image_size)
        views = self.num_views
        shape = (self.num_frames, s, s, 3) if views == 1 else (views, self.num_frames, s, s, 3)
        return {"inputs": torch.zeros(shape, dtype=torch.uint8), "color": self.transform.color(), "label": -1,
                "id": item.id, "error": error}
