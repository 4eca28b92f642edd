"""Import the seeds' keypoint formats into the keypoint HDF5 file (:mod:`lsvit.families.keypoints`).

* **Seed 002, ``.npy`` per frame**: ``MP_Data/<action>/<sequence>/<frame>.npy``, each file one
  flat vector (1662 numbers for MediaPipe Holistic). The action folder is the class; frames are
  numbered ``0.npy, 1.npy, ...`` without gaps.
* **Seed 004, landmark CSV**: columns ``class, accuracy, sequence`` then ``x1, y1, z1, v1, x2, ...``
  (pose 33 + right hand 21 + left hand 21 landmarks). One row per frame; the rows of one sequence
  are consecutive. ``class`` + ``accuracy`` become the label ``<class>_R`` (accuracy 1/R/right) or
  ``<class>_W`` (0/W/wrong). Several files may be given; only the first needs the header row
  (as seed 004's ``coordinates_1.csv, coordinates_2.csv, ...``). ``drop_visibility`` drops every
  ``v`` column.

Files are data: ``.npy`` files are loaded with ``allow_pickle=False`` and CSV cells are parsed as
numbers. Bad input is one error naming the file and the row or frame.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lsvit import LsvitError
from lsvit.data.store import reuse_or_replace
from lsvit.families.keypoints.fileformat import KIND, KeypointRecord, read_keypoint_index, write_keypoint_h5
from lsvit.families.keypoints.layout import Layout, guess_layout, mode_layout, points_layout, seed004_layout
from lsvit.locks import WriterLock

LABEL_COLUMNS = ("class", "accuracy", "sequence")
_LANDMARK = re.compile(r"^([xyzv])(\d+)$", re.IGNORECASE)
_RIGHT = {"1", "1.0", "r", "right", "true", "yes", "correct"}
_WRONG = {"0", "0.0", "w", "wrong", "false", "no", "incorrect"}


def named_layout(name: str, feature_count: int) -> Layout:
    """``auto`` (by size), a mode (``hands``, ``holistic``, ``holistic_noface``, ``pose_hands``; ``_novis``
    drops the visibility) or ``seed004`` / ``seed004_novis``."""
    if name == "auto":
        return guess_layout(feature_count)
    base, novis = (name[:-6], True) if name.endswith("_novis") else (name, False)
    if base == "seed004":
        lay = seed004_layout(not novis)
    elif base == "holistic_noface":
        lay = mode_layout("holistic", face=False, visibility=not novis)
    else:
        lay = mode_layout(base, visibility=not novis)
    if lay.feature_count != feature_count:
        raise LsvitError(f"layout={name} has {lay.feature_count} features per frame, the data has {feature_count}")
    return lay


def _write(out: Path, records: list[KeypointRecord], class_names: list[str], layout: Layout, source: str,
           settings: dict, overwrite: bool = False) -> Path:
    """Write the imported keypoint file atomically, unless it already holds exactly this import.

    The recipe it records is the import's settings and a digest of the sequences read: the same import again
    leaves the file as it is; another one (other settings, changed sources) is refused unless ``overwrite``.
    """
    digest = hashlib.sha256()
    for r in records:
        digest.update(f"{r.id}\0{r.label}\0".encode())
        digest.update(np.ascontiguousarray(r.sequence, dtype=np.float32).tobytes())
    recipe = {"source": source, "settings": settings, "classes": list(class_names), "content": digest.hexdigest()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with WriterLock(out, "output"):
        if reuse_or_replace(out, recipe, overwrite, KIND):
            return out
        tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
        try:
            write_keypoint_h5(tmp, records, class_names, layout, source, settings, recipe=recipe)
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
    return out


def _numbered(folder: Path, what: str) -> list[tuple[int, Path]]:
    out = []
    for p in folder.iterdir():
        stem = p.stem if p.is_file() else p.name
        if not re.fullmatch(r"\d+", stem):
            example = "0.npy, 1.npy, ..." if what == "frame" else "0, 1, ..."
            raise LsvitError(f"{p}: expected a numbered {what} ({example})")
        out.append((int(stem), p))
    return sorted(out)


def read_npy_sequences(root: str | Path) -> tuple[list[str], list[KeypointRecord]]:
    """Seed 002's ``MP_Data`` tree -> class names and one record per sequence.

    Raises:
        LsvitError: a missing or non-numeric frame, frames of different lengths, a non-finite value
            (naming the file or the sequence and frame).
    """
    root = Path(root)
    if not root.is_dir():
        raise LsvitError(f"{root}: no such folder (expected MP_Data/<action>/<sequence>/<frame>.npy)")
    actions = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not actions:
        raise LsvitError(f"{root}: no action folders (expected MP_Data/<action>/<sequence>/<frame>.npy)")
    records: list[KeypointRecord] = []
    width: tuple[int, Path] | None = None
    for label, action in enumerate(actions):
        seqs = [(n, p) for n, p in _numbered(root / action, "sequence") if p.is_dir()]
        if not seqs:
            raise LsvitError(f"{root / action}: no sequence folders")
        for n, seq_dir in seqs:
            frames = [(i, p) for i, p in _numbered(seq_dir, "frame") if p.suffix == ".npy"]
            if not frames:
                raise LsvitError(f"{seq_dir}: no frames (.npy files)")
            numbers = [i for i, _ in frames]
            missing = sorted(set(range(max(numbers) + 1)) - set(numbers))
            if missing:
                raise LsvitError(f"{seq_dir}: frame {missing[0]}.npy is missing ({len(missing)} missing of "
                                 f"0..{max(numbers)})")
            vecs = []
            for i, p in frames:
                try:
                    a = np.load(p, allow_pickle=False)
                except (ValueError, OSError, EOFError) as exc:
                    raise LsvitError(f"{p}: not a numeric .npy array ({str(exc).splitlines()[0][:120]})") from exc
                if a.dtype.kind not in "fiub":
                    raise LsvitError(f"{p}: frame {i} holds {a.dtype} values, not numbers")
                a = a.reshape(-1).astype(np.float32)
                if width is None:
                    width = (a.size, p)
                elif a.size != width[0]:
                    raise LsvitError(f"{p}: frame {i} has {a.size} values, {width[1]} has {width[0]} "
                                     "(ragged frames)")
                if not np.isfinite(a).all():
                    raise LsvitError(f"{p}: frame {i} holds NaN or infinite values")
                vecs.append(a)
            records.append(KeypointRecord(id=f"{action}/{n}", sequence=np.stack(vecs), label=label,
                                          class_name=action, original_path=str(seq_dir)))
    return actions, records


def import_npy(root: str | Path, out: str | Path, layout: str = "auto", overwrite: bool = False) -> Path:
    """Seed 002's ``MP_Data`` tree -> a keypoint HDF5 file.

    Args:
        root: the ``MP_Data`` folder.
        out: the ``.h5`` file to write (atomically).
        layout: ``auto`` (recognised by the vector length: 1662 is Holistic) or a name (see :func:`named_layout`).
        overwrite: replace a finished ``out`` made by another import (else refused).
    """
    class_names, records = read_npy_sequences(root)
    lay = named_layout(layout, records[0].sequence.shape[1])
    return _write(Path(out), records, class_names, lay, "npy", {"format": "mp_data_npy", "root": str(root),
                                                                  "layout": lay.to_json()}, overwrite)


def _csv_files(files: Sequence[str | Path] | str | Path) -> list[Path]:
    if isinstance(files, (str, Path)):
        files = [files]
    out: list[Path] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            # natural order: coordinates_2.csv before coordinates_10.csv
            found = sorted(p.glob("*.csv"),
                           key=lambda q: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", q.name)])
            if not found:
                raise LsvitError(f"{p}: no .csv files")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise LsvitError(f"{p}: no such file")
    return out


def _parse_header(header: list[str], path: Path) -> tuple[dict[str, int], list[tuple[int, str, int]]]:
    """Positions of the label columns and ``(column, channel, landmark)`` of the landmark columns."""
    low = [h.strip().lower() for h in header]
    pos = {}
    for col in LABEL_COLUMNS:
        if col not in low:
            raise LsvitError(f"{path}: header has no '{col}' column (expected class, accuracy, sequence, x1, "
                             "y1, ...)")
        pos[col] = low.index(col)
    marks = []
    for j, h in enumerate(low):
        if j in pos.values():
            continue
        m = _LANDMARK.match(h)
        if not m:
            raise LsvitError(f"{path}: column {j + 1} '{header[j]}' is not a landmark column (x1, y1, z1, v1, ...)")
        marks.append((j, m.group(1), int(m.group(2))))
    if not marks:
        raise LsvitError(f"{path}: no landmark columns")
    return pos, marks


def read_csv_sequences(files: Sequence[str | Path] | str | Path, drop_visibility: bool = False
                       ) -> tuple[list[str], list[KeypointRecord], Layout]:
    """Seed 004's landmark CSV file(s) -> class names, one record per sequence, and their layout.

    Raises:
        LsvitError: a wrong column count, a non-numeric cell, an unknown accuracy value, a sequence whose
            rows are not consecutive (naming the file and row).
    """
    paths = _csv_files(files)
    header: list[str] | None = None
    pos: dict[str, int] = {}
    marks: list[tuple[int, str, int]] = []
    seqs: dict[tuple[str, str, str, str], dict] = {}
    order: list[tuple[str, str, str, str]] = []
    for path in paths:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        start = 0
        if rows and rows[0] and rows[0][0].strip().lower() == "class":
            if header is None:
                header = rows[0]
                pos, marks = _parse_header(header, path)
            elif [h.strip().lower() for h in rows[0]] != [h.strip().lower() for h in header]:
                raise LsvitError(f"{path}: its header differs from {paths[0]}'s")
            start = 1
        if header is None:
            raise LsvitError(f"{path}: no header row (the first file must start with class, accuracy, sequence, "
                             "x1, ...)")
        last = None
        for r in range(start, len(rows)):
            row = rows[r]
            line = r + 1
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise LsvitError(f"{path}: row {line} has {len(row)} cells, the header has {len(header)}")
            cls, acc, seq = (row[pos[c]].strip() for c in LABEL_COLUMNS)
            if not cls:
                raise LsvitError(f"{path}: row {line}: the class cell is empty")
            if acc.lower() in _RIGHT:
                tag = "R"
            elif acc.lower() in _WRONG:
                tag = "W"
            else:
                raise LsvitError(f"{path}: row {line}: accuracy {acc!r} is neither right (1/R) nor wrong (0/W)")
            try:
                seq_no = str(int(float(seq)))
            except ValueError:
                raise LsvitError(f"{path}: row {line}: sequence {seq!r} is not a number") from None
            values = np.empty(len(marks), dtype=np.float32)
            for k, (j, _, _) in enumerate(marks):
                try:
                    values[k] = float(row[j])
                except ValueError:
                    raise LsvitError(f"{path}: row {line}, column '{header[j]}': {row[j]!r} is not a "
                                     "number") from None
            if not np.isfinite(values).all():
                raise LsvitError(f"{path}: row {line}: NaN or infinite landmark values")
            key = (str(path), cls, tag, seq_no)
            if key != last and key in seqs:
                raise LsvitError(f"{path}: row {line}: rows of sequence {seq_no} ({cls}_{tag}) are not consecutive "
                                 f"(it started at row {seqs[key]['first']})")
            if key not in seqs:
                seqs[key] = {"first": line, "last": line, "rows": []}
                order.append(key)
            seqs[key]["rows"].append(values)
            seqs[key]["last"] = line
            last = key
    if not order:
        raise LsvitError(f"{paths[0]}: no data rows")
    # landmark columns: channels per landmark must agree (x y z v, or x y z)
    chans: dict[int, str] = {}
    for _, ch, lm in marks:
        chans[lm] = chans.get(lm, "") + ch.lower()
    first = next(iter(chans.values()))
    if any(c != first for c in chans.values()) or "".join(sorted(first, key="xyzv".index)) != first:
        raise LsvitError(f"{paths[0]}: landmark columns must come as x, y[, z][, v] for every landmark")
    keep = [k for k, (_, ch, _) in enumerate(marks) if not (drop_visibility and ch.lower() == "v")]
    channels = first.replace("v", "") if drop_visibility else first
    layout = points_layout(len(chans), channels)
    labels = sorted({f"{k[1]}_{k[2]}" for k in order})
    records = []
    for key in order:
        path, cls, tag, seq_no = key
        name = f"{cls}_{tag}"
        s = seqs[key]
        arr = np.stack(s["rows"])[:, keep]
        records.append(KeypointRecord(id=f"{name}/{Path(path).stem}_seq{seq_no}", sequence=arr,
                                      label=labels.index(name), class_name=name,
                                      original_path=f"{path}:rows {s['first']}-{s['last']}"))
    return labels, records, layout


def import_csv(files: Sequence[str | Path] | str | Path, out: str | Path, drop_visibility: bool = False,
               overwrite: bool = False) -> Path:
    """Seed 004's landmark CSV file(s) (or a folder of them) -> a keypoint HDF5 file (``overwrite``: replace a
    finished ``out`` made by another import, else refused)."""
    class_names, records, layout = read_csv_sequences(files, drop_visibility)
    return _write(Path(out), records, class_names, layout, "csv",
                  {"format": "landmark_csv", "files": [str(p) for p in _csv_files(files)],
                   "drop_visibility": drop_visibility, "layout": layout.to_json()}, overwrite)


def import_tool(cfg: Mapping[str, Any]) -> str:
    """``tools/import_keypoints.py``: import seed 002's ``.npy`` tree or seed 004's CSVs; the summary line.

    Args:
        cfg: ``configs/import_keypoints.yaml`` composed (``format``, ``src``, ``out``, ``layout``,
            ``drop_visibility``).

    Raises:
        LsvitError: an unknown format, or what the importer refuses.
    """
    fmt, overwrite = cfg["format"], bool(cfg.get("overwrite", False))
    if fmt == "npy":
        out = import_npy(cfg["src"], cfg["out"], cfg["layout"], overwrite)
    elif fmt == "csv":
        src = cfg["src"]
        out = import_csv(src if isinstance(src, str) else list(src), cfg["out"], bool(cfg["drop_visibility"]),
                         overwrite)
    else:
        raise LsvitError(f"format={fmt}: choose npy (seed 002's MP_Data) or csv (seed 004)")
    idx = read_keypoint_index(out)
    return (f"wrote {out}: {len(idx.names)} sequences, {len(idx.class_names)} classes {idx.class_names[:8]}, "
            f"{idx.layout.feature_count} features per frame ({idx.layout.describe()})")
