"""Keypoint datasets: sequences of a keypoint file (:class:`KeypointH5Dataset`, training and evaluation), raw
videos through MediaPipe (:class:`KeypointVideoDataset`, inference), and the readers of files given to inference.

Training samples are a function of their seed (:class:`lsvit.data.dataset.SeededSampler`): mirror
(hands and left/right-named labels swapped), rotation/scale/shift and time warp are drawn once per
sequence, so the whole sequence moves together. The file format: :mod:`lsvit.families.keypoints.fileformat`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lsvit import LsvitError
from lsvit.data.dataset import sample_or_stand_in, split_key
from lsvit.data.h5 import LazyH5
from lsvit.data.labelmaps import MotionAugment
from lsvit.families.keypoints.augment import KeypointAugment
from lsvit.families.keypoints.fileformat import (
    KIND,
    KeypointIndex,
    open_keypoint_file,
    read_keypoint_index,
    seed000_check,
)
from lsvit.families.keypoints.importers import import_csv
from lsvit.families.keypoints.layout import Layout, is_hand, mirror_index
from lsvit.families.keypoints.mediapipe import ExtractionSettings, extract_items, import_mediapipe
from lsvit.families.keypoints.sequences import prepare_sequence


# ------------------------------------------------------------------------------------------- datasets
class KeypointH5Dataset(Dataset):
    """Sequences of a keypoint file -> ``{"inputs": (num_frames, F) float, "label", "id"}``.

    Args:
        index: the file's index (:func:`read_keypoint_index`).
        rows: which sequences of the index (positions).
        num_frames: T.
        sampling: ``pad`` or ``uniform``.
        normalize: ``none`` or ``anchor``.
        train: seeded augmentation and a random truncation window.
        augment: the augmentation (training).
        motion: training: the mirror and the time reversal drawn per sequence, with the label they imply
            (:class:`lsvit.data.labelmaps.MotionAugment`).
        in_memory: load the selected sequences once, in this process (small files; no HDF5 reads
            in workers). Otherwise each process opens the file lazily (:class:`LazyH5`).
        random_crop: training takes a random ``num_frames`` window of a longer sequence (``pad``).
        labels: labels to return instead of the file's (e.g. mapped to a checkpoint's classes).
        strict: a broken sequence stops the run.
    """

    def __init__(self, index: KeypointIndex, rows: Sequence[int], num_frames: int = 30, sampling: str = "pad",
                 normalize: str = "anchor", train: bool = False, augment: KeypointAugment | None = None,
                 motion: MotionAugment | None = None, in_memory: bool = True, random_crop: bool = True,
                 labels: Sequence[int] | None = None, strict: bool = False) -> None:
        self.index = index
        self.rows = list(rows)
        self.num_frames, self.sampling, self.normalize = num_frames, sampling, normalize
        self.train, self.augment, self.random_crop, self.strict = train, augment, random_crop, strict
        self.layout = index.layout
        self._labels = list(labels) if labels is not None else [index.labels[r] for r in self.rows]
        self.motion = motion if train and motion is not None and motion.active else None
        flips = self.motion is not None and self.motion.flip_prob > 0
        self._mirror = mirror_index(self.layout) if train and (flips or (augment is not None and augment.mirror > 0)) \
            else None
        self._h5 = LazyH5(index.path, KIND, foreign=seed000_check)
        self._cache: dict[int, np.ndarray] | None = None
        if in_memory:
            f = open_keypoint_file(index.path)
            try:
                grp = f["sequences"]
                self._cache = {r: grp[index.names[r]][()].astype(np.float32) for r in self.rows}
            finally:
                f.close()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> list[int]:
        """Label of every sample, in order."""
        return list(self._labels)

    @property
    def num_views(self) -> int:
        """One view per sequence."""
        return 1

    def _read(self, row: int) -> np.ndarray:
        if self._cache is not None:
            return self._cache[row]
        try:
            return self._h5.file["sequences"][self.index.names[row]][()].astype(np.float32)
        except (OSError, KeyError) as exc:
            name = self.index.names[row]
            raise LsvitError(f"{self.index.path}: sequences/{name} cannot be read ({exc})") from exc

    def _sample(self, i: int, seed: int | None) -> dict[str, Any]:
        row = self.rows[i]
        seq = self._read(row)
        label = self._labels[i]
        aspect = self.index.aspects[row]
        start = None
        if self.train and seed is not None:
            rng = np.random.default_rng([int(seed) % (2**32), 11])
            mirror, reverse = None, False
            if self.motion is not None:  # the mirror and the reversal, with the label they imply
                mirror, reverse, label = self.motion.draw(label, rng)
            if self.augment is not None:
                seq, _ = self.augment(seq, self.layout, rng, aspect, self._mirror, mirror)
            if reverse:  # the sequence played backwards is one of the partner class (sit_down <-> stand_up)
                seq = seq[::-1]
            if self.random_crop and self.sampling == "pad" and len(seq) > self.num_frames:
                start = int(rng.integers(0, len(seq) - self.num_frames + 1))
        x = prepare_sequence(seq, self.layout, self.num_frames, self.sampling, self.normalize, aspect, start)
        return {"inputs": torch.from_numpy(x), "label": int(label), "id": self.index.ids[row]}

    def __getitem__(self, key: Any) -> dict[str, Any]:
        i, seed = split_key(key)
        return sample_or_stand_in(lambda j: self._sample(j, seed), i, seed, len(self.rows), self.train, self.strict,
                                  (LsvitError,), lambda error: self._blank(i, error))

    def _blank(self, i: int, error: str) -> dict[str, Any]:
        return {"inputs": torch.zeros(self.num_frames, self.layout.feature_count), "label": -1,
                "id": self.index.ids[self.rows[i]], "error": error}


# ------------------------------------------------------------------------------------------- inference
def check_layout(data_meta: dict[str, Any], layout: Layout, what: str) -> None:
    """Refuse keypoints whose layout is not the checkpoint's, naming both."""
    want = Layout.from_json(data_meta.get("layout"), "checkpoint meta.json data.layout")
    if want != layout:
        raise LsvitError(f"{what} has {layout.feature_count} features per frame ({layout.describe()}); the "
                         f"checkpoint was trained on {want.feature_count} ({want.describe()}, from "
                         f"{data_meta.get('source_file', '?')})")


