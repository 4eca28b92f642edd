"""Keypoint sequences: the HDF5 file (seed 000's layout), fixed-length sequences, augmentation, the data module.

**File layout** (written by extraction and by both importers, :func:`write_keypoint_h5`)::

    /                     attrs: label_map (JSON {class: index}), layout (JSON [[group, points, channels]]),
                                 feature_count, source (mediapipe | npy | csv), settings (JSON: extraction or
                                 import settings), skipped (JSON {id: reason}), detection_rate (mean),
                                 num_sequences, lsvit_complete (written last)
    /sequences/<name>     float32 (T, F): every frame of one video (T varies); <name> from the video's
                          relative path ("class/clip_01" -> "class_clip_01", as seed 000 did)
                          attrs: label, original_path, class_name, id, num_frames, detection_rate,
                                 detection_rates (JSON {group: share of frames}), frame_size [w, h]

Sequences keep every frame; the data module makes them ``num_frames`` long (centre truncation /
zero padding at the end, or uniform sampling), so one extraction serves any T.

Training samples are a function of their seed (:class:`lsvit.data.dataset.SeededSampler`): mirror
(hands and left/right-named labels swapped), rotation/scale/shift and time warp are drawn once per
sequence, so the whole sequence moves together.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lsvit import LsvitError
from lsvit.data.dataset import collate, sample_or_stand_in, split_key
from lsvit.data.h5 import LazyH5, mark_complete, open_h5, read_json_attr, write_json_attr
from lsvit.data.splits import check_validation, split_summary, stratified_split
from lsvit.features.keypoint_layout import Layout, guess_layout, mirror_index

SAMPLINGS = ("pad", "uniform")
NORMALIZE = ("none", "anchor")
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
                      skipped: dict[str, str] | None = None) -> Path:
    """Write the keypoint file (see the module docstring); ``lsvit_complete`` goes last.

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
    f = open_h5(path, KIND)
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


def _register_resolver() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("keypoint_features"):
        OmegaConf.register_new_resolver("keypoint_features", keypoint_feature_count)


_register_resolver()


# ------------------------------------------------------------------------------------------- sequences
def fix_length(seq: np.ndarray, num_frames: int, sampling: str = "pad", start: int | None = None) -> np.ndarray:
    """``(T, F)`` -> ``(num_frames, F)``.

    ``pad``: a longer sequence keeps its centre (or the window at ``start``), a shorter one gets zero
    frames at the end (seed 000). ``uniform``: ``num_frames`` evenly spaced frames of a longer
    sequence (the whole motion at a lower rate); a shorter one is padded.
    """
    t = len(seq)
    if t >= num_frames:
        if sampling == "uniform":
            return seq[np.linspace(0, t - 1, num_frames).round().astype(int)]
        s = (t - num_frames) // 2 if start is None else int(min(max(start, 0), t - num_frames))
        return seq[s:s + num_frames]
    out = np.zeros((num_frames, seq.shape[1]), dtype=seq.dtype)
    out[:t] = seq
    return out


def _present(pts: np.ndarray) -> np.ndarray:
    """``(T, P, C)`` -> ``(T, P)``: a point is missing when all its values are 0 (MediaPipe found nothing)."""
    return np.abs(pts).sum(axis=-1) > 0


def _xy(group_channels: str) -> tuple[int, int, int | None]:
    return group_channels.index("x"), group_channels.index("y"), (group_channels.index("z")
                                                                  if "z" in group_channels else None)


