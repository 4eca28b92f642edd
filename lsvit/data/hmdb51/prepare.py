"""Build ``datasets/hmdb51/{videos,splits}`` from the official archives or extracted folders, and verify it.

Resumable: a class folder appears under its final name only once complete, and a rerun skips
finished classes; the verification lists every missing clip and compares with the official counts.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lsvit import LsvitError
from lsvit.data.discovery import VIDEO_EXTS
from lsvit.data.hmdb51.archives import extract_rar
from lsvit.data.hmdb51.splits import (
    HMDB51_CLASSES,
    NUM_CLIPS,
    SPLIT_COUNTS,
    SPLIT_FILE,
    SPLITS,
    TAG_TEST,
    TAG_TRAIN,
    TAG_UNUSED,
    read_split_files,
    resolve_clip,
)


@dataclass
class PrepareReport:
    """What :func:`prepare_hmdb51` found; ``problems`` empty means the dataset is complete."""

    root: Path
    classes: list[str]
    clips: int
    split_counts: dict[int, dict[int, int]]  # split -> tag -> clips
    missing: dict[int, int]  # split -> clips named in its files but not on disk
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A human-readable account, one line per fact."""
        lines = [f"{self.root}: {len(self.classes)} classes, {self.clips} clips"]
        for s, c in sorted(self.split_counts.items()):
            lines.append(f"  split {s}: {c.get(TAG_TRAIN, 0)} train / {c.get(TAG_TEST, 0)} test / "
                         f"{c.get(TAG_UNUSED, 0)} unused, {self.missing.get(s, 0)} named but not on disk")
        lines += [f"warning: {w}" for w in self.warnings] + [f"problem: {p}" for p in self.problems]
        lines.append("OK: complete" if not self.problems else f"{len(self.problems)} problem(s)")
        return "\n".join(lines)


def _class_of_archive(name: str) -> str | None:
    p = Path(name)
    return p.stem if p.suffix.lower() == ".rar" else None


