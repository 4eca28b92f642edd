"""``KeypointDataModule``: keypoint files split into training, validation and test sequences for the engine."""

from __future__ import annotations

from typing import Any

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
from lsvit.families.keypoints.augment import KeypointAugment
from lsvit.families.keypoints.dataset import KeypointH5Dataset
from lsvit.families.keypoints.fileformat import KeypointIndex, read_keypoint_index
from lsvit.families.keypoints.layout import mirror_index
from lsvit.families.keypoints.sequences import NORMALIZE, SAMPLINGS


class KeypointDataModule:
    """Keypoint sequences from a keypoint HDF5 file (``data=keypoints``).

    Args:
        path: the keypoint file (``tools/extract_keypoints.py`` or ``tools/import_keypoints.py``).
        val_path: a separate validation file; otherwise ``val_ratio`` of ``path`` is held out.
        test_path: a labelled test file, evaluated once at the end with the best checkpoint.
        val_ratio: stratified, seeded hold-out fraction (of the whole file).
        test_ratio: hold out this share of ``path`` (of each class, stratified, seeded, source groups kept whole, as
            validation) as the test part, evaluated once at the end like ``test_path``; 0: none. Not together with
            ``test_path`` (one test part).
        group_pattern: a regular expression mapping a sequence id to its source (its first group, or the whole
            match): sequences of one source never straddle training, validation and test (e.g. ``"^(.*)_seq\\d+$"``
            for seed 004's CSV imports, whose ids are ``<label>/<file>_seq<n>``: the sequences of one recording
            together). Default: every sequence on its own.
        num_frames: T (seed default 30).
        sampling: ``pad`` (centre truncation / zero padding at the end) or ``uniform``.
        normalize: ``anchor`` (relative to shoulders / wrists, in units of their size) or ``none``.
        feature_count: None: the file's features per frame (the model's ``input_size`` follows it,
            :meth:`model_args`); set, a check of the file against a number (a different value is an error
            naming both).
        mirror: mirror probability in training (hands and side-named labels swapped).
        mirror_map: explicit class pairs for the mirror (``{swipe_left: swipe_right}``).
        reverse: probability that a training sequence of a class with a reversal partner is played backwards and
            takes the partner's label (``sit_down`` <-> ``stand_up``).
        reverse_pairs: ``auto`` (found from the class names) or explicit pairs.
        rotate: max rotation (degrees), training.
        scale: max relative scale change, training.
        shift: max shift (frame units), training.
        time_warp: max relative speed change, training.
        random_crop: training takes a random window of longer sequences.
        in_memory: load all sequences once (otherwise read lazily per worker).
        min_detection_rate: leave out sequences with detections in fewer frames than this.
        strict: a broken sequence stops the run.
        seed: split seed.
        name: dataset name.
    """

    def __init__(self, path: str | None = None, val_path: str | None = None, test_path: str | None = None,
                 val_ratio: float = 0.2, test_ratio: float = 0.0, num_frames: int = 30, sampling: str = "pad",
                 normalize: str = "anchor", feature_count: int | None = None, mirror: float = 0.0, mirror_map: dict[str, str] | None = None,
                 reverse: float = 0.0, reverse_pairs: Any = "auto",
                 rotate: float = 10.0, scale: float = 0.1, shift: float = 0.05, time_warp: float = 0.2,
                 random_crop: bool = True, in_memory: bool = True, min_detection_rate: float = 0.0,
                 strict: bool = False, seed: int = 0, name: str = "keypoints", group_pattern: str | None = None
                 ) -> None:
        if not path:
            raise LsvitError("data.path is not set: pass data.path=/path/to/keypoints.h5")
        if num_frames < 1:
            raise LsvitError(f"data.num_frames={num_frames}: must be >= 1")
        if sampling not in SAMPLINGS:
            raise LsvitError(f"data.sampling={sampling}: choose one of {SAMPLINGS}")
        if normalize not in NORMALIZE:
            raise LsvitError(f"data.normalize={normalize}: choose one of {NORMALIZE}")
        check_ratios(None if val_path else val_ratio, test_ratio)
        if test_ratio and test_path:
            raise LsvitError(f"data.test_ratio={test_ratio} and data.test_path={test_path}: one test part only; hold "
                             "out a share of data.path (test_ratio) or give a separate test file, not both")
        if not 0.0 <= mirror <= 1.0:
            raise LsvitError(f"data.mirror={mirror}: a probability in [0, 1]")
        self.path, self.val_path, self.test_path = path, val_path, test_path
        self.num_frames, self.sampling, self.normalize = int(num_frames), sampling, normalize
        self.augment = KeypointAugment(float(mirror), float(rotate), float(scale), float(shift), float(time_warp))
        self.random_crop, self.in_memory, self.strict = random_crop, in_memory, strict
        self.val_ratio, self.seed, self.name = val_ratio, seed, name
        self.test_ratio = float(test_ratio)
        self.group_pattern = compile_group_pattern(group_pattern)
        self.index = read_keypoint_index(path)
        if feature_count is not None and int(feature_count) != self.index.layout.feature_count:
            lay = self.index.layout
            raise LsvitError(f"data.feature_count={feature_count} but {path} holds {lay.feature_count} features "
                             f"per frame ({lay.describe()})")
        self.layout = self.index.layout
        self.class_names = list(self.index.class_names)
        if not self.class_names:
            raise LsvitError(f"{path}: no classes in its label_map (an unlabelled file cannot be trained on)")
        if mirror > 0:
            mirror_index(self.layout)  # refuses layouts that cannot be mirrored, now rather than in a worker
        # the one label-map mechanism of every family (lsvit.data.labelmaps): mirror and reversal partners
        self.motion = MotionAugment.build(self.class_names, mirror, reverse, dict(mirror_map) if mirror_map else None,
                                          reverse_pairs, prefix="data")
        keep = [i for i, (lab, rate) in enumerate(zip(self.index.labels, self.index.detection_rates))
                if lab >= 0 and rate >= min_detection_rate]
        if len(keep) < len(self.index.names):
            print(f"data: {len(self.index.names) - len(keep)} of {len(self.index.names)} sequences left out "
                  f"(unlabelled, or detections in fewer than {min_detection_rate:.0%} of frames)")
        self.test_index = self._companion(test_path, "data.test_path") if test_path else None
        self.val_index = self._companion(val_path, "data.val_path") if val_path else self.index
        self.train_rows, self.val_rows, self.test_rows = self._split(keep)
        self.train_dataset: KeypointH5Dataset | None = None
        self.val_dataset: KeypointH5Dataset | None = None

    def _companion(self, path: str, key: str) -> KeypointIndex:
        idx = read_keypoint_index(path)
        if idx.layout != self.index.layout:
            raise LsvitError(f"{key}={path} has layout {idx.layout.describe()} ({idx.layout.feature_count}), "
                             f"data.path={self.path} has {self.index.layout.describe()} "
                             f"({self.index.layout.feature_count})")
        if idx.class_names != self.class_names:
            raise LsvitError(f"{key}={path} has classes {idx.class_names[:8]}, data.path={self.path} has "
                             f"{self.class_names[:8]}")
        return idx

    def _split(self, keep: list[int]) -> tuple[list[int], list[int], list[int]]:
        """Training, validation and test rows (of their files); records :meth:`split_summary`."""
        labels = [self.index.labels[i] for i in keep]
        # no pattern: no groups at all, so that a split made before test_ratio and group_pattern existed is unchanged
        groups = [group_of(self.index.ids[i], self.group_pattern) for i in keep] if self.group_pattern else None
        grouping = (f"sequences grouped by data.group_pattern={self.group_pattern.pattern!r}" if self.group_pattern
                    else "each sequence on its own")
        tr, va, te = three_way_split(labels, None if self.val_path else self.val_ratio, self.test_ratio, self.seed,
                                     groups)
        how = [f"a separate validation file ({self.val_path})" if self.val_path else
               f"data.val_ratio={self.val_ratio} of each class, stratified, seeded; {grouping}"]
        every, val_idx, test_idx = list(labels), va, te
        groups_all = list(groups) if groups is not None else [f"#{i}" for i in range(len(labels))]
        val_rows = [keep[i] for i in va]
        if self.val_path:
            val_rows = [i for i, lab in enumerate(self.val_index.labels) if lab >= 0]
            val_idx = list(range(len(every), len(every) + len(val_rows)))
            every += [self.val_index.labels[i] for i in val_rows]
            groups_all += [f"val:{self.val_index.ids[i]}" for i in val_rows]
        test_rows = [keep[i] for i in te]
        if self.test_ratio:
            how.append(f"test: data.test_ratio={self.test_ratio} of each class, stratified, seeded, held out first; "
                       f"{grouping}")
        elif self.test_index is not None:
            how.append(f"test: a separate test file ({self.test_path})")
            test_rows = [i for i, lab in enumerate(self.test_index.labels) if lab >= 0]
            test_idx = list(range(len(every), len(every) + len(test_rows)))
            every += [self.test_index.labels[i] for i in test_rows]
            groups_all += [f"test:{self.test_index.ids[i]}" for i in test_rows]
        has_test = bool(self.test_ratio or self.test_index is not None)
        self._summary = split_summary(self.class_names, every, tr, val_idx, groups_all, "; ".join(how),
                                      test_idx if has_test else None, test_pooled=bool(self.test_ratio))
        where = f"data.path={self.path}"
        remedies = ("Add sequences to those classes, give a separate validation file (data.val_path=), or change "
                    "data.val_ratio / data.test_ratio" + (" or loosen data.group_pattern" if self.group_pattern else ""))
        if not self.val_path:
            check_validation(self._summary, where, remedies)
        if self.test_ratio:
            check_test(self._summary, where, remedies)
        return [keep[i] for i in tr], val_rows, test_rows

    collate_fn = staticmethod(collate)

    def split_summary(self) -> dict[str, Any]:
        """Train/validation (and test) sequences per class (the engine writes it to ``split_summary.json``)."""
        return self._summary

    def setup(self, model: Any = None) -> None:
        """Build the training and validation datasets (the model is not needed: inputs are coordinates)."""
        common: dict[str, Any] = {"num_frames": self.num_frames, "sampling": self.sampling,
                                  "normalize": self.normalize, "in_memory": self.in_memory, "strict": self.strict}
        self.train_dataset = KeypointH5Dataset(self.index, self.train_rows, train=True, augment=self.augment,
                                               motion=self.motion, random_crop=self.random_crop,
                                               **common)
        self.val_dataset = KeypointH5Dataset(self.val_index, self.val_rows, **common)

    def make_test_dataset(self, num_clips: int = 1, num_crops: int = 1) -> KeypointH5Dataset | None:
        """The test part (one view per sequence): the sequences ``test_ratio`` held out of ``path``, or the test
        file's labelled ones; None when there is neither."""
        if not self.test_rows:
            return None
        index = self.test_index if self.test_index is not None else self.index
        return KeypointH5Dataset(index, self.test_rows, num_frames=self.num_frames, sampling=self.sampling,
                                 normalize=self.normalize, in_memory=self.in_memory, strict=self.strict)

    def model_args(self) -> dict[str, Any]:
        """The model is built for the file's features per frame (``model.input_size``)."""
        return {"input_size": self.layout.feature_count}

    def meta(self) -> dict[str, Any]:
        """Everything inference needs to turn keypoints (or raw videos) into this model's inputs."""
        return {"type": "keypoints", "feature_count": self.layout.feature_count, "layout": self.layout.to_json(),
                "num_frames": self.num_frames, "sampling": self.sampling, "normalize": self.normalize,
                "source": self.index.source, "extraction": self.index.settings if self.index.source == "mediapipe"
                else {}, "source_file": str(self.path), "dataset": self.name,
                "num_train": len(self.train_rows), "num_val": len(self.val_rows),
                "num_test": len(self.test_rows)}
