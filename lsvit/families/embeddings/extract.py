"""Extract frame embeddings of many videos into one gzip HDF5 cache: resumable, sharded, batched.

Pipeline: DataLoader workers decode each video's sampled frames (``num_frames`` uniform over the
video by default), apply the optional augmentation copies and cut the three views; the main
process runs the backbones on the frames of several videos at once under ``torch.inference_mode``
(bf16 autocast on a GPU) while the workers decode the next videos. Every finished video is saved
at once by :class:`lsvit.data.store.ExtractionStore` (a rerun after any kill skips it); under
``accelerate launch`` the videos are sharded over the ranks and the main process assembles the
file in list order, so 1 and N processes write the same rows in the same order (the values agree to float
rounding: each rank batches other videos together, so the backbones sum in another order).

HDF5 layout (one file; docs/bilstm.md):

* ``embeddings`` ``(N, T, C, D)`` float16 (default) or float32, gzip + shuffle filter, one chunk per row;
* ``labels`` ``(N,)`` int64 (index into the ``class_names`` attribute; -1 unlabelled);
* ``ids`` ``(N,)`` UTF-8 video ids (path relative to the dataset root, without extension);
* ``copies`` ``(N,)`` int16: 0 for the video itself, ``k`` for its k-th augmented copy;
* ``groups`` ``(N,)`` UTF-8: clips that must stay on one side of a split (an HMDB51 source video);
* ``membership/<column>`` ``(N,)`` UTF-8 ``train``/``val``/``test``/"" (e.g. ``part``, ``split1``..``split3``);
* attributes (JSON): ``class_names``, ``settings`` (everything a checkpoint compares), ``backbones``
  (names, weight sources, fingerprints), ``layout``, ``num_frames``, ``sampling``, ``image_size``,
  ``dim``, ``dtype``, ``aug``, ``unreadable`` (``{id: reason}``), ``lsvit_version``, ``created``;
  ``lsvit_complete`` last.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from lsvit import LsvitError, __version__
from lsvit.data.augment import flip_probability, make_aug
from lsvit.data.discovery import VideoItem, discover_classes, read_list_file
from lsvit.data.h5 import mark_complete, read_json_attr, write_json_attr
from lsvit.data.hmdb51.splits import load_split, source_of
from lsvit.data.labelmaps import mirror_map
from lsvit.data.readers import VideoReadError, read_clip
from lsvit.data.sampling import SAMPLINGS, SHORT_POLICIES, sample_indices
from lsvit.data.store import RECIPE_ATTR, ExtractionStore, reuse_or_replace
from lsvit.device import resolve_device
from lsvit.families.embeddings.backbones import FrameEmbedder, build_embedder, frame_views
from lsvit.families.embeddings.crop import Cropper, check_crop_settings, comparable_crop, crop_record
from lsvit.locks import lock_for_job

DTYPES = ("float16", "float32")
# settings that make two caches (or a cache and a checkpoint) interchangeable
COMPARED = ("vit", "cnn", "dim", "layout", "num_channels", "num_frames", "sampling", "frame_stride", "short",
            "image_size", "dtype", "crop")
# what identifies a backbone (its weight *source* path may differ between machines, its fingerprint may not)
BACKBONE_KEYS = ("name", "kind", "args", "pretrained", "width", "fingerprint")


@dataclass
class EmbedConfig:
    """How frames become embeddings (the ``embed`` group of ``configs/extract_features.yaml``).

    Attributes:
        vit: the token backbone (timm name, ``hf:<id>`` or a transformers folder; null: none).
        cnn: the pooled backbone (same forms).
        image_size: side of each view.
        dim: channel width D (default: the ``vit`` backbone's width, else the ``cnn`` one's).
        pretrained: load pretrained weights (else a seeded random init: tests).
        vit_file: explicit weights file of the ``vit`` backbone.
        cnn_file: explicit weights file of the ``cnn`` backbone.
        weights_dir: folder searched for ``<name>.<ext>``.
        vit_args: extra ``timm.create_model`` arguments of the ``vit`` backbone.
        cnn_args: same for the ``cnn`` backbone.
        init_seed: seed of a random initialisation.
        num_frames: T, frames per video.
        sampling: ``uniform`` (one frame from each of T equal segments, their middles) or ``dense``.
        frame_stride: step between frames for ``dense``.
        short: ``loop`` or ``repeat_last`` for videos shorter than a dense span.
        dtype: storage precision, ``float16`` or ``float32``.
        crop: ``null``, ``person`` or ``hand``: crop the frames to the detected box before the views
            (:mod:`lsvit.families.embeddings.crop`).
        crop_detector: the detector (:data:`lsvit.data.roi.DETECTORS`): ``yolo`` (your weights), ``hog``/``pose``
            (person), ``mediapipe`` (hand).
        crop_weights: the local YOLO weights file (never downloaded).
        crop_conf: the least confidence of a box.
        crop_margin: the box grows by this fraction of its size on every side.
        crop_boxes: boxes of a frame that count, largest first (null: all).
        crop_classes: YOLO classes kept (null: person 0; hand: every class).
        crop_span: ``video`` (one box for the clip) or ``frame`` (a box per frame).
        crop_fallback: no box in any frame: ``full`` (the whole frames) or ``skip`` (the video is left out).
    """

    vit: str | None = "vit_base_patch16_224"
    cnn: str | None = "resnext50_32x4d"
    image_size: int = 224
    dim: int | None = None
    pretrained: bool = True
    vit_file: str | None = None
    cnn_file: str | None = None
    weights_dir: str = "weights"
    vit_args: dict[str, Any] = field(default_factory=dict)
    cnn_args: dict[str, Any] = field(default_factory=dict)
    init_seed: int = 0
    num_frames: int = 32
    sampling: str = "uniform"
    frame_stride: int = 1
    short: str = "loop"
    dtype: str = "float16"
    crop: str | None = None
    crop_detector: str = "yolo"
    crop_weights: str | None = None
    crop_conf: float = 0.4
    crop_margin: float = 0.1
    crop_boxes: int | None = 1
    crop_classes: list[int] | None = None
    crop_span: str = "video"
    crop_fallback: str = "full"

    def __post_init__(self) -> None:
        if int(self.num_frames) < 1:
            raise LsvitError(f"embed.num_frames={self.num_frames}: must be >= 1")
        if self.sampling not in SAMPLINGS:
            raise LsvitError(f"embed.sampling={self.sampling}: choose one of {SAMPLINGS}")
        if self.short not in SHORT_POLICIES:
            raise LsvitError(f"embed.short={self.short}: choose one of {SHORT_POLICIES}")
        if self.dtype not in DTYPES:
            raise LsvitError(f"embed.dtype={self.dtype}: choose one of {DTYPES}")
        if int(self.image_size) < 8:
            raise LsvitError(f"embed.image_size={self.image_size}: too small")
        self.vit_args, self.cnn_args = dict(self.vit_args or {}), dict(self.cnn_args or {})
        if self.crop is not None and str(self.crop).lower() in ("none", "null", ""):
            self.crop = None
        self.crop_classes = [int(c) for c in self.crop_classes] if self.crop_classes is not None else None
        check_crop_settings(self)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> EmbedConfig:
        """From a config node or a recorded settings dict (unknown keys refused, naming them)."""
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(m) - known)
        if extra:
            raise LsvitError(f"embed: unknown setting(s) {extra}; known: {sorted(known)}")
        return cls(**{k: (dict(v) if isinstance(v, Mapping) else v) for k, v in m.items()})

    def build(self) -> FrameEmbedder:
        """The embedder (backbones loaded)."""
        return build_embedder(self.vit, self.cnn, int(self.image_size), self.dim, bool(self.pretrained),
                              self.vit_file, self.cnn_file, self.weights_dir, self.vit_args, self.cnn_args,
                              int(self.init_seed))


def cache_settings(cfg: EmbedConfig, embedder: FrameEmbedder) -> dict[str, Any]:
    """Everything a cache records about how it was made (backbones resolved: widths, sources, fingerprints)."""
    d = embedder.describe()
    return {"vit": d["vit"], "cnn": d["cnn"], "dim": d["dim"], "num_channels": d["num_channels"],
            "layout": d["layout"], "num_frames": int(cfg.num_frames), "sampling": cfg.sampling,
            "frame_stride": int(cfg.frame_stride), "short": cfg.short, "image_size": int(cfg.image_size),
            "dtype": cfg.dtype, "crop": crop_record(cfg), "embed": asdict(cfg)}


def comparable(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a cache's settings that must match for two caches to be interchangeable."""
    out = {k: settings.get(k) for k in COMPARED}
    for slot in ("vit", "cnn"):
        bb = settings.get(slot)
        out[slot] = {k: bb.get(k) for k in BACKBONE_KEYS} if isinstance(bb, Mapping) else None
    out["crop"] = comparable_crop(settings.get("crop"))
    return out


