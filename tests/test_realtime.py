"""The realtime tool on a clip-model (LS-ViT) checkpoint: the same sliding-window loop, headless output."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lsvit import LsvitError
from lsvit.draw import GREEN, RED, WHITE, label_color
from lsvit.realtime import RealtimePredictor, open_source, run_realtime


def test_colours_for_right_and_wrong_labels():
    assert label_color("squat_R") == GREEN and label_color("squat_W") == RED
    assert label_color("wave") == WHITE and label_color(None) == WHITE


def test_lsvit_checkpoint_headless_video_csv_and_the_window_matches_evaluation(tiny_cfg, sample_video, tmp_path):
    from lsvit.data.discovery import VideoItem
    from lsvit.engine import train
    from lsvit.inference import checkpoint_dataset

    summary = train(tiny_cfg("engine.epochs=1"))
    best = Path(summary["run_dir"]) / "best"
    names = json.loads((best / "meta.json").read_text())["class_names"]
    video, _ = sample_video
    out = tmp_path / "rt.mp4"
    r = run_realtime(best, str(video), stride=3, threshold=0.0, smooth=1, headless=True, output=out, progress=False)
    # 4 frames at stride 2 = a window of 8 frames: first prediction at frame 8, then every 3rd of the 20
    assert r["frames"] == 20 and r["predictions"] == 5 and Path(r["output"]).is_file()
    rows = list(csv.DictReader((tmp_path / "rt.csv").read_text().splitlines()))
    assert [i for i, row in enumerate(rows) if row["predicted"]] == [7, 10, 13, 16, 19]
    assert all(row["label"] in names for row in rows[7:]) and rows[6]["label"] == ""
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20 and cap.read()[1].shape[:2] == (48, 48)
    # the window is the clip evaluation reads: decoded the same way, the same model input
    from lsvit.data.dataset import to_model_input
    from lsvit.data.sampling import sample_indices

    pred = RealtimePredictor(best)
    decoded = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in open_source(str(video))[0]]
    sample = checkpoint_dataset(pred.meta, [VideoItem("x", 0, str(video))])[0]
    ref = to_model_input(sample["inputs"][None], sample["color"][None])
    idx = sample_indices(20, 4, 2, "dense", False)
    window = pred.adapter.batch([pred.adapter.frame(f)[0] for f in decoded[idx[0]:idx[0] + 8]])
    whole = pred.adapter.whole([pred.adapter.frame(f)[0] for f in decoded])
    torch.testing.assert_close(window, ref, atol=1e-4, rtol=0)
    torch.testing.assert_close(whole, ref, atol=1e-4, rtol=0)


def test_frame_folder_source_and_bad_sources(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (10, 2, 1):
        cv2.imwrite(str(folder / f"frame_{i}.png"), np.full((8, 8, 3), i, np.uint8))
    it, _, name = open_source(str(folder))
    assert [int(f[0, 0, 0]) for f in it] == [1, 2, 10] and name == "frames"
    with pytest.raises(LsvitError, match="no such file, folder or camera"):
        open_source(str(tmp_path / "nope.mp4"))


def test_realtime_tool_cli_reports_a_bad_checkpoint_in_one_line(tmp_path):
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "tools/realtime.py", f"checkpoint={tmp_path}/nope", "source=0",
                        "headless=true"], cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no such folder" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------------------ BiLSTM
def _bilstm_checkpoint(folder: Path, **embed: object) -> Path:
    """A ``best/`` of the frame-embedding BiLSTM on test_bilstm's tiny random-init embedder (12 x 32 per frame;
    ``embed`` overrides its extraction settings)."""
    from test_bilstm import TINY_EMBED

    from lsvit.checkpoint.folder import save_best
    from lsvit.families.embeddings.extract import EmbedConfig, cache_settings
    from lsvit.models.registry import build_family

    cfg = EmbedConfig.from_mapping({**TINY_EMBED, **embed})
    settings = cache_settings(cfg, cfg.build())
    args = {"in_channels": 12, "in_dim": 32, "hidden": 16, "attn_hidden": 8}
    torch.manual_seed(0)
    model = build_family("bilstm_attention", args, 3)
    meta = {"model": {"name": "bilstm_attention", "args": args}, "class_names": ["swipe_R", "swipe_W", "wave"],
            "data": {"type": "embeddings", "settings": settings, "num_frames": 4, "num_channels": 12, "dim": 32,
                     "dataset": "test"}}
    save_best(folder, model, meta)
    return folder


def test_bilstm_checkpoint_headless_video_csv_and_the_window_is_what_inference_embeds(sample_video, tmp_path):
    from lsvit.data.discovery import VideoItem
    from lsvit.inference import checkpoint_dataset

    best = _bilstm_checkpoint(tmp_path / "best")
    video, _ = sample_video
    out = tmp_path / "rt.mp4"
    r = run_realtime(best, str(video), stride=3, threshold=0.0, smooth=1, headless=True, output=out, progress=False)
    # a window of the last 4 embeddings: the first prediction at frame 4, then every 3rd of the 20
    assert r["frames"] == 20 and r["predictions"] == 6 and Path(r["output"]).is_file()
    rows = list(csv.DictReader((tmp_path / "rt.csv").read_text().splitlines()))
    assert [i for i, row in enumerate(rows) if row["predicted"]] == [3, 6, 9, 12, 15, 18]
    assert all(row["label"] in ("swipe_R", "swipe_W", "wave") for row in rows[3:]) and rows[2]["label"] == ""
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20 and cap.read()[1].shape[:2] == (48, 48)
    # per frame the checkpoint's embedder, rounded to the cache's float16: the whole-video input is the one
    # raw-video inference embeds (same frames, views, backbones)
    pred = RealtimePredictor(best)
    decoded = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in open_source(str(video))[0]]
    pieces = [pred.adapter.frame(f)[0] for f in decoded]
    assert pieces[0].shape == (12, 32) and all(np.array_equal(p, p.astype(np.float16)) for p in pieces)
    ref = checkpoint_dataset(pred.meta, [VideoItem("x", 0, str(video))])[0]["inputs"][None]
    torch.testing.assert_close(pred.adapter.whole(pieces), ref, atol=2e-3, rtol=2e-3)
    window = pred.adapter.batch(pieces[:7])
    assert window.shape == (1, 4, 12, 32) and torch.equal(window[0], torch.from_numpy(np.stack(pieces[3:7])))


def test_bilstm_whole_video_and_the_tool_passes_the_runtime(sample_video, tmp_path):
    from lsvit.realtime import annotate_video

    best = _bilstm_checkpoint(tmp_path / "best")
    video, _ = sample_video
    res = annotate_video(best, video, tmp_path / "frames", max_frames=6)
    assert res["label"] in ("swipe_R", "swipe_W", "wave") and res["frames"] == 6
    assert len(list((tmp_path / "frames").glob("frame_*.jpg"))) == 6
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "tools/realtime.py", f"checkpoint={best}", f"source={video}", "headless=true",
                        f"output={tmp_path / 'o.mp4'}", "runtime=onnx"], cwd=root, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "does not exist; export it" in r.stderr and "runtime=onnx" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o.mp4").exists()


def test_the_window_is_the_last_sampled_embeddings_as_for_clips(tmp_path):
    """Dense sampling at stride 2: the window is the newest ``num_frames`` of every 2nd embedding, chosen as the clip
    adapter chooses its frames (``pieces[::stride][-num_frames:]``), never the oldest ones of a longer history."""
    from lsvit.families.clips.realtime import VideoFrames
    from lsvit.families.embeddings.realtime import EmbeddingFrames

    best = _bilstm_checkpoint(tmp_path / "best", sampling="dense", frame_stride=2)
    pred = RealtimePredictor(best)
    assert isinstance(pred.adapter, EmbeddingFrames) and pred.adapter.window == 8
    pieces = [np.full((12, 32), i, np.float32) for i in range(11)]
    picked = pred.adapter.batch(pieces)[0, :, 0, 0].tolist()
    assert picked == [4.0, 6.0, 8.0, 10.0]  # the newest piece is in, 2 apart
    # the clip adapter's choice on the same history (frames whose pixel value is their index)
    clip = VideoFrames({"image_size": 8, "num_frames": 4, "frame_stride": 2, "mean": [0.0] * 3, "std": [1.0] * 3})
    frames = [np.full((8, 8, 3), i, np.uint8) for i in range(11)]
    assert (clip.batch(frames)[0, :, 0, 0, 0] * 255).round().tolist() == picked
    # in the loop the history is exactly the window (the last 8 embeddings): every 2nd from its start, the frames a
    # dense evaluation clip of those 8 frames takes
    seen: list[torch.Tensor] = []
    probs = pred.probs
    pred.probs = lambda x: seen.append(x) or probs(x)  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    frames_rgb = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(9)]
    embedded = [pred.adapter.frame(f)[0] for f in frames_rgb]
    for f in frames_rgb:
        pred.step(f)
    assert len(seen) == 2 and torch.equal(seen[-1][0], torch.from_numpy(np.stack(embedded[1:9:2])))