def sequence_anchor(seq: np.ndarray, layout: Layout, aspect: float = 1.0) -> tuple[float, float, float] | None:
    """``(x, y, scale)`` of the body anchor over the sequence (None when nothing was detected).

    Shoulders' centre and width when there is a pose; otherwise the wrists' mean and twice the palm
    length (wrist to middle-finger knuckle); otherwise the centroid and mean spread of all points.
    x is measured in height units (``x * aspect``) so that the scale is the same in both directions.
    """
    pts = layout.points(seq)
    pose = layout.group("pose")
    if pose is not None and pose.points == 33 and "x" in pose.channels:
        ix, iy, _ = _xy(pose.channels)
        p = pts["pose"]
        ok = _present(p)[:, 11] & _present(p)[:, 12]
        if ok.any():
            ls, rs = p[ok][:, 11], p[ok][:, 12]
            cx, cy = (ls[:, ix] + rs[:, ix]).mean() / 2, (ls[:, iy] + rs[:, iy]).mean() / 2
            width = np.hypot((ls[:, ix] - rs[:, ix]) * aspect, ls[:, iy] - rs[:, iy]).mean()
            if width > 1e-6:
                return float(cx), float(cy), float(width)
    wrists, palms = [], []
    for name in ("left_hand", "right_hand"):
        g = layout.group(name)
        if g is None or g.points != 21 or "x" not in g.channels:
            continue
        ix, iy, _ = _xy(g.channels)
        h = pts[name]
        ok = _present(h)[:, 0]
        if ok.any():
            wrists.append(h[ok][:, 0, [ix, iy]])
            palms.append(np.hypot((h[ok][:, 9, ix] - h[ok][:, 0, ix]) * aspect, h[ok][:, 9, iy] - h[ok][:, 0, iy]))
    if wrists:
        w = np.concatenate(wrists)
        scale = 2 * float(np.concatenate(palms).mean())
        if scale > 1e-6:
            return float(w[:, 0].mean()), float(w[:, 1].mean()), scale
    xs, ys = [], []
    for g in layout.groups:
        if "x" in g.channels and "y" in g.channels:
            ix, iy, _ = _xy(g.channels)
            ok = _present(pts[g.name])
            xs.append(pts[g.name][..., ix][ok])
            ys.append(pts[g.name][..., iy][ok])
    if not xs or not sum(len(x) for x in xs):
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    spread = float(np.hypot((x - x.mean()) * aspect, y - y.mean()).mean())
    return float(x.mean()), float(y.mean()), spread if spread > 1e-6 else 1.0


def normalize_sequence(seq: np.ndarray, layout: Layout, mode: str = "anchor", aspect: float = 1.0) -> np.ndarray:
    """Coordinates relative to the body anchor, in units of its scale (``mode="anchor"``), so the
    model does not learn where the person stood or how far from the camera; missing points stay 0.
    Visibility values are left alone; z is divided by the scale."""
    if mode == "none" or not layout.spatial:
        return seq
    anchor = sequence_anchor(seq, layout, aspect)
    if anchor is None:
        return seq
    ax, ay, s = anchor
    out = seq.copy()
    for name, p in layout.points(out).items():
        g = layout.group(name)
        ix, iy, iz = _xy(g.channels)  # type: ignore[union-attr]
        ok = _present(p)
        p[..., ix] = np.where(ok, (p[..., ix] - ax) * aspect / s, 0.0)
        p[..., iy] = np.where(ok, (p[..., iy] - ay) / s, 0.0)
        if iz is not None:
            p[..., iz] = np.where(ok, p[..., iz] / s, 0.0)
    return out


def prepare_sequence(seq: np.ndarray, layout: Layout, num_frames: int, sampling: str = "pad",
                     normalize: str = "anchor", aspect: float = 1.0, start: int | None = None) -> np.ndarray:
    """Evaluation's path from a raw sequence to the model's ``(num_frames, F)`` input (inference and
    realtime use it too, so every path sees the same numbers)."""
    return normalize_sequence(fix_length(np.asarray(seq, dtype=np.float32), num_frames, sampling, start), layout,
                              normalize, aspect).astype(np.float32)


SIDE_WORDS = {"left": "right", "right": "left"}


