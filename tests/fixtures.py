"""Test fixtures that write data: a miniature HMDB51 in the prepared layout, and packed like the download."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from rar_writer import write_rar

from lsvit.data.hmdb51.splits import SPLITS, TAG_TEST, TAG_TRAIN, TAG_UNUSED


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


def pack_official_archives(mini: Path, dest: Path) -> tuple[Path, Path]:
    """The miniature packed like the real download: a RAR of per-class RARs, and the split RAR."""
    dest.mkdir(parents=True, exist_ok=True)
    inner = {}
    for d in sorted((mini / "videos").iterdir()):
        rar = write_rar(dest / f"{d.name}.rar", {f"{d.name}/{f.name}": f.read_bytes() for f in sorted(d.iterdir())})
        inner[f"{d.name}.rar"] = rar.read_bytes()
        rar.unlink()
    videos = write_rar(dest / "hmdb51_org.rar", inner)
    splits = write_rar(dest / "test_train_splits.rar", {f"testTrainMulti_7030_splits/{f.name}": f.read_bytes()
                                                        for f in sorted((mini / "splits").iterdir())})
    return videos, splits


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden parts skipped): relative path -> bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}
