"""The keypoint family without MediaPipe: slots, sequences, the HDF5 layout, importers, augmentation, models,
and import -> train -> best/ -> inference end to end."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

from lsvit import LsvitError
from lsvit.data.labelmaps import mirror_map as mirror_label_map
from lsvit.families.keypoints.augment import KeypointAugment
from lsvit.families.keypoints.fileformat import KeypointRecord, read_keypoint_index, write_keypoint_h5
from lsvit.families.keypoints.importers import import_csv, import_npy
from lsvit.families.keypoints.layout import Layout, mirror_index, mode_layout, seed004_layout
from lsvit.families.keypoints.mediapipe import assign_hand_slots, landmarks_to_array
from lsvit.families.keypoints.sequences import fix_length, normalize_sequence


def _hand(x0: float, y0: float) -> SimpleNamespace:
    """A fake MediaPipe hand: 21 landmarks with .x .y .z around (x0, y0), in the processed image's [0, 1]."""
    return SimpleNamespace(landmark=[SimpleNamespace(x=x0 + 0.01 * i, y=y0 + 0.005 * i, z=-0.01 * i)
                                     for i in range(21)])


def _handedness(label: str, score: float = 0.9) -> SimpleNamespace:
    return SimpleNamespace(classification=[SimpleNamespace(label=label, score=score)])


# ------------------------------------------------------------------------------------------- frames
def test_hand_slots_follow_handedness_and_coordinates_map_back_from_the_roi():
    size = (640, 480)
    a, b = landmarks_to_array(_hand(0.1, 0.2), size), landmarks_to_array(_hand(0.6, 0.5), size)
    # "Right" listed first still lands in slot 1
    left, right = assign_hand_slots([a, b], [_handedness("Right"), _handedness("Left")])
    assert left is b and right is a
    left, right = assign_hand_slots([a, b], [_handedness("Right"), _handedness("Left")], swap=True)
    assert left is a and right is b
    # two hands labelled alike, or no label: the second takes the free slot
    left, right = assign_hand_slots([a, b], [_handedness("Left", 0.8), _handedness("Left", 0.9)])
    assert left is b and right is a
    left, right = assign_hand_slots([a], None)
    assert left is a and right is None
    left, right = assign_hand_slots([a], ["Right"])
    assert left is None and right is a
    # a 200 x 100 px crop at (100, 50) of a 400 x 200 frame: (0.5, 0.5) of the crop is (200, 100) px = (0.5, 0.5)
    point = SimpleNamespace(x=0.5, y=0.5, z=0.2, visibility=0.7)
    arr = landmarks_to_array([point], (400, 200), roi=(100, 50, 300, 150))
    np.testing.assert_allclose(arr[0], [0.5, 0.5, 0.1, 0.7], rtol=1e-6)
    # the hands vector: left (x, y) x 21 then right, zeros for a missing hand
    vec = mode_layout("hands").assemble({"left_hand": a, "right_hand": None})
    assert vec.shape == (84,) and vec[0] == pytest.approx(0.1) and vec[1] == pytest.approx(0.2)
    assert vec[2] == pytest.approx(0.11) and not vec[42:].any()
    assert mode_layout("holistic").feature_count == 1662
    assert mode_layout("holistic", face=False).feature_count == mode_layout("pose_hands").feature_count == 258
    assert mode_layout("holistic", visibility=False).feature_count == 1629


def test_fixed_length_by_centre_truncation_padding_or_uniform_sampling():
    seq = np.arange(10, dtype=np.float32)[:, None].repeat(3, 1) + 1
    np.testing.assert_array_equal(fix_length(seq, 4)[:, 0], [4, 5, 6, 7])  # centre of 10
    np.testing.assert_array_equal(fix_length(seq, 4, start=6)[:, 0], [7, 8, 9, 10])
    padded = fix_length(seq[:3], 5)
    np.testing.assert_array_equal(padded[:, 0], [1, 2, 3, 0, 0])  # zeros at the end
    np.testing.assert_array_equal(fix_length(seq, 4, "uniform")[:, 0], [1, 4, 7, 10])
    np.testing.assert_array_equal(fix_length(seq[:3], 5, "uniform")[:, 0], [1, 2, 3, 0, 0])


# ------------------------------------------------------------------------------------------- the file
def test_hdf5_layout_is_seed_000s_with_settings_and_detection_rates(tmp_path):
    lay = mode_layout("hands")
    seq = np.random.default_rng(0).random((5, 84)).astype(np.float32)
    det = np.array([[1, 0], [1, 1], [0, 0], [0, 1], [1, 0]], bool)
    recs = [KeypointRecord("wave/clip 1", seq, 1, "wave", "/data/wave/clip 1.mp4", det, (640, 480)),
            KeypointRecord("clap/a", seq[:2], 0, "clap", "/data/clap/a.mp4")]
    out = write_keypoint_h5(tmp_path / "kp.h5", recs, ["clap", "wave"], lay, "mediapipe", {"mode": "hands"})
    with h5py.File(out, "r") as f:
        assert json.loads(f.attrs["label_map"]) == {"clap": 0, "wave": 1}
        assert json.loads(f.attrs["layout"]) == [["left_hand", 21, "xy"], ["right_hand", 21, "xy"]]
        assert f.attrs["feature_count"] == 84 and json.loads(f.attrs["settings"]) == {"mode": "hands"}
        assert f.attrs["lsvit_complete"] and f.attrs["num_sequences"] == 2
        assert sorted(f["sequences"]) == ["clap_a", "wave_clip_1"]  # named from the relative path
        ds = f["sequences/wave_clip_1"]
        np.testing.assert_array_equal(ds[()], seq)
        assert ds.attrs["label"] == 1 and ds.attrs["class_name"] == "wave"
        assert ds.attrs["original_path"] == "/data/wave/clip 1.mp4" and ds.attrs["id"] == "wave/clip 1"
        assert ds.attrs["detection_rate"] == pytest.approx(0.8)  # 4 of 5 frames with any hand
        assert json.loads(ds.attrs["detection_rates"]) == {"left_hand": 0.6, "right_hand": 0.4}
        assert list(ds.attrs["frame_size"]) == [640, 480]
    idx = read_keypoint_index(out)
    assert idx.class_names == ["clap", "wave"] and idx.layout == lay and idx.lengths == [2, 5]
    assert idx.aspects[1] == pytest.approx(640 / 480)
    with h5py.File(out, "a") as f:  # an unfinished writer's file is refused, naming it
        del f.attrs["lsvit_complete"]
    with pytest.raises(LsvitError, match="kp.h5.*incomplete"):
        read_keypoint_index(out)


