"""Training on one official HMDB51 split."""

from __future__ import annotations

from typing import Any

from lsvit import LsvitError
from lsvit.data.discovery import VideoItem
from lsvit.data.hmdb51.splits import SPLITS, load_split
from lsvit.families.clips.datamodule import VideoDataModule


class HMDB51DataModule(VideoDataModule):
    """One official HMDB51 split: train part -> train + validation, test part -> final test.

    Validation (model selection, early stopping) is a stratified hold-out of the *train* part
    that keeps the clips of one source video together; the test part is evaluated once, at
    the end of training, with the selected checkpoint (``eval.num_clips`` x ``eval.num_crops`` views).

    Args:
        root: the prepared folder (``videos/``, ``splits/``; see ``tools/prepare_hmdb51.py``).
        split: 1, 2 or 3.
        splits_dir: the split files when they are not in ``root/splits``.
        strict: clips missing on disk and broken videos stop the run (else: warned, skipped).
        group_by_source: keep the clips cut from one source video on one side of the train/validation split
            (default). ``false`` splits clips individually: validation then holds clips of videos that are
            also in training, an optimistic estimate (a leak), for datasets with one source per class.
        **kwargs: clip settings of :class:`lsvit.families.clips.VideoDataModule` (``num_frames``, ``image_size``, ...).
    """

    def __init__(self, root: str = "datasets/hmdb51", split: int = 1, splits_dir: str | None = None,
                 strict: bool = False, group_by_source: bool = True, **kwargs: Any) -> None:
        for key in ("list_file", "val_root", "val_list_file", "test_root", "test_list_file", "group_pattern"):
            if kwargs.get(key):
                raise LsvitError(f"data.{key} does not apply to HMDB51: train/test come from the official "
                                 f"split files (data.split=1|2|3), validation from the train part, grouped by "
                                 "source video (data.group_by_source)")
            kwargs.pop(key, None)
        if kwargs.get("test_ratio"):
            raise LsvitError(f"data.test_ratio={kwargs['test_ratio']} does not apply to HMDB51: the official split's "
                             "test part is the test set (data.split=1|2|3). For a random hold-out of all clips "
                             "instead, train on the videos folder as plain class folders: data=folder "
                             "data.root=<root>/videos (experiment=seed003_lsvit does)")
        if int(split) not in SPLITS:
            raise LsvitError(f"data.split={split}: HMDB51 has splits 1, 2 and 3")
        self.split_number, self.splits_dir, self.group_by_source = int(split), splits_dir, bool(group_by_source)
        kwargs.setdefault("name", "hmdb51")
        super().__init__(root=root, strict=strict, **kwargs)

    def _select_items(self) -> tuple[list[str], list[VideoItem], list[VideoItem]]:
        sets = load_split(self.root, self.split_number, strict=self.strict, splits_dir=self.splits_dir)
        if not sets.train or not sets.test:
            raise LsvitError(f"{self.root} split {self.split_number}: {len(sets.train)} train / {len(sets.test)} "
                             "test clips on disk; both must be non-empty")
        self.test_items = sets.test
        self.missing = sets.missing
        grouped = self.group_by_source
        tr, va, _ = self.split(sets.class_names, [it.label for it in sets.train], sets.groups if grouped else None,
                               f"data.val_ratio={self.val_ratio} of each class's official train part (split "
                               f"{self.split_number}), stratified, seeded; "
                               + ("clips of one source video kept together" if grouped else
                                  "clips split individually (data.group_by_source=false: validation holds clips of "
                                  "training videos)") + f"; test: the official test part of split {self.split_number}",
                               f"data.root={self.root} split {self.split_number}",
                               "Use more source videos per class, or set data.group_by_source=false to split clips "
                               "individually (validation then holds other clips of training videos: optimistic)"
                               if grouped else "Add clips to those classes or raise data.val_ratio",
                               extra_test=[(it.label, g if grouped else it.id)
                                           for it, g in zip(sets.test, sets.test_groups)])
        return sets.class_names, [sets.train[i] for i in tr], [sets.train[i] for i in va]

    def meta(self) -> dict[str, Any]:
        """As :meth:`VideoDataModule.meta`, plus the split."""
        return super().meta() | {"split": self.split_number}
