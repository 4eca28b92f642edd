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


def test_seed003_preset_is_the_seeds_recipe_on_all_clips(mini_hmdb51, tmp_path):
    from hydra.utils import instantiate

    from lsvit.families.clips.datamodule import VideoDataModule

    cfg = compose("train", ["experiment=seed003_lsvit", f"data.root={mini_hmdb51}/videos"])
    m, e, o, d = cfg.model, cfg.engine, cfg.optim, cfg.data
    assert (m.model_name, m.pretrained, m.weights_dir, m.img_size, m.num_frames) == \
        ("lsvit_base_patch16_224", True, "weights", 224, 16)
    assert (d.num_frames, d.frame_stride, d.image_size, d.val_ratio, d.test_ratio) == (16, 2, 224, 0.1, 0.0)
    assert o.optimizer._target_ == "torch.optim.Adam" and (o.lr, o.weight_decay, o.head_lr_mult) == (1e-4, 0.0, 1.0)
    assert cfg.scheduler._target_.endswith(".constant")
    assert (e.epochs, e.batch_size, e.grad_accum, e.label_smoothing, e.clip_grad) == (10, 8, 1, 0.0, None)
    # the experiment=hmdb51_lsvit_base preset is still the official-split one
    assert compose("train", ["experiment=hmdb51_lsvit_base"]).data._target_.endswith("HMDB51DataModule")
    dm = instantiate(cfg.data)
    assert type(dm) is VideoDataModule and dm.test_items == []  # all clips: no official test part
    n = len(dm.train_items) + len(dm.val_items)
    # every clip of the miniature (4 classes x 5 sources x 2 clips, official train and test parts alike), 90/10
    assert n == 4 * 5 * 2 and len(dm.val_items) == 4 * round(10 * 0.1)
    # the grouped alternative its comment gives keeps a source's clips on one side
    grouped = instantiate(cfg.data, group_pattern=r"^(.*)_[fhlu]_(?:cm|nm)_np\d_(?:fr|ba|le|ri)_(?:bad|goo|med)_\d+$")
    src = {p: {grouped.source_of(it.id) for it in items} for p, items in (("t", grouped.train_items),
                                                                         ("v", grouped.val_items))}
    assert src["v"] and not src["t"] & src["v"] and len(src["t"] | src["v"]) == 4 * 5


def test_submission_ids_in_natural_order(tiny_keypoints, tmp_path):
    import numpy as np

    from lsvit.families.keypoints.fileformat import KeypointRecord, write_keypoint_h5
    from lsvit.families.keypoints.layout import mode_layout
    from lsvit.inference import natural_key, predict, rows_to_csv

    assert sorted(["v10", "v2", "v1", "a/clip10", "a/clip9", "10", "9", "01", "1"], key=natural_key) == \
        ["01", "1", "9", "10", "a/clip9", "a/clip10", "v1", "v2", "v10"]
    run = tmp_path / "run"
    train(compose("train", ["experiment=signs_keypoint_lstm", f"data.path={tiny_keypoints}", "data.num_frames=8",
                            f"run_dir={run}", "engine.epochs=1", "engine.batch_size=4", "engine.device=cpu",
                            "model.hidden_sizes=[8]"]))
    rng = np.random.default_rng(0)
    names = [str(i) for i in (10, 2, 1, 11, 3)]  # seed 003's test videos: numbered files
    test = write_keypoint_h5(tmp_path / "test.h5", [KeypointRecord(n, rng.random((8, 84)).astype(np.float32), -1, "",
                                                                   f"{n}.mp4") for n in names],
                             ["clap", "swipe_left", "swipe_right"], mode_layout("hands"), "npy")
    result = predict(run / "best", test, progress=False)
    assert result["ids"] == ["1", "2", "3", "10", "11"]
    assert [r.split(",")[0] for r in rows_to_csv(result).splitlines()[1:]] == ["1", "2", "3", "10", "11"]
