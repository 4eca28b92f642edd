"""The frame-embedding family's realtime step: each frame's views through the recorded frame embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsvit import LsvitError
from lsvit.data.sampling import sample_indices
from lsvit.families.embeddings.backbones import FrameEmbedder, frame_views
from lsvit.families.embeddings.graph import checkpoint_embedder, embed_config


class EmbeddingFrames:
    """Each frame's embedding by the checkpoint's frame embedder (frame-embedding BiLSTM checkpoints).

    A frame is cut into its left half, right half and whole views at the recorded size
    (:func:`lsvit.families.embeddings.backbones.frame_views`), embedded by the recorded backbones (found again
    and checked by weights fingerprint; ``runtime=onnx``: ``embedder.onnx``) and rounded to the cache's
    storage precision, exactly as extraction and raw-video inference embed a frame. The window is the
    last ``num_frames`` embeddings (``frame_stride`` apart for ``dense`` sampling); the whole-video
    input samples the frames as extraction does.
    """

    skip_empty = False
    model_threads: int | None = None  # the backbones take every core

    def __init__(self, data: dict[str, Any], device: str = "cpu", checkpoint: str | Path | None = None,
                 runtime: str = "pytorch") -> None:
        cfg = embed_config(data)
        if cfg.crop:  # its crop box comes from the whole clip's detections (or nearest frames'): not one frame's
            raise LsvitError(f"this checkpoint's embeddings were extracted with embed.crop={cfg.crop} "
                             f"(crop_span={cfg.crop_span}): realtime embeds one whole frame at a time and would feed "
                             "it other views than training saw; run tools/inference.py on the videos instead")
        self.embedder = checkpoint_embedder(checkpoint or "", data, device, runtime)
        if isinstance(self.embedder, FrameEmbedder):  # extraction's arithmetic: its batch norms folded
            self.embedder = self.embedder.for_inference()
        self.device = device
        self.size, self.storage = int(cfg.image_size), np.dtype(cfg.dtype)
        self.num_frames, self.sampling, self.short = int(cfg.num_frames), cfg.sampling, cfg.short
        self.stride = int(cfg.frame_stride) if cfg.sampling == "dense" else 1
        self.window = self.num_frames * self.stride

    @torch.no_grad()
    def frame(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        views = torch.from_numpy(frame_views(frame_rgb[None], self.size)).to(self.device)
        emb = self.embedder(views).float().cpu().numpy()[0]
        return emb.astype(self.storage).astype(np.float32), {"detected": True}

    def batch(self, pieces: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(pieces[::self.stride][-self.num_frames:]))[None]

    def whole(self, pieces: list[np.ndarray]) -> torch.Tensor:
        idx = sample_indices(len(pieces), self.num_frames, self.stride, self.sampling, False, None, self.short)
        return torch.from_numpy(np.stack([pieces[int(i)] for i in idx]))[None]

    def draw(self, image_bgr: np.ndarray, info: dict[str, Any], color: tuple[int, int, int]) -> None:
        return None
