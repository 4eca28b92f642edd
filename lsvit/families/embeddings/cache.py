"""Training on cached frame embeddings: ``FeatureH5Dataset`` and ``FeatureDataModule`` (``data=features``).

The cache files are written by ``tools/extract_features.py`` (:mod:`lsvit.families.embeddings.extract`; layout
in docs/bilstm.md). Each process opens a file lazily (:class:`lsvit.data.h5.LazyH5`: never a handle
inherited through ``fork``); ``in_memory=true`` reads the rows it needs once instead, in blocks of rows (one gzip
chunk per row: a block read decompresses them in HDF5's C loop, not one Python call each), as float32 when that
fits under the size limit (a sample is then a view: nothing is converted per step), else in the file's precision;
``in_memory=auto`` (the default of ``data=features``) does so when they fit. DataLoader workers forked afterwards
share those pages. Samples
follow the engine's contract: ``{"inputs": float32 (T, C, D), "label", "id"}``.

Augmented copies (``aug_copies`` at extraction): a training sample draws one of the video's rows
(the video itself or one of its copies) from its own seed; validation and test read the video
itself only, and a video's copies never cross a split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lsvit import LsvitError
from lsvit.data.dataset import sample_or_stand_in, split_key
from lsvit.data.h5 import LazyH5, open_h5, read_json_attr
from lsvit.data.labelmaps import MotionAugment
from lsvit.data.readers import VideoReadError
from lsvit.device import resolve_device
from lsvit.families.embeddings.extract import EmbedConfig, cache_settings, check_compatible, embed_items

KIND = "embedding cache"
# in_memory=auto: rows this large in all (storage precision) are read into memory; larger ones are read per sample
AUTO_MEMORY_GB = 4.0
# rows per read when loading into memory: a few MB at the seed's (32, 12, 768) float16 rows
READ_BLOCK_ROWS = 64


def read_rows(data: Any, rows: Sequence[int], block: int = READ_BLOCK_ROWS) -> np.ndarray:
    """``data[rows]`` (an HDF5 dataset, rows sorted and unique) in its storage dtype, read in contiguous blocks.

    One slice per ``block`` rows lets HDF5 decompress the chunks in its own loop (several times faster than a
    Python-level read per row); the rows of a block that are not wanted are read and dropped (at most ``block`` - 1
    per block).
    """
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), *data.shape[1:]), dtype=data.dtype)
    i = 0
    while i < len(rows):
        lo = int(rows[i])
        j = int(np.searchsorted(rows, lo + block, side="left"))  # the wanted rows in [lo, lo + block)
        hi = int(rows[j - 1]) + 1
        part = data[lo:hi]
        out[i:j] = part[rows[i:j] - lo]
        i = j
    return out


def memory_mode(in_memory: bool | str, rows: int, row_shape: Sequence[int], dtype: Any,
                limit_gb: float) -> np.dtype | None:
    """How a dataset holds its ``rows`` in memory: as float32 (a sample is then a view, nothing converted per step)
    when they fit under ``limit_gb`` so, else in the file's ``dtype``; None: read per sample (``in_memory`` false, or
    ``auto`` and not even the file's precision fits). ``in_memory`` true always loads them.

    Raises:
        LsvitError: another value than true, false or auto.
    """
    word = in_memory.strip().lower() if isinstance(in_memory, str) else ("true" if in_memory else "false")
    if word not in ("true", "false", "auto"):
        raise LsvitError(f"data.in_memory={in_memory!r}: choose true, false or auto")
    if word == "false":
        return None
    elements = rows * int(np.prod(row_shape))
    limit = float(limit_gb) * 2**30
    if elements * 4 <= limit:
        return np.dtype(np.float32)
    return np.dtype(dtype) if word == "true" or elements * np.dtype(dtype).itemsize <= limit else None


def _strings(ds: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]


class CacheIndex:
    """What a cache file holds, read once: ids, labels, copies, groups, membership and its settings.

    Raises:
        LsvitError: the file is missing, truncated, corrupt or unfinished, or lacks a dataset.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        f = open_h5(self.path, KIND, member="embeddings")
        try:
            for key in ("embeddings", "labels", "ids", "copies"):
                if key not in f:
                    raise LsvitError(f"{self.path}: dataset '{key}' is missing (not an lsvit embedding cache)")
            self.shape = tuple(int(x) for x in f["embeddings"].shape)
            self.dtype = np.dtype(f["embeddings"].dtype)
            if len(self.shape) != 4:
                raise LsvitError(f"{self.path}: 'embeddings' has shape {self.shape}, expected (N, T, C, D)")
            self.ids = _strings(f["ids"])
            self.labels = np.asarray(f["labels"][()], dtype=np.int64)
            self.copies = np.asarray(f["copies"][()], dtype=np.int64)
            self.groups = _strings(f["groups"]) if "groups" in f else list(self.ids)
            self.membership = {k: _strings(v) for k, v in f["membership"].items()} if "membership" in f else {}
            self.class_names = [str(c) for c in read_json_attr(f, "class_names", str(self.path))]
            self.settings = dict(read_json_attr(f, "settings", str(self.path)))
            self.unreadable = read_json_attr(f, "unreadable", str(self.path), default={})
        finally:
            f.close()
        n = self.shape[0]
        if not (len(self.ids) == len(self.labels) == len(self.copies) == n):
            raise LsvitError(f"{self.path}: embeddings, labels, ids and copies differ in length")
        if n and (self.labels.max(initial=-1) >= len(self.class_names)):
            raise LsvitError(f"{self.path}: a label is beyond the {len(self.class_names)} class names")

    @property
    def num_frames(self) -> int:
        """T."""
        return self.shape[1]

    def originals(self, where: np.ndarray | None = None) -> list[int]:
        """Rows of the videos themselves (copy 0), optionally only where ``where`` is true."""
        keep = self.copies == 0
        if where is not None:
            keep &= where
        return np.flatnonzero(keep).tolist()

    def copy_rows(self) -> dict[str, list[int]]:
        """``{id: [rows of its augmented copies]}``."""
        out: dict[str, list[int]] = {}
        for r in np.flatnonzero(self.copies > 0).tolist():
            out.setdefault(self.ids[r], []).append(r)
        return out