def keypoint_cache_dataset(path: str | Path, data_meta: dict[str, Any], class_names: Sequence[str],
                           strict: bool = False) -> KeypointH5Dataset:
    """A keypoint ``.h5`` file as a checkpoint's evaluation dataset (``tools/inference.py data_root=x.h5``)."""
    idx = read_keypoint_index(path)
    check_layout(data_meta, idx.layout, str(path))
    names = list(class_names)
    labels = [names.index(idx.class_names[lab]) if lab >= 0 and idx.class_names[lab] in names else -1
              for lab in idx.labels]
    return KeypointH5Dataset(idx, range(len(idx.names)), num_frames=int(data_meta["num_frames"]),
                             sampling=data_meta.get("sampling", "pad"),
                             normalize=data_meta.get("normalize", "anchor"),
                             labels=labels, in_memory=True, strict=strict)


def keypoint_csv_dataset(path: str | Path, data_meta: dict[str, Any], class_names: Sequence[str],
                         strict: bool = False) -> KeypointH5Dataset:
    """A seed-004 landmark CSV as an evaluation dataset (imported into a temporary file first)."""
    import tempfile


    layout = Layout.from_json(data_meta.get("layout"), "checkpoint meta.json data.layout")
    drop_v = all("v" not in g.channels for g in layout.groups)
    with tempfile.TemporaryDirectory() as tmp:
        out = import_csv([path], Path(tmp) / "csv.h5", drop_visibility=drop_v)
        ds = keypoint_cache_dataset(out, data_meta, class_names, strict)  # in memory: the file may go
    return ds