def mirror_label_map(class_names: Sequence[str], mirror_map: dict[str, str] | None = None) -> list[int]:
    """Label index -> label index under a horizontal mirror.

    ``mirror_map`` pairs classes explicitly (either direction); otherwise a class whose name has the
    word ``left`` or ``right`` (``swipe_left``, ``Left-Turn``) pairs with the class named with the other
    word. Other classes keep their label (``_R``/``_W`` suffixes mean right/wrong, not a side).

    Raises:
        LsvitError: a class names a side but has no partner, or the map names unknown classes.
    """
    index = {c: i for i, c in enumerate(class_names)}
    out = list(range(len(class_names)))
    if mirror_map:
        for a, b in dict(mirror_map).items():
            if a not in index or b not in index:
                raise LsvitError(f"data.mirror_map: {a!r} -> {b!r} names a class that is not in the data "
                                 f"({list(class_names)[:10]})")
            out[index[a]], out[index[b]] = index[b], index[a]
        return out
    for c, i in index.items():
        words = re.split(r"[_\-\s.]+", c)
        sides = [w for w in words if w.lower() in SIDE_WORDS]
        if not sides:
            continue
        swapped = [(_swap_case(w, SIDE_WORDS[w.lower()]) if w.lower() in SIDE_WORDS else w) for w in words]
        candidates = [c2 for c2 in class_names if re.split(r"[_\-\s.]+", c2) == swapped]
        if not candidates:
            raise LsvitError(f"data.mirror > 0 but class {c!r} names a side and has no mirrored partner "
                             "(a mirrored clip would carry the wrong label): give data.mirror_map, or set "
                             "data.mirror=0")
        out[i] = index[candidates[0]]
    return out


def _swap_case(word: str, other: str) -> str:
    if word.isupper():
        return other.upper()
    if word[:1].isupper():
        return other.capitalize()
    return other


@dataclass
class KeypointAugment:
    """Sequence-consistent keypoint augmentation (one draw per sequence, from the sample's seed).

    Args:
        mirror: probability of a horizontal mirror (x -> 1 - x, hands and pose sides swapped, labels
            mapped by :func:`mirror_label_map`).
        rotate: maximum rotation in degrees about the sequence's centre.
        scale: maximum relative scale change.
        shift: maximum shift, in units of the frame.
        time_warp: maximum relative change of speed, plus a smooth non-linear warp of the same size.
    """

    mirror: float = 0.0
    rotate: float = 10.0
    scale: float = 0.1
    shift: float = 0.05
    time_warp: float = 0.2

    def __call__(self, seq: np.ndarray, layout: Layout, rng: np.random.Generator, aspect: float = 1.0,
                 mirror_perm: tuple[np.ndarray, list[int]] | None = None) -> tuple[np.ndarray, bool]:
        """Returns the augmented sequence and whether it was mirrored."""
        out = seq.astype(np.float32, copy=True)
        mirrored = False
        if self.mirror > 0 and rng.random() < self.mirror:
            perm, xs = mirror_perm if mirror_perm is not None else mirror_index(layout)
            out = out[:, perm]
            present = out[:, xs] != 0
            out[:, xs] = np.where(present, 1.0 - out[:, xs], 0.0)
            mirrored = True
        if layout.spatial and (self.rotate or self.scale or self.shift):
            theta = math.radians(rng.uniform(-self.rotate, self.rotate))
            s = 1.0 + rng.uniform(-self.scale, self.scale)
            dx, dy = rng.uniform(-self.shift, self.shift, size=2)
            pts = layout.points(out)
            cx, cy = _centre(pts, layout)
            c, si = math.cos(theta) * s, math.sin(theta) * s
            for name, p in pts.items():
                ix, iy, iz = _xy(layout.group(name).channels)  # type: ignore[union-attr]
                ok = _present(p)
                # rotate in isotropic units (x * aspect), then back to frame units
                x, y = (p[..., ix] - cx) * aspect, p[..., iy] - cy
                nx, ny = (c * x - si * y) / aspect + cx + dx, si * x + c * y + cy + dy
                p[..., ix] = np.where(ok, nx, 0.0)
                p[..., iy] = np.where(ok, ny, 0.0)
                if iz is not None:
                    p[..., iz] = np.where(ok, p[..., iz] * s, 0.0)
        if self.time_warp > 0 and len(out) > 1:
            t = len(out)
            new_t = max(2, int(round(t * (1.0 + rng.uniform(-self.time_warp, self.time_warp)))))
            gamma = math.exp(rng.uniform(-self.time_warp, self.time_warp))
            u = np.linspace(0.0, 1.0, new_t) ** gamma
            # nearest frames, not interpolation: a missing (zero) frame stays missing
            out = out[np.clip(np.round(u * (t - 1)).astype(int), 0, t - 1)]
        return out, mirrored