def _install_class_dir(src: Path, dst: Path, link: bool) -> None:
    """Put one extracted class folder in place under its final name (atomically)."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    if tmp.is_symlink() or tmp.is_file():
        tmp.unlink()
    elif tmp.exists():
        shutil.rmtree(tmp)
    if link:
        os.symlink(src.resolve(), tmp, target_is_directory=True)
    else:
        shutil.copytree(src, tmp)
    os.replace(tmp, dst)


def _prepare_videos(videos: Path, out: Path, link: bool, keep_archives: bool, log: Callable[[str], None]) -> None:
    dst_root = out / "videos"
    dst_root.mkdir(parents=True, exist_ok=True)
    work = out / ".archives"

    def done(cls: str) -> bool:
        return (dst_root / cls).exists()

    def extract_class(rar: Path, cls: str) -> None:
        tmp = dst_root / f".{cls}.extracting"
        shutil.rmtree(tmp, ignore_errors=True)
        names = extract_rar(rar, tmp)
        # clips sit at the top of each class archive or inside a <class>/ folder
        inner = tmp / cls if (tmp / cls).is_dir() and not any(Path(n).parent == Path(".") for n in names) else tmp
        os.replace(inner, dst_root / cls)
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"  {cls}: {len(names)} clips")

    if videos.is_file():  # hmdb51_org.rar: 51 per-class RARs inside
        marker = dst_root / f".complete-{videos.name}-{videos.stat().st_size}"
        if marker.exists():  # a rerun: do not scan the (solid, 2 GB) archive again
            log(f"{videos}: already extracted")
            return
        pending = lambda n: (c := _class_of_archive(n)) is not None and not done(c)  # noqa: E731
        log(f"extracting the class archives from {videos} ...")
        inner_rars = extract_rar(videos, work, pending)
        if not inner_rars and not any(dst_root.iterdir()):
            raise LsvitError(f"{videos}: holds no per-class .rar archives (is this hmdb51_org.rar?)")
        for n in sorted(inner_rars):
            cls = _class_of_archive(n)
            extract_class(work / n, cls)  # type: ignore[arg-type]
            if not keep_archives:
                (work / n).unlink()
        if not keep_archives:
            shutil.rmtree(work, ignore_errors=True)
        marker.write_text("every class archive extracted\n")
        return
    if not videos.is_dir():
        raise LsvitError(f"videos={videos}: no such archive or folder (expected hmdb51_org.rar or its extracted "
                         "contents)")
    rars = sorted(videos.glob("*.rar"))
    if rars:  # the outer archive already extracted: per-class RARs
        for rar in rars:
            if not done(rar.stem):
                extract_class(rar, rar.stem)
        return
    classes = sorted(d for d in videos.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise LsvitError(f"videos={videos}: neither per-class .rar archives nor class folders inside")
    if videos.resolve() == dst_root.resolve():
        return
    for d in classes:  # extracted class folders of .avi clips or of frame folders
        if not done(d.name):
            _install_class_dir(d, dst_root / d.name, link)


def _prepare_splits(splits: Path, out: Path) -> None:
    dst = out / "splits"
    if splits.is_file():
        tmp = out / ".splits.extracting"
        shutil.rmtree(tmp, ignore_errors=True)
        names = extract_rar(splits, tmp, lambda n: SPLIT_FILE.match(Path(n).name) is not None)
        if not names:
            raise LsvitError(f"{splits}: holds no '<class>_test_split<n>.txt' files (is this test_train_splits.rar?)")
        src = tmp
    elif splits.is_dir():
        src = splits
    else:
        raise LsvitError(f"splits={splits}: no such archive or folder (expected test_train_splits.rar or the "
                         "folder of <class>_test_split<n>.txt files)")
    files = [f for f in src.rglob("*.txt") if SPLIT_FILE.match(f.name)]
    if not files:
        raise LsvitError(f"splits={splits}: no '<class>_test_split<n>.txt' files inside")
    if src.resolve() != dst.resolve():
        stage = out / ".splits.tmp"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, stage / f.name)
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(stage, dst)
    shutil.rmtree(out / ".splits.extracting", ignore_errors=True)


def verify_hmdb51(root: str | Path, check_counts: bool = True) -> PrepareReport:
    """Count classes, clips and split membership of a prepared folder and list every problem.

    Args:
        root: the prepared folder.
        check_counts: compare with the official figures (51 classes, 6,766 clips, 3,570 / 1,530 /
            1,666 per split); off for subsets and miniature copies.
    """
    root = Path(root)
    videos = root / "videos"
    classes = sorted(d.name for d in videos.iterdir() if d.is_dir() and not d.name.startswith(".")) \
        if videos.is_dir() else []
    clips = 0
    for c in classes:
        clips += sum(1 for e in os.scandir(videos / c)
                     if (e.is_file() and Path(e.name).suffix.lower() in VIDEO_EXTS) or e.is_dir())
    rep = PrepareReport(root, classes, clips, {}, {})
    unknown = sorted(set(classes) - set(HMDB51_CLASSES))
    if unknown:
        rep.warnings.append(f"class folders that are not one of HMDB51's 51 classes: {unknown}")
    for s in SPLITS:
        try:
            table = read_split_files(root / "splits", s)
        except LsvitError as exc:
            rep.problems.append(str(exc))
            continue
        counts: Counter[int] = Counter(tag for rows in table.values() for _, tag in rows)
        rep.split_counts[s] = dict(counts)
        no_folder = sorted(set(table) - set(classes))
        if no_folder:
            rep.problems.append(f"split {s}: classes with split files but no video folder: {no_folder}")
        missing = [f"{c}/{clip}" for c, rows in table.items() if c in classes for clip, _ in rows
                   if resolve_clip(videos / c, clip) is None]
        rep.missing[s] = len(missing)
        if missing:
            rep.problems.append(f"split {s}: {len(missing)} clip(s) named in the split files are not on disk "
                                f"(e.g. {missing[:3]})")
        if check_counts and dict(counts) != SPLIT_COUNTS:
            rep.problems.append(f"split {s}: {counts.get(1, 0)} train / {counts.get(2, 0)} test / "
                                f"{counts.get(0, 0)} unused, expected 3570 / 1530 / 1666")
    if check_counts:
        if len(classes) != len(HMDB51_CLASSES):
            missing_cls = sorted(set(HMDB51_CLASSES) - set(classes))
            rep.problems.append(f"{len(classes)} class folders, expected 51" +
                                (f" (missing: {missing_cls})" if missing_cls else ""))
        if clips != NUM_CLIPS:
            rep.problems.append(f"{clips} clips on disk, expected {NUM_CLIPS}")
    return rep


def prepare_hmdb51(videos: str | Path, splits: str | Path, out: str | Path = "datasets/hmdb51", link: bool = True,
                   keep_archives: bool = False, check_counts: bool = True,
                   log: Callable[[str], None] = print) -> PrepareReport:
    """Build ``out/videos/<class>/`` and ``out/splits/`` from the official archives or extracted folders.

    Resumable: a class folder appears under its final name only once it is complete, and
    classes already there are skipped on a rerun.

    Args:
        videos: ``hmdb51_org.rar``; or a folder of the 51 per-class ``.rar`` files; or a folder of
            class folders holding ``.avi`` clips or per-clip frame folders (``class/clip/frame_00001.jpg``).
        splits: ``test_train_splits.rar`` or a folder holding the 153 split files (searched recursively).
        out: the prepared dataset folder.
        link: extracted class folders are symlinked into ``out`` (False: copied).
        keep_archives: keep the per-class RARs extracted from ``hmdb51_org.rar``.
        check_counts: compare with the official counts (see :func:`verify_hmdb51`).
        log: progress messages.

    Returns:
        The verification report (``problems`` lists everything missing or wrong).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _prepare_videos(Path(videos), out, link, keep_archives, log)
    _prepare_splits(Path(splits), out)
    return verify_hmdb51(out, check_counts)