def extraction_settings_for(data_meta: dict[str, Any]) -> dict[str, Any]:
    """The extraction that rebuilds a checkpoint's input vectors from raw frames (as JSON settings).

    MediaPipe-extracted data record their settings; imported data (seed 002's ``.npy``, seed 004's
    CSV) record only their layout, from which the matching MediaPipe solution is chosen.

    Raises:
        LsvitError: a layout MediaPipe cannot produce (e.g. a CSV of another pose model).
    """
    layout = Layout.from_json(data_meta.get("layout"), "checkpoint meta.json data.layout")
    extraction = dict(data_meta.get("extraction") or {})
    if extraction:
        return extraction
    if any(not (g.name in ("pose", "face") or is_hand(g.name)) or set(g.channels) - set("xyzv")
           for g in layout.groups):
        raise LsvitError(f"this checkpoint was trained on keypoints of layout {layout.describe()}, which "
                         "MediaPipe does not produce: give data_root= a keypoint file (.h5/.csv) of that layout "
                         "instead of videos")
    hands = [g.name for g in layout.groups if is_hand(g.name)]
    if len(hands) == len(layout.groups):  # MediaPipe Hands, one slot per group (seed 000's files: 1, 2 or 4)
        return {"mode": "hands", "max_hands": len(hands), "layout": layout.to_json()}
    return {"mode": "holistic", "layout": layout.to_json()}


class KeypointVideoDataset(Dataset):
    """Raw videos -> keypoints -> the checkpoint's inputs (``DATASET_BUILDERS["keypoints"]``).

    Every video is extracted when the dataset is built (in spawned processes for more than a few
    videos), with the checkpoint's extraction settings, and kept in memory: loading a sample is then
    plain numpy, safe in forked DataLoader workers, where a MediaPipe graph would abort the process.
    """

    def __init__(self, items: Sequence[Any], data_meta: dict[str, Any], strict: bool = False,
                 num_workers: int | None = None, progress: bool = True) -> None:
        import_mediapipe()  # a missing extra is one message, not one per video
        self.items = list(items)
        self.meta = data_meta
        self.layout = Layout.from_json(data_meta.get("layout"), "checkpoint meta.json data.layout")
        settings = ExtractionSettings.from_json(extraction_settings_for(data_meta))
        if settings.to_layout() != self.layout:
            raise LsvitError(f"the checkpoint's extraction settings give {settings.to_layout().describe()}, "
                             f"its data layout is {self.layout.describe()}")
        self.strict = strict
        self._arrays = extract_items([(it.id, it.source) for it in self.items], settings, num_workers, progress)
        if strict:
            bad = [v for v in self._arrays.values() if isinstance(v, str)]
            if bad:
                raise LsvitError(bad[0])

    num_views = 1

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        i, _ = split_key(key)
        item = self.items[i]
        arrays = self._arrays.get(item.id, f"{item.path}: not extracted")
        if isinstance(arrays, str):
            warnings.warn(f"skipping {arrays}", stacklevel=2)
            return {"inputs": torch.zeros(int(self.meta["num_frames"]), self.layout.feature_count), "label": -1,
                    "id": item.id, "error": arrays}
        w, h = (int(v) for v in arrays["frame_size"])
        x = prepare_sequence(arrays["keypoints"], self.layout, int(self.meta["num_frames"]),
                             self.meta.get("sampling", "pad"), self.meta.get("normalize", "anchor"), w / max(h, 1))
        return {"inputs": torch.from_numpy(x), "label": int(item.label), "id": item.id}


def keypoint_video_dataset(items: list[Any], data_meta: dict[str, Any], strict: bool, backend: str | None,
                           num_clips: int = 1, num_crops: int = 1) -> KeypointVideoDataset:
    """``DATASET_BUILDERS["keypoints"]``: raw videos read with the checkpoint's extraction settings."""
    return KeypointVideoDataset(items, data_meta, strict)