def _centre(pts: dict[str, np.ndarray], layout: Layout) -> tuple[float, float]:
    xs, ys = [], []
    for name, p in pts.items():
        ix, iy, _ = _xy(layout.group(name).channels)  # type: ignore[union-attr]
        ok = _present(p)
        xs.append(p[..., ix][ok])
        ys.append(p[..., iy][ok])
    x, y = np.concatenate(xs), np.concatenate(ys)
    return (float(x.mean()), float(y.mean())) if len(x) else (0.5, 0.5)


# ------------------------------------------------------------------------------------------- datasets
class KeypointH5Dataset(Dataset):
    """Sequences of a keypoint file -> ``{"inputs": (num_frames, F) float, "label", "id"}``.

    Args:
        index: the file's index (:func:`read_keypoint_index`).
        rows: which sequences of the index (positions).
        num_frames: T.
        sampling: ``pad`` or ``uniform``.
        normalize: ``none`` or ``anchor``.
        train: seeded augmentation and a random truncation window.
        augment: the augmentation (training).
        mirror_labels: label map under a mirror (:func:`mirror_label_map`).
        in_memory: load the selected sequences once, in this process (small files; no HDF5 reads
            in workers). Otherwise each process opens the file lazily (:class:`LazyH5`).
        random_crop: training takes a random ``num_frames`` window of a longer sequence (``pad``).
        labels: labels to return instead of the file's (e.g. mapped to a checkpoint's classes).
        strict: a broken sequence stops the run.
    """

    def __init__(self, index: KeypointIndex, rows: Sequence[int], num_frames: int = 30, sampling: str = "pad",
                 normalize: str = "anchor", train: bool = False, augment: KeypointAugment | None = None,
                 mirror_labels: Sequence[int] | None = None, in_memory: bool = True, random_crop: bool = True,
                 labels: Sequence[int] | None = None, strict: bool = False) -> None:
        self.index = index
        self.rows = list(rows)
        self.num_frames, self.sampling, self.normalize = num_frames, sampling, normalize
        self.train, self.augment, self.random_crop, self.strict = train, augment, random_crop, strict
        self.layout = index.layout
        self._labels = list(labels) if labels is not None else [index.labels[r] for r in self.rows]
        self.mirror_labels = list(mirror_labels) if mirror_labels is not None else None
        self._mirror = mirror_index(self.layout) if train and augment is not None and augment.mirror > 0 else None
        self._h5 = LazyH5(index.path, KIND)
        self._cache: dict[int, np.ndarray] | None = None
        if in_memory:
            f = open_h5(index.path, KIND)
            try:
                grp = f["sequences"]
                self._cache = {r: grp[index.names[r]][()].astype(np.float32) for r in self.rows}
            finally:
                f.close()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> list[int]:
        """Label of every sample, in order."""
        return list(self._labels)

    @property
    def num_views(self) -> int:
        """One view per sequence."""
        return 1

    def _read(self, row: int) -> np.ndarray:
        if self._cache is not None:
            return self._cache[row]
        try:
            return self._h5.file["sequences"][self.index.names[row]][()].astype(np.float32)
        except (OSError, KeyError) as exc:
            name = self.index.names[row]
            raise LsvitError(f"{self.index.path}: sequences/{name} cannot be read ({exc})") from exc

    def _sample(self, i: int, seed: int | None) -> dict[str, Any]:
        row = self.rows[i]
        seq = self._read(row)
        label = self._labels[i]
        aspect = self.index.aspects[row]
        start = None
        if self.train and seed is not None:
            rng = np.random.default_rng([int(seed) % (2**32), 11])
            if self.augment is not None:
                seq, mirrored = self.augment(seq, self.layout, rng, aspect, self._mirror)
                if mirrored and self.mirror_labels is not None and label >= 0:
                    label = self.mirror_labels[label]
            if self.random_crop and self.sampling == "pad" and len(seq) > self.num_frames:
                start = int(rng.integers(0, len(seq) - self.num_frames + 1))
        x = prepare_sequence(seq, self.layout, self.num_frames, self.sampling, self.normalize, aspect, start)
        return {"inputs": torch.from_numpy(x), "label": int(label), "id": self.index.ids[row]}

    def __getitem__(self, key: Any) -> dict[str, Any]:
        i, seed = split_key(key)
        return sample_or_stand_in(lambda j: self._sample(j, seed), i, seed, len(self.rows), self.train, self.strict,
                                  (LsvitError,), lambda error: self._blank(i, error))

    def _blank(self, i: int, error: str) -> dict[str, Any]:
        return {"inputs": torch.zeros(self.num_frames, self.layout.feature_count), "label": -1,
                "id": self.index.ids[self.rows[i]], "error": error}


