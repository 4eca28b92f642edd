"""Training on one official HMDB51 split."""

from __future__ import annotations

from typing import Any

from lsvit import LsvitError
from lsvit.data.datamodule import VideoDataModule
from lsvit.data.discovery import VideoItem
from lsvit.data.hmdb51.splits import SPLITS, load_split
from lsvit.data.splits import stratified_split


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
        **kwargs: clip settings of :class:`lsvit.data.VideoDataModule` (``num_frames``, ``image_size``, ...).
    """

    def __init__(self, root: str = "datasets/hmdb51", split: int = 1, splits_dir: str | None = None,
                 strict: bool = False, **kwargs: Any) -> None:
        for key in ("list_file", "val_root", "val_list_file", "test_root", "test_list_file"):
            if kwargs.get(key):
                raise LsvitError(f"data.{key} does not apply to HMDB51: train/test come from the official "
                                 f"split files (data.split=1|2|3), validation from the train part")
            kwargs.pop(key, None)
        if int(split) not in SPLITS:
            raise LsvitError(f"data.split={split}: HMDB51 has splits 1, 2 and 3")
        self.split, self.splits_dir = int(split), splits_dir
        kwargs.setdefault("name", "hmdb51")
        super().__init__(root=root, strict=strict, **kwargs)

    def _select_items(self) -> tuple[list[str], list[VideoItem], list[VideoItem]]:
        sets = load_split(self.root, self.split, strict=self.strict, splits_dir=self.splits_dir)
        if not sets.train or not sets.test:
            raise LsvitError(f"{self.root} split {self.split}: {len(sets.train)} train / {len(sets.test)} test clips "
                             "on disk; both must be non-empty")
        self.test_items = sets.test
        self.missing = sets.missing
        tr, va = stratified_split([it.label for it in sets.train], self.val_ratio, self.seed, groups=sets.groups)
        return sets.class_names, [sets.train[i] for i in tr], [sets.train[i] for i in va]

    def meta(self) -> dict[str, Any]:
        """As :meth:`VideoDataModule.meta`, plus the split."""
        return super().meta() | {"split": self.split}
