"""Seed 001's gesture setup as its users have it (issue 26.4): the ``embed=hand_gestures_vit`` preset (the
hand-gesture ViT from Hugging Face, here a tiny random one in a local folder, offline) and the optional person /
hand crop before the views, on the detectors the keypoint family's ROI uses (``lsvit.data.roi``)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from lsvit import LsvitError
from lsvit.config import compose
from lsvit.data import roi
from lsvit.families.embeddings import crop as crop_mod
from lsvit.families.embeddings.extract import EmbedConfig, VideoViews, check_compatible, run_extraction

HUB_ID = "dima806/hand_gestures_image_detection"
# tiny random-init timm backbones (as tests/test_bilstm.py's): the crop tests need any embedder, not a good one
TINY_EMBED = {"vit": "vit_tiny_patch16_224", "cnn": None, "image_size": 32, "pretrained": False,
              "vit_args": {"depth": 1, "patch_size": 8, "embed_dim": 32, "num_heads": 2}, "num_frames": 4,
              "dtype": "float32"}


def _tiny_hand_vit(folder: Path) -> torch.nn.Module:
    """A ViT-B/16-shaped hand-gesture classifier at toy size, saved as the hub's model is: ``ViTForImageClassification``
    weights + config + its image processor (mean/std 0.5, as dima806's)."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    cfg = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=32,
                    patch_size=8, id2label={0: "call", 1: "fist", 2: "palm"}, label2id={"call": 0, "fist": 1, "palm": 2})
    model = ViTForImageClassification(cfg).eval()
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(folder)
    return model


