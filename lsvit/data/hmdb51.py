"""HMDB51: archive preparation, the official splits, and the data module.

HMDB51 is distributed as ``hmdb51_org.rar`` (a RAR holding 51 per-class RARs of ``.avi``
clips, 6,766 in all) and ``test_train_splits.rar`` (153 files
``<class>_test_split{1,2,3}.txt``, each line ``<clip>.avi <tag>`` with tag 1 = train,
2 = test, 0 = unused; 3,570 / 1,530 / 1,666 clips per split). Reproductions go wrong in
three places, which this module closes: wrong split membership, model selection on the
test part, and silently missing clips.

Prepared layout::

    datasets/hmdb51/videos/<class>/<clip>.avi     (or <class>/<clip>/frame_00001.jpg)
    datasets/hmdb51/splits/<class>_test_split<n>.txt
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsvit import LsvitError
from lsvit.data.datamodule import VideoDataModule
from lsvit.data.discovery import VIDEO_EXTS, VideoItem, _frame_key, _is_image
from lsvit.data.splits import stratified_split

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
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>[123])\.txt$")


# ------------------------------------------------------------------------------------------ split files
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
        m = _SPLIT_FILE.match(f.name)
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
        frames = sorted((q for q in folder.iterdir() if q.is_file() and _is_image(q)), key=_frame_key)
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
    if sets.missing:
        worst = sorted(sets.missing.items(), key=lambda kv: -len(kv[1]))[:5]
        msg = (f"split {split}: {sets.num_missing} clip(s) named in the split files are not under {videos} "
               f"(by class: {', '.join(f'{c}: {len(v)}' for c, v in worst)}"
               f"{', ...' if len(sets.missing) > 5 else ''}; e.g. {worst[0][0]}/{worst[0][1][0]})")
        if strict:
            raise LsvitError(msg + ". Re-run tools/prepare_hmdb51.py, or set data.strict=false to go on without them")
        warnings.warn(msg, stacklevel=2)
    return sets


# ------------------------------------------------------------------------------------------ archives
def _rar_backend() -> str:
    try:
        from unrar.cffi import rarfile  # noqa: F401

        return "unrar2-cffi"
    except Exception:
        pass
    if shutil.which("unar"):
        return "unar"
    raise LsvitError("reading .rar archives needs the 'unrar2-cffi' package (pip install unrar2-cffi, or "
                     "pip install -e .[hmdb51]) or the 'unar' command; or extract the archives yourself "
                     "and pass the folders")


def extract_rar(archive: str | Path, dest: str | Path, want: Callable[[str], bool] | None = None) -> list[str]:
    """Extract the members of a RAR archive into ``dest``, streaming each one to disk.

    Each member is written to a temporary name and renamed, so an interrupted extraction
    never leaves a half-written file under its final name.

    Args:
        archive: the ``.rar`` file (RAR 3 solid, RAR 5).
        dest: output folder (member paths are kept, ``..`` refused).
        want: member-name filter; others are skipped.

    Returns:
        The member names written.

    Raises:
        LsvitError: not a RAR archive, or a corrupt one (the archive is named).
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise LsvitError(f"{archive}: no such archive")
    dest.mkdir(parents=True, exist_ok=True)
    if _rar_backend() == "unar":
        return _extract_unar(archive, dest, want)
    from unrar.cffi import rarfile
    from unrar.cffi.unrarlib import FLAGS_RHDF_DIRECTORY, BadRarFile, RarArchive

    if not rarfile.is_rarfile(str(archive)):
        raise LsvitError(f"{archive}: not a RAR archive (expected HMDB51's hmdb51_org.rar / test_train_splits.rar)")
    written: list[str] = []
    try:
        with RarArchive.open_for_processing(str(archive)) as rar:
            for header in rar.iterate_headers():
                name = header.FileNameW.replace("\\", "/")
                if header.Flags & FLAGS_RHDF_DIRECTORY or (want is not None and not want(name)):
                    header.skip()
                    continue
                target = _safe_target(dest, name, archive)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.part")
                with open(tmp, "wb") as f:
                    header.test(f.write)  # the callback receives the member's bytes chunk by chunk
                os.replace(tmp, target)
                written.append(name)
    except BadRarFile as exc:
        raise LsvitError(f"{archive}: corrupt or unreadable RAR archive ({exc.message})") from exc
    return written


