"""The clips input type: raw frames decoded on the fly, transformed as evaluation did (LS-ViT and its control).

Registered by :func:`lsvit.plugins.setup`; the shared layers reach it through :func:`lsvit.registry.input_type`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsvit.checkpoint.card import config_value
from lsvit.contracts import CardText, ExtraGraph, InputContract, meta_floats, meta_int
from lsvit.data.dataset import to_model_input
from lsvit.data.discovery import VideoItem
from lsvit.data.synthetic import CLASSES, render_video
from lsvit.families.clips.bench import deploy_cases
from lsvit.families.clips.dataset import VideoDataset
from lsvit.families.clips.realtime import VideoFrames
from lsvit.families.clips.transforms import ClipTransform
from lsvit.perf import DeployCase


def rendered_clips(n: int, num_frames: int, size: int, mean: Sequence[float], std: Sequence[float],
                   seed: int = 0) -> torch.Tensor:
    """``n`` clips of the built-in motion dataset (one class each, in turn), as evaluation feeds them to a model.

    Frames are rendered at ``size`` px, go through the evaluation :class:`~lsvit.families.clips.transforms.ClipTransform`
    and :func:`~lsvit.data.dataset.to_model_input`: the path of real clips, with real image structure
    (edges, flat regions, motion) where random inputs have none.
    """
    tf = ClipTransform(size, tuple(mean), tuple(std), train=False)
    clips, colors = [], []
    for i in range(n):
        frames = render_video(CLASSES[i % len(CLASSES)], np.random.default_rng([seed, i]), num_frames, size)
        clip, color = tf(frames)
        clips.append(clip)
        colors.append(color)
    return to_model_input(torch.stack(clips), torch.stack(colors))


class ClipsInput:
    """Clips ``(T, C, S, S)``: decoded frames, resized and centre-cropped, normalised per channel."""

    name = "clips"
    aliases = ("video",)  # checkpoints written before the families had their own folders
    file_suffixes: tuple[str, ...] = ()

    def from_videos(self, meta: Mapping[str, Any], items: Sequence[VideoItem], *, strict: bool = False,
                    backend: str | None = None, num_clips: int = 1, num_crops: int = 1, runtime: str = "pytorch",
                    checkpoint: str | Path | None = None) -> VideoDataset:
        """The videos read, sampled and transformed exactly as the checkpoint's evaluation did."""
        data = meta["data"]
        tf = ClipTransform(int(data["image_size"]), tuple(data["mean"]), tuple(data["std"]), train=False)
        return VideoDataset(items, tf, num_frames=int(data["num_frames"]), frame_stride=int(data["frame_stride"]),
                            sampling=data.get("sampling", "dense"), short=data.get("short", "loop"), train=False,
                            backend=backend or data.get("backend", "auto"), strict=strict, num_clips=num_clips,
                            num_crops=num_crops)

    def from_file(self, meta: Mapping[str, Any], path: Path, strict: bool = False) -> VideoDataset:
        """Clips have no file format of their own: a video file is read by :meth:`from_videos`."""
        raise NotImplementedError("clips are read from videos")

    def contract(self, data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
        """Clips ``(B, T, C, S, S)``: T frames, RGB, normalised per channel, as evaluation transformed them."""
        t = meta_int(data, "num_frames", self.name)
        s = meta_int(data, "image_size", self.name)
        c = int(model_args.get("in_chans", 3))
        mean, std = meta_floats(data, "mean", c, self.name), meta_floats(data, "std", c, self.name)
        details = {
            "num_frames": t, "image_size": s, "channels": "RGB" if c == 3 else f"{c} channels", "mean": mean,
            "std": std, "values": "(x / 255 - mean) / std per channel, x the pixel value in [0, 255]",
            "frames": {"sampling": data.get("sampling", "dense"), "frame_stride": data.get("frame_stride"),
                       "short_videos": data.get("short", "loop")},
            "resize": "short side to image_size (bilinear), centre crop image_size x image_size",
        }

        def rendered(n: int) -> torch.Tensor:
            return rendered_clips(n, t, s, mean, std)

        return InputContract(self.name, (t, c, s, s), "B T C H W", details, rendered if c == 3 else None,
                             "rendered clips (the built-in motion dataset's videos through the checkpoint's transform)")

    def extra_graphs(self, meta: Mapping[str, Any], data_root: str | Path | None) -> list[ExtraGraph]:
        """The clip model is the whole graph."""
        return []

    def frame_step(self, data: Mapping[str, Any], device: str, checkpoint: str | Path,
                   runtime: str = "pytorch") -> VideoFrames:
        """Frames resized, cropped and normalised like evaluation; the window is every ``frame_stride``-th frame."""
        return VideoFrames(dict(data), device)

    def card_text(self, meta: Mapping[str, Any]) -> CardText:
        """Whether the backbone was pretrained, and the time span the model sees."""
        data = meta.get("data") or {}
        cfg = str((meta.get("run") or {}).get("config_yaml") or "")
        out = []
        pretrained = config_value(cfg, "model", "pretrained")
        if pretrained is not None and pretrained.lower() in ("false", "no", "0"):
            out.append("Trained from scratch (no pretrained backbone): expect far lower accuracy on real footage than "
                       "an ImageNet-initialised model.")
        elif pretrained is None:
            out.append("Whether the backbone was pretrained is not recorded (no resolved config in meta.json).")
        if "num_frames" in data:
            out.append(f"Sees {data['num_frames']} frames (stride {data.get('frame_stride', '?')}, "
                       f"{data.get('sampling', 'dense')} sampling) at {data.get('image_size', '?')} px: actions longer "
                       "than that span are judged from part of them.")
        return CardText("clips", [], out)

    def bench_cases(self, smoke: bool) -> list[DeployCase]:
        """LS-ViT and the frame-average control at the demo's size."""
        return deploy_cases(smoke)

    def bench_sections(self) -> list[Callable[..., None]]:
        """Clip loading and the models' train steps are the benchmark's own sections (:mod:`lsvit.bench`)."""
        return []


CLIPS = ClipsInput()
