"""What an exported graph takes as input, derived from a checkpoint's ``meta["data"]``.

One entry per data type (``meta["data"]["type"]``, the same key that picks the reader in
:mod:`lsvit.inference`): ``INPUT_CONTRACTS[type](data_meta, model_args) -> InputContract``. The
contract gives the per-sample shape and layout of the model's *float* input (what
:func:`lsvit.data.transforms.to_model_input` hands the model), the preprocessing that produced
it, an example batch for the exporter and, where the type allows one without data, a batch of
structured inputs for the parity check: rendered clips for ``video``; for ``embeddings`` and
``keypoints``, rows of the checkpoint's own cache or keypoint file (recorded in ``meta.json``) when
that file is on this machine, read as inference reads them. Preprocessing itself stays the Python
path of inference; the contract only describes it (it is written into the ONNX metadata and the card).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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


def first_inputs(ds: Any, count: int, where: str) -> torch.Tensor:
    """The model inputs of the first ``count`` readable samples of an inference dataset, batched.

    Raises:
        LsvitError: none of its samples can be read (``where`` names the source).
    """
    from lsvit.data.dataset import collate
    from lsvit.data.transforms import to_model_input

    samples = []
    for i in range(len(ds)):
        s = ds[i]
        if "error" not in s:
            samples.append(s)
        if len(samples) == count:
            break
    if not samples:
        raise LsvitError(f"{where}: none of its inputs could be read")
    batch = collate(samples)
    return to_model_input(batch["inputs"], batch.get("color")).float()


def recorded_rows(kind: str, data: Mapping[str, Any], paths: Sequence[Any], what: str
                  ) -> tuple[Callable[[int], torch.Tensor] | None, str]:
    """A ``sample`` reading the first rows of the first of ``paths`` that is a file on this machine.

    The rows are read by inference's own reader of that file type (``lsvit.inference.CACHE_READERS``):
    the values the model saw in evaluation. ``(None, "")`` when none of the files is here.
    """
    path = next((Path(str(p)) for p in paths if p and Path(str(p)).is_file()), None)
    if path is None:
        return None, ""

    def rows(n: int) -> torch.Tensor:
        from lsvit.inference import CACHE_READERS

        reader = CACHE_READERS.get((kind, path.suffix.lower()))
        if reader is None:
            raise LsvitError(f"{path}: no reader of '{kind}' inputs for {path.suffix} files")
        return first_inputs(reader(path, dict(data), [], False), n, str(path))

    return rows, f"rows of {path} ({what}, read as inference reads it)"


def embeddings_contract(data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
    """Frame embeddings ``(B, T, C, D)``: C views/backbones of D features per frame (the extraction's cache)."""
    t = _positive_int(data, "num_frames", "embeddings")
    c = _positive_int(data, "num_channels", "embeddings")
    d = _positive_int(data, "dim", "embeddings")
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
    sample, sample_kind = recorded_rows("embeddings", data, [files.get(p) for p in ("test", "val", "train")]
                                        if isinstance(files, Mapping) else [], "the checkpoint's own cache")
    return InputContract("embeddings", (t, c, d), "B T C D", details, sample, sample_kind)


def keypoints_contract(data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
    """Keypoint sequences ``(B, T, F)``: F coordinates per frame (the extraction's cache)."""
    t = _positive_int(data, "num_frames", "keypoints")
    f = _positive_int(data, "feature_count", "keypoints")
    extraction = data.get("extraction") or {}
    mode = extraction.get("mode") if isinstance(extraction, Mapping) else None
    solution = f"mode {mode}" if mode else "the solution that gives this layout"
    details = {"num_frames": t, "num_features": f, "normalize": data.get("normalize"),
               "values": "keypoint coordinates per frame (lsvit.data.keypoints: fixed length, then normalised as "
                         "'normalize' says)", "layout": data.get("layout"), "extraction": extraction,
               "raw_videos": f"MediaPipe landmarks per frame ({solution}; zeros where nothing is detected), the "
                             f"sequence fixed to {t} frames ({data.get('sampling', 'pad')}), then normalised "
                             f"({data.get('normalize')}): Python preprocessing (lsvit.data.keypoints), not part of "
                             "the graph"}
    sample, sample_kind = recorded_rows("keypoints", data, [data.get("source_file")],
                                        "the checkpoint's own keypoint file")
    return InputContract("keypoints", (t, f), "B T F", details, sample, sample_kind)


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