def _extract_cfg(overrides: list[str]) -> dict:
    cfg = compose("extract_features", ["num_workers=0", "progress=false", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)  # what tools/extract_features.py hands run_extraction


# ------------------------------------------------------------------------------------------ the preset
def test_the_hand_gestures_preset_names_seed_001s_vit_beside_resnext():
    cfg = compose("extract_features", ["embed=hand_gestures_vit", "out=x.h5", "source.root=videos"])
    e = cfg.embed
    assert e.vit == f"hf:{HUB_ID}" and e.cnn == "resnext50_32x4d" and e.image_size == 224 and e.dim is None
    assert e.crop is None and e.crop_detector == "yolo"  # the crop is off unless asked for
    conf = EmbedConfig.from_mapping(OmegaConf.to_container(e))
    assert conf.vit == f"hf:{HUB_ID}" and conf.num_frames == 32


def test_the_preset_extracts_offline_from_a_local_folder_as_transformers_computes(tiny_dataset, tmp_path,
                                                                                 monkeypatch):
    """weights/<hub id>/ holds the model (what ``huggingface-cli download --local-dir`` writes): the preset, unchanged
    but for the test's sizes, extracts end to end offline, and each stored embedding is what transformers gives for the
    same view: the processor's normalisation, then the mean of ``last_hidden_state`` (seed 001's ViT embedding)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import ViTImageProcessor

    folder = tmp_path / "weights" / HUB_ID
    model = _tiny_hand_vit(folder)
    out = tmp_path / "test.h5"
    res = run_extraction(**_extract_cfg([
        "embed=hand_gestures_vit", f"embed.weights_dir={tmp_path / 'weights'}", "embed.cnn=null", "embed.image_size=32",
        "embed.num_frames=3", "embed.dtype=float32", f"source.root={tiny_dataset / 'test'}", f"out={out}"]))
    assert res["complete"] and not res["unreadable"]
    with h5py.File(out, "r") as f:
        emb, ids = f["embeddings"][()], [i.decode() for i in f["ids"][()]]
        settings = __import__("json").loads(f.attrs["settings"])
    assert emb.shape == (8, 3, 3, 16) and settings["layout"] == ["vit/left", "vit/right", "vit/whole"]
    assert settings["vit"]["name"] == f"hf:{HUB_ID}" and settings["vit"]["source"] == str(folder)

    cfg = EmbedConfig.from_mapping(settings["embed"])
    proc = ViTImageProcessor.from_pretrained(folder)
    for row in (0, 5):
        views = VideoViews([_item(tiny_dataset / "test", ids[row])], cfg)[0]["views"][0]  # (T, 3, S, S, 3)
        pixels = proc(images=list(views.reshape(-1, 32, 32, 3)), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            want = model.vit(pixel_values=pixels).last_hidden_state.mean(1).reshape(3, 3, 16)
        np.testing.assert_allclose(emb[row], want.numpy(), atol=2e-5)

    # the classifier checkpoint has no pooler: AutoModel draws one at random on every load; the fingerprint leaves
    # it out, so a checkpoint finds the same backbone again (raw-video inference, export)
    from lsvit.families.embeddings.backbones import build_backbone

    again = build_backbone(f"hf:{HUB_ID}", "vit", 32, weights_dir=str(tmp_path / "weights"))
    assert again.info["fingerprint"] == settings["vit"]["fingerprint"]
    # embed.vit_file names the folder directly (any place), with the same fingerprint
    moved = shutil.copytree(folder, tmp_path / "elsewhere")
    assert build_backbone(f"hf:{HUB_ID}", "vit", 32, file=str(moved)).info["fingerprint"] == again.info["fingerprint"]
    with pytest.raises(LsvitError, match=r"embed\.vit_file=.*not a transformers model folder"):
        build_backbone(f"hf:{HUB_ID}", "vit", 32, file=str(tmp_path / "nothing"))
    # nothing local and no hub: one message naming the id (never a download attempt)
    with pytest.raises(LsvitError, match=r"no transformers model could be loaded.*HF_HUB_OFFLINE"):
        build_backbone(f"hf:{HUB_ID}", "vit", 32, weights_dir=str(tmp_path / "empty"))


def _item(root: Path, vid: str):
    from lsvit.data.discovery import discover_classes

    return next(it for it in discover_classes(root)[1] if it.id == vid)


# ------------------------------------------------------------------------------------------ crop geometry
def test_crop_boxes_per_clip_and_per_frame():
    size = (100, 80)  # width, height
    dets = [[(10, 10, 30, 40), (60, 5, 70, 15)], [], [(50, 20, 90, 60)]]
    # one box for the clip: the union of each frame's largest box, grown by the margin and clipped to the frame
    assert crop_mod.crop_boxes(dets, size, 0.0, 1, "video") == [(10, 10, 90, 60)] * 3
    assert crop_mod.crop_boxes(dets, size, 0.5, 1, "video") == [(0, 0, 100, 80)] * 3
    # two boxes of a frame count (both hands)
    assert crop_mod.crop_boxes(dets[:1], size, 0.0, 2, "video") == [(10, 5, 70, 40)]
    # a box per frame; the frame without one takes its nearest neighbour's (the earlier on a tie)
    assert crop_mod.crop_boxes(dets, size, 0.0, 1, "frame") == [(10, 10, 30, 40), (10, 10, 30, 40), (50, 20, 90, 60)]
    assert crop_mod.crop_boxes([[], [], [(50, 20, 90, 60)]], size, 0.0, 1, "frame") == [(50, 20, 90, 60)] * 3
    # nothing usable anywhere (none found, or smaller than 8 px)
    assert crop_mod.crop_boxes([[], []], size, 0.1, 1, "video") is None
    assert crop_mod.crop_boxes([[(0, 0, 4, 4)]], size, 0.0, 1, "frame") is None

    frames = np.arange(3 * 80 * 100 * 3, dtype=np.int64).reshape(3, 80, 100, 3).astype(np.uint8)
    one = crop_mod.apply_crop(frames, [(10, 10, 90, 60)] * 3)
    assert np.array_equal(one, frames[:, 10:60, 10:90])  # one box: a plain slice
    each = crop_mod.apply_crop(frames, [(10, 10, 30, 40), (10, 10, 30, 40), (50, 20, 90, 60)])
    assert each.shape == (3, 40, 40, 3) and np.array_equal(each[2], frames[2, 20:60, 50:90])  # the largest's size


class _BoxOnTheRight:
    """A deterministic hand detector: the right half of every frame whose mean is above ``level`` (else nothing)."""

    def __init__(self, level: float = -1.0) -> None:
        self.level, self.calls = level, 0

    def __call__(self, frame: np.ndarray) -> list[tuple[int, int, int, int]]:
        self.calls += 1
        h, w = frame.shape[:2]
        return [(w // 2, 0, w, h)] if frame.mean() > self.level else []


def test_a_hand_crop_feeds_the_views_and_is_part_of_the_cache_settings(tiny_dataset, tmp_path, monkeypatch):
    det = _BoxOnTheRight()
    monkeypatch.setitem(roi.DETECTORS["hand"], "fake", lambda spec: det)
    src = tiny_dataset / "test"
    crop = {"crop": "hand", "crop_detector": "fake", "crop_margin": 0.0}
    cfg = EmbedConfig.from_mapping({**TINY_EMBED, **crop})
    item = _item(src, "grow/" + sorted(p.stem for p in (src / "grow").iterdir())[0])
    plain = VideoViews([item], EmbedConfig.from_mapping(TINY_EMBED))[0]["views"][0]
    cropped = VideoViews([item], cfg)[0]["views"][0]
    from lsvit.data.readers import read_clip
    from lsvit.data.sampling import sample_indices
    from lsvit.families.embeddings.backbones import frame_views

    frames, _ = read_clip(item.source, lambda n: sample_indices(n, 4, 1, "uniform", False, None, "loop"))
    assert det.calls == 4 and not np.array_equal(cropped, plain)  # every sampled frame looked at once
    assert np.array_equal(cropped, frame_views(frames[:, :, frames.shape[2] // 2:], 32))  # views of the crop

    a, b = tmp_path / "crop.h5", tmp_path / "plain.h5"
    run_extraction(str(a), {"root": str(src)}, {**TINY_EMBED, **crop}, num_workers=0, progress=False)
    run_extraction(str(b), {"root": str(src)}, TINY_EMBED, num_workers=0, progress=False)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        sa, sb = (__import__("json").loads(f.attrs["settings"]) for f in (fa, fb))
        assert not np.allclose(fa["embeddings"][()], fb["embeddings"][()])
    assert sa["crop"] == {"target": "hand", "detector": "fake", "weights": None, "weights_fingerprint": None,
                          "conf": 0.4, "margin": 0.0, "boxes": 1, "classes": None, "span": "video", "fallback": "full"}
    assert sb["crop"] is None
    # a cache made with the crop is neither reused for another setting nor read by a checkpoint of the plain one
    with pytest.raises(LsvitError, match=r"crop\.h5 already holds an embedding cache made with other settings "
                                         r"\(differing: crop, embed\)"):
        run_extraction(str(a), {"root": str(src)}, {**TINY_EMBED, **crop, "crop_margin": 0.2}, num_workers=0,
                       progress=False)
    with pytest.raises(LsvitError, match=r"crop\.h5 was made with other settings than the checkpoint.*crop: "):
        check_compatible(sa, sb, str(a), "the checkpoint")
    check_compatible(sa, {**sa, "crop": {**sa["crop"], "weights": "/elsewhere"}}, "a", "b")  # the path may differ


def test_videos_without_a_detection_fall_back_to_the_whole_frames_or_are_skipped(tiny_dataset, tmp_path,
                                                                                  monkeypatch, capsys):
    monkeypatch.setitem(roi.DETECTORS["hand"], "never", lambda spec: _BoxOnTheRight(level=1e9))
    src = tiny_dataset / "test"
    full, skip, plain = tmp_path / "full.h5", tmp_path / "skip.h5", tmp_path / "plain.h5"
    crop = {"crop": "hand", "crop_detector": "never"}
    run_extraction(str(full), {"root": str(src)}, {**TINY_EMBED, **crop}, num_workers=0, progress=False)
    assert "no hand found in its 4 sampled frames: the whole frames are embedded" in capsys.readouterr().err
    run_extraction(str(plain), {"root": str(src)}, TINY_EMBED, num_workers=0, progress=False)
    with h5py.File(full, "r") as f, h5py.File(plain, "r") as g:
        assert np.array_equal(f["embeddings"][()], g["embeddings"][()])  # the whole frames, as without a crop
        assert __import__("json").loads(f.attrs["settings"])["crop"]["fallback"] == "full"
    res = run_extraction(str(skip), {"root": str(src)}, {**TINY_EMBED, **crop, "crop_fallback": "skip"},
                         num_workers=0, progress=False)
    assert len(res["unreadable"]) == 8 and all("no hand found" in why for why in res["unreadable"].values())


def test_crop_settings_are_checked_and_yolo_weights_are_never_downloaded(tmp_path, monkeypatch):
    for bad, msg in (({"crop": "face"}, r"embed\.crop='face': choose null, person, hand"),
                     ({"crop": "person", "crop_detector": "mediapipe"}, "a person crop has yolo, hog, pose"),
                     ({"crop": "hand", "crop_detector": "mediapipe", "crop_span": "clip"}, "crop_span='clip'"),
                     ({"crop": "hand", "crop_detector": "mediapipe", "crop_boxes": 0}, "crop_boxes=0"),
                     ({"crop": "hand"}, r"crop_detector=yolo needs embed\.crop_weights")):
        with pytest.raises(LsvitError, match=msg):
            EmbedConfig.from_mapping({**TINY_EMBED, **bad})
    assert EmbedConfig.from_mapping({**TINY_EMBED, "crop": "null"}).crop is None  # a command line's null
    missing = EmbedConfig.from_mapping({**TINY_EMBED, "crop": "hand", "crop_weights": str(tmp_path / "hands.pt")})
    for step in (lambda: crop_mod.Cropper(missing), lambda: crop_mod.crop_record(missing)):
        with pytest.raises(LsvitError) as err:
            step()
        assert str(err.value).startswith(f"embed.crop_weights={tmp_path / 'hands.pt'}: no such file")
        assert "\n" not in str(err.value)
    (tmp_path / "hands.pt").write_bytes(b"weights")
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # as where it is not installed
    with pytest.raises(LsvitError, match="crop_detector=yolo needs ultralytics, which is not installed"):
        crop_mod.Cropper(missing)
    # the weights are recorded by content: another file of other bytes is another detector
    rec = crop_mod.crop_record(missing)
    (tmp_path / "hands.pt").write_bytes(b"other weights")
    assert crop_mod.crop_record(missing)["weights_fingerprint"] != rec["weights_fingerprint"]


def test_realtime_refuses_a_checkpoint_extracted_with_a_crop():
    from lsvit.families.embeddings.realtime import EmbeddingFrames

    embed = {**TINY_EMBED, "crop": "hand", "crop_detector": "mediapipe"}
    with pytest.raises(LsvitError, match="extracted with embed.crop=hand .*run tools/inference.py"):
        EmbeddingFrames({"settings": {"embed": embed}})


# ------------------------------------------------------------------------------------------ shared detectors
def test_the_families_share_one_set_of_detectors():
    from lsvit.families.keypoints import mediapipe as kp_mp

    assert kp_mp.YoloPersonDetector is roi.YoloPersonDetector and kp_mp.HogPersonDetector is roi.HogPersonDetector
    assert kp_mp.person_regions is roi.person_regions and kp_mp.import_mediapipe is roi.import_mediapipe
    assert set(roi.DETECTORS["person"]) == set(kp_mp.ROI_DETECTORS)  # the keypoint family's roi= names


def test_yolo_hand_boxes_keep_every_class_person_boxes_class_0(monkeypatch):
    asked = []

    class FakeYolo:  # ultralytics' Results: boxes.xyxy / .conf / .cls tensors
        def predict(self, image, classes, conf, verbose):
            asked.append(classes)
            boxes = SimpleNamespace(xyxy=torch.tensor([[0, 0, 10, 10], [0, 0, 50, 50], [5, 5, 90, 90.]]),
                                    conf=torch.tensor([0.9, 0.5, 0.3]), cls=torch.tensor([3, 0, 1.]))
            return [SimpleNamespace(boxes=boxes)]

    frame = np.zeros((100, 100, 3), np.uint8)
    hands = roi.YoloDetector("unused.pt", conf=0.4, classes=None, model=FakeYolo())
    assert hands(frame) == [(0, 0, 50, 50), (0, 0, 10, 10)] and asked[-1] is None  # every gesture class is a hand
    persons = roi.YoloPersonDetector("unused.pt", conf=0.4, model=FakeYolo())
    assert persons(frame) == [(0, 0, 50, 50)] and asked[-1] == [0]
    # by name, from a family's settings: the target's default classes, or the ones given
    built = []
    monkeypatch.setattr(roi, "YoloDetector", lambda *a, **k: built.append((a, k)))
    roi.DETECTORS["hand"]["yolo"](roi.DetectorSpec("h.pt", 0.3, key="embed.crop_weights"))
    roi.DETECTORS["person"]["yolo"](roi.DetectorSpec("p.pt", 0.5, classes=(2,)))
    assert [b[0][:3] for b in built] == [("h.pt", 0.3, None), ("p.pt", 0.5, (2,))]


def test_a_yolo_crop_runs_on_the_cpu_in_decoding_workers(tmp_path, monkeypatch):
    """A DataLoader worker is forked from the process whose backbones may hold the GPU: its YOLO must not start CUDA
    (ultralytics' default device is the first GPU); the main process (num_workers=0) keeps ultralytics' default."""
    (tmp_path / "hands.pt").write_bytes(b"weights")
    cfg = EmbedConfig.from_mapping({**TINY_EMBED, "crop": "hand", "crop_weights": str(tmp_path / "hands.pt")})
    monkeypatch.setattr(crop_mod.importlib.util, "find_spec", lambda name: object())  # as if ultralytics were there
    specs = []
    monkeypatch.setitem(roi.DETECTORS["hand"], "yolo", lambda spec: specs.append(spec) or (lambda frame: []))
    crop_mod.Cropper(cfg).detector  # noqa: B018  (built on first use)
    monkeypatch.setattr(crop_mod, "get_worker_info", lambda: SimpleNamespace(id=0))
    crop_mod.Cropper(cfg).detector  # noqa: B018
    assert [s.device for s in specs] == [None, "cpu"] and specs[0].weights == str(tmp_path / "hands.pt")
    asked = {}

    class FakeYolo:
        def predict(self, image, **kw):
            asked.update(kw)
            return [SimpleNamespace(boxes=SimpleNamespace(xyxy=np.zeros((0, 4)), conf=np.zeros(0), cls=np.zeros(0)))]

    assert roi.YoloDetector("unused.pt", classes=None, model=FakeYolo(), device="cpu")(np.zeros((8, 8, 3), np.uint8)) == []
    assert asked["device"] == "cpu"


def test_mediapipe_hand_boxes_from_the_landmarks(monkeypatch):
    made = {}

    class FakeHands:
        def __init__(self, **kw):
            made.update(kw)

        def process(self, image):
            pt = lambda x, y: SimpleNamespace(x=x, y=y)  # noqa: E731
            small = SimpleNamespace(landmark=[pt(0.1, 0.1), pt(0.2, 0.3)])
            large = SimpleNamespace(landmark=[pt(0.5, 0.4), pt(0.9, 1.2)])  # extrapolated below the frame: clipped
            return SimpleNamespace(multi_hand_landmarks=[small, large])

        def close(self):
            pass

    monkeypatch.setattr(roi, "import_mediapipe", lambda: SimpleNamespace(solutions=SimpleNamespace(
        hands=SimpleNamespace(Hands=FakeHands))))
    det = roi.DETECTORS["hand"]["mediapipe"](roi.DetectorSpec(conf=0.6, max_boxes=2))
    assert det(np.zeros((50, 200, 3), np.uint8)) == [(100, 20, 180, 50), (20, 5, 40, 15)]
    assert made["max_num_hands"] == 2 and made["min_detection_confidence"] == 0.6 and made["static_image_mode"]


def test_a_hand_crop_with_a_randomly_initialised_ultralytics_model(tiny_dataset, tmp_path):
    """The real ultralytics call chain, where it is installed, on a YOLOv8n built from its YAML (random weights, no
    download) named by embed.crop_weights; the dev environment here has no ultralytics, so the fakes above carry the
    geometry and the selection."""
    ultralytics = pytest.importorskip("ultralytics", reason="ultralytics is not installed (pip install ultralytics)")
    yaml = Path(ultralytics.__file__).parent / "cfg" / "models" / "v8" / "yolov8.yaml"
    weights = tmp_path / "yolov8n.yaml"  # the scale (n) is read from the file name
    shutil.copy(yaml, weights)
    frame = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    boxes = roi.YoloDetector(str(weights), conf=0.01, classes=None)(frame)
    assert all(0 <= x0 <= x1 <= 128 and 0 <= y0 <= y1 <= 96 for x0, y0, x1, y1 in boxes)
    out = tmp_path / "yolo.h5"
    crop = {"crop": "hand", "crop_weights": str(weights), "crop_conf": 0.01, "num_frames": 2}
    res = run_extraction(str(out), {"root": str(tiny_dataset / "test")}, {**TINY_EMBED, **crop}, num_workers=0,
                         progress=False)
    assert res["complete"] and not res["unreadable"]
    with h5py.File(out, "r") as f:
        rec = __import__("json").loads(f.attrs["settings"])["crop"]
    assert rec["detector"] == "yolo" and rec["weights_fingerprint"] == crop_mod.file_fingerprint(weights)