def _safe_target(dest: Path, name: str, archive: Path) -> Path:
    target = (dest / name).resolve()
    if not str(target).startswith(str(dest.resolve()) + os.sep):
        raise LsvitError(f"{archive}: member {name!r} would be written outside {dest}")
    return target


def _extract_unar(archive: Path, dest: Path, want: Callable[[str], bool] | None) -> list[str]:
    listing = subprocess.run(["lsar", str(archive)], capture_output=True, text=True)
    if listing.returncode != 0:
        raise LsvitError(f"{archive}: not a readable RAR archive ({listing.stderr.strip() or listing.stdout.strip()})")
    names = [ln.strip() for ln in listing.stdout.splitlines()[1:] if ln.strip() and not ln.strip().endswith("/")]
    names = [n for n in names if want is None or want(n)]
    if names:
        tmp = dest / f".unar_{os.getpid()}"
        res = subprocess.run(["unar", "-q", "-f", "-D", "-o", str(tmp), str(archive), *names], capture_output=True,
                             text=True)
        if res.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LsvitError(f"{archive}: unar failed ({res.stderr.strip()})")
        for n in names:
            src = next(tmp.rglob(Path(n).name), None)
            if src is not None:
                target = _safe_target(dest, n, archive)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, target)
        shutil.rmtree(tmp, ignore_errors=True)
    return names


# ------------------------------------------------------------------------------------------ preparation
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
        names = extract_rar(splits, tmp, lambda n: _SPLIT_FILE.match(Path(n).name) is not None)
        if not names:
            raise LsvitError(f"{splits}: holds no '<class>_test_split<n>.txt' files (is this test_train_splits.rar?)")
        src = tmp
    elif splits.is_dir():
        src = splits
    else:
        raise LsvitError(f"splits={splits}: no such archive or folder (expected test_train_splits.rar or the "
                         "folder of <class>_test_split<n>.txt files)")
    files = [f for f in src.rglob("*.txt") if _SPLIT_FILE.match(f.name)]
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


# ------------------------------------------------------------------------------------------ miniature copy
def make_mini_hmdb51(root: str | Path, classes: Iterable[str] = ("clap", "jump", "run", "walk"),
                     sources_per_class: int = 5, clips_per_source: int = 2, num_frames: int = 10, size: int = 32,
                     seed: int = 0) -> Path:
    """A miniature HMDB51 in the prepared layout: tiny 4:3 videos, official-format split files.

    Each class is drawn from one motion class of the built-in motion dataset (so a model can
    learn it), clips are named like HMDB51's (``<source>_<class>_f_nm_np1_fr_med_<n>.avi``), and
    each split assigns whole source videos to train (1), test (2) or unused (0), rotating
    the assignment between splits like the official files do.
    """
    import cv2

    from lsvit.data.synthetic import CLASSES as MOTIONS
    from lsvit.data.synthetic import render_video, write_video

    root = Path(root)
    rng = np.random.default_rng(seed)
    classes = list(classes)
    lines: dict[tuple[str, int], list[str]] = defaultdict(list)
    for ci, cls in enumerate(classes):
        (root / "videos" / cls).mkdir(parents=True, exist_ok=True)
        for s in range(sources_per_class):
            source = f"Source{s:02d}{cls.title().replace('_', '')}"
            for k in range(clips_per_source):
                clip = f"{source}_{cls}_f_nm_np1_fr_med_{k}.avi"
                frames = render_video(MOTIONS[ci % len(MOTIONS)], rng, num_frames, size)
                # 4:3 like HMDB51's 320x240, so spatial test views (crops) differ
                frames = np.stack([cv2.resize(f, (size * 4 // 3, size), interpolation=cv2.INTER_LINEAR)
                                   for f in frames])
                write_video(root / "videos" / cls / clip, frames)
                for split in SPLITS:
                    # rotate sources: ~60 % train, ~20-40 % test, the rest unused
                    r = (s + split - 1) % sources_per_class
                    tag = TAG_TRAIN if r < max(1, round(0.6 * sources_per_class)) else \
                        TAG_TEST if r < sources_per_class - (1 if sources_per_class >= 5 else 0) else TAG_UNUSED
                    lines[(cls, split)].append(f"{clip} {tag} ")
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for (cls, split), rows in lines.items():
        (root / "splits" / f"{cls}_test_split{split}.txt").write_text("\n".join(rows) + "\n")
    return root


# ------------------------------------------------------------------------------------------ data module
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
