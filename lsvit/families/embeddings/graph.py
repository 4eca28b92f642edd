"""The frame embedder of a frame-embedding checkpoint as a second ONNX graph (``embedder.onnx``).

A BiLSTM checkpoint (``bilstm_attention``, ``embedding_mean_probe``) classifies frame embeddings
``(T, C, D)``. From raw videos those come from the frame embedder its ``meta.json`` records
(``data.settings``: backbones, their weights' fingerprints, view size, channel layout, precision).
:func:`lsvit.deploy.export.export_onnx` writes that embedder beside ``model.onnx``, verified against
the PyTorch :class:`~lsvit.families.embeddings.backbones.FrameEmbedder`, so that ``runtime=onnx`` reads raw
videos (``tools/inference.py``, ``tools/realtime.py``) with ONNX Runtime alone.

The graph, input ``views`` -> output ``embeddings``:

* ``views``: uint8 ``(frames, 3, S, S, 3)``, S = ``image_size``: per frame its three views in the
  order left half, right half, whole frame, each RGB, rows x columns x channels, pixel values 0..255.
  A view is cut from the decoded frame (H x W): left = columns ``[0, W // 2)``, right =
  ``[W // 2, W)``, whole = every column; each is resized to S x S without keeping its aspect
  (squashed), with OpenCV's ``INTER_AREA`` when both H and W // 2 exceed S, else ``INTER_LINEAR``
  (:func:`lsvit.families.embeddings.backbones.frame_views`). That step stays outside the graph: frame sizes
  differ from video to video, and ONNX's Resize has no area mode that gives OpenCV's pixels.
* inside: per backbone ``(x / 255 - mean) / std`` with that backbone's own mean/std (recorded in the
  graph's metadata), the backbone, its pooling (the mean of a ViT's last-layer tokens, the spatial
  mean of a CNN's feature maps), the embedding cut into chunks of D values (the last zero-padded),
  the channels in the checkpoint's layout.
* ``embeddings``: float32 ``(frames, C, D)``, channels named by ``layout``. Inference rounds them to the
  cache's storage precision (``dtype``, float16 by default) before the sequence model, as extraction
  did, and takes ``num_frames`` frames per video as ``sampling`` says.

The graph is float32 whatever ``fp16`` says for ``model.onnx`` (its inputs are uint8 and its outputs
are rounded to the storage precision anyway). Parity tolerance: ``1e-4 x max(1, |embeddings|)``:
reordered fp32 sums differ by about 1e-6 of the values (measured 2.6e-6 on efficientnet_lite0 at 112
px with its ImageNet weights), while the float16 cache rounds every value by up to 2^-12 (2.4e-4)
of itself: a graph within the tolerance changes the embeddings less than their own storage does.
The sequence model's end result is checked on its own (``model.onnx`` within 1e-4 of the logits; the
tests compare ``submission.csv`` probabilities of both runtimes from raw videos within 1e-4).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from lsvit import LsvitError, __version__
from lsvit.data.discovery import discover_unlabelled
from lsvit.data.readers import VideoReadError
from lsvit.data.synthetic import CLASSES, render_video
from lsvit.deploy.export import FORMAT, export_graph, verified_graph
from lsvit.deploy.runtime import OnnxModel, onnx_providers
from lsvit.device import resolve_device
from lsvit.families.embeddings.backbones import FrameEmbedder, frame_views
from lsvit.families.embeddings.cache import EmbeddingArrayDataset
from lsvit.families.embeddings.extract import (
    EmbedConfig,
    VideoViews,
    cache_settings,
    check_compatible,
    comparable,
    embed_items,
)

VIEWS_NAME = "views"
EMBEDDINGS_NAME = "embeddings"
EMBED_RTOL = 1e-4  # x max(1, |embeddings|): see the module docstring
GRAPH_KIND = "frame_embedder"
EMBEDDER_FILE = "embedder.onnx"  # beside model.onnx


# ------------------------------------------------------------------------------------------------ building
def embed_config(data_meta: Mapping[str, Any]) -> Any:
    """The :class:`~lsvit.families.embeddings.extract.EmbedConfig` a checkpoint's embeddings were extracted with.

    Raises:
        LsvitError: the checkpoint records no extraction settings.
    """
    settings = data_meta.get("settings") or {}
    if "embed" not in settings:
        raise LsvitError("the checkpoint records no extraction settings (data.settings.embed): it has no frame "
                         "embedder to build or export (give data_root=<embedding cache .h5> to read embeddings)")
    return EmbedConfig.from_mapping(settings["embed"])


def build_checkpoint_embedder(data_meta: Mapping[str, Any], device: str | torch.device = "cpu") -> Any:
    """The PyTorch frame embedder of a checkpoint, checked against what it records.

    The backbones are looked up as extraction did (recorded file, ``weights/``, the hub) and must
    have the recorded fingerprints, layout and widths (as :func:`lsvit.families.embeddings.cache.raw_video_dataset`).

    Raises:
        LsvitError: missing weights (naming where it looked), or other backbones than recorded.
    """
    cfg = embed_config(data_meta)
    embedder = cfg.build().to(device).eval()
    check_compatible(cache_settings(cfg, embedder), data_meta["settings"], "the backbones found on this machine",
                     "the checkpoint")
    return embedder


def graph_module(embedder: nn.Module) -> nn.Module:
    """A copy of ``embedder`` that runs its views in one pass (``max_batch=0``), as an exported graph must."""
    g = copy.deepcopy(embedder).eval()
    for slot in ("vit", "cnn"):
        bb = getattr(g, slot)
        if bb is not None:
            bb.max_batch = 0
    return g


def _unit(values: torch.Tensor) -> list[float]:
    return [round(float(v) / 255.0, 6) for v in values.flatten()]


def embedder_io(embedder: nn.Module, data_meta: Mapping[str, Any], batch: str | int = "frames"
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The graph's input and output, described as its metadata (``lsvit.input``, ``lsvit.output``) and the card show them."""
    settings = data_meta["settings"]
    s = int(settings["image_size"])
    norm = {}
    for slot in ("vit", "cnn"):
        bb = getattr(embedder, slot)
        if bb is not None:
            norm[slot] = {"backbone": bb.name, "kind": "transformers" if bb.kind == "hf" else "timm",
                          "mean": _unit(bb.mean), "std": _unit(bb.std)}
    inp = {"name": VIEWS_NAME, "shape": [batch, 3, s, s, 3], "layout": "N V H W C", "dtype": "uint8",
           "views": ["left", "right", "whole"],
           "crop": "left = columns [0, W // 2), right = columns [W // 2, W), whole = the frame (H x W)",
           "resize": f"each view squashed to {s} x {s} (aspect not kept) with OpenCV: INTER_AREA when both H and "
                     "W // 2 exceed it, else INTER_LINEAR (lsvit.families.embeddings.backbones.frame_views)",
           "values": "RGB pixel values 0..255, not normalised (the graph normalises for each backbone)",
           "normalization": norm,
           "frames": {"num_frames": int(settings["num_frames"]), "sampling": settings.get("sampling"),
                      "frame_stride": settings.get("frame_stride"), "short_videos": settings.get("short")}}
    out = {"name": EMBEDDINGS_NAME, "shape": [batch, int(embedder.num_channels), int(embedder.dim)],
           "layout": "N C D", "dtype": "float32", "channels": list(embedder.layout),
           "storage": f"rounded to {settings.get('dtype', 'float16')} before the sequence model (as the cache "
                      "stores them)",
           "values": "each backbone's embedding (mean of a ViT's last tokens / a CNN's spatial mean) in chunks of "
                     f"{int(embedder.dim)} values, the last zero-padded, channels in this order"}
    return inp, out


