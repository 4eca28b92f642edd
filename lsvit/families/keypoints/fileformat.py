"""The keypoint HDF5 file (seed 000's layout), written and read.

**File layout** (written by extraction and by both importers, :func:`write_keypoint_h5`)::

    /                     attrs: label_map (JSON {class: index}), layout (JSON [[group, points, channels]]),
                                 feature_count, source (mediapipe | npy | csv), settings (JSON: extraction or
                                 import settings), skipped (JSON {id: reason}), detection_rate (mean),
                                 num_sequences, lsvit_recipe (what made it), lsvit_complete (written last)
    /sequences/<name>     float32 (T, F): every frame of one video (T varies); <name> from the video's
                          relative path ("class/clip_01" -> "class_clip_01", as seed 000 did)
                          attrs: label, original_path, class_name, id, num_frames, detection_rate,
                                 detection_rates (JSON {group: share of frames}), frame_size [w, h]

Sequences keep every frame; the data module makes them ``num_frames`` long, so one extraction serves any T.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsvit import LsvitError
from lsvit.data.h5 import mark_complete, open_h5, read_json_attr, write_json_attr
from lsvit.data.store import RECIPE_ATTR
from lsvit.families.keypoints.layout import Layout, guess_layout

KIND = "keypoint file"


# ------------------------------------------------------------------------------------------- the file
@dataclass
class KeypointRecord:
    """One sequence to write: every frame of one video (or imported sequence)."""

    id: str
    sequence: np.ndarray
    label: int
    class_name: str
    original_path: str
    detected: np.ndarray | None = None  # (T, G) per-frame, per-group detection flags
    frame_size: tuple[int, int] | None = None


def dataset_name(rel: str) -> str:
    """The HDF5 dataset name of a relative path (seed 000: ``class/clip.mp4`` -> ``class_clip_mp4``)."""
    return re.sub(r"[^0-9A-Za-z_\-]+", "_", rel).strip("_") or "_"


def write_keypoint_h5(path: str | Path, records: Sequence[KeypointRecord], class_names: Sequence[str],
                      layout: Layout, source: str, settings: dict[str, Any] | None = None,
                      skipped: dict[str, str] | None = None, recipe: Any = None) -> Path:
    """Write the keypoint file (see the module docstring); ``lsvit_complete`` goes last.

    ``recipe`` (everything that decided the content: settings and sources) is recorded so that a rerun can tell
    the same file from one made another way (:func:`lsvit.data.store.reuse_or_replace`).

    Callers write to a temporary name and rename (the extraction store and the importers do).

    Raises:
        LsvitError: a sequence that does not have ``layout.feature_count`` columns, or a bad label.
    """
    import h5py

    path = Path(path)
    f_count = layout.feature_count
    names: set[str] = set()
    rates = []
    with h5py.File(path, "w") as f:
        write_json_attr(f, "label_map", {c: i for i, c in enumerate(class_names)})
        write_json_attr(f, "layout", layout.to_json())
        f.attrs["feature_count"] = f_count
        f.attrs["source"] = source
        write_json_attr(f, "settings", settings or {})
        write_json_attr(f, "skipped", skipped or {})
        if recipe is not None:
            write_json_attr(f, RECIPE_ATTR, recipe)
        grp = f.create_group("sequences")
        for r in records:
            seq = np.asarray(r.sequence, dtype=np.float32)
            if seq.ndim != 2 or seq.shape[1] != f_count or len(seq) == 0:
                raise LsvitError(f"{r.original_path}: sequence of shape {seq.shape} does not fit {f_count} "
                                 f"features per frame ({layout.describe()})")
            if not -1 <= int(r.label) < len(class_names):
                raise LsvitError(f"{r.original_path}: label {r.label} outside the {len(class_names)} classes")
            name = dataset_name(r.id)
            base, k = name, 2
            while name in names:  # two paths that flatten alike ("a_b/c", "a/b_c")
                name, k = f"{base}__{k}", k + 1
            names.add(name)
            ds = grp.create_dataset(name, data=seq, compression="gzip", compression_opts=4, shuffle=True)
            ds.attrs["label"] = int(r.label)
            ds.attrs["original_path"] = str(r.original_path)
            ds.attrs["class_name"] = str(r.class_name)
            ds.attrs["id"] = str(r.id)
            ds.attrs["num_frames"] = int(len(seq))
            if r.detected is not None:
                det = np.asarray(r.detected, dtype=bool).reshape(len(seq), -1)
                rate = float(det.any(axis=1).mean())
                per = {g: float(det[:, i].mean()) for i, g in enumerate(layout.names[:det.shape[1]])}
            else:  # imported: a frame with any non-zero value counts as detected
                rate = float((np.abs(seq).sum(axis=1) > 0).mean())
                per = {}
            ds.attrs["detection_rate"] = rate
            write_json_attr(ds, "detection_rates", per)
            if r.frame_size is not None:
                ds.attrs["frame_size"] = np.asarray(r.frame_size, dtype=np.int32)
            rates.append(rate)
        f.attrs["num_sequences"] = len(records)
        f.attrs["detection_rate"] = float(np.mean(rates)) if rates else 0.0
        mark_complete(f)
    return path


@dataclass
class KeypointIndex:
    """What a keypoint file holds, read from its attributes (no sequence is loaded)."""

    path: Path
    class_names: list[str]
    layout: Layout
    source: str
    settings: dict[str, Any]
    names: list[str]
    ids: list[str]
    labels: list[int]
    lengths: list[int]
    detection_rates: list[float]
    aspects: list[float]
    skipped: dict[str, str] = field(default_factory=dict)


def read_keypoint_index(path: str | Path) -> KeypointIndex:
    """Open a keypoint file and read its index (label map, layout, one entry per sequence).

    Raises:
        LsvitError: not a complete lsvit keypoint file, or attributes that do not make sense (naming the file).
    """
    path = Path(path)
    f = open_h5(path, KIND, member="sequences")
    try:
        where = str(path)
        label_map = read_json_attr(f, "label_map", where)
        if not isinstance(label_map, dict) or sorted(label_map.values()) != list(range(len(label_map))) \
                or not all(isinstance(v, int) for v in label_map.values()):
            raise LsvitError(f"{path}: attribute 'label_map' must map class names to 0..K-1")
        class_names = [c for c, _ in sorted(label_map.items(), key=lambda kv: kv[1])]
        if "sequences" not in f:
            raise LsvitError(f"{path}: no 'sequences' group")
        grp = f["sequences"]
        f_count = int(f.attrs.get("feature_count", 0))
        layout = Layout.from_json(read_json_attr(f, "layout", where), f"{path}: layout") if "layout" in f.attrs \
            else guess_layout(f_count)
        if layout.feature_count != f_count:
            raise LsvitError(f"{path}: layout {layout.describe()} has {layout.feature_count} features, the file "
                             f"says {f_count}")
        names, ids, labels, lengths, rates, aspects = [], [], [], [], [], []
        for name in sorted(grp):
            ds = grp[name]
            if ds.ndim != 2 or ds.shape[1] != f_count:
                raise LsvitError(f"{path}: sequences/{name} has shape {ds.shape}, expected (T, {f_count})")
            label = int(ds.attrs.get("label", -1))
            if not -1 <= label < len(class_names):
                raise LsvitError(f"{path}: sequences/{name} has label {label} outside 0..{len(class_names) - 1}")
            names.append(name)
            ids.append(str(ds.attrs.get("id", name)))
            labels.append(label)
            lengths.append(int(ds.shape[0]))
            rates.append(float(ds.attrs.get("detection_rate", 1.0)))
            size = ds.attrs.get("frame_size")
            aspects.append(float(size[0]) / float(size[1]) if size is not None and size[1] else 1.0)
        settings = read_json_attr(f, "settings", where, default={})
        skipped = read_json_attr(f, "skipped", where, default={})
        source = str(f.attrs.get("source", ""))
        return KeypointIndex(path, class_names, layout, source, settings, names, ids, labels, lengths, rates,
                             aspects, skipped)
    finally:
        f.close()


def keypoint_feature_count(path: str) -> int:
    """The feature count of a keypoint file (the ``${keypoint_features:...}`` config resolver)."""
    if path in (None, "", "???"):
        raise LsvitError("data.path is not set: pass data.path=/path/to/keypoints.h5 (see "
                         "tools/extract_keypoints.py and tools/import_keypoints.py)")
    f = open_h5(path, KIND)
    try:
        return int(f.attrs.get("feature_count", 0))
    finally:
        f.close()
