"""``VideoDataModule``: discovery + split + transforms for raw-clip training.

A data module is what the engine asks for data; every family's module offers the same
small surface (``class_names``, ``setup(model)``, ``train_dataset``, ``val_dataset``,
``collate_fn``, ``meta()``), so the engine never asks what the inputs are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch.nn as nn

from lsvit import LsvitError
from lsvit.data.augment import make_aug
from lsvit.data.dataset import collate
from lsvit.data.discovery import VideoItem, dataset_info, dataset_name, discover_classes, read_list_file
from lsvit.data.labelmaps import MotionAugment
from lsvit.data.readers import resolve_backend
from lsvit.data.sampling import SAMPLINGS, SHORT_POLICIES
from lsvit.data.splits import (
    check_ratios,
    check_test,
    check_validation,
    compile_group_pattern,
    group_of,
    split_summary,
    three_way_split,
)
from lsvit.families.clips.dataset import VideoDataset
from lsvit.families.clips.transforms import ClipTransform

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def model_norm(model: nn.Module | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std from a timm model's pretrained config (ImageNet's when it has none)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))


class VideoDataModule:
    """Class-per-folder videos (or a list file), split at video level.

    Args:
        root: dataset folder, one sub-folder per class.
        list_file: alternatively a ``path label`` file (paths relative to ``root`` or to the file).
        val_root: a separate validation folder; otherwise ``val_ratio`` of ``root`` is held out.
        val_list_file: a separate validation list file.
        test_root: a labelled test folder, evaluated once at the end of training with the best
            checkpoint (never used for model selection); ``auto``: the test split of the dataset ``root``
            belongs to, when its manifest names one (the built-in dataset's ``test/``), else none.
        test_list_file: alternatively a test list file.
        val_ratio: stratified, video-level, seeded hold-out fraction (of the whole dataset).
        test_ratio: hold out this share of ``root`` (of each class, stratified, seeded, source groups kept whole,
            as validation) as the test part, evaluated once at the end like ``test_root``; 0: none. Not together
            with ``test_root`` / ``test_list_file`` (one test part).
        num_frames: frames per clip (T).
        frame_stride: step between frames (dense sampling).
        sampling: ``dense`` or ``uniform`` (TSN segments).
        short: ``loop`` or ``repeat_last`` for videos shorter than the span.
        image_size: square side fed to the model.
        backend: ``auto|decord|pyav|opencv``.
        decode_threads: decoder threads per worker.
        scale: random-resized-crop area range (training).
        hflip: horizontal flip probability (training). A flipped clip of a side-named class takes its mirrored
            partner's label (``swipe_left`` <-> ``swipe_right``, ``rotate_cw`` <-> ``rotate_ccw``; found from the
            class names, or ``mirror_map``); a class naming a side without a partner is refused while flipping.
        mirror_map: explicit mirror partners (``[[a, b], ...]`` or ``{a: b}``).
        reverse: probability that a training clip of a class with a reversal partner is played backwards and
            takes the partner's label (``move_left`` <-> ``move_right``, ``grow`` <-> ``shrink``).
        reverse_pairs: ``auto`` (found from the class names) or explicit pairs.
        color_jitter: colour jitter probability (training).
        aug: a named albumentations preset applied to each training clip with one draw
            (:mod:`lsvit.data.augment`, e.g. ``gesture_strong``), before the crop; None: off.
        aug_args: keyword arguments of the preset (its final resize is skipped here: the crop resizes).
        strict: a broken video stops the run instead of being skipped.
        seed: split seed.
        name: dataset name (run folder names, reports).
        group_pattern: a regular expression mapping a video id (``class/video``) to its source: the
            first group of its first match (or the whole match). Videos of one source are never split
            between training and validation (e.g. ``"^(.*)_clip\\d+$"`` for clips cut from long
            recordings). Default: the dataset's own (its manifest's), else every video is its own source.
    """

    def __init__(self, root: str | None = None, list_file: str | None = None, val_root: str | None = None,
                 val_list_file: str | None = None, test_root: str | None = None,
                 test_list_file: str | None = None, val_ratio: float = 0.1, test_ratio: float = 0.0,
                 num_frames: int = 16,
                 frame_stride: int = 2, sampling: str = "dense", short: str = "loop", image_size: int = 224,
                 backend: str = "auto", decode_threads: int = 1, scale: Sequence[float] = (0.25, 1.0),
                 hflip: float = 0.5, color_jitter: float = 0.8, strict: bool = False, seed: int = 0,
                 name: str = "videos", group_pattern: str | None = None, aug: str | None = None,
                 aug_args: dict[str, Any] | None = None, mirror_map: Any = None, reverse: float = 0.0,
                 reverse_pairs: Any = "auto") -> None:
        if num_frames < 1:
            raise LsvitError(f"data.num_frames={num_frames}: must be >= 1")
        if frame_stride < 1:
            raise LsvitError(f"data.frame_stride={frame_stride}: must be >= 1")
        if sampling not in SAMPLINGS:
            raise LsvitError(f"data.sampling={sampling}: choose one of {SAMPLINGS}")
        if short not in SHORT_POLICIES:
            raise LsvitError(f"data.short={short}: choose one of {SHORT_POLICIES}")
        check_ratios(None if (val_root or val_list_file) else val_ratio, test_ratio)
        if image_size < 8:
            raise LsvitError(f"data.image_size={image_size}: too small")
        resolve_backend(backend)
        # what the dataset says about itself (the built-in datasets' manifest.json): never inherited by other data
        self.info = dataset_info(root) if root and not list_file else None
        self.group_pattern = compile_group_pattern(group_pattern or (self.info.group_pattern if self.info else None))
        if test_root == "auto":
            found = self.info.split_folder("test") if self.info and Path(root).name == "train" else None  # type: ignore[arg-type]
            test_root = str(found) if found else None
            if found and test_ratio:
                raise LsvitError(f"data.test_ratio={test_ratio} and data.test_root=auto (the dataset's own test split, "
                                 f"{found}): one test part only; set data.test_root=null to hold out test_ratio of "
                                 "data.root instead, or data.test_ratio=0")
        if test_ratio and (test_root or test_list_file):
            raise LsvitError(f"data.test_ratio={test_ratio} and data.test_root/test_list_file="
                             f"{test_root or test_list_file}: one test part only; hold out a share of data.root "
                             "(test_ratio) or give a separate test set, not both")
        self.root, self.list_file = root, list_file
        self.val_root, self.val_list_file, self.val_ratio = val_root, val_list_file, val_ratio
        self.test_ratio = float(test_ratio)
        self.test_root, self.test_list_file = test_root, test_list_file
        self.num_frames, self.frame_stride, self.sampling, self.short = num_frames, frame_stride, sampling, short
        self.image_size, self.backend, self.decode_threads = image_size, backend, decode_threads
        self.scale, self.hflip, self.color_jitter = tuple(scale), hflip, color_jitter
        self.strict, self.seed, self.name = strict, seed, name
        # the preset's own flip would not map labels: flips are data.hflip's (the motion-aware augmentation)
        self.aug = make_aug(aug, True, {"size": None, **dict(aug_args or {}), "hflip": 0.0})
        self.test_items: list[VideoItem] = []
        self.class_names, self.train_items, self.val_items = self._select_items()
        # motion-aware augmentation (lsvit.data.labelmaps): flips and reversals with the labels they imply
        self.motion = MotionAugment.build(self.class_names, hflip, reverse, mirror_map, reverse_pairs)
        self.train_dataset: VideoDataset | None = None
        self.val_dataset: VideoDataset | None = None
        self.mean: tuple[float, ...] = IMAGENET_MEAN
        self.std: tuple[float, ...] = IMAGENET_STD

    def _select_items(self) -> tuple[list[str], list[VideoItem], list[VideoItem]]:
        """Class names, training and validation items (and ``self.test_items``)."""
        if not (self.root or self.list_file):
            raise LsvitError("data.root is not set: pass data.root=/path/to/videos (one folder per class)")
        names, items = self._discover(self.root, self.list_file, None, "data.root")
        if self.test_root or self.test_list_file:
            _, self.test_items = self._discover(self.test_root, self.test_list_file, names, "data.test_root")
        val = None
        if self.val_root or self.val_list_file:
            val = self._discover(self.val_root, self.val_list_file, names, "data.val_root")[1]
        groups = [self.source_of(it.id) for it in items] if self.group_pattern else None
        grouping = (f"videos grouped by data.group_pattern={self.group_pattern.pattern!r}" if self.group_pattern
                    else "each video on its own")
        how = ([f"a separate validation set ({self.val_root or self.val_list_file})"] if val is not None else
               [f"data.val_ratio={self.val_ratio} of each class, stratified, seeded; {grouping}"])
        if self.test_ratio:
            how.append(f"test: data.test_ratio={self.test_ratio} of each class, stratified, seeded, held out first; "
                       f"{grouping}")
        elif self.test_items:
            how.append(f"test: a separate test set ({self.test_root or self.test_list_file})")
        tr, va, te = self.split(names, [it.label for it in items], groups, "; ".join(how),
                                f"data.root={self.root or self.list_file}",
                                "Add videos to those classes, give a separate validation set (data.val_root= or "
                                "data.val_list_file=)" + (", or loosen data.group_pattern" if self.group_pattern else
                                                          ", or change data.val_ratio / data.test_ratio"),
                                extra_val=[(it.label, self.source_of(it.id)) for it in val] if val is not None
                                else None, extra_test=[(it.label, self.source_of(it.id)) for it in self.test_items])
        if self.test_ratio:
            self.test_items = [items[i] for i in te]
        return names, [items[i] for i in tr], val if val is not None else [items[i] for i in va]

    def source_of(self, video_id: str) -> str:
        """The source group of a video under ``group_pattern`` (the id itself when it does not match)."""
        return group_of(video_id, self.group_pattern)

    def split(self, names: list[str], labels: list[int], groups: list[str] | None, rule: str, where: str,
              remedies: str, extra_val: list[tuple[int, str]] | None = None,
              extra_test: list[tuple[int, str]] | None = None) -> tuple[list[int], list[int], list[int]]:
        """The stratified, group-aware hold-outs of ``labels`` (train, validation, test indices).

        Validation is ``val_ratio`` of the items unless ``extra_val`` (a separate validation set's ``(label,
        source group)`` pairs) is given; the test part is ``test_ratio`` of them (empty at 0). Records
        :meth:`split_summary` (a separate validation or test set counted in it) and says why validation or the
        test part is empty.
        """
        tr, va, te = three_way_split(labels, None if extra_val is not None else self.val_ratio, self.test_ratio,
                                     self.seed, groups)
        every, groups_all = list(labels), list(groups) if groups is not None else [f"#{i}" for i in range(len(labels))]
        val_idx, test_idx = va, te
        for part, extra in (("val", extra_val), ("test", extra_test)):
            if extra:
                idx = list(range(len(every), len(every) + len(extra)))
                groups_all += [f"{part}:{g}" for _, g in extra]  # never the same group as a training item's
                every += [label for label, _ in extra]
                val_idx, test_idx = (idx, test_idx) if part == "val" else (val_idx, idx)
        has_test = bool(self.test_ratio or extra_test)
        self._summary = split_summary(names, every, tr, val_idx, groups_all, rule, test_idx if has_test else None,
                                      test_pooled=bool(self.test_ratio))
        if extra_val is None:
            check_validation(self._summary, where, remedies)
        if self.test_ratio:
            check_test(self._summary, where, remedies)
        return tr, va, te

    def split_summary(self) -> dict[str, Any]:
        """Train/validation (and test) clips and source groups per class (the engine writes it to
        ``split_summary.json``)."""
        return self._summary

    @staticmethod
    def _discover(root: str | None, list_file: str | None, classes: Sequence[str] | None, key: str
                  ) -> tuple[list[str], list[VideoItem]]:
        if list_file:
            return read_list_file(list_file, root, classes)
        return discover_classes(Path(root), classes, key)  # type: ignore[arg-type]

    collate_fn = staticmethod(collate)

    def setup(self, model: nn.Module | None = None) -> None:
        """Build the datasets with the model's normalisation."""
        self.mean, self.std = model_norm(model)
        common = self._dataset_kwargs()
        train_tf = ClipTransform(self.image_size, self.mean, self.std, train=True, scale=self.scale,
                                 hflip=self.hflip, color_jitter=self.color_jitter, aug=self.aug)
        self.train_dataset = VideoDataset(self.train_items, train_tf, train=True, motion=self.motion, **common)
        self.val_dataset = VideoDataset(self.val_items, self.eval_transform(), train=False, **common)

    def make_test_dataset(self, num_clips: int = 1, num_crops: int = 1) -> VideoDataset | None:
        """The held-out test set with ``num_clips x num_crops`` views per video (None when there is none).

        Call after :meth:`setup`. Views are averaged by the engine (see :func:`lsvit.engine.views.view_scores`).
        """
        if not self.test_items:
            return None
        if num_clips < 1 or num_crops < 1:
            raise LsvitError(f"eval.num_clips={num_clips}, eval.num_crops={num_crops}: both must be >= 1")
        return VideoDataset(self.test_items, self.eval_transform(), train=False, num_clips=num_clips,
                            num_crops=num_crops, **self._dataset_kwargs())

    def _dataset_kwargs(self) -> dict[str, Any]:
        return dict(num_frames=self.num_frames, frame_stride=self.frame_stride, sampling=self.sampling,
                    short=self.short, backend=self.backend, strict=self.strict, decode_threads=self.decode_threads)

    def eval_transform(self) -> ClipTransform:
        """The deterministic evaluation transform."""
        return ClipTransform(self.image_size, self.mean, self.std, train=False)

    def model_args(self) -> dict[str, Any]:
        """The model's clip length and frame size come from the config (``${data.num_frames}``): nothing to add."""
        return {}

    def meta(self) -> dict[str, Any]:
        """Everything inference needs to read and transform a video like evaluation did."""
        described = {"dataset": self.info.name, "dataset_note": self.info.description,
                     "synthetic": self.info.synthetic} if self.info else \
            {"dataset": dataset_name(self.root) if self.root and not self.list_file else self.name}
        return {"type": "clips", "num_frames": self.num_frames, "frame_stride": self.frame_stride,
                "sampling": self.sampling, "short": self.short, "image_size": self.image_size,
                "mean": list(self.mean), "std": list(self.std), "backend": self.backend, **described,
                "num_train": len(self.train_items), "num_val": len(self.val_items),
                "num_test": len(self.test_items)}
