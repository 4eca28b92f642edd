"""HMDB51's official splits: the split files and the clips on disk they name.

``<class>_test_split{1,2,3}.txt``, each line ``<clip>.avi <tag>``: 1 = train, 2 = test, 0 = unused.
Clips cut from one source video are kept together (:func:`source_of`) so validation never sees a
video whose other clips are in training.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lsvit import LsvitError
from lsvit.data.discovery import VIDEO_EXTS, VideoItem, frame_key, is_image

HMDB51_CLASSES = (
    "brush_hair", "cartwheel", "catch", "chew", "clap", "climb", "climb_stairs", "dive", "draw_sword", "dribble",
    "drink", "eat", "fall_floor", "fencing", "flic_flac", "golf", "handstand", "hit", "hug", "jump", "kick",
    "kick_ball", "kiss", "laugh", "pick", "pour", "pullup", "punch", "push", "pushup", "ride_bike", "ride_horse",
    "run", "shake_hands", "shoot_ball", "shoot_bow", "shoot_gun", "sit", "situp", "smile", "smoke", "somersault",
    "stand", "swing_baseball", "sword", "sword_exercise", "talk", "throw", "turn", "walk", "wave",
)
NUM_CLIPS = 6766
TAG_TRAIN, TAG_TEST, TAG_UNUSED = 1, 2, 0
SPLIT_COUNTS = {TAG_TRAIN: 3570, TAG_TEST: 1530, TAG_UNUSED: 1666}
SPLITS = (1, 2, 3)
SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>[123])\.txt$")


def read_split_files(splits_dir: str | Path, split: int) -> dict[str, list[tuple[str, int]]]:
    """Read one official split: ``{class: [(clip_file, tag), ...]}`` in file order.

    Raises:
        LsvitError: no such folder, no files for ``split``, or a malformed line (file:line named).
    """
    if split not in SPLITS:
        raise LsvitError(f"data.split={split}: HMDB51 has splits 1, 2 and 3")
    splits_dir = Path(splits_dir)
    if not splits_dir.is_dir():
        raise LsvitError(f"{splits_dir}: no split folder. Run tools/prepare_hmdb51.py first (see datasets/README.md)")
    out: dict[str, list[tuple[str, int]]] = {}
    for f in sorted(splits_dir.iterdir()):
        m = SPLIT_FILE.match(f.name)
        if not m or int(m.group("split")) != split:
            continue
        rows = []
        for n, line in enumerate(f.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise LsvitError(f"{f}:{n}: expected '<clip>.avi <0|1|2>', got {line.strip()!r}")
            rows.append((parts[0], int(parts[1])))
        out[m.group("cls")] = rows
    if not out:
        raise LsvitError(f"{splits_dir}: no '<class>_test_split{split}.txt' files")
    return out


def source_of(clip: str, cls: str) -> str:
    """The source video a clip was cut from (clips of one source are never split apart).

    HMDB51 names clips ``<source>_<class>_<body>_<camera>_<people>_<view>_<quality>_<n>``.
    """
    stem = Path(clip).stem
    i = stem.rfind(f"_{cls}_")
    return stem[:i] if i > 0 else re.sub(r"_\d+$", "", stem)


def resolve_clip(class_dir: Path, clip: str) -> str | tuple[str, ...] | None:
    """``<clip>.avi`` (any video extension) or a ``<clip>/`` frame folder inside ``class_dir``."""
    p = class_dir / clip
    if p.is_file():
        return str(p)
    stem = Path(clip).stem
    folder = class_dir / stem
    if folder.is_dir():
        frames = sorted((q for q in folder.iterdir() if q.is_file() and is_image(q)), key=frame_key)
        return tuple(str(q) for q in frames) if frames else None
    for ext in VIDEO_EXTS:
        q = class_dir / f"{stem}{ext}"
        if q.is_file():
            return str(q)
    return None


@dataclass
class SplitSets:
    """One official split resolved against the videos on disk."""

    class_names: list[str]
    train: list[VideoItem]
    test: list[VideoItem]
    missing: dict[str, list[str]] = field(default_factory=dict)  # class -> clips named but not on disk
    groups: list[str] = field(default_factory=list)  # source video of each training item
    test_groups: list[str] = field(default_factory=list)  # source video of each test item

    @property
    def num_missing(self) -> int:
        """Clips the split files name that are not on disk."""
        return sum(len(v) for v in self.missing.values())


def load_split(root: str | Path, split: int, classes: Sequence[str] | None = None, strict: bool = False,
               splits_dir: str | Path | None = None) -> SplitSets:
    """Train (tag 1) and test (tag 2) items of one official split; unused clips (tag 0) are left out.

    Args:
        root: the prepared dataset folder (``videos/`` and ``splits/`` inside).
        split: 1, 2 or 3.
        classes: a fixed class list (e.g. a checkpoint's); default: the split files' classes, sorted.
        strict: clips named in the split files but missing on disk are an error (else a warning with counts).
        splits_dir: the split-file folder when it is not ``root/splits``.

    Raises:
        LsvitError: missing folders or split files, classes without split files, or (strict) missing clips.
    """
    root = Path(root)
    videos = root / "videos"
    if not videos.is_dir():
        raise LsvitError(f"{videos}: no such folder. Run tools/prepare_hmdb51.py first (see datasets/README.md)")
    table = read_split_files(Path(splits_dir) if splits_dir else root / "splits", split)
    names = sorted(table) if classes is None else list(classes)
    absent = [c for c in names if c not in table]
    if absent:
        raise LsvitError(f"split {split}: no split file for classes {absent}")
    extra = sorted(d.name for d in videos.iterdir() if d.is_dir() and d.name not in table
                   and not d.name.startswith("."))
    if extra:
        warnings.warn(f"{videos}: class folders not in the split files are ignored: {extra}", stacklevel=2)
    unknown = sorted(set(names) - set(HMDB51_CLASSES))
    if unknown:
        warnings.warn(f"{root}: classes that are not HMDB51's 51: {unknown}", stacklevel=2)
    sets = SplitSets(names, [], [])
    for label, cls in enumerate(names):
        for clip, tag in table[cls]:
            if tag == TAG_UNUSED:
                continue
            src = resolve_clip(videos / cls, clip)
            if src is None:
                sets.missing.setdefault(cls, []).append(clip)
                continue
            item = VideoItem(f"{cls}/{Path(clip).stem}", label, src)
            if tag == TAG_TRAIN:
                sets.train.append(item)
                sets.groups.append(f"{cls}/{source_of(clip, cls)}")
            else:
                sets.test.append(item)
                sets.test_groups.append(f"{cls}/{source_of(clip, cls)}")
    if sets.missing:
        worst = sorted(sets.missing.items(), key=lambda kv: -len(kv[1]))[:5]
        msg = (f"split {split}: {sets.num_missing} clip(s) named in the split files are not under {videos} "
               f"(by class: {', '.join(f'{c}: {len(v)}' for c, v in worst)}"
               f"{', ...' if len(sets.missing) > 5 else ''}; e.g. {worst[0][0]}/{worst[0][1][0]})")
        if strict:
            raise LsvitError(msg + ". Re-run tools/prepare_hmdb51.py, or set data.strict=false to go on without them")
        warnings.warn(msg, stacklevel=2)
    return sets