class KeypointDataModule:
    """Keypoint sequences from a keypoint HDF5 file (``data=keypoints``).

    Args:
        path: the keypoint file (``tools/extract_keypoints.py`` or ``tools/import_keypoints.py``).
        val_path: a separate validation file; otherwise ``val_ratio`` of ``path`` is held out.
        test_path: a labelled test file, evaluated once at the end with the best checkpoint.
        val_ratio: stratified, seeded hold-out fraction.
        num_frames: T (seed default 30).
        sampling: ``pad`` (centre truncation / zero padding at the end) or ``uniform``.
        normalize: ``anchor`` (relative to shoulders / wrists, in units of their size) or ``none``.
        feature_count: the file's features per frame (the config reads it from the file; a different
            value is an error naming both).
        mirror: mirror probability in training (hands and side-named labels swapped).
        mirror_map: explicit class pairs for the mirror (``{swipe_left: swipe_right}``).
        rotate: max rotation (degrees), training.
        scale: max relative scale change, training.
        shift: max shift (frame units), training.
        time_warp: max relative speed change, training.
        random_crop: training takes a random window of longer sequences.
        in_memory: load all sequences once (otherwise read lazily per worker).
        min_detection_rate: leave out sequences with detections in fewer frames than this.
        strict: a broken sequence stops the run.
        seed: split seed.
        name: dataset name.
    """

    def __init__(self, path: str | None = None, val_path: str | None = None, test_path: str | None = None,
                 val_ratio: float = 0.2, num_frames: int = 30, sampling: str = "pad", normalize: str = "anchor",
                 feature_count: int | None = None, mirror: float = 0.0, mirror_map: dict[str, str] | None = None,
                 rotate: float = 10.0, scale: float = 0.1, shift: float = 0.05, time_warp: float = 0.2,
                 random_crop: bool = True, in_memory: bool = True, min_detection_rate: float = 0.0,
                 strict: bool = False, seed: int = 0, name: str = "keypoints") -> None:
        if not path:
            raise LsvitError("data.path is not set: pass data.path=/path/to/keypoints.h5")
        if num_frames < 1:
            raise LsvitError(f"data.num_frames={num_frames}: must be >= 1")
        if sampling not in SAMPLINGS:
            raise LsvitError(f"data.sampling={sampling}: choose one of {SAMPLINGS}")
        if normalize not in NORMALIZE:
            raise LsvitError(f"data.normalize={normalize}: choose one of {NORMALIZE}")
        if not val_path and not 0.0 < val_ratio < 1.0:
            raise LsvitError(f"data.val_ratio={val_ratio}: must be in (0, 1)")
        if not 0.0 <= mirror <= 1.0:
            raise LsvitError(f"data.mirror={mirror}: a probability in [0, 1]")
        self.path, self.val_path, self.test_path = path, val_path, test_path
        self.num_frames, self.sampling, self.normalize = int(num_frames), sampling, normalize
        self.augment = KeypointAugment(float(mirror), float(rotate), float(scale), float(shift), float(time_warp))
        self.random_crop, self.in_memory, self.strict = random_crop, in_memory, strict
        self.val_ratio, self.seed, self.name = val_ratio, seed, name
        self.index = read_keypoint_index(path)
        if feature_count is not None and int(feature_count) != self.index.layout.feature_count:
            lay = self.index.layout
            raise LsvitError(f"data.feature_count={feature_count} but {path} holds {lay.feature_count} features "
                             f"per frame ({lay.describe()})")
        self.layout = self.index.layout
        self.class_names = list(self.index.class_names)
        if not self.class_names:
            raise LsvitError(f"{path}: no classes in its label_map (an unlabelled file cannot be trained on)")
        if mirror > 0:
            mirror_index(self.layout)  # refuses layouts that cannot be mirrored, now rather than in a worker
        self.mirror_labels = mirror_label_map(self.class_names, dict(mirror_map) if mirror_map else None) \
            if mirror > 0 else None
        keep = [i for i, (lab, rate) in enumerate(zip(self.index.labels, self.index.detection_rates))
                if lab >= 0 and rate >= min_detection_rate]
        if len(keep) < len(self.index.names):
            print(f"data: {len(self.index.names) - len(keep)} of {len(self.index.names)} sequences left out "
                  f"(unlabelled, or detections in fewer than {min_detection_rate:.0%} of frames)")
        train_labels = [self.index.labels[i] for i in keep]
        if val_path:
            self.val_index = self._companion(val_path, "data.val_path")
            self.train_rows, self.val_rows = keep, [i for i, lab in enumerate(self.val_index.labels) if lab >= 0]
            labels = train_labels + [self.val_index.labels[i] for i in self.val_rows]
            self._summary = split_summary(self.class_names, labels, range(len(keep)), range(len(keep), len(labels)),
                                          rule=f"a separate validation file ({val_path})")
        else:
            self.val_index = self.index
            tr, va = stratified_split(train_labels, val_ratio, seed)
            self.train_rows, self.val_rows = [keep[i] for i in tr], [keep[i] for i in va]
            self._summary = split_summary(self.class_names, train_labels, tr, va,
                                          rule=f"data.val_ratio={val_ratio} of each class, stratified, seeded; "
                                               "each sequence on its own")
            check_validation(self._summary, f"data.path={path}", "Add sequences to those classes, give a separate "
                             "validation file (data.val_path=), or raise data.val_ratio")
        self.test_index = self._companion(test_path, "data.test_path") if test_path else None
        self.train_dataset: KeypointH5Dataset | None = None
        self.val_dataset: KeypointH5Dataset | None = None

    def _companion(self, path: str, key: str) -> KeypointIndex:
        idx = read_keypoint_index(path)
        if idx.layout != self.index.layout:
            raise LsvitError(f"{key}={path} has layout {idx.layout.describe()} ({idx.layout.feature_count}), "
                             f"data.path={self.path} has {self.index.layout.describe()} "
                             f"({self.index.layout.feature_count})")
        if idx.class_names != self.class_names:
            raise LsvitError(f"{key}={path} has classes {idx.class_names[:8]}, data.path={self.path} has "
                             f"{self.class_names[:8]}")
        return idx

    collate_fn = staticmethod(collate)

    def split_summary(self) -> dict[str, Any]:
        """Train/validation sequences per class (the engine writes it to ``split_summary.json``)."""
        return self._summary

    def setup(self, model: Any = None) -> None:
        """Build the training and validation datasets (the model is not needed: inputs are coordinates)."""
        common: dict[str, Any] = {"num_frames": self.num_frames, "sampling": self.sampling,
                                  "normalize": self.normalize, "in_memory": self.in_memory, "strict": self.strict}
        self.train_dataset = KeypointH5Dataset(self.index, self.train_rows, train=True, augment=self.augment,
                                               mirror_labels=self.mirror_labels, random_crop=self.random_crop,
                                               **common)
        self.val_dataset = KeypointH5Dataset(self.val_index, self.val_rows, **common)

    def make_test_dataset(self, num_clips: int = 1, num_crops: int = 1) -> KeypointH5Dataset | None:
        """The test file's labelled sequences (one view each), or None without ``test_path``."""
        if self.test_index is None:
            return None
        rows = [i for i, lab in enumerate(self.test_index.labels) if lab >= 0]
        return KeypointH5Dataset(self.test_index, rows, num_frames=self.num_frames, sampling=self.sampling,
                                 normalize=self.normalize, in_memory=self.in_memory, strict=self.strict)

    def meta(self) -> dict[str, Any]:
        """Everything inference needs to turn keypoints (or raw videos) into this model's inputs."""
        return {"type": "keypoints", "feature_count": self.layout.feature_count, "layout": self.layout.to_json(),
                "num_frames": self.num_frames, "sampling": self.sampling, "normalize": self.normalize,
                "source": self.index.source, "extraction": self.index.settings if self.index.source == "mediapipe"
                else {}, "source_file": str(self.path), "dataset": self.name,
                "num_train": len(self.train_rows), "num_val": len(self.val_rows),
                "num_test": len(self.test_index.names) if self.test_index else 0}