# ------------------------------------------------------------------------------------------------ checks
def rendered_views(size: int, count: int = 3, seed: int = 0) -> np.ndarray:
    """uint8 ``(count, 3, size, size, 3)``: one frame of each of ``count`` rendered motion-dataset videos, as views."""
    out = []
    for i in range(count):
        frames = render_video(CLASSES[i % len(CLASSES)], np.random.default_rng([seed, i]), 4, max(2 * size, 64))
        out.append(frame_views(frames[2:3], size)[0])
    return np.stack(out)


def video_views(cfg: Any, data_root: str | Path, count: int = 3) -> np.ndarray | None:
    """Views of ``count`` frames of the videos under ``data_root`` (None when it holds no readable video)."""
    items = discover_unlabelled(data_root)[:count]
    frames = [v["views"][0] for v in (VideoViews(items, cfg)[i] for i in range(len(items))) if v["views"] is not None]
    if not frames:
        return None
    pool = np.concatenate(frames)  # (sum of T, 3, S, S, 3): every video's sampled frames
    return pool[np.linspace(0, len(pool) - 1, count).round().astype(int)]


@dataclass
class EmbedderJob:
    """The frame embedder of one checkpoint, ready to export: built, fingerprinted, its check inputs read."""

    embedder: nn.Module
    data_meta: dict[str, Any]
    checks: dict[str, torch.Tensor]
    real_kind: str
    key = "embedder"        # its name in model.onnx's metadata and the export record
    file = EMBEDDER_FILE

    @classmethod
    def prepare(cls, meta: Mapping[str, Any], data_root: str | Path | None = None) -> EmbedderJob:
        """Build the checkpoint's embedder and its checks: random views, and views of real frames (the
        videos under ``data_root`` when it names videos, else rendered frames of the motion dataset)."""
        data = dict(meta["data"])
        embedder = build_checkpoint_embedder(data)
        cfg = embed_config(data)
        s = int(cfg.image_size)
        g = torch.Generator().manual_seed(0)
        checks = {f"random views, batch {b}": torch.randint(0, 256, (b, 3, s, s, 3), dtype=torch.uint8, generator=g)
                  for b in (1, 3)}
        real, kind = None, ""
        src = Path(data_root) if data_root is not None else None
        if src is not None and src.exists() and not (src.is_file() and src.suffix.lower() in (".h5", ".csv")):
            real = video_views(cfg, src)
            kind = f"frames of the videos under {src}"
        if real is None:
            real = rendered_views(s)
            kind = "rendered frames (the built-in motion dataset's videos, cut into views)"
        real_t = torch.from_numpy(np.ascontiguousarray(real))
        checks[f"{kind.split(' (')[0]}, batch 1"] = real_t[:1]
        checks[f"{kind.split(' (')[0]}, batch {len(real_t)}"] = real_t
        return cls(embedder, data, checks, kind)

    def export(self, path: Path, opset: int, dynamic_batch: bool, model_name: str, commit: str) -> dict[str, Any]:
        """Export to ``path`` (a temporary name), checked and verified; the export record (no file fields yet).

        Raises:
            LsvitError: naming the backbone that cannot be exported, or the parity difference.
        """
        t0 = time.time()
        s = int(self.data_meta["settings"]["image_size"])
        batch: str | int = "frames" if dynamic_batch else 1
        inp, out = embedder_io(self.embedder, self.data_meta, batch)
        props = {"format": FORMAT, "graph": GRAPH_KIND, "model": {"name": model_name},
                 "settings": self.data_meta["settings"], "input": inp, "output": out, "lsvit_version": __version__,
                 "commit": commit}
        name = f"the frame embedder of {model_name}"
        graph = graph_module(self.embedder)
        example = torch.randint(0, 256, (2 if dynamic_batch else 1, 3, s, s, 3), dtype=torch.uint8)
        try:
            exporter, verified = verified_graph(
                path, self.embedder, graph, example, self.checks, props, opset=opset, dynamic_batch=dynamic_batch,
                name=name, doc=f"lsvit frame embedder ({model_name}): uint8 views -> per-frame embeddings",
                real_kind=self.real_kind, relative=EMBED_RTOL, input_name=VIEWS_NAME, output_name=EMBEDDINGS_NAME,
                what="embeddings")
        except LsvitError as exc:
            if not str(exc).startswith(f"cannot export {name}"):
                raise  # the graph exported but failed its checks: no backbone to blame, no more exports to try
            culprit = unexportable_backbone(self.embedder, example, path, opset)
            if culprit is None:
                raise
            raise LsvitError(f"cannot export {name} to ONNX: {culprit}. Export the sequence model alone with "
                             "embedder=false (runtime=onnx then reads embedding caches, not raw videos)") from exc
        return {"graph": GRAPH_KIND, "model": model_name, "opset": opset, "exporter": exporter,
                "dynamic_batch": dynamic_batch, "precision": "float32", "input": inp, "output": out,
                "verified": verified, "backbones": {k: {"name": v.get("name"), "fingerprint": v.get("fingerprint")}
                                                    for k, v in self.data_meta["settings"].items()
                                                    if k in ("vit", "cnn") and isinstance(v, Mapping)},
                "seconds": round(time.time() - t0, 2)}


