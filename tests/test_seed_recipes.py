"""The seeds' own recipes as presets: seed 002's Keras LSTM (ReLU cells, Adam, early stopping, a held-out test part)
and seed 003's LS-ViT run (ImageNet ViT-B/16, Adam 1e-4, a 90/10 random split), each composed with the seed's numbers
and trained at test size."""

from __future__ import annotations

import json

import pytest
import torch

from lsvit.config import compose
from lsvit.engine import train


def test_seed002_preset_is_the_keras_recipe_and_trains(tiny_keypoints, tmp_path):
    from lsvit.models.keypoint_lstm import ActLSTM

    cfg = compose("train", ["experiment=seed002_lstm", f"data.path={tiny_keypoints}"])
    m, e, o, d = cfg.model, cfg.engine, cfg.optim, cfg.data
    assert (m.model_name, list(m.hidden_sizes), list(m.head_sizes), m.activation) == \
        ("keypoint_lstm_stacked", [64, 128, 64], [64, 32], "relu")
    assert o.optimizer._target_ == "torch.optim.Adam" and (o.lr, o.weight_decay, o.optimizer.eps) == (1e-3, 0.0, 1e-7)
    assert cfg.scheduler._target_.endswith(".constant") and e.label_smoothing == 0.0
    assert (e.epochs, e.patience, e.batch_size, e.monitor, e.monitor_mode) == (500, 10, 32, "val/loss", "min")
    assert (d.num_frames, d.test_ratio, d.normalize) == (30, 0.1, "none")
    run = tmp_path / "run"
    summary = train(compose("train", ["experiment=seed002_lstm", f"data.path={tiny_keypoints}", "data.num_frames=8",
                                      f"run_dir={run}", "engine.epochs=2", "engine.batch_size=4",
                                      "engine.device=cpu", "model.hidden_sizes=[8,16,8]", "model.head_sizes=[8,4]"]))
    meta = json.loads((run / "best" / "meta.json").read_text())
    assert meta["model"]["args"]["activation"] == "relu" and summary["num_test"] == 3
    assert summary["last_metrics"]["lr"] == pytest.approx(1e-3)  # no schedule
    from lsvit.checkpoint.folder import build_from_checkpoint

    model, _ = build_from_checkpoint(run / "best")
    assert all(isinstance(layer, ActLSTM) and layer.activation == "relu" for layer in model.lstms)
    assert torch.isfinite(model(torch.randn(2, 8, 84))).all()