def check_compatible(have: Mapping[str, Any], want: Mapping[str, Any], have_name: str, want_name: str) -> None:
    """Refuse embeddings made otherwise than ``want`` (backbones, weights, layout, T, width, ...).

    Raises:
        LsvitError: one message naming both sides and every differing setting.
    """
    a, b = comparable(have), comparable(want)
    diff = [k for k in COMPARED if a.get(k) != b.get(k)]
    if diff:
        def show(s: dict[str, Any], k: str) -> Any:
            v = s.get(k)
            return {x: v.get(x) for x in ("name", "fingerprint")} if isinstance(v, dict) and k != "crop" else v
        detail = "; ".join(f"{k}: {show(a, k)!r} vs {show(b, k)!r}" for k in diff)
        raise LsvitError(f"{have_name} was made with other settings than {want_name} expects ({detail}). "
                         f"Extract the embeddings again with {want_name}'s settings.")


# ------------------------------------------------------------------------------------------ decoding
def copy_draw(aug_seed: int, copy: int, video_id: str, flip_prob: float) -> tuple[int, bool]:
    """The seed and the flip of augmented copy ``copy`` of a video: one draw per (video, copy), the same in 1 or N
    processes and after a resume, and again when the file labels the copy."""
    rng = np.random.default_rng([int(aug_seed), int(copy), *video_id.encode()])
    seed = int(rng.integers(2**31 - 1))
    return seed, bool(flip_prob > 0 and rng.random() < flip_prob)