# ------------------------------------------------------------------------------------------- inference
def check_layout(data_meta: dict[str, Any], layout: Layout, what: str) -> None:
    """Refuse keypoints whose layout is not the checkpoint's, naming both."""
    want = Layout.from_json(data_meta.get("layout"), "checkpoint meta.json data.layout")
    if want != layout:
        raise LsvitError(f"{what} has {layout.feature_count} features per frame ({layout.describe()}); the "
                         f"checkpoint was trained on {want.feature_count} ({want.describe()}, from "
                         f"{data_meta.get('source_file', '?')})")


def keypoint_cache_dataset(path: str | Path, data_meta: dict[str, Any], class_names: Sequence[str],
                           strict: bool = False) -> KeypointH5Dataset:
    """A keypoint ``.h5`` file as a checkpoint's evaluation dataset (``tools/inference.py data_root=x.h5``)."""
    idx = read_keypoint_index(path)
    check_layout(data_meta, idx.layout, str(path))
    names = list(class_names)
    labels = [names.index(idx.class_names[lab]) if lab >= 0 and idx.class_names[lab] in names else -1
              for lab in idx.labels]
    return KeypointH5Dataset(idx, range(len(idx.names)), num_frames=int(data_meta["num_frames"]),
                             sampling=data_meta.get("sampling", "pad"),
                             normalize=data_meta.get("normalize", "anchor"),
                             labels=labels, in_memory=True, strict=strict)


