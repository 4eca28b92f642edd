"""The frame-embedding input type: per-frame backbone embeddings ``(T, C, D)`` (the BiLSTM and its probe).

Read from an embedding cache (``.h5``, :mod:`~lsvit.families.embeddings.cache`) as it is, or from raw videos through
the frame embedder the checkpoint records (:mod:`~lsvit.families.embeddings.backbones`; ``embedder.onnx`` with
``runtime=onnx``, :mod:`~lsvit.families.embeddings.graph`). Registered by :func:`lsvit.plugins.setup`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from lsvit.contracts import CardText, ExtraGraph, InputContract, meta_int
from lsvit.data.dataset import recorded_rows
from lsvit.data.discovery import VideoItem
from lsvit.families.embeddings.bench import deploy_cases, section_features
from lsvit.families.embeddings.cache import raw_video_dataset, read_cache
from lsvit.families.embeddings.graph import EmbedderJob, onnx_embedding_dataset
from lsvit.families.embeddings.realtime import EmbeddingFrames
from lsvit.perf import DeployCase


class EmbeddingsInput:
    """Frame embeddings ``(T, C, D)``: C views/backbones of D features per frame, as the extraction wrote them."""

    name = "embeddings"
    aliases: tuple[str, ...] = ()
    file_suffixes = (".h5",)

    def from_videos(self, meta: Mapping[str, Any], items: Sequence[VideoItem], *, strict: bool = False,
                    backend: str | None = None, num_clips: int = 1, num_crops: int = 1, runtime: str = "pytorch",
                    checkpoint: str | Path | None = None) -> torch.utils.data.Dataset:
        """Raw videos embedded on the fly by the recorded frame embedder (its exported graph with ``runtime=onnx``)."""
        if runtime == "onnx":
            return onnx_embedding_dataset(checkpoint or "", items, meta["data"], strict, backend, num_clips,
                                          num_crops)
        return raw_video_dataset(items, meta["data"], strict, backend, num_clips, num_crops)

    def from_file(self, meta: Mapping[str, Any], path: Path, strict: bool = False) -> torch.utils.data.Dataset:
        """Every video of an embedding cache, checked against the checkpoint's extraction settings."""
        return read_cache(path, meta["data"], list(meta["class_names"]), strict)

    def contract(self, data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
        """Frame embeddings ``(B, T, C, D)``: C views/backbones of D features per frame (the extraction's cache)."""
        t = meta_int(data, "num_frames", self.name)
        c = meta_int(data, "num_channels", self.name)
        d = meta_int(data, "dim", self.name)
        settings = data.get("settings") or {}
        names = {slot: (settings.get(slot) or {}).get("name") for slot in ("vit", "cnn")
                 if isinstance(settings.get(slot), Mapping)}
        details = {"num_frames": t, "num_channels": c, "dim": d,
                   "values": f"frame embeddings as the extraction wrote them (float, stored as "
                             f"{settings.get('dtype', 'float16')}: embeddings of raw videos are rounded to it too)",
                   "channels": settings.get("layout"),
                   "raw_videos": f"{t} frames per video ({settings.get('sampling', 'uniform')} sampling), each cut into "
                                 f"3 views (left half, right half, whole frame) squashed to {settings.get('image_size')} "
                                 f"px, through the backbones "
                                 + (", ".join(f"{k}={v}" for k, v in names.items()) or "recorded in data.settings")
                                 + " (the frame embedder: embedder.onnx when exported)",
                   "extraction": settings}
        files = data.get("files") or {}
        sample, sample_kind = recorded_rows(self, data, [files.get(p) for p in ("test", "val", "train")]
                                            if isinstance(files, Mapping) else [], "the checkpoint's own cache")
        return InputContract(self.name, (t, c, d), "B T C D", details, sample, sample_kind)

    def extra_graphs(self, meta: Mapping[str, Any], data_root: str | Path | None) -> list[ExtraGraph]:
        """The frame embedder (``embedder.onnx``), so that ``runtime=onnx`` reads raw videos without PyTorch."""
        return [EmbedderJob.prepare(meta, data_root)]

    def frame_step(self, data: Mapping[str, Any], device: str, checkpoint: str | Path,
                   runtime: str = "pytorch") -> EmbeddingFrames:
        """Each frame's three views through the recorded frame embedder, rounded to the cache's precision."""
        return EmbeddingFrames(dict(data), device, checkpoint=checkpoint, runtime=runtime)

    def card_text(self, meta: Mapping[str, Any]) -> CardText:
        """Where the embeddings come from, and what the frozen backbones cannot see."""
        notes = ["From raw videos the embeddings come from the frame embedder recorded in `meta.json` (the "
                 "backbones above, found again by name and weights fingerprint); `embedder.onnx`, when "
                 "exported, is that embedder as a graph (uint8 views in, embeddings out: see Deployment). "
                 "Pre-extracted caches (`.h5`) of the same settings are read as they are."]
        return CardText("videos", notes, embedding_limitations(meta.get("data") or {}))

    def bench_cases(self, smoke: bool) -> list[DeployCase]:
        """The BiLSTM and its probe at ``make demo-bilstm``'s size, and the frame embedder (frames/s)."""
        return deploy_cases(smoke)

    def bench_sections(self) -> list[Callable[..., None]]:
        """The frame-embedding cache: extraction, file size, reading, loader wait."""
        return [section_features]


def embedding_limitations(data: Mapping[str, Any]) -> list[str]:
    """What a frame-embedding checkpoint cannot see, from the extraction settings it records."""
    settings = data.get("settings") or {}
    backbones = {slot: bb for slot in ("vit", "cnn") if isinstance(bb := settings.get(slot), Mapping)}
    out = []
    random_init = [f"{slot}={bb.get('name')}" for slot, bb in backbones.items() if bb.get("pretrained") is False]
    if random_init:
        out.append(f"The frame embedder's backbones {', '.join(random_init)} have random weights "
                   "(embed.pretrained=false): a test configuration; its embeddings carry no knowledge of images.")
    elif backbones:
        out.append("Only the sequence model was trained: the backbones (" + ", ".join(
            f"{slot}={bb.get('name')}" for slot, bb in backbones.items()) + ") are frozen, so footage unlike their "
            "pretraining images is embedded less well.")
    else:
        out.append("The frame embedder is not recorded (no data.settings): raw videos cannot be read, only "
                   "embedding caches made the same way.")
    if "num_frames" in settings:
        out.append(f"Sees {settings['num_frames']} frames per video ({settings.get('sampling', 'uniform')} sampling), "
                   f"each as three {settings.get('image_size', '?')} px views (left half, right half, whole frame, "
                   "squashed to squares): detail smaller than a few pixels at that size is lost, and the two halves "
                   "assume what matters sits left and right of the centre.")
    crop = settings.get("crop")
    if isinstance(crop, Mapping):
        out.append(f"Frames are cropped to the {crop.get('target')} found by {crop.get('detector')} before the views "
                   f"({'one box per clip' if crop.get('span') == 'video' else 'a box per frame'}, margin "
                   f"{crop.get('margin')}); where nothing is found "
                   + ("the whole frames are used" if crop.get("fallback") == "full" else "the video is skipped")
                   + ". Raw videos are cropped the same way at inference (the detector's weights must be on the "
                   "machine); realtime refuses such a checkpoint.")
    return out


EMBEDDINGS = EmbeddingsInput()