class FeatureH5Dataset(Dataset):
    """Rows of an embedding cache as engine samples.

    Args:
        path: the HDF5 file.
        rows: rows of the videos to serve (copy 0 rows), in order.
        index: the file's :class:`CacheIndex` (read again when not given).
        train: draw a video's row among itself and its augmented copies from the sample seed.
        in_memory: read the needed rows once (into this process's memory, in the file's precision, block by
            block) instead of per sample; ``"auto"``: when they take at most ``memory_limit_gb``.
        label_map: file label -> label in the model's class list (default: unchanged).
        strict: an unreadable row raises instead of giving an error sample.
        motion: training only: a horizontal flip (the left and right views swapped: ImageNet backbones, trained
            with flips, embed a mirrored half close to the half itself) and a time reversal drawn per video, with
            the label they imply (:class:`lsvit.data.labelmaps.MotionAugment`).
        flip_channels: the channel permutation of a flip (left <-> right views, from the cache's layout).
        memory_limit_gb: the size limit of ``in_memory="auto"``.
    """

    def __init__(self, path: str | Path, rows: Sequence[int] | None = None, index: CacheIndex | None = None,
                 train: bool = False, in_memory: bool | str = False, label_map: Mapping[int, int] | None = None,
                 strict: bool = False, motion: MotionAugment | None = None,
                 flip_channels: Sequence[int] | None = None, memory_limit_gb: float = AUTO_MEMORY_GB) -> None:
        self.index = index or CacheIndex(path)
        self.path = Path(path)
        self.rows = list(rows) if rows is not None else self.index.originals()
        self.train, self.strict = train, strict
        self.label_map = dict(label_map) if label_map is not None else None
        self.motion = motion if train and motion is not None and motion.active else None
        self.flip_channels = list(flip_channels) if flip_channels is not None else None
        copies = self.index.copy_rows() if train else {}
        self.choices = [[r] + copies.get(self.index.ids[r], []) for r in self.rows]
        self.h5 = LazyH5(path, KIND)
        self._memory: np.ndarray | None = None  # the needed rows, in the file's precision
        self._slot = np.zeros(0, dtype=np.int64)  # file row -> its index in _memory (-1: not loaded)
        need = sorted({r for c in self.choices for r in c})
        keep = memory_mode(in_memory, len(need), self.index.shape[1:], self.index.dtype, memory_limit_gb)
        if keep is not None:
            try:
                self._memory = read_rows(self.h5.file["embeddings"], need).astype(keep, copy=False)
            except (OSError, KeyError, ValueError) as exc:
                if strict or in_memory is True:
                    raise LsvitError(f"{self.path}: could not read its rows into memory ({exc})") from exc
                self._memory = None  # auto: fall back to per-sample reads, which name the unreadable row
            if self._memory is not None:
                self._slot = np.full(self.index.shape[0], -1, dtype=np.int64)
                self._slot[need] = np.arange(len(need))
            self.h5.close()

    def __len__(self) -> int:
        return len(self.rows)

    num_views = 1  # one view per video: embeddings are not re-sampled at test time

    @property
    def labels(self) -> list[int]:
        """Label of every video, in order."""
        return [self._label(r) for r in self.rows]

    @property
    def ids(self) -> list[str]:
        """Id of every video, in order."""
        return [self.index.ids[r] for r in self.rows]

    def _label(self, row: int) -> int:
        y = int(self.index.labels[row])
        return y if self.label_map is None or y < 0 else int(self.label_map.get(y, -1))

    @property
    def in_memory(self) -> bool:
        """Whether the rows were read into memory."""
        return self._memory is not None

    @property
    def needs_workers(self) -> bool:
        """Whether DataLoader workers help: not when the rows are in memory (a worker would only copy each batch
        through shared memory: 30 ms of CPU per batch of 32 x (32, 12, 768) here, taken from the training step), so
        the engine loads them in the main process."""
        return self._memory is None

    def _read(self, row: int) -> np.ndarray:
        if self._memory is not None:
            return self._memory[self._slot[row]].astype(np.float32, copy=False)  # float32 in memory: a view
        return np.asarray(self.h5.file["embeddings"][row], dtype=np.float32)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        i, seed = split_key(key)
        return sample_or_stand_in(lambda j: self._sample(j, seed), i, seed, len(self.choices), self.train, self.strict,
                                  (LsvitError,), lambda error: self._blank(i, error))

    def _blank(self, i: int, error: str) -> dict[str, Any]:
        return {"inputs": torch.zeros(self.index.shape[1:], dtype=torch.float32), "label": -1,
                "id": self.index.ids[self.choices[i][0]], "error": error}

    def _sample(self, i: int, seed: int | None) -> dict[str, Any]:
        options = self.choices[i]
        rng = np.random.default_rng(seed)
        row = options[int(rng.integers(len(options)))] if self.train and len(options) > 1 else options[0]
        try:
            x = self._read(row)
        except (OSError, KeyError, ValueError) as exc:  # a corrupt chunk: one sample, named, never the run
            raise LsvitError(f"{self.path}: row {row} ({self.index.ids[row]}) is unreadable ({exc})") from exc
        label = self._label(row)
        if self.motion is not None:  # its own stream: the copy chosen above is drawn as before
            flip, reverse, label = self.motion.draw(label, np.random.default_rng([int(seed or 0) % 2**32, 13]))
            if flip:  # the left and right views swap places (the whole-frame view stays)
                x = x[:, self.flip_channels]
            if reverse:  # the clip played backwards is a clip of the partner class (move_left <-> move_right)
                x = x[::-1]
        return {"inputs": torch.from_numpy(np.ascontiguousarray(x)), "label": label, "id": self.index.ids[row]}