# ------------------------------------------------------------------------------------------- importers
def _mp_data(root: Path, frames: int = 4, width: int = 258) -> Path:
    rng = np.random.default_rng(1)
    for action in ("hello", "thanks"):
        for s in range(2):
            d = root / "MP_Data" / action / str(s)
            d.mkdir(parents=True)
            for f in range(frames):
                np.save(d / f"{f}.npy", rng.random(width))
    return root / "MP_Data"


def test_npy_importer_reads_seed_002s_tree(tmp_path):
    src = _mp_data(tmp_path)
    idx = read_keypoint_index(import_npy(src, tmp_path / "kp.h5"))
    assert idx.class_names == ["hello", "thanks"] and idx.layout == mode_layout("pose_hands")
    assert idx.ids == ["hello/0", "hello/1", "thanks/0", "thanks/1"] and idx.labels == [0, 0, 1, 1]
    with h5py.File(tmp_path / "kp.h5") as f:
        np.testing.assert_allclose(f["sequences/thanks_1"][2], np.load(src / "thanks/1/2.npy"), rtol=1e-6)


@pytest.mark.parametrize("damage,message", [
    (lambda s: (s / "hello/1/2.npy").unlink(), r"hello/1: frame 2\.npy is missing"),
    (lambda s: np.save(s / "thanks/0/1.npy", np.zeros(100)), r"thanks/0/1\.npy: frame 1 has 100 values.*ragged"),
    (lambda s: np.save(s / "hello/0/3.npy", np.array(["a"] * 258)), r"hello/0/3\.npy: frame 3 holds <U1"),
    (lambda s: (s / "hello/0/0.npy").write_bytes(b"not numpy"), r"hello/0/0\.npy: not a numeric \.npy"),
    (lambda s: np.save(s / "hello/0/0.npy", np.array([object()] * 3)), r"hello/0/0\.npy: not a numeric"),
])
def test_npy_importer_names_the_bad_file_and_frame(tmp_path, damage, message):
    src = _mp_data(tmp_path)
    damage(src)
    with pytest.raises(LsvitError, match=message):
        import_npy(src, tmp_path / "kp.h5")
    assert not (tmp_path / "kp.h5").exists()


def _csv_rows(landmarks: int = 75) -> tuple[list[str], list[list[str]]]:
    header = ["class", "accuracy", "sequence"] + [f"{c}{i}" for i in range(1, landmarks + 1) for c in "xyzv"]
    rows = []
    for cls, acc in (("lift", "1"), ("lift", "0"), ("bow", "1")):
        for seq in range(2):
            for f in range(3):
                values = [f"{0.1 + 0.01 * f + 0.001 * k:.4f}" for k in range(4 * landmarks)]
                rows.append([cls, acc, str(seq), *values])
    return header, rows