class VideoViews(Dataset):
    """Per video: the sampled frames' views (and those of its augmented copies), decoded in a worker.

    Returns ``{"key", "views": uint8 (copies, T, 3, S, S, 3) or None, "error": str | None}``.
    """

    def __init__(self, items: Sequence[VideoItem], cfg: EmbedConfig, copies: Sequence[int] | None = None,
                 aug: str | None = None, aug_args: Mapping[str, Any] | None = None, aug_seed: int = 0,
                 backend: str = "auto") -> None:
        self.items, self.cfg, self.backend = list(items), cfg, backend
        self.copies = list(copies) if copies is not None else [0] * len(self.items)
        # the preset's flip is drawn here, beside its seed, so that the file can label a flipped copy
        aug_fn = make_aug(aug, True, aug_args) if any(self.copies) else None
        self.aug = aug_fn.without_flip() if aug_fn is not None else None
        self.flip_prob = flip_probability(aug, aug_args) if aug_fn is not None else 0.0
        self.aug_seed = int(aug_seed)
        self.crop = Cropper(cfg) if cfg.crop else None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item, c = self.items[i], self.cfg
        pick = lambda n: sample_indices(n, int(c.num_frames), int(c.frame_stride), c.sampling, False, None,  # noqa: E731
                                        c.short)
        try:
            frames, _ = read_clip(item.source, pick, self.backend, name=item.id)
        except VideoReadError as exc:
            return {"key": item.id, "views": None, "error": str(exc)}
        if self.crop is not None:  # the person / hand crop, before the views and the copies
            frames = self.crop(frames, item.id)
            if frames is None:
                return {"key": item.id, "views": None, "error": f"{item.id}: no {c.crop} found in its sampled frames "
                                                                 "(embed.crop_fallback=skip)"}
        clips = [frames]
        for k in range(1, self.copies[i] + 1):
            seed, flip = copy_draw(self.aug_seed, k, item.id, self.flip_prob)
            copy = self.aug(frames, seed=seed)  # type: ignore[misc]
            clips.append(np.ascontiguousarray(copy[:, :, ::-1]) if flip else copy)
        views = np.stack([frame_views(f, int(c.image_size)) for f in clips])
        return {"key": item.id, "views": views, "error": None}