class EmbeddingArrayDataset(Dataset):
    """Embeddings already in memory (raw-video inference): same samples as :class:`FeatureH5Dataset`.

    Args:
        ids: video ids, in order.
        arrays: ``{id: float32 (T, C, D)}`` for the readable ones.
        errors: ``{id: message}`` for the unreadable ones (served as error samples, label -1).
        shape: ``(T, C, D)``.
    """

    def __init__(self, ids: Sequence[str], arrays: Mapping[str, np.ndarray], errors: Mapping[str, str],
                 shape: Sequence[int], labels: Sequence[int] | None = None) -> None:
        self.ids_, self.arrays, self.errors, self.shape = list(ids), dict(arrays), dict(errors), tuple(shape)
        self.labels_ = list(labels) if labels is not None else [-1] * len(self.ids_)

    def __len__(self) -> int:
        return len(self.ids_)

    num_views = 1

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        i, _ = split_key(key)
        vid = self.ids_[i]
        if vid in self.arrays:
            return {"inputs": torch.from_numpy(self.arrays[vid]), "label": self.labels_[i], "id": vid}
        return {"inputs": torch.zeros(self.shape, dtype=torch.float32), "label": -1, "id": vid,
                "error": self.errors.get(vid, f"{vid}: unreadable")}


# ------------------------------------------------------------------------------------------ inference
def read_cache(path: str | Path, data_meta: Mapping[str, Any], class_names: Sequence[str], strict: bool = False
               ) -> FeatureH5Dataset:
    """``CACHE_READERS[("embeddings", ".h5")]``: every video of a cache, checked against the checkpoint.

    Raises:
        LsvitError: the file is incomplete/corrupt, or was made with other backbones, layout, T or width.
    """
    index = CacheIndex(path)
    check_compatible(index.settings, data_meta.get("settings", {}), str(path), "the checkpoint")
    label_map = {i: list(class_names).index(c) if c in class_names else -1 for i, c in enumerate(index.class_names)}
    return FeatureH5Dataset(path, index.originals(), index, label_map=label_map, strict=strict)


