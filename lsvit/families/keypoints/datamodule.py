"""``KeypointDataModule``: keypoint files split into training, validation and test sequences for the engine."""

from __future__ import annotations

from typing import Any

from lsvit import LsvitError
from lsvit.data.dataset import collate
from lsvit.data.labelmaps import MotionAugment
from lsvit.data.splits import check_validation, split_summary, stratified_split
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
        val_ratio: stratified, seeded hold-out fraction.
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
                 val_ratio: float = 0.2, num_frames: int = 30, sampling: str = "pad", normalize: str = "anchor",
                 feature_count: int | None = None, mirror: float = 0.0, mirror_map: dict[str, str] | None = None,
                 reverse: float = 0.0, reverse_pairs: Any = "auto",
                 rotate: float = 10.0, scale: float = 0.1, shift: float = 0.05, time_warp: float = 0.2,
                 random_crop: bool = True, in_memory: bool = True, min_detection_rate: float = 0.0,
                 strict: bool = False, seed: int = 0, name: str = "keypoints") -> None:
        if not path:
            raise LsvitError("data.path is not set: pass data.path=/path/to/keypoints.h5")
        if num_frames < 1:
            raise LsvitError(f"data.num_frames={num_frames}: must be >= 1")
        if sampling not in SAMPLINGS:
            raise LsvitError(f"data.sampling={sampling}: choose one of {SAMPLINGS}")
        if normalize not in NORMALIZE:
            raise LsvitError(f"data.normalize={normalize}: choose one of {NORMALIZE}")
        if not val_path and not 0.0 < val_ratio < 1.0:
            raise LsvitError(f"data.val_ratio={val_ratio}: must be in (0, 1)")
        if not 0.0 <= mirror <= 1.0:
            raise LsvitError(f"data.mirror={mirror}: a probability in [0, 1]")
        self.path, self.val_path, self.test_path = path, val_path, test_path
        self.num_frames, self.sampling, self.normalize = int(num_frames), sampling, normalize
        self.augment = KeypointAugment(float(mirror), float(rotate), float(scale), float(shift), float(time_warp))
        self.random_crop, self.in_memory, self.strict = random_crop, in_memory, strict
        self.val_ratio, self.seed, self.name = val_ratio, seed, name
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
        train_labels = [self.index.labels[i] for i in keep]
        if val_path:
            self.val_index = self._companion(val_path, "data.val_path")
            self.train_rows, self.val_rows = keep, [i for i, lab in enumerate(self.val_index.labels) if lab >= 0]
            labels = train_labels + [self.val_index.labels[i] for i in self.val_rows]
            self._summary = split_summary(self.class_names, labels, range(len(keep)), range(len(keep), len(labels)),
                                          rule=f"a separate validation file ({val_path})")
        else:
            self.val_index = self.index
            tr, va = stratified_split(train_labels, val_ratio, seed)
            self.train_rows, self.val_rows = [keep[i] for i in tr], [keep[i] for i in va]
            self._summary = split_summary(self.class_names, train_labels, tr, va,
                                          rule=f"data.val_ratio={val_ratio} of each class, stratified, seeded; "
                                               "each sequence on its own")
            check_validation(self._summary, f"data.path={path}", "Add sequences to those classes, give a separate "
                             "validation file (data.val_path=), or raise data.val_ratio")
        self.test_index = self._companion(test_path, "data.test_path") if test_path else None
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

    collate_fn = staticmethod(collate)

    def split_summary(self) -> dict[str, Any]:
        """Train/validation sequences per class (the engine writes it to ``split_summary.json``)."""
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
        """The test file's labelled sequences (one view each), or None without ``test_path``."""
        if self.test_index is None:
            return None
        rows = [i for i, lab in enumerate(self.test_index.labels) if lab >= 0]
        return KeypointH5Dataset(self.test_index, rows, num_frames=self.num_frames, sampling=self.sampling,
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
                "num_test": len(self.test_index.names) if self.test_index else 0}
