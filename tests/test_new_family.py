"""A fourth family, defined in this file only, plugs in at one point: trained, predicted, exported with parity, run
on ONNX Runtime and in the realtime loop, given a model card and a benchmark case, with no edit to lsvit.

The family ("colour"): the mean colour of each frame, ``(T, 3)``, classified by a small GRU. It is the worked
example of ``docs/adding-a-family.md``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn as nn
from omegaconf import OmegaConf
from torch.utils.data import Dataset

from lsvit.config import compose
from lsvit.contracts import CardText, DataModule, ExtraGraph, InputContract, InputType, meta_int
from lsvit.data.dataset import collate, split_key
from lsvit.data.discovery import VideoItem, discover_classes
from lsvit.data.readers import read_clip
from lsvit.data.sampling import sample_indices
from lsvit.data.splits import split_summary, stratified_split
from lsvit.models.registry import FAMILIES, INIT_ONLY, EntryPoint, register_family
from lsvit.perf import DeployCase
from lsvit.registry import register_input_type, unregister_input_type


class ColourDataset(Dataset):
    """Mean RGB of ``num_frames`` frames per video: float32 ``(T, 3)`` in [0, 1]."""

    def __init__(self, items: Sequence[VideoItem], num_frames: int, train: bool = False) -> None:
        self.items, self.num_frames, self.train = list(items), num_frames, train

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = split_key(key)
        item = self.items[index]
        rng = np.random.default_rng(seed) if seed is not None else None
        frames, _ = read_clip(item.source, lambda n: sample_indices(n, self.num_frames, 1, "uniform",
                                                                     self.train and rng is not None, rng))
        return {"inputs": torch.from_numpy(frames.mean(axis=(1, 2)) / 255.0).float(), "label": item.label,
                "id": item.id}


class ColourDataModule:
    def __init__(self, root: str, num_frames: int = 6, val_ratio: float = 0.25, seed: int = 0) -> None:
        self.num_frames = num_frames
        self.class_names, items = discover_classes(root)
        labels = [it.label for it in items]
        tr, va = stratified_split(labels, val_ratio, seed)
        self.train_items, self.val_items = [items[i] for i in tr], [items[i] for i in va]
        self._summary = split_summary(self.class_names, labels, tr, va, rule=f"val_ratio={val_ratio}")
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None

    collate_fn = staticmethod(collate)

    def setup(self, model: Any = None) -> None:
        self.train_dataset = ColourDataset(self.train_items, self.num_frames, train=True)
        self.val_dataset = ColourDataset(self.val_items, self.num_frames)

    def make_test_dataset(self, num_clips: int = 1, num_crops: int = 1) -> Dataset | None:
        return None

    def split_summary(self) -> dict[str, Any]:
        return self._summary

    def model_args(self) -> dict[str, Any]:
        return {"in_chans": 3}

    def meta(self) -> dict[str, Any]:
        return {"type": "colour", "num_frames": self.num_frames, "dataset": "toy colours",
                "num_train": len(self.train_items), "num_val": len(self.val_items)}


class ColourFrames:
    skip_empty = False
    model_threads = None

    def __init__(self, num_frames: int) -> None:
        self.window = num_frames

    def frame(self, frame_rgb: np.ndarray) -> tuple[Any, dict[str, Any]]:
        return frame_rgb.mean(axis=(0, 1)) / 255.0, {"detected": True}

    def batch(self, pieces: list[Any]) -> torch.Tensor:
        return torch.tensor(np.stack(pieces[-self.window:]), dtype=torch.float32)[None]

    def whole(self, pieces: list[Any]) -> torch.Tensor:
        return self.batch([pieces[int(i)] for i in sample_indices(len(pieces), self.window, 1, "uniform")])

    def draw(self, image_bgr: np.ndarray, info: dict[str, Any], color: tuple[int, int, int]) -> None:
        return None


class ColourGRU(nn.Module):
    def __init__(self, num_classes: int = 2, hidden: int = 16, in_chans: int = 3) -> None:
        super().__init__()
        self.num_classes, self.num_features = num_classes, hidden
        self.gru = nn.GRU(in_chans, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(x)[1][-1]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes, self.head = num_classes, nn.Linear(self.num_features, num_classes)


def toy_colour_gru(pretrained: bool = False, **kwargs: Any) -> ColourGRU:
    return ColourGRU(**{k: v for k, v in kwargs.items() if k not in INIT_ONLY})


class ColourInput:
    name = "colour"
    aliases: tuple[str, ...] = ()
    file_suffixes: tuple[str, ...] = ()

    def from_videos(self, meta: Mapping[str, Any], items: Sequence[VideoItem], *, strict: bool = False,
                    backend: str | None = None, num_clips: int = 1, num_crops: int = 1, runtime: str = "pytorch",
                    checkpoint: str | Path | None = None) -> Dataset:
        return ColourDataset(items, int(meta["data"]["num_frames"]))

    def from_file(self, meta: Mapping[str, Any], path: Path, strict: bool = False) -> Dataset:
        raise NotImplementedError

    def contract(self, data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
        t = meta_int(data, "num_frames", self.name)
        return InputContract(self.name, (t, 3), "B T C", {"values": "mean RGB of each frame, in [0, 1]"})

    def extra_graphs(self, meta: Mapping[str, Any], data_root: str | Path | None) -> list[ExtraGraph]:
        return []

    def frame_step(self, data: Mapping[str, Any], device: str, checkpoint: str | Path,
                   runtime: str = "pytorch") -> ColourFrames:
        return ColourFrames(int(data["num_frames"]))

    def card_text(self, meta: Mapping[str, Any]) -> CardText:
        return CardText("videos", ["Each frame becomes its mean colour."], ["Sees only the mean colour of a frame."])

    def bench_cases(self, smoke: bool) -> list[DeployCase]:
        torch.manual_seed(0)
        return [DeployCase("toy colour gru", toy_colour_gru(num_classes=4).eval(), torch.rand(2, 6, 3), "videos")]

    def bench_sections(self) -> list[Callable[..., None]]:
        return []


COLOUR = ColourInput()


@pytest.fixture
def colour_family():
    """The one registration point: an input type and a model family, after lsvit.setup() (conftest ran it)."""
    register_input_type(COLOUR)
    register_family(EntryPoint(ColourGRU, toy_colour_gru, "colour GRU (the mean colour of each frame)"))
    yield
    unregister_input_type("colour")
    FAMILIES.pop("toy_colour_gru", None)


@pytest.mark.slow
def test_a_family_defined_in_one_file_runs_through_every_shared_layer(colour_family, tiny_dataset, tmp_path):
    from lsvit.bench.deploy import SECTION, bench_deploy
    from lsvit.checkpoint.card import parse_card
    from lsvit.deploy.export import export_onnx
    from lsvit.engine import train
    from lsvit.inference import run_inference
    from lsvit.perf import PerfReport
    from lsvit.realtime import run_realtime

    assert isinstance(COLOUR, InputType)  # the protocols are code: the toy fills them in
    assert isinstance(ColourDataModule(str(tiny_dataset / "train")), DataModule)
    # train: tools/train.py's function on a composed config whose data and model are the toy's
    cfg = compose("train", [f"run_dir={tmp_path}/run", "engine.epochs=2", "engine.batch_size=4",
                            "engine.num_workers=0", "engine.device=cpu", "engine.mixed_precision=no"])
    cfg.name = "colour"
    cfg.data = OmegaConf.create({"_target_": f"{__name__}.ColourDataModule", "root": str(tiny_dataset / "train")})
    cfg.model = OmegaConf.create({"_target_": "timm.create_model", "model_name": "toy_colour_gru", "hidden": 8,
                                  "in_chans": None})  # in_chans: the data decides it (model_args)
    summary = train(cfg)
    best = Path(summary["run_dir"]) / "best"
    assert summary["best_epoch"] is not None and (best / "model.safetensors").is_file()
    # the model card: the family's title (its registration), the type's unit, notes and limitations
    front, body = parse_card((best / "README.md").read_text())
    assert "colour GRU (the mean colour of each frame)" in body and "Sees only the mean colour" in body
    assert "Each frame becomes its mean colour." in body and "training videos" in body and "colour" in front["tags"]
    # inference on raw videos -> submission.csv
    out = tmp_path / "submission.csv"
    assert run_inference(str(best), str(tiny_dataset / "test"), str(out), probs=True) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8 and {r["class"] for r in rows} <= set(summary_classes(best))
    # export with parity, then runtime=onnx writes the same CSV (probabilities within 1e-4)
    record = export_onnx(best, data_root=tiny_dataset / "test")
    assert max(record["verified"]["max_abs_diff"].values()) <= 1e-4 and record["input"]["type"] == "colour"
    onnx_out = tmp_path / "onnx.csv"
    assert run_inference(str(best), str(tiny_dataset / "test"), str(onnx_out), probs=True, runtime="onnx") == 0
    onnx_rows = list(csv.DictReader(onnx_out.open()))
    assert [r["id"] for r in onnx_rows] == [r["id"] for r in rows]
    for a, b in zip(rows, onnx_rows):
        assert max(abs(float(a[k]) - float(b[k])) for k in a if k.startswith("prob_")) <= 1e-4
    # the realtime loop, headless, on a video, on both runtimes
    video = next((tiny_dataset / "test").rglob("*.mp4"))
    for runtime in ("pytorch", "onnx"):
        r = run_realtime(best, str(video), stride=1, threshold=0.0, headless=True, output=tmp_path / f"rt_{runtime}.mp4",
                         runtime=runtime, progress=False)
        assert r["predictions"] > 0 and r["last_label"] in summary_classes(best)
    # a benchmark case: the deployment section times the family's model on both runtimes
    report = PerfReport("cpu")
    import lsvit.bench.deploy as deploy

    real = deploy.input_types
    try:
        deploy.input_types = lambda: {"colour": COLOUR}  # only the toy's cases: the others have their own test
        bench_deploy(report, tmp_path, smoke=True)
    finally:
        deploy.input_types = real
    assert report.figures[SECTION]["toy colour gru: ONNX Runtime videos/s"] > 0
    assert any(c.name.startswith("[deploy] toy colour gru") and c.status == "PASS" for c in report.checks)


def summary_classes(best: Path) -> list[str]:
    from lsvit.checkpoint.meta import read_meta

    return list(read_meta(best)["class_names"])