def raw_video_dataset(items: Sequence[Any], data_meta: Mapping[str, Any], strict: bool = False,
                      backend: str | None = None, num_clips: int = 1, num_crops: int = 1) -> EmbeddingArrayDataset:
    """``DATASET_BUILDERS["embeddings"]``: extract the embeddings of raw videos on the fly.

    The backbones, weights, layout and frame sampling are the ones recorded in the checkpoint;
    weights are looked up again (recorded file, ``weights/``, the hub) and must have the recorded
    fingerprint. Unreadable videos become error samples (listed, no row).
    """
    if num_clips != 1 or num_crops != 1:
        raise LsvitError(f"num_clips={num_clips}, num_crops={num_crops}: embeddings have one view per video")
    recorded = dict(data_meta.get("settings") or {})
    if "embed" not in recorded:
        raise LsvitError("the checkpoint records no extraction settings (data.settings.embed); it cannot read "
                         "raw videos: give data_root=<embedding cache .h5>")
    cfg = EmbedConfig.from_mapping(recorded["embed"])
    device = resolve_device("auto")
    embedder = cfg.build().to(device)
    check_compatible(cache_settings(cfg, embedder), recorded, "the backbones found on this machine",
                     "the checkpoint")

    arrays, errors = embed_items(items, cfg, device, backend=backend or "auto", embedder=embedder,
                                 num_workers=2 if len(items) > 4 else 0)
    if strict and errors:
        k, why = next(iter(errors.items()))
        raise VideoReadError(why)
    shape = (int(recorded["num_frames"]), int(recorded["num_channels"]), int(recorded["dim"]))
    return EmbeddingArrayDataset([it.id for it in items], arrays, errors, shape,
                                 [it.label for it in items])
