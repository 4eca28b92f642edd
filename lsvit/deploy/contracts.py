"""What an exported graph takes as input, derived from a checkpoint's ``meta["data"]``.

One entry per data type (``meta["data"]["type"]``, the same key that picks the reader in
:mod:`lsvit.inference`): ``INPUT_CONTRACTS[type](data_meta, model_args) -> InputContract``. The
contract gives the per-sample shape and layout of the model's *float* input (what
:func:`lsvit.data.transforms.to_model_input` hands the model), the preprocessing that produced
it, an example batch for the exporter and, where the type allows one without data, a batch of
structured inputs for the parity check. Preprocessing itself stays the Python path of
inference; the contract only describes it (it is written into the ONNX metadata and the card).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from lsvit import LsvitError


@dataclass(frozen=True)
class InputContract:
    """The model input of one checkpoint.

    Args:
        type: the data type (``video``, ``embeddings``, ``keypoints``).
        shape: per-sample shape, without the batch axis.
        layout: axis names, batch first (``"B T C H W"``).
        details: JSON-able description of the values and of the preprocessing that makes them.
        sample: ``n -> (n, *shape)`` float inputs with real structure (``None`` when the type needs
            data for that: the exporter then checks random inputs and, given ``data_root``, real ones).
        sample_kind: what :attr:`sample` makes, in words.
    """

    type: str
    shape: tuple[int, ...]
    layout: str
    details: dict[str, Any] = field(default_factory=dict)
    sample: Callable[[int], torch.Tensor] | None = field(default=None, compare=False, repr=False)
    sample_kind: str = ""

    def example(self, batch: int, seed: int = 0) -> torch.Tensor:
        """Standard-normal float32 inputs ``(batch, *shape)`` (normalised values are of that scale)."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn(batch, *self.shape, generator=g)

    def to_json(self, dtype: str = "float32") -> dict[str, Any]:
        """The contract as written into the ONNX metadata (``lsvit.input``) and the card."""
        return {"type": self.type, "shape": ["batch", *self.shape], "layout": self.layout, "dtype": dtype,
                **self.details}


def _need(data: Mapping[str, Any], key: str, kind: str) -> Any:
    if key not in data:
        raise LsvitError(f"meta.json data.{key} is missing: the '{kind}' input contract needs it")
    return data[key]


def _positive_int(data: Mapping[str, Any], key: str, kind: str) -> int:
    value = _need(data, key, kind)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LsvitError(f"meta.json data.{key}={value!r}: expected a positive integer ('{kind}' input contract)")
    return value


def _floats(data: Mapping[str, Any], key: str, n: int, kind: str) -> list[float]:
    value = _need(data, key, kind)
    if (not isinstance(value, list) or len(value) != n
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise LsvitError(f"meta.json data.{key}={value!r}: expected {n} numbers ('{kind}' input contract)")
    return [float(v) for v in value]


def video_contract(data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
    """Clips ``(B, T, C, S, S)``: T frames, RGB, normalised per channel, as evaluation transformed them."""
    t = _positive_int(data, "num_frames", "video")
    s = _positive_int(data, "image_size", "video")
    c = int(model_args.get("in_chans", 3))
    mean, std = _floats(data, "mean", c, "video"), _floats(data, "std", c, "video")
    details = {
        "num_frames": t, "image_size": s, "channels": "RGB" if c == 3 else f"{c} channels", "mean": mean, "std": std,
        "values": "(x / 255 - mean) / std per channel, x the pixel value in [0, 255]",
        "frames": {"sampling": data.get("sampling", "dense"), "frame_stride": data.get("frame_stride"),
                   "short_videos": data.get("short", "loop")},
        "resize": "short side to image_size (bilinear), centre crop image_size x image_size",
    }

    def rendered(n: int) -> torch.Tensor:
        return rendered_clips(n, t, s, mean, std)

    return InputContract("video", (t, c, s, s), "B T C H W", details, rendered if c == 3 else None,
                         "rendered clips (the built-in motion dataset's videos through the checkpoint's transform)")


def embeddings_contract(data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
    """Frame embeddings ``(B, T, C, D)``: C views/backbones of D features per frame (the extraction's cache)."""
    t = _positive_int(data, "num_frames", "embeddings")
    c = _positive_int(data, "num_channels", "embeddings")
    d = _positive_int(data, "dim", "embeddings")
    details = {"num_frames": t, "num_channels": c, "dim": d,
               "values": "frame embeddings as the extraction wrote them (float)",
               "extraction": data.get("settings", {})}
    return InputContract("embeddings", (t, c, d), "B T C D", details)


def keypoints_contract(data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
    """Keypoint sequences ``(B, T, F)``: F coordinates per frame (the extraction's cache)."""
    t = _positive_int(data, "num_frames", "keypoints")
    f = _positive_int(data, "feature_count", "keypoints")
    details = {"num_frames": t, "num_features": f, "normalize": data.get("normalize"),
               "values": "keypoint coordinates per frame (lsvit.data.keypoints: fixed length, then normalised as "
                         "'normalize' says)", "layout": data.get("layout"), "extraction": data.get("extraction", {})}
    return InputContract("keypoints", (t, f), "B T F", details)


# One entry per ``meta["data"]["type"]``; a family whose type is not here cannot be exported (one clear error).
INPUT_CONTRACTS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], InputContract]] = {
    "video": video_contract,
    "embeddings": embeddings_contract,
    "keypoints": keypoints_contract,
}


def input_contract(meta: Mapping[str, Any]) -> InputContract:
    """The input contract of a checkpoint's ``meta`` (as :func:`lsvit.engine.checkpoint.read_meta` returns it).

    Raises:
        LsvitError: a data type without a contract, or a missing/ill-typed key it needs.
    """
    data = meta.get("data", {})
    kind = data.get("type", "video")
    if kind not in INPUT_CONTRACTS:
        name = meta.get("model", {}).get("name", "?")
        raise LsvitError(f"model {name}: inputs of type '{kind}' have no ONNX input contract, so it cannot be "
                         f"exported (known types: {', '.join(sorted(INPUT_CONTRACTS))})")
    return INPUT_CONTRACTS[kind](data, meta.get("model", {}).get("args", {}))


def rendered_clips(n: int, num_frames: int, size: int, mean: list[float], std: list[float],
                   seed: int = 0) -> torch.Tensor:
    """``n`` clips of the built-in motion dataset (one class each, in turn), as evaluation feeds them to a model.

    Frames are rendered at ``size`` px, go through the evaluation :class:`~lsvit.data.transforms.ClipTransform`
    and :func:`~lsvit.data.transforms.to_model_input`: the path of real clips, with real image structure
    (edges, flat regions, motion) where random inputs have none.
    """
    import numpy as np

    from lsvit.data.synthetic import CLASSES, render_video
    from lsvit.data.transforms import ClipTransform, to_model_input

    tf = ClipTransform(size, tuple(mean), tuple(std), train=False)
    clips, colors = [], []
    for i in range(n):
        frames = render_video(CLASSES[i % len(CLASSES)], np.random.default_rng([seed, i]), num_frames, size)
        clip, color = tf(frames)
        clips.append(clip)
        colors.append(color)
    return to_model_input(torch.stack(clips), torch.stack(colors))