def _write_csv(path: Path, header: list[str] | None, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def test_csv_importer_merges_labels_reads_headerless_files_and_drops_visibility(tmp_path):
    header, rows = _csv_rows()
    a = _write_csv(tmp_path / "coordinates_1.csv", header, rows[:9])
    b = _write_csv(tmp_path / "coordinates_2.csv", None, rows[9:])  # seed 004: only the first file has a header
    idx = read_keypoint_index(import_csv([a, b], tmp_path / "kp.h5"))
    assert idx.class_names == ["bow_R", "lift_R", "lift_W"] and idx.layout == seed004_layout(True)
    assert idx.layout.feature_count == 300 and len(idx.names) == 6 and idx.lengths == [3] * 6
    assert "lift_W/coordinates_2_seq1" in idx.ids
    idx = read_keypoint_index(import_csv(tmp_path, tmp_path / "nov.h5", drop_visibility=True))  # a folder of CSVs
    assert idx.layout == seed004_layout(False) and idx.layout.feature_count == 225
    with h5py.File(tmp_path / "nov.h5") as f:
        first = f["sequences/bow_R_coordinates_2_seq0"][0]
        assert first[:4] == pytest.approx([0.1, 0.101, 0.102, 0.104])  # x1 y1 z1, then x2 (v1 dropped)


@pytest.mark.parametrize("edit,message", [
    (lambda r: r[4].append("0.5"), r"coordinates_1\.csv: row 6 has 304 cells, the header has 303"),
    (lambda r: r[2].__setitem__(7, "abc"), r"coordinates_1\.csv: row 4, column 'x2': 'abc' is not a number"),
    (lambda r: r[0].__setitem__(1, "maybe"), r"row 2: accuracy 'maybe' is neither right"),
    (lambda r: r.append(list(r[0])), r"row 20: rows of sequence 0 \(lift_R\) are not consecutive"),
    (lambda r: r[1].__setitem__(3, ""), r"row 3, column 'x1': '' is not a number"),
])
def test_csv_importer_names_the_bad_file_row_and_column(tmp_path, edit, message):
    header, rows = _csv_rows()
    edit(rows)
    src = _write_csv(tmp_path / "coordinates_1.csv", header, rows)
    with pytest.raises(LsvitError, match=message):
        import_csv(src, tmp_path / "kp.h5")


# ------------------------------------------------------------------------------------------- sequences
def test_anchor_normalisation_removes_position_and_scale():
    lay = mode_layout("pose_hands")
    rng = np.random.default_rng(0)
    base = (rng.random((6, lay.feature_count)) * 0.2).astype(np.float32)
    moved = base.copy()
    for p in lay.points(moved).values():  # the same person 1.5x larger and elsewhere in the frame
        p[..., 0], p[..., 1] = p[..., 0] * 1.5 + 0.3, p[..., 1] * 1.5 + 0.1
        if p.shape[-1] >= 3:
            p[..., 2] *= 1.5
    a, b = normalize_sequence(base, lay), normalize_sequence(moved, lay)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert not np.allclose(a, base)
    hands = mode_layout("hands")
    x = (rng.random((4, 84)) * 0.3).astype(np.float32)
    x[1, 42:] = 0  # a missing right hand stays missing
    y = normalize_sequence(x, hands)
    assert not y[1, 42:].any() and np.allclose(normalize_sequence(x * 2 + 0.1 * (x != 0), hands), y, atol=1e-4)


def test_mirror_swaps_hands_pose_sides_and_side_named_labels():
    lay = mode_layout("pose_hands")
    seq = np.zeros((3, lay.feature_count), np.float32)
    pts = lay.points(seq)
    pts["left_hand"][..., 0], pts["left_hand"][..., 1] = 0.2, 0.5   # left hand only, at x=0.2
    pts["pose"][:, 11, :2], pts["pose"][:, 12, :2] = (0.6, 0.4), (0.4, 0.4)  # left shoulder at x=0.6
    aug = KeypointAugment(mirror=1.0, rotate=0, scale=0, shift=0, time_warp=0)
    out, mirrored = aug(seq, lay, np.random.default_rng(0))
    o = lay.points(out)
    assert mirrored and not o["left_hand"].any()
    np.testing.assert_allclose(o["right_hand"][..., 0], 0.8)  # swapped into the right slot, reflected
    np.testing.assert_allclose(o["pose"][:, 11, 0], 0.6)       # right shoulder (0.4) reflected into slot 11
    np.testing.assert_allclose(o["pose"][:, 12, 0], 0.4)
    assert not o["pose"][:, 0].any()  # undetected points stay zero
    names = ["swipe_left", "swipe_right", "wave_R", "wave_W", "Turn-Left", "Turn-Right"]
    assert mirror_label_map(names) == [1, 0, 2, 3, 5, 4]
    assert mirror_label_map(["a", "b", "c"], {"a": "c"}) == [2, 1, 0]
    with pytest.raises(LsvitError, match="'point_left' names a side and has no mirrored partner"):
        mirror_label_map(["point_left", "wave"])
    with pytest.raises(LsvitError, match="cannot be mirrored"):
        mirror_index(Layout.from_json([["features", 10, "f"]]))


def test_augmentation_is_a_function_of_the_seed_and_keeps_missing_points_zero():
    lay = mode_layout("hands")
    seq = (np.random.default_rng(0).random((20, 84)) * 0.5 + 0.25).astype(np.float32)
    seq[5] = 0
    aug = KeypointAugment(mirror=0.5, rotate=15, scale=0.2, shift=0.1, time_warp=0.3)
    a, ma = aug(seq, lay, np.random.default_rng(7))
    b, mb = aug(seq, lay, np.random.default_rng(7))
    c, _ = aug(seq, lay, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert ma == mb and (a.shape != c.shape or not np.array_equal(a, c))
    # every output frame is a transformed input frame: the empty one maps only to empty ones
    assert (np.abs(a).sum(1) == 0).sum() >= 1 and all(np.abs(f).sum() > 0 or not f.any() for f in a)
    # one draw for the whole sequence: every frame gets the same rotation and scale, so the distance between
    # two points of a hand changes by one factor in every frame
    rigid = KeypointAugment(rotate=15, scale=0.2, shift=0.1, time_warp=0.0)
    r, _ = rigid(seq, lay, np.random.default_rng(3))
    ok = np.abs(seq).sum(1) > 0
    d_in, d_out = (np.hypot(*(x[ok][:, [0, 1]] - x[ok][:, [8, 9]]).T) for x in (seq, r))
    assert np.ptp(d_out / d_in) < 1e-3 and abs((d_out / d_in)[0] - 1) > 1e-4


# ------------------------------------------------------------------------------------------- models
@pytest.mark.parametrize("name,bidirectional,activation", [
    ("keypoint_lstm", False, "tanh"), ("keypoint_lstm", True, "tanh"), ("keypoint_lstm_stacked", False, "tanh"),
    ("keypoint_lstm_stacked", True, "tanh"), ("keypoint_lstm_stacked", False, "relu"), ("keypoint_lstm", True, "relu")])
def test_models_forward_backward_every_parameter_gets_a_gradient(name, bidirectional, activation):
    import timm

    import lsvit.models  # noqa: F401

    m = timm.create_model(name, num_classes=5, input_size=12, bidirectional=bidirectional, pretrained=False,
                          activation=activation)
    x = torch.randn(3, 7, 12)
    logits = m(x)
    assert logits.shape == (3, 5)
    logits.square().sum().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
    feats = m.forward_features(x)
    assert feats.shape[:2] == (3, 7) and m.forward_head(feats, pre_logits=True).shape == (3, m.num_features)
    assert m.get_classifier().out_features == 5
    m.reset_classifier(2)
    assert m(x).shape == (3, 2)
    if name == "keypoint_lstm_stacked":
        assert [lstm.hidden_size for lstm in m.lstms] == [64, 128, 64]
        assert [mod.out_features for mod in m.head_mlp if isinstance(mod, torch.nn.Linear)] == [64, 32]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_written_out_cell_is_pytorchs_lstm_with_tanh_and_keras_with_relu(bidirectional):
    from lsvit.models.keypoint_lstm import ActLSTM

    ref = torch.nn.LSTM(5, 6, batch_first=True, bidirectional=bidirectional)
    mine = ActLSTM(5, 6, bidirectional, activation="tanh")
    mine.load_state_dict(ref.state_dict())  # the same parameter names and shapes
    x = torch.randn(3, 7, 5)
    torch.testing.assert_close(mine(x)[0], ref(x)[0], atol=1e-6, rtol=1e-5)
    relu = ActLSTM(5, 6, bidirectional, activation="relu")
    relu.load_state_dict(ref.state_dict())
    # the first step by hand, Keras's LSTM(activation="relu"): c = s(f) * 0 + s(i) * relu(g), h = s(o) * relu(c)
    gates = x[:, 0] @ ref.weight_ih_l0.T + ref.bias_ih_l0 + ref.bias_hh_l0
    i, f, g, o = gates.chunk(4, -1)
    h0 = torch.sigmoid(o) * torch.relu(torch.sigmoid(i) * torch.relu(g))
    out = relu(x)[0]
    torch.testing.assert_close(out[:, 0, :6], h0, atol=1e-6, rtol=1e-5)
    assert (out >= 0).all() and not torch.allclose(out, mine(x)[0])


def test_relu_lstm_keeps_the_checkpoint_format_and_exports_to_onnx(tmp_path):
    import onnxruntime as ort
    import timm

    from lsvit.deploy.export import export_graph, max_abs_diff

    size = dict(num_classes=3, input_size=12, hidden_sizes=[8, 8], head_sizes=[8])  # small: the export unrolls T
    relu = timm.create_model("keypoint_lstm_stacked", activation="relu", **size).eval()
    tanh = timm.create_model("keypoint_lstm_stacked", **size).eval()
    assert all(isinstance(m, torch.nn.LSTM) for m in tanh.lstms)  # the default: old checkpoints rebuild as they were
    assert relu.state_dict().keys() == tanh.state_dict().keys()
    f = relu.lstms[0].bias_hh_l0.detach()
    assert f[8:16].eq(1).all() and f[:8].eq(0).all()  # Keras's unit forget bias
    x = torch.randn(2, 6, 12)
    export_graph(relu, x, tmp_path / "m.onnx", name="relu LSTM")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert max_abs_diff(relu, session, x) < 1e-4 and max_abs_diff(relu, session, torch.randn(5, 6, 12)) < 1e-4


def test_final_state_is_the_last_step_forward_and_the_first_step_backward():
    import timm

    m = timm.create_model("keypoint_lstm", num_classes=2, input_size=4, hidden_sizes=[6], bidirectional=True).eval()
    x = torch.randn(2, 5, 4)
    _, (h, _) = m.lstms[0](x)
    np.testing.assert_allclose(m.forward_head(m.forward_features(x), pre_logits=True).detach(),
                               torch.cat([h[0], h[1]], -1).detach(), atol=1e-6)


# ------------------------------------------------------------------------------------------- end to end
def test_import_train_best_inference_csv_end_to_end(tmp_path, capsys):
    from lsvit.config import compose
    from lsvit.engine import train
    from lsvit.families.keypoints.demo import DemoSpec, make_keypoint_demo
    from lsvit.inference import predict, run_inference

    root = make_keypoint_demo(tmp_path / "demo", DemoSpec(train_per_class=4, test_per_class=1, min_frames=8,
                                                          max_frames=10), verbose=False)
    tr = import_csv(root / "train/csv", tmp_path / "train.h5", drop_visibility=True)
    te = import_csv(root / "test/csv", tmp_path / "test.h5", drop_visibility=True)
    npy = read_keypoint_index(import_npy(root / "train/MP_Data", tmp_path / "npy.h5"))
    assert npy.layout == mode_layout("holistic") and npy.class_names == read_keypoint_index(tr).class_names
    cfg = compose("train", ["experiment=signs_keypoint_lstm", f"data.path={tr}", f"data.test_path={te}",
                            f"run_dir={tmp_path}/run", "engine.epochs=2", "engine.batch_size=8",
                            "engine.device=cpu", "data.num_frames=8", "data.val_ratio=0.25", "model.hidden_sizes=[16,16]"])
    # the model's input size is left to the data (null in the config): the file decides it
    assert cfg.model.input_size is None and cfg.engine.monitor == "val/macro_f1"
    summary = train(cfg)
    best = Path(summary["run_dir"]) / "best"
    meta = json.loads((best / "meta.json").read_text())
    assert meta["data"]["type"] == "keypoints" and meta["data"]["feature_count"] == 225
    assert meta["model"]["args"]["input_size"] == 225
    assert meta["data"]["layout"] == seed004_layout(False).to_json() and summary["test_metrics"]["test/top1"] >= 0
    res = predict(best, te, progress=False)
    assert len(res["ids"]) == 6 and torch.allclose(res["probs"].sum(1), torch.ones(6), atol=1e-5)
    out = tmp_path / "submission.csv"
    assert run_inference(str(best), str(te), str(out)) == 0
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["id", "class"] and len(rows) == 7 and {r[1] for r in rows[1:]} <= set(meta["class_names"])
    assert rows[1][0].split("/")[0] in meta["class_names"]
    # a seed-004 CSV straight into inference (imported on the fly)
    assert run_inference(str(best), str(root / "test/csv/coordinates_1.csv"), str(tmp_path / "s2.csv")) == 0
    # keypoints of another layout: one error naming both
    with pytest.raises(LsvitError, match=r"npy\.h5 has 1662 features per frame.*trained on 225.*train\.h5"):
        predict(best, tmp_path / "npy.h5", progress=False)
    with pytest.raises(LsvitError, match="data.feature_count=84 but .*train.h5 holds 225"):
        train(compose("train", ["experiment=signs_keypoint_lstm", f"data.path={tr}", "data.feature_count=84",
                                f"run_dir={tmp_path}/run2"]))


def test_extraction_settings_refuse_what_cannot_work_offline(tmp_path):
    from lsvit.families.keypoints.mediapipe import ExtractionSettings, YoloPersonDetector

    with pytest.raises(LsvitError, match="roi=yolo needs yolo_weights"):
        ExtractionSettings(roi="yolo")
    with pytest.raises(LsvitError, match="model_complexity=1 in the wheel"):
        ExtractionSettings(mode="holistic", model_complexity=2)
    with pytest.raises(LsvitError, match="mode='face'"):
        ExtractionSettings(mode="face")
    with pytest.raises(LsvitError, match=r"yolo_weights=.*yolov8n\.pt: no such file"):
        YoloPersonDetector(str(tmp_path / "yolov8n.pt"))
    s = ExtractionSettings(mode="holistic", face=False, visibility=False)
    assert s.to_layout().feature_count == 225
    assert ExtractionSettings.from_json(s.to_json()) == ExtractionSettings(
        mode="holistic", face=False, visibility=False, layout=tuple(tuple(g) for g in s.to_layout().to_json()))


def test_missing_mediapipe_is_one_message_with_the_install_command(monkeypatch):
    from lsvit.families.keypoints.mediapipe import import_mediapipe

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import fails as if not installed
    with pytest.raises(LsvitError, match=r'pip install -e "\.\[keypoints\]"'):
        import_mediapipe()
    monkeypatch.setitem(sys.modules, "mediapipe", SimpleNamespace(__version__="1.2.2"))  # no solutions API
    with pytest.raises(LsvitError, match=r"mediapipe 1\.2\.2 has no `solutions` API"):
        import_mediapipe()


def test_a_finished_import_is_kept_or_refused_never_silently_replaced(tmp_path):
    """The run-folder rule for keypoint files (issue 24.9): the same import again leaves the file; another
    (here other settings: visibility kept) is refused without overwrite."""
    from lsvit.families.keypoints.demo import DemoSpec, make_keypoint_demo

    root = make_keypoint_demo(tmp_path / "demo", DemoSpec(train_per_class=2, test_per_class=1, min_frames=6,
                                                          max_frames=8), verbose=False)
    out = tmp_path / "kp.h5"
    import_csv(root / "train/csv", out, drop_visibility=True)
    before = out.read_bytes()
    import_csv(root / "train/csv", out, drop_visibility=True)
    assert out.read_bytes() == before
    with pytest.raises(LsvitError, match=r"kp.h5 already holds a keypoint file made with other settings "
                                         r"\(differing: content, settings\); give overwrite=true"):
        import_csv(root / "train/csv", out, drop_visibility=False)
    assert out.read_bytes() == before
    import_csv(root / "train/csv", out, drop_visibility=False, overwrite=True)
    assert read_keypoint_index(out).layout != read_keypoint_index(import_csv(root / "train/csv", tmp_path / "b.h5",
                                                                             drop_visibility=True)).layout


def test_capture_key_timelines_and_the_csv_they_append_to(tmp_path):
    from lsvit.families.keypoints.capture import HEADER, SequenceCsv, capture_keypoints, parse_keys

    assert parse_keys("r@10, s@40,w@55,q@90") == {10: "r", 40: "s", 55: "w", 90: "q"} and parse_keys(None) == {}
    with pytest.raises(LsvitError, match=r"keys=x@3: 'x@3' is not <key>@<frame>"):
        parse_keys("x@3")
    with pytest.raises(LsvitError, match="no display to press keys in: give a key timeline"):
        capture_keypoints(str(tmp_path / "v.mp4"), "wave", tmp_path / "c.csv", headless=True)
    sink = SequenceCsv(tmp_path / "c.csv", "wave")
    assert sink.write(True, [np.zeros(300)] * 2) == 1 and sink.write(False, [np.ones(300)]) == 2
    again = SequenceCsv(tmp_path / "c.csv", "clap")  # a later run continues the numbering, no second header
    assert again.write(True, [np.zeros(300)]) == 3
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert rows[0] == ",".join(HEADER) and len(rows) == 5 and rows[4].startswith("clap,1,3,")
    # what it wrote imports as seed 004's CSV
    _, records, layout = __import__("lsvit.families.keypoints.importers", fromlist=["x"]).read_csv_sequences(
        tmp_path / "c.csv")
    assert [r.class_name for r in records] == ["wave_R", "wave_W", "clap_R"] and layout.feature_count == 300


def test_the_capture_tool_takes_a_key_timeline_from_the_command_line(tmp_path, monkeypatch):
    """``keys=[r@10,s@40]`` reaches the capture as the timeline (an unquoted ``keys=r@10,s@40`` is a Hydra sweep, and
    ``cfg.keys`` is DictConfig's mapping method, not the setting)."""
    import runpy

    from lsvit.config import compose
    from lsvit.families.keypoints import capture

    seen = {}

    def fake(source, label, out, keys, *args):
        seen["timeline"] = capture.parse_keys(keys)
        return capture.CaptureReport(output=str(out))

    monkeypatch.setattr(capture, "capture_keypoints", fake)
    tool = runpy.run_path(str(Path(__file__).resolve().parents[1] / "tools" / "capture_keypoints.py"))
    tool["main"](compose("capture_keypoints", ["source=clip.mp4", "label=wave", f"out={tmp_path / 'c.csv'}",
                                               "keys=[r@10,s@40,w@55,s@90]"]))
    assert seen["timeline"] == {10: "r", 40: "s", 55: "w", 90: "s"}


# ------------------------------------------------------------------------------------------- seed 000's own files
def write_seed000_h5(path: Path, videos: dict[str, list[str]], num_frames: int = 12) -> Path:
    """A keypoint file written as seed 000's ``preprocess_videos_to_hdf5`` writes it (h5py, its names and types).

    The notebook: ``label_map`` of the sorted class folders saved as a JSON string attribute; per video, every frame's
    84 values (2 hands x 21 x (x, y), float64 numpy as its ``np.concatenate`` gives), the sequence cut to its middle
    ``NUM_FRAMES_PER_VIDEO`` frames or zero-padded at the end, stored as ``sequences/<dataset_name>`` (the relative
    path with separators and dots as underscores) with the attributes ``label`` (int), ``original_path`` and
    ``class_name`` (str). Nothing else: no layout, feature count or completion flag.
    """
    rng = np.random.default_rng(3)
    label_map = {c: i for i, c in enumerate(sorted(videos))}
    with h5py.File(path, "w") as hf:
        hf.attrs["label_map"] = json.dumps(label_map)
        for class_name, names in videos.items():
            for k, video in enumerate(names):
                video_path = f"/data/raw/{class_name}/{video}"
                frames = 7 + 4 * k  # shorter and longer than num_frames
                seq = rng.random((frames, 84))
                seq[:, 42:] *= k % 2  # one hand missing in some videos: zeros, as the notebook pads slots
                if frames > num_frames:
                    start = (frames - num_frames) // 2
                    seq = seq[start:start + num_frames]
                else:
                    seq = np.concatenate([seq, np.zeros((num_frames - frames, 84))])
                dataset_name = f"{class_name}/{video}".replace("/", "_").replace(".", "_")
                dset = hf.create_dataset(f"sequences/{dataset_name}", data=seq)
                dset.attrs["label"] = label_map[class_name]
                dset.attrs["original_path"] = video_path
                dset.attrs["class_name"] = class_name
    return path


def test_seed_000s_hdf5_files_are_read_as_they_are(tmp_path):
    from lsvit.config import compose
    from lsvit.engine import train
    from lsvit.families.keypoints.datamodule import KeypointDataModule
    from lsvit.inference import predict

    videos = {"sign_A": [f"video{i}.mp4" for i in range(5)], "sign_B": [f"clip{i}.avi" for i in range(5)]}
    path = write_seed000_h5(tmp_path / "model.h5", videos)
    idx = read_keypoint_index(path)
    assert idx.class_names == ["sign_A", "sign_B"] and idx.layout == mode_layout("hands")  # 84: seed 000's hands
    assert idx.source == "seed000" and set(idx.lengths) == {12} and idx.ids[0] == "sign_A/video0"
    assert idx.labels == [0] * 5 + [1] * 5
    for in_memory in (True, False):  # read at once, and lazily per process
        dm = KeypointDataModule(path=str(path), num_frames=12, normalize="none", val_ratio=0.2, test_ratio=0.2,
                                in_memory=in_memory)
        dm.setup()
        sample = dm.val_dataset[0]
        row = dm.val_rows[0]
        with h5py.File(path, "r") as f:
            stored = f["sequences"][dm.index.names[row]][()].astype(np.float32)
        torch.testing.assert_close(sample["inputs"], torch.from_numpy(stored))  # unchanged at the seed's length
    cfg = compose("train", ["experiment=signs_keypoint_lstm", f"data.path={path}", "data.num_frames=12",
                            "data.test_ratio=0.2", f"run_dir={tmp_path}/run", "engine.epochs=1", "engine.batch_size=4",
                            "engine.device=cpu", "engine.mixed_precision=no", "model.hidden_sizes=[8]"])
    summary = train(cfg)
    meta = json.loads((Path(summary["run_dir"]) / "best" / "meta.json").read_text())
    assert meta["model"]["args"]["input_size"] == 84 and meta["data"]["source"] == "seed000"
    assert summary["num_test"] == 2
    res = predict(Path(summary["run_dir"]) / "best", path, progress=False)  # the seed's file straight into inference
    assert len(res["ids"]) == 10 and "sign_B/clip4" in res["ids"]


def test_foreign_keypoint_files_say_what_they_lack(tmp_path):
    no_map = tmp_path / "no_map.h5"
    with h5py.File(no_map, "w") as f:
        f.create_dataset("sequences/a_v_mp4", data=np.zeros((4, 84)))
        f["sequences/a_v_mp4"].attrs["label"] = 0
    with pytest.raises(LsvitError) as err:
        read_keypoint_index(no_map)
    msg = str(err.value)
    assert "lacks the root attribute 'label_map'" in msg and "rerun" not in msg and "seed 000" in msg
    no_labels = tmp_path / "no_labels.h5"
    with h5py.File(no_labels, "w") as f:
        f.attrs["label_map"] = json.dumps({"a": 0})
        f.create_dataset("sequences/x", data=np.zeros((4, 84)))
        f.create_dataset("sequences/y", data=np.zeros(4))
    with pytest.raises(LsvitError, match=r"with a 'label' attribute under 'sequences' \(2 of 2 are not, e.g. "
                                         r"sequences/x\)") as err:
        read_keypoint_index(no_labels)
    assert "rerun" not in str(err.value)
    # one of ours whose writer did not finish is still that, and says so
    ours = write_keypoint_h5(tmp_path / "ours.h5", [KeypointRecord("a/v", np.zeros((3, 84), np.float32), 0, "a", "v")],
                             ["a"], mode_layout("hands"), "npy")
    with h5py.File(ours, "a") as f:
        del f.attrs["lsvit_complete"]
    with pytest.raises(LsvitError, match="incomplete keypoint file.*rerun the extraction"):
        read_keypoint_index(ours)


# ------------------------------------------------------------------------------------------- several persons
class _FakeHands:
    """MediaPipe Hands as the extractor drives it: every crop shows a left hand at x 0.25 and a right one at 0.75
    (of the crop); records the ``max_num_hands`` it was built with and the crops it saw."""

    made: list[dict] = []

    def __init__(self, **kwargs):
        _FakeHands.made.append(kwargs)
        self.seen: list[tuple[int, int]] = []

    def process(self, image):
        self.seen.append(image.shape[:2])
        return SimpleNamespace(multi_hand_landmarks=[_hand(0.25, 0.5), _hand(0.75, 0.5)],
                               multi_handedness=[_handedness("Left", 0.9), _handedness("Right", 0.8)])

    def close(self):
        pass


def _fake_mediapipe(monkeypatch):
    from lsvit.families.keypoints import mediapipe as kp_mp

    fake = SimpleNamespace(solutions=SimpleNamespace(hands=SimpleNamespace(Hands=_FakeHands)))
    monkeypatch.setattr(kp_mp, "import_mediapipe", lambda: fake)
    # two persons on a 200 x 100 frame, largest first (as every detector orders them)
    monkeypatch.setitem(kp_mp.ROI_DETECTORS, "two", lambda s: lambda frame: [(50, 0, 150, 100), (0, 0, 40, 60)])
    _FakeHands.made.clear()
    return kp_mp


def test_hands_of_several_persons_fill_the_slots_as_seed_000_does(monkeypatch):
    kp_mp = _fake_mediapipe(monkeypatch)
    frame = np.zeros((100, 200, 3), np.uint8)

    def run(**kw):
        ex = kp_mp.KeypointExtractor(kp_mp.ExtractionSettings(mode="hands", roi="two", roi_margin=0.0, **kw))
        r = ex(frame)
        ex.close()
        return ex, r

    ex, r = run(max_persons=None, max_hands=4)
    assert _FakeHands.made[-1]["max_num_hands"] == 4 and ex._solution is None  # closed
    assert ex.layout == mode_layout("hands", hands=4) and r.vector.shape == (168,)
    assert r.rois == [(50, 0, 150, 100), (0, 0, 40, 60)] and r.roi == (50, 0, 150, 100)
    # crop by crop: the large person's left and right hand take slots 0 and 1, the second person's the next ones
    x0 = {name: round(float(arr[0, 0]), 3) for name, arr in r.parts.items()}
    assert x0 == {"left_hand": 0.375, "right_hand": 0.625, "hand_3": 0.05, "hand_4": 0.15}
    np.testing.assert_allclose(r.vector[84:86], [0.05, 60 * 0.5 / 100], atol=1e-6)  # hand_3's wrist, frame units
    _, r = run(max_persons=None, max_hands=2)  # two slots: the second person's hands are dropped
    assert {n: round(float(a[0, 0]), 3) for n, a in r.parts.items()} == {"left_hand": 0.375, "right_hand": 0.625}
    _, r = run(max_persons=1, max_hands=2)  # the default: the largest person only
    assert r.rois == [(50, 0, 150, 100)]
    _, r = run(max_persons=1, max_hands=1)  # one slot: the first hand, whatever its side (seed 000's next free slot)
    assert list(r.parts) == ["hand"] and round(float(r.parts["hand"][0, 0]), 3) == 0.375 and r.vector.shape == (42,)


def test_hand_slots_rule():
    a, b, c, d = (np.full((21, 4), v, np.float32) for v in (1, 2, 3, 4))
    # region by region; Left -> 0, Right -> 1, anything else -> the first free slot; the rest dropped
    slots = assign_hand_slots([a, b, c, d], ["Right", "Left", "Left", None], slots=3, regions=[0, 0, 1, 1])
    assert [s[0, 0] if s is not None else None for s in slots] == [2, 1, 3]
    slots = assign_hand_slots([a, b], [_handedness("Left", 0.2), _handedness("Left", 0.9)], slots=1)
    assert slots[0][0, 0] == 2  # within a crop the most confident first


def test_yolo_keeps_every_person_above_roi_conf(monkeypatch, tmp_path):
    from lsvit.families.keypoints import mediapipe as kp_mp
    from lsvit.families.keypoints.mediapipe import YoloPersonDetector

    asked = {}

    class FakeYolo:  # ultralytics' Results: boxes.xyxy / .conf / .cls tensors
        def predict(self, image, classes, conf, verbose):
            asked.update(classes=classes, conf=conf, channels_reversed=image[0, 0, 0] == 3)
            boxes = SimpleNamespace(xyxy=torch.tensor([[0, 0, 10, 10], [0, 0, 50, 50], [5, 5, 90, 90], [1, 1, 30, 30.]]),
                                    conf=torch.tensor([0.9, 0.5, 0.3, 0.95]), cls=torch.tensor([0, 0, 0, 2.]))
            return [SimpleNamespace(boxes=boxes)]

    frame = np.zeros((100, 100, 3), np.uint8)
    frame[..., 2] = 3
    det = YoloPersonDetector("unused.pt", conf=0.4, model=FakeYolo())
    # persons (class 0) at least 0.4 confident, largest first; the car (class 2) and the 0.3 person are not
    assert det(frame) == [(0, 0, 50, 50), (0, 0, 10, 10)]
    assert asked == {"classes": [0], "conf": 0.4, "channels_reversed": True}  # BGR, as ultralytics expects
    assert YoloPersonDetector("unused.pt", conf=0.6, model=FakeYolo())(frame) == [(0, 0, 10, 10)]
    # roi=yolo builds it with the settings' roi_conf (ultralytics is not installed here: the constructor is stood in)
    monkeypatch.setattr(kp_mp, "YoloPersonDetector", lambda weights, conf: (weights, conf))
    settings = kp_mp.ExtractionSettings(roi="yolo", yolo_weights=str(tmp_path / "yolov8n.pt"), roi_conf=0.7)
    assert kp_mp.ROI_DETECTORS["yolo"](settings) == (str(tmp_path / "yolov8n.pt"), 0.7)


def test_roi_settings_are_checked_and_recorded_in_the_file(monkeypatch, tmp_path):
    import cv2

    from lsvit.config import compose
    from lsvit.families.keypoints.dataset import extraction_settings_for

    kp_mp = _fake_mediapipe(monkeypatch)
    ES = kp_mp.ExtractionSettings
    for bad, msg in (({"max_persons": None}, "needs a person detector"),
                     ({"max_persons": 2, "roi": "hog", "mode": "pose_hands"}, "several persons need mode=hands"),
                     ({"max_hands": 3, "mode": "holistic"}, "only mode=hands has a number of hand slots"),
                     ({"roi_conf": 0.0}, "roi_conf=0.0"), ({"max_hands": 0}, "max_hands=0")):
        with pytest.raises(LsvitError, match=msg):
            ES(**{"mode": "hands", **bad})
    for cls in ("wave", "clap"):
        (tmp_path / "videos" / cls).mkdir(parents=True)
        w = cv2.VideoWriter(str(tmp_path / "videos" / cls / "a.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (200, 100))
        for _ in range(3):
            w.write(np.zeros((100, 200, 3), np.uint8))
        w.release()
    cfg = compose("extract_keypoints", [f"root={tmp_path / 'videos'}", f"out={tmp_path / 'kp.h5'}", "roi=two",
                                        "max_persons=null", "max_hands=4", "roi_conf=0.5", "roi_margin=0"])
    print(kp_mp.extract_tool(cfg))
    idx = read_keypoint_index(tmp_path / "kp.h5")
    assert idx.layout == mode_layout("hands", hands=4) and idx.settings["max_hands"] == 4
    assert idx.settings["max_persons"] is None and idx.settings["roi_conf"] == 0.5 and idx.settings["roi"] == "two"
    with h5py.File(tmp_path / "kp.h5", "r") as f:
        seq = f["sequences"][idx.names[0]][()]
    assert seq.shape == (3, 168) and seq[:, 84] == pytest.approx(0.05)  # the second person's left hand, every frame
    # a checkpoint trained on such a file reads raw videos with the same extraction
    assert ES.from_json(extraction_settings_for({"layout": idx.layout.to_json(), "extraction": idx.settings})) \
        == ES.from_json(idx.settings)
    # seed 000's own files record no settings: their width says how many hand slots to extract
    assert extraction_settings_for({"layout": mode_layout("hands", hands=4).to_json()})["max_hands"] == 4


def test_yolo_roi_on_a_randomly_initialised_ultralytics_model():
    """The real ultralytics call chain, where it is installed, on a model built from its YAML (random weights: no
    download); the dev environment here has no ultralytics, so the fake above carries the selection logic."""
    ultralytics = pytest.importorskip("ultralytics")
    from lsvit.families.keypoints.mediapipe import YoloPersonDetector

    model = ultralytics.YOLO("yolov8n.yaml")
    frame = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    boxes = YoloPersonDetector("yolov8n.yaml", conf=0.01, model=model)(frame)
    assert all(0 <= x0 <= x1 <= 128 and 0 <= y0 <= y1 <= 96 for x0, y0, x1, y1 in boxes)
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    assert areas == sorted(areas, reverse=True)