def unexportable_backbone(embedder: nn.Module, example: torch.Tensor, path: Path, opset: int) -> str | None:
    """Which backbone keeps the embedder from exporting, in words (each is exported alone); None: neither alone."""
    for slot in ("vit", "cnn"):
        bb = getattr(embedder, slot)
        if bb is None:
            continue
        alone = FrameEmbedder(bb if slot == "vit" else None, bb if slot == "cnn" else None, embedder.dim)
        kind = "a Hugging Face transformers model" if bb.kind == "hf" else "a timm model"
        try:
            export_graph(graph_module(alone), example, path, opset, True, f"backbone {bb.name}", VIEWS_NAME,
                         EMBEDDINGS_NAME)
        except LsvitError as exc:
            return f"backbone {slot}={bb.name} ({kind}) cannot be exported ({str(exc).split(': ', 1)[-1]})"
        finally:
            if path.exists():
                path.unlink()
    return None


# ------------------------------------------------------------------------------------------------ runtime
def load_onnx_embedder(checkpoint: str | Path, data_meta: Mapping[str, Any], device: str | torch.device = "cpu",
                       path: str | Path | None = None, threads: int = 0) -> nn.Module:
    """The exported frame embedder of a checkpoint (an :class:`~lsvit.deploy.runtime.OnnxModel`: uint8 views in,
    float32 embeddings out), checked against the embedder the checkpoint records.

    Raises:
        LsvitError: no such file (with the export command), or a graph of another embedder.
    """
    path = Path(path) if path else Path(checkpoint) / EMBEDDER_FILE
    if not path.is_file():
        raise LsvitError(f"runtime=onnx on raw videos needs the frame embedder's graph: {path} does not exist; "
                         f"export it: python tools/export.py checkpoint={checkpoint} (or give data_root= an "
                         "embedding cache .h5)")
    graph = OnnxModel(path, onnx_providers(device), threads)
    md = graph.metadata
    if md.get("graph") != GRAPH_KIND or graph.input_name != VIEWS_NAME:
        raise LsvitError(f"{path}: not an lsvit frame embedder graph (export it again: python tools/export.py "
                         f"checkpoint={checkpoint})")
    have, want = comparable(md.get("settings") or {}), comparable(data_meta.get("settings") or {})
    if have != want:
        diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        raise LsvitError(f"{path} was exported for another frame embedder than {checkpoint} records (differs in "
                         f"{diff}); export it again: python tools/export.py checkpoint={checkpoint}")
    return graph


