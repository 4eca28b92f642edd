"""Shared fixtures: offline, CPU, tiny data in temp folders."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TQDM_DISABLE", "1")

from pathlib import Path

import numpy as np
import pytest
import torch

import lsvit
from lsvit.config import compose
from lsvit.data.synthetic import SyntheticSpec, make_motion_dataset, write_video

torch.set_num_threads(2)
# the one registration place every entry point passes through (the tools call it in lsvit.cli.run_tool)
lsvit.setup()
ROOT = Path(__file__).resolve().parents[1]
TINY_SPEC = SyntheticSpec(train_per_class=4, test_per_class=1, num_frames=12, size=40, seed=1)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The motion dataset at a tiny size: 8 classes x (4 train + 1 test) videos, 12 frames, 40 px."""
    return make_motion_dataset(tmp_path_factory.mktemp("synthetic"), TINY_SPEC, verbose=False)


@pytest.fixture(scope="session")
def mini_hmdb51(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miniature HMDB51 in the prepared layout: 4 classes x 5 sources x 2 clips, official-format splits."""
    from fixtures import make_mini_hmdb51

    return make_mini_hmdb51(tmp_path_factory.mktemp("hmdb51"), num_frames=10, size=32)


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A 20-frame H.264 mp4 and the frames it was written from (each frame distinct: brightness ramp)."""
    yy, xx = np.mgrid[0:48, 0:48]
    base = np.stack([xx * 2, yy * 2, (xx + yy)], -1).astype(np.int32)
    frames = np.stack([np.clip(base + 10 * i, 0, 255) for i in range(20)]).astype(np.uint8)
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, frames)
    return path, frames


# a tiny random-weight frame embedder for tools/extract_features.py (two backbones, 32 px, 4 frames)
TINY_EMBED_ARGS = ["embed.vit=vit_tiny_patch16_224", "embed.cnn=resnet10t", "embed.image_size=32", "embed.dim=32",
                   "embed.pretrained=false", "embed.num_frames=4", "num_workers=0",
                   "++embed.vit_args={depth:1,patch_size:8,embed_dim:32,num_heads:2}",
                   "++embed.cnn_args={channels:[8,16,32,96]}"]


def tiny_overrides(data_root: Path, run_dir: Path, *extra: str) -> list[str]:
    """Overrides for a seconds-long CPU training run on the tiny dataset."""
    return [f"data.root={data_root}", f"run_dir={run_dir}", "data=synthetic", "data.num_frames=4",
            "data.frame_stride=2", "data.image_size=32", "data.val_ratio=0.25", "model.model_name=lsvit_test",
            "model.smif_window=3", "model.drop_path_rate=0.0", "engine.epochs=2", "engine.batch_size=4",
            "engine.num_workers=0", "engine.device=cpu", "engine.mixed_precision=no", "engine.log_every=1",
            "optim.lr=1e-3", "optim.head_lr_mult=1.0", *extra]


@pytest.fixture
def tiny_cfg(tiny_dataset: Path, tmp_path: Path):
    """A composed training config for the tiny dataset, writing into ``tmp_path/run``."""
    def make(*extra: str):
        return compose("train", tiny_overrides(tiny_dataset / "train", tmp_path / "run", *extra))
    return make


@pytest.fixture(scope="session")
def tiny_keypoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keypoint file (hands layout, 84 features): 3 classes x 6 sequences of 8-12 frames."""
    from lsvit.families.keypoints.fileformat import KeypointRecord, write_keypoint_h5
    from lsvit.families.keypoints.layout import mode_layout

    rng = np.random.default_rng(0)
    classes = ["clap", "swipe_left", "swipe_right"]
    recs = [KeypointRecord(f"{c}/s{i}", rng.random((8 + i % 5, 84)).astype(np.float32), k, c, f"{c}/s{i}.mp4")
            for k, c in enumerate(classes) for i in range(6)]
    return write_keypoint_h5(tmp_path_factory.mktemp("kp") / "kp.h5", recs, classes, mode_layout("hands"), "npy")