def keypoint_csv_dataset(path: str | Path, data_meta: dict[str, Any], class_names: Sequence[str],
                         strict: bool = False) -> KeypointH5Dataset:
    """A seed-004 landmark CSV as an evaluation dataset (imported into a temporary file first)."""
    import tempfile

    from lsvit.features.keypoint_import import import_csv

    layout = Layout.from_json(data_meta.get("layout"), "checkpoint meta.json data.layout")
    drop_v = all("v" not in g.channels for g in layout.groups)
    with tempfile.TemporaryDirectory() as tmp:
        out = import_csv([path], Path(tmp) / "csv.h5", drop_visibility=drop_v)
        ds = keypoint_cache_dataset(out, data_meta, class_names, strict)  # in memory: the file may go
    return ds


def extraction_settings_for(data_meta: dict[str, Any]) -> dict[str, Any]:
    """The extraction that rebuilds a checkpoint's input vectors from raw frames (as JSON settings).

    MediaPipe-extracted data record their settings; imported data (seed 002's ``.npy``, seed 004's
    CSV) record only their layout, from which the matching MediaPipe solution is chosen.

    Raises:
        LsvitError: a layout MediaPipe cannot produce (e.g. a CSV of another pose model).
    """
    layout = Layout.from_json(data_meta.get("layout"), "checkpoint meta.json data.layout")
    extraction = dict(data_meta.get("extraction") or {})
    if extraction:
        return extraction
    known = {"pose", "face", "left_hand", "right_hand"}
    if any(g.name not in known or set(g.channels) - set("xyzv") for g in layout.groups):
        raise LsvitError(f"this checkpoint was trained on keypoints of layout {layout.describe()}, which "
                         "MediaPipe does not produce: give data_root= a keypoint file (.h5/.csv) of that layout "
                         "instead of videos")
    hands_only = all(g.name in ("left_hand", "right_hand") for g in layout.groups)
    return {"mode": "hands" if hands_only else "holistic", "layout": layout.to_json()}