def checkpoint_embedder(checkpoint: str | Path, data_meta: Mapping[str, Any], device: str | torch.device = "cpu",
                        runtime: str = "pytorch", threads: int = 0) -> nn.Module:
    """The frame embedder of a checkpoint on ``runtime``: a module ``uint8 (N, 3, S, S, 3) -> float32 (N, C, D)``."""
    if runtime == "onnx":
        return load_onnx_embedder(checkpoint, data_meta, device, threads=threads)
    return build_checkpoint_embedder(data_meta, device)


def onnx_embedding_dataset(checkpoint: str | Path, items: Sequence[Any], data_meta: Mapping[str, Any],
                           strict: bool = False, backend: str | None = None, num_clips: int = 1,
                           num_crops: int = 1) -> Any:
    """``runtime=onnx``'s reader of raw videos for a frame-embedding checkpoint: the embeddings come from
    ``embedder.onnx`` (everything else as :func:`lsvit.families.embeddings.cache.raw_video_dataset`: the same frames,
    views, batching and rounding to the storage precision). Unreadable videos become error samples."""
    if num_clips != 1 or num_crops != 1:
        raise LsvitError(f"num_clips={num_clips}, num_crops={num_crops}: embeddings have one view per video")
    cfg = embed_config(data_meta)
    embedder = load_onnx_embedder(checkpoint, data_meta, resolve_device("auto"))
    arrays, errors = embed_items(items, cfg, "cpu", backend=backend or "auto", embedder=embedder,
                                 num_workers=2 if len(items) > 4 else 0)
    if strict and errors:
        raise VideoReadError(next(iter(errors.values())))
    settings = data_meta["settings"]
    shape = (int(settings["num_frames"]), int(settings["num_channels"]), int(settings["dim"]))
    return EmbeddingArrayDataset([it.id for it in items], arrays, errors, shape, [it.label for it in items])


__all__ = ["EMBED_RTOL", "EMBEDDINGS_NAME", "GRAPH_KIND", "VIEWS_NAME", "EmbedderJob", "build_checkpoint_embedder",
           "checkpoint_embedder", "embed_config", "embedder_io", "graph_module", "load_onnx_embedder",
           "onnx_embedding_dataset", "rendered_views", "unexportable_backbone", "video_views"]
