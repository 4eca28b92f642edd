"""Datasets, the collate function and the seeded sampler shared by every family.

Sample contract: ``{"inputs": Tensor, "label": int, "id": str}``, plus ``"error": str``
when a broken video was met (and ``"substitute": True`` when another video took its place
in training). Video clips travel as uint8 ``(T, S, S, 3)`` with a ``"color"`` ``(3, 6)``
map; :func:`lsvit.data.transforms.to_model_input` makes the model's float input from
both on the device (other inputs, e.g. embeddings, are float and have no ``"color"``). Dataset keys are an index or an
``(index, seed)`` pair from :class:`SeededSampler`; the seed drives every random choice
of that sample (frames, crop, flip), so training data is the same function of
``(seed, epoch, index)`` whether one process or eight load it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from lsvit.data.discovery import VideoItem
from lsvit.data.readers import VideoReadError, read_clip
from lsvit.data.sampling import sample_indices
from lsvit.data.transforms import ClipTransform

Key = int | tuple[int, int]


def split_key(key: Key) -> tuple[int, int | None]:
    """``index`` or ``(index, seed)`` -> ``(index, seed or None)``."""
    if isinstance(key, (tuple, list)):
        return int(key[0]), int(key[1])
    return int(key), None


class SeededSampler(Sampler):
    """Shuffles with ``(seed, epoch)`` and hands each index its own sample seed.

    Deterministic across process counts: Accelerate shards the batches this yields, and
    every process derives the same per-sample seeds, so 1 and N processes see identical data.
    """

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True) -> None:
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the engine (and Accelerate) before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.length) if self.shuffle else np.arange(self.length)
        seeds = rng.integers(0, 2**31 - 1, size=self.length)
        for i, s in zip(order.tolist(), seeds.tolist()):
            yield (i, s)


def sample_or_stand_in(load: Callable[[int], dict[str, Any]], index: int, seed: int | None, count: int, train: bool,
                       strict: bool, errors: tuple[type[Exception], ...], blank: Callable[[str], dict[str, Any]]
                       ) -> dict[str, Any]:
    """``load(index)``, or what takes the place of an unreadable sample, the same way in every dataset.

    Args:
        load: reads sample ``i`` (with the sample's own seed already bound).
        index: the sample asked for.
        seed: the sample's seed (training), which also picks the stand-in.
        count: number of samples in the dataset.
        train: training (a stand-in) or evaluation (a blank).
        strict: re-raise instead.
        errors: the exception types that mean "this sample is unreadable" (their message names the file).
        blank: the evaluation placeholder for the message: zero inputs, ``label=-1``, ``"error"``.

    Returns:
        The sample; in training another, readable sample chosen from ``seed`` (deterministic: every
        process and every rerun picks the same) carrying ``"error"`` and ``substitute=True``, so the
        batch stays full and the run can list the file; in evaluation ``blank(message)``.
    """
    try:
        return load(index)
    except errors as exc:
        if strict:
            raise
        warnings.warn(f"skipping {exc}", stacklevel=3)
        error = str(exc)
    if train:
        rng = np.random.default_rng(seed)
        for _ in range(min(count - 1, 20)):
            other = int(rng.integers(count))
            if other == index:
                continue
            try:
                return dict(load(other), error=error, substitute=True)
            except errors as exc2:
                warnings.warn(f"skipping {exc2}", stacklevel=3)
    return blank(error)


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of samples; ids and error messages stay lists."""
    batch: dict[str, Any] = {
        "inputs": torch.stack([s["inputs"] for s in samples]),
        "label": torch.tensor([int(s["label"]) for s in samples], dtype=torch.long),
        "id": [s["id"] for s in samples],
    }
    if "color" in samples[0]:  # uint8 clips: their colour maps, applied on the device
        batch["color"] = torch.stack([s["color"] for s in samples])
    errors = [s["error"] for s in samples if s.get("error")]
    if errors:
        batch["error"] = errors
        # which samples are stand-ins for broken videos (inference skips them)
        # (a training substitute is another, readable video: valid)
        batch["valid"] = torch.tensor([not s.get("error") or bool(s.get("substitute")) for s in samples])
    return batch


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

    Broken videos: in training another video takes the broken one's place (so every
    batch stays full and every process takes the same number of steps); in evaluation
    a zero clip with ``label=-1`` and an ``error`` message keeps the batch shape, and the
    engine leaves it out of the metrics.
    """

    def __init__(self, items: Sequence[VideoItem], transform: ClipTransform, num_frames: int = 16,
                 frame_stride: int = 2, sampling: str = "dense", short: str = "loop", train: bool = False,
                 backend: str = "auto", strict: bool = False, decode_threads: int = 1,
                 num_clips: int = 1, num_crops: int = 1) -> None:
        self.items = list(items)
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

    def _load(self, item: VideoItem, seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(seed) if self.train else None
        views = 1 if self.train else self.num_clips

        def pick(n: int) -> np.ndarray:
            # all temporal views in one request: the video is opened and decoded once
            return np.concatenate([sample_indices(n, self.num_frames, self.frame_stride, self.sampling, self.train,
                                                  rng, self.short, clip_index=v, num_clips=views)
                                   for v in range(views)])

        frames, _ = read_clip(item.source, pick, self.backend, self.decode_threads, name=item.id)
        clips = []
        for v in range(views):
            clip = frames[v * self.num_frames:(v + 1) * self.num_frames]
            if self.train or self.num_crops == 1:
                tseed = int(rng.integers(2**31 - 1)) if rng is not None else None
                clips.append(self.transform(clip, seed=tseed))
            else:
                clips.extend(self.transform(clip, crop_index=c, num_crops=self.num_crops)
                             for c in range(self.num_crops))
        if len(clips) == 1:
            return clips[0]
        # evaluation views share one colour map (no jitter)
        return torch.stack([c[0] for c in clips]), clips[0][1]

    def _sample(self, item: VideoItem, seed: int | None) -> dict[str, Any]:
        inputs, color = self._load(item, seed)
        return {"inputs": inputs, "color": color, "label": item.label, "id": item.id}

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