class KeypointVideoDataset(Dataset):
    """Raw videos -> keypoints -> the checkpoint's inputs (``DATASET_BUILDERS["keypoints"]``).

    Every video is extracted when the dataset is built (in spawned processes for more than a few
    videos), with the checkpoint's extraction settings, and kept in memory: loading a sample is then
    plain numpy, safe in forked DataLoader workers, where a MediaPipe graph would abort the process.
    """

    def __init__(self, items: Sequence[Any], data_meta: dict[str, Any], strict: bool = False,
                 num_workers: int | None = None, progress: bool = True) -> None:
        from lsvit.features.keypoints import ExtractionSettings, extract_items, import_mediapipe

        import_mediapipe()  # a missing extra is one message, not one per video
        self.items = list(items)
        self.meta = data_meta
        self.layout = Layout.from_json(data_meta.get("layout"), "checkpoint meta.json data.layout")
        settings = ExtractionSettings.from_json(extraction_settings_for(data_meta))
        if settings.to_layout() != self.layout:
            raise LsvitError(f"the checkpoint's extraction settings give {settings.to_layout().describe()}, "
                             f"its data layout is {self.layout.describe()}")
        self.strict = strict
        self._arrays = extract_items([(it.id, it.source) for it in self.items], settings, num_workers, progress)
        if strict:
            bad = [v for v in self._arrays.values() if isinstance(v, str)]
            if bad:
                raise LsvitError(bad[0])

    num_views = 1

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        i, _ = split_key(key)
        item = self.items[i]
        arrays = self._arrays.get(item.id, f"{item.path}: not extracted")
        if isinstance(arrays, str):
            warnings.warn(f"skipping {arrays}", stacklevel=2)
            return {"inputs": torch.zeros(int(self.meta["num_frames"]), self.layout.feature_count), "label": -1,
                    "id": item.id, "error": arrays}
        w, h = (int(v) for v in arrays["frame_size"])
        x = prepare_sequence(arrays["keypoints"], self.layout, int(self.meta["num_frames"]),
                             self.meta.get("sampling", "pad"), self.meta.get("normalize", "anchor"), w / max(h, 1))
        return {"inputs": torch.from_numpy(x), "label": int(item.label), "id": item.id}


def keypoint_video_dataset(items: list[Any], data_meta: dict[str, Any], strict: bool, backend: str | None,
                           num_clips: int = 1, num_crops: int = 1) -> KeypointVideoDataset:
    """``DATASET_BUILDERS["keypoints"]``: raw videos read with the checkpoint's extraction settings."""
    return KeypointVideoDataset(items, data_meta, strict)

