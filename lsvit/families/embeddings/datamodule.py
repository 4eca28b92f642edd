"""``FeatureDataModule``: embedding caches (:mod:`lsvit.families.embeddings.extract`) split for training.

One cache holds every video (and augmented copies); training, validation and test are rows of it (a held-out share
grouped by source, a membership column, or separate files). The model's channels and width follow the cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lsvit import LsvitError
from lsvit.data.dataset import collate
from lsvit.data.labelmaps import MotionAugment
from lsvit.data.splits import (
    check_ratios,
    check_test,
    check_validation,
    compile_group_pattern,
    group_of,
    split_summary,
    three_way_split,
)
from lsvit.families.embeddings.cache import AUTO_MEMORY_GB, CacheIndex, FeatureH5Dataset, memory_mode
from lsvit.families.embeddings.extract import check_compatible, run_extraction


def view_flip(layout: Sequence[str] | None) -> list[int]:
    """The channel permutation of a mirrored frame: each ``.../left/...`` channel and its ``.../right/...`` twin swap.

    Raises:
        LsvitError: a layout without left and right views (nothing a flip could swap).
    """
    names = list(layout or [])
    index = {n: i for i, n in enumerate(names)}
    perm = []
    for n in names:
        parts = n.split("/")
        twin = "/".join({"left": "right", "right": "left"}.get(p, p) for p in parts)
        perm.append(index.get(twin, index[n]))
    if perm == list(range(len(names))):
        raise LsvitError(f"data.hflip > 0 needs left and right views in the cache's channels (layout {names}): "
                         "set data.hflip=0")
    return perm


class FeatureDataModule:
    """Frame-embedding caches as the engine's data (``data=features``).

    Where the videos come from, in one of three ways:

    * ``train_file`` (+ ``val_file``, else a stratified, seeded, video-level ``val_ratio`` hold-out of it)
      (+ ``test_file``: evaluated once at the end with the best checkpoint, or ``test_ratio``: a share of it held
      out the same way);
    * one file with a membership column (``membership=part`` or, for HMDB51 caches, ``split=1|2|3``
      -> column ``split<n>``): its ``train`` rows (validation held out of them, source groups kept
      whole, unless there are ``val`` rows) and its ``test`` rows;
    * ``train_file`` missing and ``extract`` given: the file is extracted first (sharded over the
      processes of the run), e.g. HMDB51 once for all three splits by the split benchmark.

    Args:
        train_file: the (training) cache.
        val_file: a separate validation cache.
        test_file: a separate test cache.
        split: HMDB51 split (selects membership column ``split<n>``).
        membership: the membership column to use (default: ``split<n>`` with ``split``, else none).
        val_ratio: validation hold-out fraction (of all the videos) when there are no validation rows or file.
        test_ratio: hold out this share of the training videos (of each class, stratified, seeded, source groups
            kept whole, as validation) as the test part, evaluated once at the end like ``test_file``; 0: none.
            Not together with ``test_file`` or a membership column with test rows (one test part).
        num_frames: T the model expects (checked against the files; null: taken from them).
        num_channels: C; None: the cache's (set it to check the file against a number).
        dim: D; None: the cache's (set it to check the file against a number).
        in_memory: ``true``: read the rows of each part into memory once (in blocks of rows; as float32 when that
            takes at most ``in_memory_limit_gb``, else in the file's precision; loader workers share them);
            ``false``: read per sample; ``auto``: in memory when a part's rows fit under ``in_memory_limit_gb``
            (reading gzip rows one at a time in workers can cost more than the BiLSTM's step).
        strict: an unreadable row stops the run.
        seed: split seed.
        name: dataset name (run folder names, reports).
        extract: extraction settings used when ``train_file`` does not exist (keys of
            ``configs/extract_features.yaml``: ``source``, ``embed``, ``aug``, ``aug_copies``, ...).
        reverse_pairs: classes that are each other's time reversal (``[[move_left, move_right], ...]``, or ``auto``:
            found from the class names, :func:`lsvit.data.labelmaps.reversal_map`): training clips of these classes
            are played backwards with ``reverse_prob`` and take the partner's
            label (a time-reversal augmentation with a class map; it removes any shortcut but order).
        reverse_prob: probability of that reversal.
        hflip: probability of a horizontal flip of a training video: its left and right views swap places and a
            side-named class takes its mirrored partner's label (``mirror_map`` or found from the names).
        mirror_map: explicit mirror partners.
        group_pattern: a regular expression mapping a video id (``class/video``) to its source group for the
            validation and test hold-outs, instead of the file's groups (as ``data.group_pattern`` of video folders).
        in_memory_limit_gb: the size limit of ``in_memory=auto`` (per part, per process).
    """

    def __init__(self, train_file: str | None = None, val_file: str | None = None, test_file: str | None = None,
                 split: int | None = None, membership: str | None = None, val_ratio: float = 0.1,
                 test_ratio: float = 0.0,
                 num_frames: int | None = None, num_channels: int | None = None, dim: int | None = None,
                 in_memory: bool | str = "auto",
                 strict: bool = False, seed: int = 0, name: str = "features",
                 extract: Mapping[str, Any] | None = None, reverse_pairs: Sequence[Sequence[str]] | str | None = None,
                 reverse_prob: float = 0.5, group_pattern: str | None = None, hflip: float = 0.0,
                 mirror_map: Any = None, in_memory_limit_gb: float = AUTO_MEMORY_GB) -> None:
        if not train_file:
            raise LsvitError("data.train_file is not set: pass data.train_file=<cache.h5> "
                             "(written by tools/extract_features.py)")
        check_ratios(None if val_file else float(val_ratio), float(test_ratio))
        if test_ratio and test_file:
            raise LsvitError(f"data.test_ratio={test_ratio} and data.test_file={test_file}: one test part only; hold "
                             "out a share of data.train_file (test_ratio) or give a separate test file, not both")
        self.train_file, self.val_file, self.test_file = train_file, val_file, test_file
        self.split = int(split) if split is not None else None
        self.membership = membership or (f"split{self.split}" if self.split is not None else None)
        self.val_ratio, self.seed, self.name, self.strict = float(val_ratio), int(seed), name, strict
        self.test_ratio = float(test_ratio)
        memory_mode(in_memory, 0, (), np.float16, 0.0)  # a wrong word is refused here, before any reading
        self.in_memory = in_memory if isinstance(in_memory, str) else bool(in_memory)
        self.in_memory_limit_gb = float(in_memory_limit_gb)
        self.group_pattern = compile_group_pattern(group_pattern)
        if not Path(train_file).exists() and extract:
            self._extract(dict(extract))
        self.train_index = CacheIndex(train_file)
        self.class_names = list(self.train_index.class_names)
        self.settings = self.train_index.settings
        t, c, d = self.train_index.shape[1:]
        want = {"num_frames": (num_frames, t), "num_channels": (num_channels, c), "dim": (dim, d)}
        bad = [f"data.{k}={a} but the file has {b}" for k, (a, b) in want.items() if a is not None and int(a) != b]
        if bad:
            raise LsvitError(f"{train_file}: embeddings (T, C, D) = {(t, c, d)} do not fit the configuration: "
                             f"{'; '.join(bad)} (layout {self.settings.get('layout')}); leave them unset (null) to take the "
                             "file's (the model is built for the file's C and D)")
        self.num_frames, self.num_channels, self.dim = t, c, d
        self.indices = {"train": self.train_index}
        for part, path in (("val", val_file), ("test", test_file)):
            if path:
                idx = CacheIndex(path)
                self._check_same(idx)
                self.indices[part] = idx
        self.rows = self._select_rows()
        # the one label-map mechanism of every family (lsvit.data.labelmaps): pairs found from the class names
        # (reverse_pairs=auto: move_left/move_right, grow/shrink, ...) or given explicitly
        for pair in reverse_pairs if reverse_pairs not in (None, "auto") else []:
            if len(pair) != 2 or any(c not in self.class_names for c in pair):
                raise LsvitError(f"data.reverse_pairs: {list(pair)} is not a pair of classes of {self.train_file}")
        self.motion = MotionAugment.build(self.class_names, hflip, reverse_prob if reverse_pairs is not None else 0.0,
                                          mirror_map, reverse_pairs)
        self.flip_channels = view_flip(self.settings.get("layout")) if hflip > 0 else None
        self.train_dataset: FeatureH5Dataset | None = None
        self.val_dataset: FeatureH5Dataset | None = None

    # ------------------------------------------------------------------------------------ selection
    def _extract(self, extract: dict[str, Any]) -> None:
        out = extract.pop("out", None) or self.train_file
        if Path(str(out)).resolve() != Path(str(self.train_file)).resolve():
            raise LsvitError(f"data.extract.out={out} differs from data.train_file={self.train_file}")
        run_extraction(str(self.train_file), **extract)

    def _check_same(self, idx: CacheIndex) -> None:
        if idx.class_names != self.class_names:
            raise LsvitError(f"{idx.path}: classes {idx.class_names[:6]}... differ from {self.train_file}'s "
                             f"{self.class_names[:6]}...")
        check_compatible(idx.settings, self.settings, str(idx.path), str(self.train_file))

    def _select_rows(self) -> dict[str, list[int]]:
        idx = self.train_index
        rows: dict[str, list[int]] = {}
        if self.membership:
            if self.membership not in idx.membership:
                raise LsvitError(f"{self.train_file}: no membership column '{self.membership}' "
                                 f"(it has {sorted(idx.membership) or 'none'})")
            col = np.asarray(idx.membership[self.membership])
            train = idx.originals(col == "train")
            val = idx.originals(col == "val")
            rows["test"] = idx.originals(col == "test")
            if self.test_ratio and rows["test"]:
                raise LsvitError(f"data.test_ratio={self.test_ratio}: {self.train_file}'s membership column "
                                 f"'{self.membership}' already names {len(rows['test'])} test videos: one test part "
                                 "only (set data.test_ratio=0)")
        else:
            train, val = idx.originals(), []
        where = f"data.train_file={self.train_file}"
        group = (lambda r: group_of(idx.ids[r], self.group_pattern)) if self.group_pattern else (lambda r: idx.groups[r])
        grouping = (f"data.group_pattern={self.group_pattern.pattern!r}" if self.group_pattern else "the file's groups")
        remedies = ("Add source videos to those classes, give a separate validation file (data.val_file=), or change "
                    "data.val_ratio / data.test_ratio")
        labels = [int(idx.labels[r]) for r in train]
        groups = [group(r) for r in train]
        if "val" in self.indices:
            how = f"a separate validation file ({self.indices['val'].path})"
            vrows = self.indices["val"].originals()
            extra_val = [(int(self.indices["val"].labels[r]), f"val:{self.indices['val'].groups[r]}") for r in vrows]
        elif val:  # the file's membership column names the validation videos
            how = f"the file's membership column '{self.membership}'"
            vrows = val
            extra_val = [(int(idx.labels[r]), group(r)) for r in val]
        else:
            how = (f"data.val_ratio={self.val_ratio} of each class, stratified, seeded; videos of one source kept "
                   f"together ({grouping})")
            vrows, extra_val = [], None
        tr, va, te = three_way_split(labels, self.val_ratio if extra_val is None else None, self.test_ratio,
                                     self.seed, groups)
        if self.test_ratio:
            how += (f"; test: data.test_ratio={self.test_ratio} of each class, stratified, seeded, held out first; "
                    f"videos of one source kept together ({grouping})")
        every, groups_all = list(labels), list(groups)
        val_idx, test_idx = va, te
        if extra_val is not None:
            val_idx = list(range(len(every), len(every) + len(extra_val)))
            every += [y for y, _ in extra_val]
            groups_all += [g for _, g in extra_val]
        separate = self.indices["test"] if "test" in self.indices else None
        test_rows = separate.originals() if separate is not None else rows.get("test", [])
        if test_rows and not self.test_ratio:
            src = separate if separate is not None else idx
            how += (f"; test: a separate test file ({separate.path})" if separate is not None
                    else "; test: the membership column's test rows")
            test_idx = list(range(len(every), len(every) + len(test_rows)))
            every += [int(src.labels[r]) for r in test_rows]
            groups_all += [f"test:{src.groups[r]}" for r in test_rows]
        has_test = bool(self.test_ratio or test_rows)
        self._summary = split_summary(self.class_names, every, tr, val_idx, groups_all, rule=how,
                                      test=test_idx if has_test else None, test_pooled=bool(self.test_ratio))
        if extra_val is None:
            check_validation(self._summary, where, remedies)
        elif "val" not in self.indices:
            check_validation(self._summary, where, "Check the membership column of the file")
        if self.test_ratio:
            check_test(self._summary, where, remedies)
            rows["test"] = [train[i] for i in te]
        elif separate is not None:
            rows["test"] = test_rows
        rows["train"] = [train[i] for i in tr]
        rows["val"] = [train[i] for i in va] if extra_val is None else vrows
        if not rows["train"] or not rows["val"]:
            raise LsvitError(f"{self.train_file}: {len(rows['train'])} training / {len(rows['val'])} validation "
                             "videos; both must be non-empty")
        return rows

    # ------------------------------------------------------------------------------------ engine surface
    collate_fn = staticmethod(collate)

    def split_summary(self) -> dict[str, Any]:
        """Train/validation (and test) videos and source groups per class (written to ``split_summary.json``)."""
        return self._summary

    def _file(self, part: str) -> tuple[str, CacheIndex]:
        if part in ("val", "test") and part in self.indices:
            return str(self.indices[part].path), self.indices[part]
        return str(self.train_file), self.train_index

    def _dataset(self, part: str, train: bool) -> FeatureH5Dataset:
        path, index = self._file(part)
        return FeatureH5Dataset(path, self.rows[part], index, train=train, in_memory=self.in_memory,
                                strict=self.strict, motion=self.motion if train else None,
                                flip_channels=self.flip_channels, memory_limit_gb=self.in_memory_limit_gb)

    def setup(self, model: Any = None) -> None:
        """Build the training and validation datasets (the model is not needed: inputs are embeddings)."""
        self.train_dataset = self._dataset("train", True)
        self.val_dataset = self._dataset("val", False)

    def make_test_dataset(self, num_clips: int = 1, num_crops: int = 1) -> FeatureH5Dataset | None:
        """The test rows or file (None when there are none); one view per video."""
        if num_clips != 1 or num_crops != 1:
            raise LsvitError(f"eval.num_clips={num_clips}, eval.num_crops={num_crops}: embeddings have one view "
                             "per video (set both to 1)")
        return self._dataset("test", False) if self.rows.get("test") else None

    def model_args(self) -> dict[str, Any]:
        """The model is built for the cache's channels and width (``model.in_channels``, ``model.in_dim``)."""
        return {"in_channels": self.num_channels, "in_dim": self.dim}

    def meta(self) -> dict[str, Any]:
        """What inference needs: the extraction settings (backbones, layout, T, width, ...) and the sizes."""
        return {"type": "embeddings", "settings": self.settings, "num_frames": self.num_frames,
                "num_channels": self.num_channels, "dim": self.dim, "dataset": self.name,
                "files": {p: self._file(p)[0] for p in self.rows if self.rows[p]},
                "membership": self.membership, "split": self.split, "val_ratio": self.val_ratio,
                "test_ratio": self.test_ratio, "seed": self.seed,
                "num_train": len(self.rows["train"]), "num_val": len(self.rows["val"]),
                "num_test": len(self.rows.get("test", []))}
