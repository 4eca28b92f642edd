"""Find videos on disk: class-per-folder trees, frame folders, list files.

A *video item* is a video file or a frame sequence, in one of the layouts users have:

* ``root/<class>/<video>.mp4`` (any extension in :data:`VIDEO_EXTS`)
* ``root/<class>/<video>/frame_00001.jpg`` (a folder of frames per video)
* ``root/<class>/<video_id>_frame_<n>.jpg`` (frames of all videos side by side)

Class names are the sorted folder names; their index is the label.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lsvit import LsvitError
from lsvit.io import read_json

VIDEO_EXTS = frozenset({".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
                        ".3gp", ".ogv", ".ts", ".vob", ".gif"})
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
_FLAT_FRAME = re.compile(r"^(?P<vid>.+)_frame_(?P<n>\d+)$", re.IGNORECASE)
_NUMBER = re.compile(r"(\d+)(?!.*\d)")
MANIFEST = "manifest.json"
SPLIT_FOLDERS = ("train", "val", "valid", "validation", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset says about itself in its ``manifest.json`` (the built-in datasets write one).

    Attributes:
        name: the dataset's name (run names, model cards).
        root: the folder holding the manifest (its splits are sub-folders).
        description: one line for the model card.
        synthetic: rendered data (the card then says the model is a demonstration).
        group_pattern: how a video id maps to its source (:func:`lsvit.data.splits.group_of`).
        splits: the split folders it has (``train``, ``test``).
    """

    name: str
    root: Path
    description: str = ""
    synthetic: bool = False
    group_pattern: str | None = None
    splits: tuple[str, ...] = ()

    def split_folder(self, split: str) -> Path | None:
        """The folder of ``split`` when the dataset has it."""
        return self.root / split if split in self.splits and (self.root / split).is_dir() else None


def dataset_info(folder: str | Path | None) -> DatasetInfo | None:
    """The manifest of the dataset ``folder`` belongs to (``folder/manifest.json``, or its parent's when ``folder``
    is a split folder such as ``train/``); None when it has none or the manifest does not describe a dataset.

    The manifest is data: read as JSON, its values checked for type; nothing in it is executed.
    """
    if not folder:
        return None
    folder = Path(folder)
    for root in (folder, folder.parent) if folder.name in SPLIT_FOLDERS else (folder,):
        path = root / MANIFEST
        if not path.is_file():
            continue
        m = read_json(path, "dataset manifest")
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            return None
        pattern = m.get("group_pattern")
        return DatasetInfo(m["name"], root, str(m.get("description") or ""), bool(m.get("synthetic", False)),
                           pattern if isinstance(pattern, str) else None,
                           tuple(s for s in m.get("splits") or () if isinstance(s, str)))
    return None


def dataset_name(folder: str | Path) -> str:
    """A name for the dataset at ``folder``: its manifest's, else the folder's (its parent's for a split folder)."""
    info = dataset_info(folder)
    if info is not None:
        return info.name
    folder = Path(folder).resolve()
    return folder.parent.name if folder.name in SPLIT_FOLDERS else folder.name


@dataclass(frozen=True)
class VideoItem:
    """One video: ``source`` is a file path or the sorted frame image paths."""

    id: str
    label: int
    source: str | tuple[str, ...] = field(repr=False)

    @property
    def path(self) -> str:
        """A path that names the video in messages."""
        return self.source if isinstance(self.source, str) else self.id


def frame_key(p: Path) -> tuple[int, str]:
    m = _NUMBER.search(p.stem)
    return (int(m.group(1)) if m else -1, p.name)


def is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTS


def holds_flat_frames(folder_name: str, images: Iterable[Path]) -> bool:
    """Whether a folder's images are the frames of several videos side by side (``<video_id>_frame_<n>.jpg``),
    i.e. a folder of videos (a class folder), rather than the frames of one video.

    A folder whose frames are all named after the folder itself (``clip7/clip7_frame_1.jpg``) is one video.
    """
    vids = set()
    for q in images:
        m = _FLAT_FRAME.match(q.stem)
        if m is None:
            return False
        vids.add(m.group("vid"))
    return bool(vids) and vids != {folder_name}


def scan_folder(folder: Path, root: Path, nested: bool = False) -> list[tuple[str, str | tuple[str, ...]]]:
    """Video items directly inside ``folder`` as ``(id, source)``; ids are relative to ``root``.

    With ``nested`` (a tree of any depth, :func:`discover_unlabelled`), a sub-folder whose images are the frames of
    several videos side by side (:func:`holds_flat_frames`, e.g. ``test/<class>/<video_id>_frame_<n>.jpg``) is a
    folder of videos to walk into, not one frame folder; in a class folder every sub-folder is one video.

    Zero-byte files are kept: the reader reports them by name when they are loaded,
    so a broken file is counted once, in one place.
    """
    items: list[tuple[str, str | tuple[str, ...]]] = []
    flat: dict[str, list[Path]] = defaultdict(list)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise LsvitError(f"{folder}: cannot list the folder ({exc.strerror})") from exc
    for entry in entries:
        p = Path(entry.path)
        rel = p.relative_to(root)
        if entry.is_dir():
            frames = sorted((q for q in p.iterdir() if q.is_file() and is_image(q)), key=frame_key)
            if frames and not (nested and holds_flat_frames(p.name, frames)):
                items.append((rel.as_posix(), tuple(str(q) for q in frames)))
        elif p.suffix.lower() in VIDEO_EXTS:
            items.append((rel.with_suffix("").as_posix(), str(p)))
        elif is_image(p):
            m = _FLAT_FRAME.match(p.stem)
            if m:
                flat[m.group("vid")].append(p)
    for vid, frames in sorted(flat.items()):
        frames.sort(key=frame_key)
        items.append(((folder.relative_to(root) / vid).as_posix(), tuple(str(q) for q in frames)))
    return sorted(items, key=lambda x: x[0])


