"""The contracts that hold the families together, as code: what a data module, an input type and a
realtime frame adapter offer, and what an exported graph takes as input.

A *family* is a data type plus the models that read it. Everything that differs between data types lives
in one object per type, an :class:`InputType`, registered once (:func:`lsvit.registry.register_input_type`,
called from :func:`lsvit.plugins.setup`). The shared layers — inference, export, the ONNX runtime,
realtime, the model card, the benchmark — look the type up by ``meta["data"]["type"]`` and never name one.
The engine asks a :class:`DataModule` for data and never asks what the inputs are.

**Sample contract**: every dataset returns ``{"inputs": Tensor, "label": int, "id": str}``, plus
``"error": str`` for a broken input (evaluation: ``label=-1``, left out of the metrics and of
``submission.csv``; training: another input took its place and ``"substitute": True``), ``"seed"``
(training: the sample's seed, which drives every random choice of it, in the data and in the model)
and optionally ``"color"`` (uint8 clips: their per-clip colour map, applied on the device by
:func:`lsvit.data.dataset.to_model_input`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.utils.data import Dataset

from lsvit import LsvitError


@runtime_checkable
class DataModule(Protocol):
    """What the engine asks a family's data for (``configs/data/<name>.yaml``: ``_target_`` a class that takes
    typed keyword arguments).

    ``train_dataset`` keys are ``(index, seed)`` pairs from :class:`lsvit.data.dataset.SeededSampler`; every
    random choice of a sample is drawn from its seed, so 1 and N processes see the same data.
    """

    class_names: list[str]
    train_dataset: Dataset | None
    val_dataset: Dataset | None

    def setup(self, model: Any = None) -> None:
        """Build ``train_dataset`` and ``val_dataset`` (it may read the model's ``pretrained_cfg``)."""

    def collate_fn(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Stack samples into a batch (:func:`lsvit.data.dataset.collate` serves every family)."""

    def meta(self) -> dict[str, Any]:
        """Plain JSON: everything inference needs to read raw inputs as evaluation did; ``"type"`` names the
        registered :class:`InputType`."""

    def make_test_dataset(self, num_clips: int = 1, num_crops: int = 1) -> Dataset | None:
        """The held-out test part (None when there is none), evaluated once with the best checkpoint."""

    def split_summary(self) -> dict[str, Any]:
        """Train/validation/test counts per class (``split_summary.json``)."""

    def model_args(self) -> dict[str, Any]:
        """Model keyword arguments the data decides (e.g. ``{"input_size": 84}``): a model setting left
        ``null`` takes this value, one set to another value is an error naming both."""


@runtime_checkable
class FrameAdapter(Protocol):
    """What the loop needs from a family: per-frame inputs, the model input of a window, drawing."""

    window: int
    skip_empty: bool
    model_threads: int | None  # torch threads while this adapter's per-frame work runs beside the model

    def frame(self, frame_rgb: np.ndarray) -> tuple[Any, dict[str, Any]]:
        """One RGB frame -> (its per-frame input, drawing info with ``"detected"``)."""

    def batch(self, pieces: list[Any]) -> torch.Tensor:
        """The model's ``(1, ...)`` input from the last ``window`` per-frame inputs."""

    def whole(self, pieces: list[Any]) -> torch.Tensor:
        """The model's ``(1, ...)`` input for a whole video, sampled as evaluation does."""

    def draw(self, image_bgr: np.ndarray, info: dict[str, Any], color: tuple[int, int, int]) -> None:
        """Draw the frame's extras (keypoints) in place."""


@dataclass(frozen=True)
class InputContract:
    """The model input of one checkpoint.

    Args:
        type: the registered input type's name.
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


@dataclass
class CardText:
    """What a model card says about a checkpoint's inputs (:meth:`InputType.card_text`)."""

    unit: str = "inputs"                                      # what one sample is called ("clips", "videos", ...)
    notes: list[str] = field(default_factory=list)            # how raw inputs become the model's input
    limitations: list[str] = field(default_factory=list)      # what the model cannot see, from meta.json


class ExtraGraph(Protocol):
    """A second graph a type's raw-input reader needs beside ``model.onnx`` (the frame embedder)."""

    key: str   # its name in model.onnx's metadata and in the export record ("embedder")
    file: str  # its file name beside model.onnx ("embedder.onnx")

    def export(self, path: Path, opset: int, dynamic_batch: bool, model_name: str, commit: str) -> dict[str, Any]:
        """Export, check and verify the graph to ``path`` (a temporary name); its export record."""


@runtime_checkable
class InputType(Protocol):
    """One data type: how its inputs are read, exported, run in realtime and described. Registered once.

    Attributes:
        name: the ``meta["data"]["type"]`` it serves.
        aliases: earlier names of the type that checkpoints may carry.
        file_suffixes: files of this type that inference and evaluation read as they are (``".h5"``).
    """

    name: str
    aliases: tuple[str, ...]
    file_suffixes: tuple[str, ...]

    def from_videos(self, meta: Mapping[str, Any], items: Sequence[Any], *, strict: bool = False,
                    backend: str | None = None, num_clips: int = 1, num_crops: int = 1, runtime: str = "pytorch",
                    checkpoint: str | Path | None = None) -> Dataset:
        """Inference on raw videos (:class:`lsvit.data.discovery.VideoItem` s) as evaluation read them."""

    def from_file(self, meta: Mapping[str, Any], path: Path, strict: bool = False) -> Dataset:
        """Inference on a file of this type (one of :attr:`file_suffixes`); ids and labels come from it."""

    def contract(self, data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
        """What the model (and an exported graph) takes as input."""

    def extra_graphs(self, meta: Mapping[str, Any], data_root: str | Path | None) -> list[ExtraGraph]:
        """Graphs beside ``model.onnx`` that its raw-input reader needs (empty for most types)."""

    def frame_step(self, data: Mapping[str, Any], device: str, checkpoint: str | Path,
                   runtime: str = "pytorch") -> FrameAdapter:
        """Realtime: the per-frame step of this type."""

    def card_text(self, meta: Mapping[str, Any]) -> CardText:
        """The model card's text about inputs of this type."""

    def bench_cases(self, smoke: bool) -> list[Any]:
        """Models of this type for the deployment benchmark (:class:`lsvit.perf.DeployCase`; tiny under ``smoke``)."""

    def bench_sections(self) -> list[Callable[..., None]]:
        """Benchmark sections of this type, ``section(report, ctx)`` (:class:`lsvit.perf.PerfReport`,
        :class:`lsvit.perf.BenchContext`); their names are the functions' without ``section_``."""



# ----------------------------------------------------------------------------- reading meta.json, for contracts
def meta_value(data: Mapping[str, Any], key: str, kind: str) -> Any:
    if key not in data:
        raise LsvitError(f"meta.json data.{key} is missing: the '{kind}' input contract needs it")
    return data[key]


def meta_int(data: Mapping[str, Any], key: str, kind: str) -> int:
    value = meta_value(data, key, kind)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LsvitError(f"meta.json data.{key}={value!r}: expected a positive integer ('{kind}' input contract)")
    return value


def meta_floats(data: Mapping[str, Any], key: str, n: int, kind: str) -> list[float]:
    value = meta_value(data, key, kind)
    if (not isinstance(value, list) or len(value) != n
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise LsvitError(f"meta.json data.{key}={value!r}: expected {n} numbers ('{kind}' input contract)")
    return [float(v) for v in value]