def _collate(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return samples


def embed_stream(embedder: Any, dataset: VideoViews, device: str = "cpu", batch_videos: int = 4,
                 num_workers: int = 2, progress: bool = True, desc: str = "extract", decode: str = "auto"
                 ) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """Yield ``(key, embeddings (copies, T, C, D) float32 or None, error)`` for every video of ``dataset``.

    The frames of ``batch_videos`` consecutive videos go through the backbones together (the same groups for any
    number of workers); ``num_workers`` decoders decode one video each at a time, up to two groups ahead, while the
    backbones run. A :class:`FrameEmbedder` runs with its batch norms folded (:meth:`FrameEmbedder.for_inference`);
    another module (an ONNX embedder) runs as it is.

    Args:
        decode: where the decoders run: ``threads`` of this process (the decoders and OpenCV release the GIL, and
            nothing is forked or pickled between processes), ``processes`` (DataLoader workers), or ``auto``:
            threads, but processes with a person / hand crop (its detector is built once per process) or augmented
            copies (one albumentations pipeline is seeded per draw: not from two threads at once).
    """
    runner = embedder.for_inference() if isinstance(embedder, FrameEmbedder) else embedder
    group = max(1, int(batch_videos))
    ahead = 2 * group  # videos decoded or in decoding before the backbones ask for them
    shared_state = dataset.crop is not None or dataset.aug is not None
    if decode == "auto":
        decode = "processes" if shared_state else "threads"
    if decode not in ("threads", "processes") or (decode == "threads" and shared_state and num_workers > 1):
        raise LsvitError(f"decode={decode!r}: choose threads or processes (processes with a crop or augmented "
                         "copies), or auto")
    videos = _decoded_in_threads(dataset, num_workers, ahead) if decode == "threads" or num_workers == 0 \
        else _decoded_in_processes(dataset, num_workers, ahead)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if str(device).startswith("cuda") \
        else torch.autocast("cpu", enabled=False)
    bar = tqdm(total=len(dataset), desc=desc, unit="video", disable=not progress, dynamic_ncols=True)
    with torch.inference_mode(), amp:
        for batch in _groups(videos, group):
            good = [s for s in batch if s["views"] is not None]
            out: list[torch.Tensor] = []
            if good:
                views = torch.from_numpy(np.concatenate([s["views"].reshape(-1, *s["views"].shape[2:])
                                                         for s in good])).to(device, non_blocking=True)
                flat = runner(views).float().cpu()
                sizes = [s["views"].shape[0] * s["views"].shape[1] for s in good]
                out = list(flat.split(sizes))
            it = iter(out)
            for s in batch:
                if s["views"] is None:
                    yield s["key"], None, s["error"]
                else:
                    copies, t = s["views"].shape[:2]
                    yield s["key"], next(it).reshape(copies, t, *flat.shape[1:]).numpy(), None
            bar.update(len(batch))
    bar.close()


def _decoded_in_threads(dataset: VideoViews, workers: int, ahead: int) -> Iterator[dict[str, Any]]:
    """``dataset[i]`` in order, decoded by ``workers`` threads (0: here, in turn), at most ``ahead`` in flight."""
    if workers <= 0:
        yield from (dataset[i] for i in range(len(dataset)))
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending = deque(pool.submit(dataset.__getitem__, i) for i in range(min(ahead, len(dataset))))
        nxt = len(pending)
        try:
            while pending:
                done = pending.popleft().result()
                if nxt < len(dataset):
                    pending.append(pool.submit(dataset.__getitem__, nxt))
                    nxt += 1
                yield done
        finally:  # the consumer stopped early (an error, a closed generator): nothing more is started
            for f in pending:
                f.cancel()


def _decoded_in_processes(dataset: VideoViews, workers: int, ahead: int) -> Iterator[dict[str, Any]]:
    """``dataset[i]`` in order from DataLoader worker processes, one video per task."""
    # (no thread settings in the workers: DataLoader gives each one torch thread, and reconfiguring OpenCV's
    # thread pool in a forked child can wait forever on the parent's pool threads, which do not exist there)
    dl = DataLoader(dataset, batch_size=1, shuffle=False, num_workers=workers, collate_fn=_collate,
                    prefetch_factor=max(2, math.ceil(ahead / workers)), persistent_workers=False)
    for one in dl:
        yield from one


def _groups(videos: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """The decoded videos, ``size`` at a time, in order."""
    pending: list[dict[str, Any]] = []
    for one in videos:
        pending.append(one)
        if len(pending) >= size:
            yield pending
            pending = []
    if pending:
        yield pending


# ------------------------------------------------------------------------------------------ the file
@dataclass
class ExtractionJob:
    """The videos of one extraction and what the file records about them.

    Attributes:
        items: the videos (ids must be unique).
        class_names: label names.
        membership: ``{column: [value per item]}`` (``train``/``val``/``test``/"").
        groups: per item, the group it must stay with in splits (default: its id).
        copies: per item, the number of augmented copies.
    """

    items: list[VideoItem]
    class_names: list[str]
    membership: dict[str, list[str]] = field(default_factory=dict)
    groups: list[str] | None = None
    copies: list[int] | None = None

    def __post_init__(self) -> None:
        ids = [it.id for it in self.items]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise LsvitError(f"video ids are not unique (e.g. {dup}): one video per id")
        for col, vals in self.membership.items():
            if len(vals) != len(self.items):
                raise LsvitError(f"membership column {col!r}: {len(vals)} values for {len(self.items)} videos")


def _write_h5(tmp: Path, finished: list[str], job: ExtractionJob, store: Any, settings: dict[str, Any],
              extra_attrs: dict[str, Any]) -> None:
    by_id = {it.id: i for i, it in enumerate(job.items)}
    t, c, d = settings["num_frames"], settings["num_channels"], settings["dim"]
    dtype = np.dtype(settings["dtype"])
    rows: list[tuple[int, int]] = []  # (item index, copy)
    parts = {}
    for key in finished:
        arr = store.load(key)["embeddings"]
        if arr.shape[1:] != (t, c, d):
            raise LsvitError(f"{store.dir}: part of {key} has shape {arr.shape[1:]}, expected {(t, c, d)}")
        parts[key] = arr
        rows += [(by_id[key], k) for k in range(arr.shape[0])]
    n = len(rows)
    str_dt = h5py.string_dtype("utf-8")
    with h5py.File(tmp, "w") as f:
        emb = f.create_dataset("embeddings", shape=(n, t, c, d), dtype=dtype, chunks=(1, t, c, d) if n else None,
                               compression="gzip", compression_opts=4, shuffle=True)
        for r, (i, k) in enumerate(rows):
            emb[r] = parts[job.items[i].id][k]
        labels = [job.items[i].label for i, _ in rows]
        flip_prob = float(extra_attrs.get("aug", {}).get("flip", 0.0))
        if flip_prob > 0:  # a mirrored copy of a side-named class is a copy of its partner (swipe_left -> right)
            mirror = mirror_map(job.class_names, None, "aug (the preset flips copies)")
            aug_seed = int(extra_attrs["aug"].get("seed", 0))
            labels = [mirror[lab] if k and lab >= 0 and copy_draw(aug_seed, k, job.items[i].id, flip_prob)[1] else lab
                      for (i, k), lab in zip(rows, labels)]
        f.create_dataset("labels", data=np.array(labels, dtype=np.int64))
        f.create_dataset("ids", data=[job.items[i].id for i, _ in rows], dtype=str_dt)
        f.create_dataset("copies", data=np.array([k for _, k in rows], dtype=np.int16))
        groups = job.groups or [it.id for it in job.items]
        f.create_dataset("groups", data=[groups[i] for i, _ in rows], dtype=str_dt)
        g = f.create_group("membership")
        for col, vals in job.membership.items():
            g.create_dataset(col, data=[vals[i] for i, _ in rows], dtype=str_dt)
        write_json_attr(f, "class_names", list(job.class_names))
        write_json_attr(f, "settings", settings)
        write_json_attr(f, "backbones", {s: settings[s] for s in ("vit", "cnn")})
        for key in ("layout", "num_frames", "sampling", "image_size", "dim", "dtype"):
            write_json_attr(f, key, settings[key])
        for key, value in extra_attrs.items():
            write_json_attr(f, key, value)
        write_json_attr(f, "membership_columns", sorted(job.membership))
        write_json_attr(f, "lsvit_version", __version__)
        write_json_attr(f, "created", time.strftime("%Y-%m-%dT%H:%M:%S"))
        mark_complete(f)


def extract_to_h5(out: str | Path, job: ExtractionJob, cfg: EmbedConfig, aug: str | None = None,
                  aug_args: Mapping[str, Any] | None = None, aug_seed: int = 0, batch_videos: int = 4,
                  num_workers: int = 2, device: str = "auto", backend: str = "auto", progress: bool = True,
                  stop_after: int | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Extract ``job``'s videos into the HDF5 file ``out`` (resumable; sharded under ``accelerate launch``).

    Args:
        out: the output file (its parts folder ``.<name>.parts`` sits beside it until it is complete).
        job: videos, classes, membership, groups, augmented copies.
        cfg: backbones, frames, precision.
        aug: the augmentation preset of the copies (``gesture_strong``).
        aug_args: its keyword arguments.
        aug_seed: seed of the copies' draws.
        batch_videos: videos whose frames go through the backbones together.
        num_workers: decoding workers per process.
        device: ``auto|cpu|cuda``.
        backend: video decoder.
        progress: show a progress bar (videos/s).
        stop_after: extract at most this many videos in this run, then leave without assembling
            (tests of resumption; time-sliced jobs).
        overwrite: replace a finished ``out`` made with other settings (else refused; one made with the same
            settings is kept and nothing is extracted).

    Returns:
        ``{"out", "num_videos", "num_rows", "unreadable": {id: reason}, "extracted": n, "complete": bool}``.
    """
    dev = resolve_device(device)
    # cpu=True: ranks of `accelerate launch --multi_gpu` on a machine without GPUs form a gloo group
    # (plain PartialState() would leave each rank thinking it is alone)
    state = PartialState(cpu=dev == "cpu")
    if state.num_processes > 1 and dev != "cpu":
        dev = str(state.device)
    out = Path(out)
    if state.is_main_process:
        out.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_for_job(out, "output", "wait for that extraction to finish or stop it", state=state)
    try:
        embedder = cfg.build().to(dev)
        settings = cache_settings(cfg, embedder)
        copies = job.copies or [0] * len(job.items)
        if any(copies) and not aug:
            raise LsvitError("aug_copies > 0 needs an augmentation preset (aug=gesture_strong)")
        if any(copies) and flip_probability(aug, aug_args) > 0:  # before any work: a flip that cannot be labelled
            mirror_map(job.class_names, None, "aug_args.hflip")
        store_settings = dict(settings, aug={"name": aug, "args": dict(aug_args or {}), "seed": int(aug_seed),
                                             "copies": list(copies)},
                              videos=[it.id for it in job.items])
        keys = [it.id for it in job.items]
        done = reuse_or_replace(out, store_settings, overwrite, "embedding cache") if state.is_main_process else False
        if state.num_processes > 1:
            done = broadcast_object_list([done])[0]
        if done:
            print(f"{out}: already extracted with these settings; nothing to do", file=sys.stderr)
            with h5py.File(out, "r") as f:
                unreadable = read_json_attr(f, "unreadable", str(out), default={})
            return {"out": str(out), "num_videos": len(keys), "extracted": 0, "complete": True,
                    "unreadable": unreadable}
        store = ExtractionStore(out, store_settings, state.process_index, state.num_processes)
        if state.is_main_process:
            store.open()
        state.wait_for_everyone()
        if not state.is_main_process:
            store.open()
        todo = set(store.todo(keys))
        if stop_after is not None:
            todo = set(sorted(todo, key=keys.index)[:int(stop_after)])
        idx = [i for i, it in enumerate(job.items) if it.id in todo]
        ds = VideoViews([job.items[i] for i in idx], cfg, [copies[i] for i in idx], aug, aug_args, aug_seed, backend)
        n_done = 0
        for key, arr, error in embed_stream(embedder, ds, dev, batch_videos, num_workers,
                                            progress and state.is_local_main_process,
                                            desc=f"extract {out.name}" + (f" [rank {state.process_index}]"
                                                                          if state.num_processes > 1 else "")):
            if arr is None:
                print(f"unreadable, skipped: {error}", file=sys.stderr)
                store.fail(key, str(error))
            else:
                store.save(key, {"embeddings": arr.astype(settings["dtype"])})
                n_done += 1
        state.wait_for_everyone()
        complete = stop_after is None
        unreadable = store.failures(keys)
        result = {"out": str(out), "num_videos": len(keys), "extracted": n_done, "unreadable": unreadable,
                  "complete": complete}
        if complete and state.is_main_process:
            extra = {"aug": store_settings["aug"] | {"copies": int(max(copies, default=0)),
                                                     "flip": flip_probability(aug, aug_args) if any(copies) else 0.0},
                     "unreadable": unreadable, RECIPE_ATTR: store_settings}
            store.finish(keys, lambda tmp, fin: _write_h5(tmp, fin, job, store, settings, extra))
            if unreadable:
                print(f"{len(unreadable)} unreadable video(s) skipped (listed in the file's 'unreadable' attribute):",
                      file=sys.stderr)
                for k, why in list(unreadable.items())[:20]:
                    print(f"  {k}: {why}", file=sys.stderr)
        state.wait_for_everyone()
        return result
    finally:
        if lock is not None:
            lock.release()


def embed_items(items: Sequence[VideoItem], cfg: EmbedConfig, device: str = "cpu", batch_videos: int = 4,
                num_workers: int = 2, backend: str = "auto", progress: bool = False,
                embedder: FrameEmbedder | None = None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Embeddings of ``items`` in memory (raw-video inference): ``({id: (T, C, D)}, {id: error})``.

    Values are rounded through the storage precision (``cfg.dtype``), so they equal what a cache holds.
    """
    embedder = embedder or cfg.build().to(device)
    done: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for key, arr, error in embed_stream(embedder, VideoViews(items, cfg, backend=backend), device, batch_videos,
                                        num_workers, progress, desc="embed"):
        if arr is None:
            warnings.warn(f"skipping {error}", stacklevel=2)
            errors[key] = str(error)
        else:
            done[key] = arr[0].astype(cfg.dtype).astype(np.float32)
    return done, errors


# ------------------------------------------------------------------------------------------ sources
def job_from_source(root: str | None = None, list_file: str | None = None, hmdb51_root: str | None = None,
                    splits: Sequence[int] = (1, 2, 3), classes: Sequence[str] | None = None, aug_copies: int = 0,
                    strict: bool = False) -> ExtractionJob:
    """The videos of one extraction: a class-folder tree, a ``path label`` list file, or HMDB51.

    A class-folder tree or a list file gives one file per part (extract ``train/`` and ``test/``
    into two files); HMDB51 gives one file holding every clip that one of ``splits`` uses, with
    ``membership/split<n>`` columns (``train``/``test``/"") and source-video ``groups``, so the
    three splits are extracted once. ``aug_copies`` augmented copies are made of every video of a
    folder or list file, and of every HMDB51 clip that is a training clip in one of ``splits``.
    """
    given = [x for x in (root, list_file, hmdb51_root) if x]
    if len(given) != 1 and not (root and list_file and not hmdb51_root):
        raise LsvitError("give one source: source.root=<class folders>, source.list_file=<path label file> "
                         "(paths relative to source.root or to the file), or source.hmdb51_root=<prepared HMDB51>")
    if aug_copies < 0:
        raise LsvitError(f"aug_copies={aug_copies}: must be >= 0")
    if not hmdb51_root:
        names, items = read_list_file(list_file, root, classes) if list_file else \
            discover_classes(root, classes, key="source.root")  # type: ignore[arg-type]
        return ExtractionJob(items, names, copies=[int(aug_copies)] * len(items))

    table: dict[str, VideoItem] = {}
    parts: dict[str, dict[str, str]] = {}
    names: list[str] | None = list(classes) if classes else None
    for s in splits:
        sets = load_split(hmdb51_root, int(s), classes=names, strict=strict)
        names = sets.class_names
        for part, its in (("train", sets.train), ("test", sets.test)):
            for it in its:
                table.setdefault(it.id, it)
                parts.setdefault(it.id, {})[f"split{int(s)}"] = part
    keys = sorted(table)
    items = [table[k] for k in keys]
    membership = {f"split{int(s)}": [parts[k].get(f"split{int(s)}", "") for k in keys] for s in splits}
    groups = [f"{k.split('/', 1)[0]}/{source_of(k.split('/', 1)[1], k.split('/', 1)[0])}" for k in keys]
    copies = [int(aug_copies) if "train" in parts[k].values() else 0 for k in keys]
    return ExtractionJob(items, list(names or []), membership, groups, copies)


def run_extraction(out: str, source: Mapping[str, Any], embed: Mapping[str, Any], aug: str | None = None,
                   aug_args: Mapping[str, Any] | None = None, aug_copies: int = 0, aug_seed: int = 0,
                   batch_videos: int = 4, num_workers: int = 2, device: str = "auto", backend: str = "auto",
                   progress: bool = True, stop_after: int | None = None, overwrite: bool = False) -> dict[str, Any]:
    """``tools/extract_features.py``: a source (see :func:`job_from_source`) -> one HDF5 file (see
    :func:`extract_to_h5`; ``overwrite`` replaces a finished file made with other settings)."""
    src = dict(source)
    job = job_from_source(src.get("root"), src.get("list_file"), src.get("hmdb51_root"),
                          tuple(src.get("splits") or (1, 2, 3)), src.get("classes"), int(aug_copies),
                          bool(src.get("strict", False)))
    res = extract_to_h5(out, job, EmbedConfig.from_mapping(dict(embed)), aug, aug_args, aug_seed, batch_videos,
                        num_workers, device, backend, progress, stop_after, overwrite)
    if PartialState().is_main_process:
        if res["complete"]:
            print(f"{out}: {res['num_videos'] - len(res['unreadable'])} of {res['num_videos']} videos")
        else:
            print(f"{out}: {res['extracted']} more video(s) extracted this run, not complete yet: rerun to continue")
    return res