def discover_classes(root: str | Path, classes: Iterable[str] | None = None,
                     key: str = "data.root") -> tuple[list[str], list[VideoItem]]:
    """Discover a class-per-folder dataset.

    Args:
        root: the dataset folder; each sub-folder is a class.
        classes: a fixed class list (e.g. from a checkpoint); folders not in it are warned
            about and ignored, listed classes with no folder are an error.
        key: the setting that named ``root`` (for messages).

    Returns:
        ``(class_names, items)``; labels index ``class_names``.

    Raises:
        LsvitError: a missing root, no class folders, or a class without usable videos.
    """
    root = Path(root)
    if not root.is_dir():
        raise LsvitError(f"{key}={root}: no such folder. Point data.root at a folder with one "
                         "sub-folder per class (or run tools/make_synthetic.py for the built-in dataset).")
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not folders:
        raise LsvitError(f"{key}={root}: no class folders inside (expected {root}/<class>/<video>)")
    if classes is None:
        names = folders
    else:
        names = list(classes)
        extra = sorted(set(folders) - set(names))
        if extra:
            warnings.warn(f"{root}: folders not among the {len(names)} classes are ignored: {extra}", stacklevel=2)
        missing = [c for c in names if c not in folders]
        if missing:
            raise LsvitError(f"{root}: no folder for classes {missing}")
    items: list[VideoItem] = []
    empty = []
    for label, name in enumerate(names):
        found = scan_folder(root / name, root)
        if not found:
            empty.append(name)
        items.extend(VideoItem(i, label, s) for i, s in found)
    if empty:
        raise LsvitError(f"{root}: class folder(s) with no usable videos or frame folders: {empty}")
    return names, items


def discover_unlabelled(root: str | Path) -> list[VideoItem]:
    """All videos under ``root`` (recursively) or ``root`` itself if it is one video.

    Ids are paths relative to ``root`` without extension (the file name for one video).
    """
    root = Path(root)
    if root.is_file():
        return [VideoItem(root.stem, -1, str(root))]
    if not root.is_dir():
        raise LsvitError(f"data_root={root}: no such file or folder")
    items: list[VideoItem] = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames.sort()
        folder = Path(dirpath)
        for vid, src in scan_folder(folder, root, nested=True):
            if isinstance(src, tuple) and (root / vid).is_dir():
                dirnames[:] = [d for d in dirnames if (folder / d) != root / vid]  # a frame folder is a leaf
            items.append(VideoItem(vid, -1, src))
    items.sort(key=lambda it: it.id)
    return items


def read_list_file(list_file: str | Path, root: str | Path | None = None,
                   classes: Iterable[str] | None = None) -> tuple[list[str], list[VideoItem]]:
    """Read ``path label`` lines (label: class index or class name; ``#`` comments).

    Args:
        list_file: the text file.
        root: paths are relative to it (default: the list file's folder).
        classes: class names; otherwise names in the file are sorted, or indices used as-is.

    Returns:
        ``(class_names, items)``.
    """
    list_file = Path(list_file)
    if not list_file.is_file():
        raise LsvitError(f"data.list_file={list_file}: no such file")
    base = Path(root) if root else list_file.parent
    rows = []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise LsvitError(f"{list_file}:{n}: expected '<path> <label>', got {line!r}")
        rows.append((parts[0], parts[1]))
    labels = [lab for _, lab in rows]
    if classes is not None:
        names = list(classes)
    elif all(lab.isdigit() for lab in labels):
        names = [str(i) for i in range(max(int(x) for x in labels) + 1)] if labels else []
    else:
        names = sorted(set(labels))
    index = {c: i for i, c in enumerate(names)}
    items = []
    for (rel, lab) in rows:
        label = int(lab) if lab.isdigit() and lab not in index else index.get(lab)
        if label is None or not 0 <= label < len(names):
            raise LsvitError(f"{list_file}: label {lab!r} of {rel} is not a known class")
        p = base / rel
        if p.is_dir():
            frames = sorted((q for q in p.iterdir() if is_image(q)), key=frame_key)
            items.append(VideoItem(Path(rel).as_posix(), label, tuple(str(q) for q in frames)))
        else:
            items.append(VideoItem(Path(rel).with_suffix("").as_posix(), label, str(p)))
    return names, items
