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

**Seed 000's own files** (its notebook's ``preprocess_videos_to_hdf5``) are read as they are: the root attribute
``label_map`` (JSON) and ``sequences/<class_video>`` datasets of shape ``(NUM_FRAMES_PER_VIDEO, INPUT_SIZE)`` with the
attributes ``label``, ``original_path`` and ``class_name``, and nothing else: no ``feature_count`` (the layout is
inferred from the width of the sequences, :func:`lsvit.families.keypoints.layout.guess_layout`, as for seed 002's
``.npy``: 84 is seed 000's two hands x 21 x (x, y)) and no completion flag (:func:`seed000_check` tells such a file
from one of ours left unfinished, and a file that is neither from both, saying what it lacks). Their sequences are
already cut or zero-padded to the notebook's length; ``data.num_frames`` set to that length takes them unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsvit import LsvitError
from lsvit.data.h5 import COMPLETE_ATTR, mark_complete, open_h5, read_json_attr, write_json_attr
from lsvit.data.store import RECIPE_ATTR
from lsvit.families.keypoints.layout import Layout, guess_layout

KIND = "keypoint file"
SEED000_SOURCE = "seed000"
# attributes only this project's writer puts on a keypoint file (written before any sequence): a file with one of them
# and without the completion flag is ours, unfinished
OWN_ATTRS = ("feature_count", "layout", "source", RECIPE_ATTR)


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


def seed000_check(f: Any) -> str | None:
    """What a keypoint file without this project's completion flag is (:func:`lsvit.data.h5.open_h5`'s ``foreign``).

    Returns:
        None: one of ours, unfinished (it carries our attributes); ``""``: seed 000's extraction output (root
        ``label_map``, ``sequences/<name>`` 2-D datasets with a ``label`` attribute, none of our attributes);
        otherwise the message naming what the file lacks to be either.
    """
    if any(k in f.attrs for k in OWN_ATTRS):
        return None
    missing = []
    if "label_map" not in f.attrs:
        missing.append("the root attribute 'label_map' (JSON {class: index})")
    grp = f.get("sequences")
    names = list(grp) if grp is not None and not hasattr(grp, "shape") else None
    if names is None:
        missing.append("a group 'sequences' holding one dataset per video")
    elif not names:
        missing.append("any sequence under 'sequences'")
    else:
        bad = [n for n in names if getattr(grp[n], "ndim", None) != 2 or "label" not in grp[n].attrs]
        if bad:
            missing.append(f"2-D (frames, features) datasets with a 'label' attribute under 'sequences' ({len(bad)} of "
                           f"{len(names)} are not, e.g. sequences/{bad[0]})")
    if not missing:
        return ""
    return (f"not a {KIND}: neither this project's (written by tools/extract_keypoints.py or tools/import_keypoints.py: "
            f"attributes {', '.join(repr(a) for a in (COMPLETE_ATTR, 'feature_count', 'layout'))}) nor seed 000's "
            "extraction output (root attribute 'label_map', 'sequences/<video>' datasets with attributes 'label', "
            "'original_path', 'class_name'): it lacks " + "; ".join(missing))


def open_keypoint_file(path: str | Path) -> Any:
    """A keypoint file opened for reading: this project's (complete) or seed 000's, else one clear error."""
    return open_h5(path, KIND, member="sequences", foreign=seed000_check)


def read_keypoint_index(path: str | Path) -> KeypointIndex:
    """Open a keypoint file (this project's or seed 000's) and read its index (label map, layout, one entry per
    sequence).

    Raises:
        LsvitError: not a complete keypoint file of either kind (saying what it lacks), or attributes that do not make
            sense (naming the file).
    """
    path = Path(path)
    f = open_keypoint_file(path)
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
        seed000 = not bool(f.attrs.get(COMPLETE_ATTR, False))  # open_keypoint_file let it in: seed 000's layout
        if seed000:
            widths = sorted({int(grp[n].shape[1]) for n in grp})
            if len(widths) != 1:
                raise LsvitError(f"{path}: seed 000's sequences have {widths} features per frame; one width expected")
            f_count = widths[0]
        else:
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
        if seed000:
            ids = _seed000_ids(grp, names)
        settings = read_json_attr(f, "settings", where, default={})
        skipped = read_json_attr(f, "skipped", where, default={})
        source = SEED000_SOURCE if seed000 else str(f.attrs.get("source", ""))
        return KeypointIndex(path, class_names, layout, source, settings, names, ids, labels, lengths, rates,
                             aspects, skipped)
    finally:
        f.close()


def _seed000_ids(grp: Any, names: list[str]) -> list[str]:
    """``class/video`` ids of seed 000's sequences (from ``class_name`` and ``original_path``, as this project names
    videos), or the dataset names where those attributes are missing or two videos would share an id."""
    ids = []
    for n in names:
        attrs = grp[n].attrs
        cls, orig = attrs.get("class_name"), attrs.get("original_path")
        cls, orig = (v.decode() if isinstance(v, bytes) else v for v in (cls, orig))
        ids.append(f"{cls}/{Path(str(orig).replace(chr(92), '/')).stem}" if cls and orig else n)
    return ids if len(set(ids)) == len(ids) else list(names)


def keypoint_feature_count(path: str) -> int:
    """The feature count of a keypoint file (the ``${keypoint_features:...}`` config resolver)."""
    if path in (None, "", "???"):
        raise LsvitError("data.path is not set: pass data.path=/path/to/keypoints.h5 (see "
                         "tools/extract_keypoints.py and tools/import_keypoints.py)")
    return read_keypoint_index(path).layout.feature_count  # seed 000's files record no feature_count: their width
