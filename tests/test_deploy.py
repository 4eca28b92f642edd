"""Deployment: ONNX export verified against PyTorch, the ONNX Runtime inference path, the model card."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from conftest import ROOT, tiny_overrides

from lsvit import LsvitError
from lsvit.checkpoint.card import EVALUATIONS, add_evaluation, parse_card, render_card, write_card
from lsvit.checkpoint.folder import build_from_checkpoint, read_meta, save_best
from lsvit.config import compose
from lsvit.registry import input_contract

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from lsvit.deploy import export as export_mod  # noqa: E402  (needs onnx for its checks only at call time)
from lsvit.deploy.export import export_graph, export_onnx, read_metadata  # noqa: E402
from lsvit.deploy.runtime import OnnxModel  # noqa: E402

CLASSES = ["clap", "jump", "run", "sit", "wave"]
DATA = {"type": "video", "num_frames": 4, "frame_stride": 2, "sampling": "dense", "short": "loop", "image_size": 32,
        "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "backend": "auto", "dataset": "synthetic", "num_train": 40,
        "num_val": 10, "num_test": 0}


def make_checkpoint(folder: Path, name: str = "lsvit_test", seed: int = 0, data: dict | None = None,
                    metrics: dict | None = None) -> Path:
    """A ``best/`` folder of ``name`` whose every weight is perturbed: SMIF's and LMI's zero-initialised output
    layers then carry signal, so the exported graph must get the temporal branches right, not just the ViT."""
    model = timm.create_model(name, num_classes=len(CLASSES), num_frames=4, smif_window=3)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    meta = {"model": {"name": name, "args": {"num_frames": 4, "smif_window": 3}}, "class_names": CLASSES,
            "data": dict(data or DATA), "epoch": 3, "monitor": "val/top1", "seed": 1,
            "metrics": metrics or {"val/top1": 0.6, "val/top5": 1.0, "val/macro_f1": 0.55, "val/loss": 1.1,
                                   "val/num_samples": 10, "train/top1": 0.9},
            "run": {"command": "python tools/train.py experiment=demo", "commit": "0123abcd",
                    "config_yaml": "model:\n  model_name: lsvit_test\n  pretrained: false\ndata:\n  val_ratio: 0.2\n"}}
    save_best(folder, model, meta)
    return folder


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory) -> Path:
    """A tiny LS-ViT trained for one epoch on the motion dataset, exported to ONNX (its ``best/``), checked on real
    clips of the test folder."""
    from lsvit.engine import train

    run = tmp_path_factory.mktemp("deploy") / "run"
    train(compose("train", tiny_overrides(tiny_dataset / "train", run, "engine.epochs=1")))
    export_onnx(run / "best", data_root=tiny_dataset / "test")
    return run / "best"


def _logits(session, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(session.run(["logits"], {"inputs": x.numpy()})[0])


# ------------------------------------------------------------------------------------------------ export
@pytest.mark.parametrize("name", ["lsvit_test", "lsvit_frameavg_test"])
def test_export_checks_and_matches_pytorch_at_batch_1_and_3(tmp_path, name):
    best = make_checkpoint(tmp_path / "best", name)
    record = export_onnx(best)
    path = best / "model.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["inputs"] and [o.name for o in proto.graph.output] == ["logits"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].dim_value  # a symbolic batch axis
    assert [d.dim_value for d in dims[1:]] == [4, 3, 32, 32]
    md = read_metadata(proto)
    assert md["class_names"] == CLASSES and md["model"]["name"] == name
    assert md["input"] == dict(input_contract(read_meta(best)).to_json(), name="inputs")
    assert md["input"]["layout"] == "B T C H W" and md["input"]["mean"] == [0.5] * 3
    model, _ = build_from_checkpoint(best)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(123)  # other inputs than the exporter's own check
    for batch in (1, 3):
        x = torch.randn(batch, 4, 3, 32, 32, generator=g)
        with torch.no_grad():
            ref = model(x)
        got = _logits(session, x)
        assert got.shape == (batch, len(CLASSES))
        assert (got - ref).abs().max() <= 1e-4, f"{name} batch {batch}"
    # the graph keeps the order of time: LS-ViT tells a clip from its reversal, the frame-average control cannot
    x = torch.randn(2, 4, 3, 32, 32, generator=g)
    reversal_gap = (_logits(session, x) - _logits(session, x.flip(1))).abs().max()
    assert reversal_gap > 1e-3 if name == "lsvit_test" else reversal_gap < 1e-5
    diffs = record["verified"]["max_abs_diff"]
    assert {"random inputs, batch 1", "random inputs, batch 3", "rendered clips, batch 3"} <= set(diffs)
    assert max(diffs.values()) <= 1e-4 and record["opset"] == 18 and "dynamo=True" in record["exporter"]
    front, body = parse_card((best / "README.md").read_text())  # the card now lists the export
    assert "onnx" in front["tags"] and "## Deployment (ONNX)" in body and "`model.onnx` | 18 | float32" in body


def test_opset_17_goes_through_the_torchscript_exporter_and_matches(tmp_path):
    best = make_checkpoint(tmp_path / "best")
    record = export_onnx(best, opset=17)
    proto = onnx.load(str(best / "model.onnx"))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {17}
    assert "dynamo=False" in record["exporter"] and max(record["verified"]["max_abs_diff"].values()) <= 1e-4


def test_fp16_and_fixed_batch_graphs_behind_the_model_interface(tmp_path):
    best = make_checkpoint(tmp_path / "best")
    model, _ = build_from_checkpoint(best)
    x = torch.randn(3, 4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = model(x)
    export_onnx(best, output=best / "model_fp16.onnx", fp16=True)
    half = OnnxModel(best / "model_fp16.onnx")
    assert half.input_dtype == torch.float16 and half.metadata["input"]["dtype"] == "float16"
    out = half(x)  # float32 in, float32 out: the wrapper casts
    assert out.dtype == torch.float32 and (out - ref).abs().max() <= 1e-2 * max(1.0, float(ref.abs().max()))
    export_onnx(best, output=best / "model_b1.onnx", dynamic_batch=False)
    fixed = OnnxModel(best / "model_b1.onnx")
    assert fixed.fixed_batch == 1 and fixed.metadata["input"]["shape"][0] == 1
    assert (fixed(x) - ref).abs().max() <= 1e-4  # a batch of 3 through a batch-1 graph
    exports = json.loads((best / "export.json").read_text())
    assert set(exports) == {"model_fp16.onnx", "model_b1.onnx"}
    body = (best / "README.md").read_text()
    assert "`model_fp16.onnx` | 18 | float16" in body and "`model_b1.onnx` | 18 | float32 | fixed (1)" in body


# ------------------------------------------------------------------------------------------------ bad input
def test_opset_too_old_names_the_operator_and_leaves_nothing(tmp_path, capfd):
    best = make_checkpoint(tmp_path / "best")
    before = sorted(p.name for p in best.iterdir())
    capfd.readouterr()
    with pytest.raises(LsvitError) as err:
        export_onnx(best, opset=13)
    msg = str(err.value)
    assert "lsvit_test" in msg and "aten::scaled_dot_product_attention" in msg and "opset 13" in msg
    assert "\n" not in msg and len(msg) < 600  # one message, ...
    out, errout = capfd.readouterr()
    assert "Torch IR graph" not in out + errout  # ... and not the exporter's IR dump on the console
    assert sorted(p.name for p in best.iterdir()) == before  # no model.onnx, no temporary file


def test_unsupported_operator_is_named_by_the_torch_export_path(tmp_path):
    class Eigen(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linalg.eigvalsh(x @ x.transpose(-1, -2))

    with pytest.raises(LsvitError, match=r"cannot export eigen to ONNX: operator aten\._linalg_eigh"):
        export_graph(Eigen().eval(), torch.randn(2, 4, 4), tmp_path / "m.onnx", name="eigen")


def test_data_type_without_an_input_contract_is_refused(tmp_path):
    best = make_checkpoint(tmp_path / "best", data=dict(DATA, type="audio"))
    with pytest.raises(LsvitError, match=r"data.type='audio': not a registered input type \(known: clips, embeddings, keypoints\)"):
        export_onnx(best)
    assert not (best / "model.onnx").exists()
    with pytest.raises(LsvitError, match="opset=99"):
        export_onnx(make_checkpoint(tmp_path / "b2"), opset=99)


def test_parity_beyond_tolerance_is_one_message_and_keeps_the_old_file(tmp_path, monkeypatch):
    best = make_checkpoint(tmp_path / "best")
    # an earlier export's file (its content does not matter here: a failed export must leave it byte for byte)
    (best / "model.onnx").write_bytes(b"an earlier graph")
    good = (best / "model.onnx").read_bytes()
    real_export = export_mod.export_graph

    def drifting(model, example, path, *args, **kwargs):  # a graph whose logits are 0.01 off
        import copy

        shifted = copy.deepcopy(model)
        with torch.no_grad():
            shifted.head.bias.add_(0.01)
        return real_export(shifted, example, path, *args, **kwargs)

    monkeypatch.setattr(export_mod, "export_graph", drifting)
    with pytest.raises(LsvitError) as err:
        export_onnx(best)
    msg = str(err.value)
    assert msg.startswith("lsvit_test: ONNX Runtime's logits differ from PyTorch's by up to 0.01") and "tolerance 0.0001" in msg
    assert (best / "model.onnx").read_bytes() == good  # the previous graph is untouched
    assert not [p for p in best.iterdir() if ".tmp" in p.name]


def test_input_contracts_of_every_data_type():
    meta = {"model": {"name": "m", "args": {}}}
    video = input_contract({**meta, "data": DATA})
    assert video.shape == (4, 3, 32, 32) and video.layout == "B T C H W" and video.example(3).shape == (3, 4, 3, 32, 32)
    clips = video.sample(2)  # rendered clips through the evaluation transform: normalised, within its range
    assert clips.shape == (2, 4, 3, 32, 32) and clips.min() >= -1.0 and clips.max() <= 1.0 and clips.std() > 0.1
    emb = input_contract({**meta, "data": {"type": "embeddings", "num_frames": 16, "num_channels": 12, "dim": 768}})
    assert emb.shape == (16, 12, 768) and emb.layout == "B T C D" and emb.sample is None
    kp = input_contract({**meta, "data": {"type": "keypoints", "num_frames": 32, "feature_count": 225}})
    assert kp.shape == (32, 225) and kp.to_json()["shape"] == ["batch", 32, 225]
    with pytest.raises(LsvitError, match=r"meta.json data.feature_count is missing: the 'keypoints' input contract"):
        input_contract({**meta, "data": {"type": "keypoints", "num_frames": 32}})
    with pytest.raises(LsvitError, match=r"data.dim=-1: expected a positive integer"):
        input_contract({**meta, "data": {"type": "embeddings", "num_frames": 16, "num_channels": 12, "dim": -1}})


# ------------------------------------------------------------------------------------------------ runtime=onnx
def test_inference_runtime_onnx_writes_the_same_csv(trained, tiny_dataset, tmp_path, monkeypatch):
    from lsvit.inference import predict, run_inference

    ref_csv, onnx_csv = tmp_path / "pytorch.csv", tmp_path / "onnx.csv"
    assert run_inference(str(trained), str(tiny_dataset / "test"), str(ref_csv), batch_size=3, probs=True,
                         topk=2) == 0
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(ROOT / "tools/inference.py"), f"checkpoint={trained}",
                          f"data_root={tiny_dataset / 'test'}", f"output={onnx_csv}", "batch_size=3", "probs=true",
                          "topk=2", "runtime=onnx", "num_workers=0"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    checked = json.loads((trained / "export.json").read_text())["model.onnx"]["verified"]["max_abs_diff"]
    assert checked[f"real inputs from {tiny_dataset / 'test'}, batch 3"] <= 1e-4  # real clips, read as inference does
    ref, got = list(csv.reader(open(ref_csv))), list(csv.reader(open(onnx_csv)))
    assert ref[0] == got[0] and len(ref) == len(got) == 9  # header + 8 test videos
    probs = [i for i, h in enumerate(ref[0]) if h.startswith("prob_") or h.endswith("_prob")]
    for a, b in zip(ref[1:], got[1:]):
        assert [a[i] for i in range(len(a)) if i not in probs] == [b[i] for i in range(len(b)) if i not in probs]
        assert max(abs(float(a[i]) - float(b[i])) for i in probs) <= 1e-4
    # in process: the scoring loop really ran the graph (every batch through ONNX Runtime), to the same numbers
    calls = []
    forward = OnnxModel.forward
    monkeypatch.setattr(OnnxModel, "forward", lambda self, x: calls.append(len(x)) or forward(self, x))
    onnx_out = predict(trained, tiny_dataset / "test", batch_size=3, runtime="onnx", progress=False)
    torch_out = predict(trained, tiny_dataset / "test", batch_size=3, progress=False)
    assert calls == [3, 3, 2] and onnx_out["ids"] == torch_out["ids"]
    assert (onnx_out["probs"] - torch_out["probs"]).abs().max() <= 1e-5


def test_runtime_onnx_refuses_a_missing_or_stale_graph(trained, tiny_dataset, tmp_path):
    from lsvit.inference import predict

    best = tmp_path / "best"
    shutil.copytree(trained, best)
    graph = (best / "model.onnx").read_bytes()
    (best / "model.onnx").unlink()
    with pytest.raises(LsvitError, match=r"model.onnx does not exist; export it first: python tools/export.py"):
        predict(best, tiny_dataset / "test", runtime="onnx", progress=False)
    model, meta = build_from_checkpoint(trained)
    with torch.no_grad():
        model.head.bias.add_(1.0)
    save_best(best, model, meta)  # new weights (save_best replaces the whole folder) ...
    (best / "model.onnx").write_bytes(graph)  # ... and the graph of the old ones put back
    with pytest.raises(LsvitError, match=r"was exported from other weights"):
        predict(best, tiny_dataset / "test", runtime="onnx", progress=False)
    with pytest.raises(LsvitError, match=r"mixed_precision=bf16 does not apply to runtime=onnx"):
        predict(trained, tiny_dataset / "test", runtime="onnx", mixed_precision="bf16", progress=False)


# ------------------------------------------------------------------------------------------------ model card
def test_card_is_written_with_the_checkpoint_and_its_metrics(trained):
    meta = read_meta(trained)
    front, body = parse_card((trained / "README.md").read_text())
    assert front["library_name"] == "lsvit" and {"video-classification", "lsvit"} <= set(front["tags"])
    assert front["datasets"] == ["synthetic"] and front["metrics"] == ["accuracy", "f1"]
    result = front["model-index"][0]["results"][0]
    assert result["dataset"]["split"] == "validation"
    assert result["metrics"][0] == {"type": "accuracy", "name": "Top-1 accuracy (1 view)",
                                    "value": round(meta["metrics"]["val/top1"], 4)}
    model, _ = build_from_checkpoint(trained)
    params = sum(p.numel() for p in model.parameters())
    assert f"({params:,})" in body and "## Classes (8)" in body and all(f"`{c}`" in body for c in meta["class_names"])
    assert f"| `synthetic` | validation (selection) | 1 | pytorch | {meta['metrics']['val/top1']:.4f} |" in body
    assert meta["run"]["command"] in body and meta["run"]["commit"] in body and "model_name: lsvit_test" in body
    assert "| layout | B T C H W |" in body and "| num_frames | 4 |" in body
    limits = body.split("## Limitations", 1)[1]
    assert "Trained from scratch" in limits and "synthetic data" in limits and "No held-out test result" in limits


def test_card_follows_each_save_and_renders_from_meta_alone(tmp_path):
    best = make_checkpoint(tmp_path / "best", metrics={"val/top1": 0.25, "val/num_samples": 4})
    assert "| 0.2500 |" in (best / "README.md").read_text()
    make_checkpoint(tmp_path / "best", metrics={"val/top1": 0.75, "val/num_samples": 4})  # a better epoch
    text = (best / "README.md").read_text()
    assert "| 0.7500 |" in text and "0.2500" not in text
    front, body = parse_card(render_card({"model": {"name": "lsvit_test"}, "class_names": ["a"], "data": {}}))
    assert front["library_name"] == "lsvit" and "# lsvit_test" in body  # a bare meta still renders


def test_evaluation_adds_itself_to_the_card(trained, tiny_dataset, tmp_path):
    from lsvit.inference import evaluate_checkpoint

    best = tmp_path / "run" / "best"
    shutil.copytree(trained, best)
    res = evaluate_checkpoint(best, data_root=tiny_dataset / "test", num_clips=2, progress=False)
    evals = json.loads((best / EVALUATIONS).read_text())
    assert len(evals) == 1 and evals[0]["views"] == 2 and evals[0]["runtime"] == "pytorch"
    assert evals[0]["metrics"]["top1"] == res["eval/top1"]
    body = (best / "README.md").read_text()
    assert f"| `test` | labelled folder | 2 (2 clips x 1 crop) | pytorch | {res['eval/top1']:.4f} |" in body
    assert "No held-out test result" not in body
    # the engine's end-of-training test, as the trainer records it
    assert add_evaluation(best, {"test/top1": 0.5, "test/top5": 1.0, "test/macro_f1": 0.4, "test/num_samples": 8,
                                 "views": 1, "dataset": "synthetic", "split": "test"})
    evaluate_checkpoint(best, data_root=tiny_dataset / "test", num_clips=2, progress=False, runtime="onnx")
    evaluate_checkpoint(best, data_root=tiny_dataset / "test", num_clips=2, progress=False)  # a re-run replaces
    evals = json.loads((best / EVALUATIONS).read_text())
    assert sorted((e["split"], e["views"], e["runtime"]) for e in evals) == [
        ("labelled folder", 2, "onnx"), ("labelled folder", 2, "pytorch"), ("test", 1, "pytorch")]
    front, body = parse_card((best / "README.md").read_text())
    splits = {(r["dataset"]["split"], r["metrics"][0]["name"]): r["metrics"][0]["value"]
              for r in front["model-index"][0]["results"]}
    assert splits[("test", "Top-1 accuracy (1 view)")] == 0.5
    assert splits[("labelled folder", "Top-1 accuracy (2 views, onnx)")] == round(res["eval/top1"], 4)


def test_card_records_from_elsewhere_are_checked_data(tmp_path):
    best = make_checkpoint(tmp_path / "best")
    (best / EVALUATIONS).write_text(json.dumps([{"metrics": {"top1": "<b>1.0</b>"}, "views": 1}]))
    with pytest.raises(LsvitError, match=r"evaluations.json: entry 0 needs 'metrics' of numbers"):
        write_card(best)
    (best / EVALUATIONS).unlink()
    (best / "export.json").write_text(json.dumps({"model.onnx": {"verified": {"max_abs_diff": {"x": "tiny"}}}}))
    with pytest.raises(LsvitError, match=r"export.json: model.onnx.verified.max_abs_diff must map labels to numbers"):
        write_card(best)


# ------------------------------------------------------------------------------------------------ every family
# tiny trained checkpoints of the frame-embedding BiLSTM (and its probe) and of both keypoint LSTMs, each exported
# once per module: the BiLSTM checked on rows of its test cache, the probe on raw videos (embedded on the fly),
# keypoint_lstm on the keypoint file, keypoint_lstm_stacked on its own training file (the contract's sample)
FAMILIES = ("bilstm_attention", "embedding_mean_probe", "keypoint_lstm", "keypoint_lstm_stacked")


def _train(overrides: list[str]) -> Path:
    from lsvit.engine import train

    summary = train(compose("train", overrides))
    return Path(summary["run_dir"]) / "best"


@pytest.fixture(scope="module")
def families(tiny_dataset, tiny_keypoints, tmp_path_factory) -> dict[str, dict]:
    """family -> {"best", "data_root" (what inference reads in the CSV test), "checked" (what export was checked on)}."""
    import warnings

    from test_bilstm import TINY_EMBED

    from lsvit.families.embeddings.extract import run_extraction

    d = tmp_path_factory.mktemp("families")
    for part in ("train", "test"):
        run_extraction(str(d / f"{part}.h5"), {"root": str(tiny_dataset / part)}, TINY_EMBED, num_workers=0,
                       progress=False)
    feats = ["experiment=gestures_bilstm", f"data.train_file={d / 'train.h5'}", "data.num_channels=12",
             "data.dim=32", "data.val_ratio=0.25", "engine.epochs=1", "engine.batch_size=8", "engine.num_workers=0",
             "engine.device=cpu"]
    kp = ["experiment=signs_keypoint_lstm", f"data.path={tiny_keypoints}", "engine.epochs=1", "engine.batch_size=6",
          "engine.device=cpu", "data.num_frames=8", "data.val_ratio=0.34"]
    runs = {
        "bilstm_attention": (_train([*feats, f"run_dir={d / 'bilstm'}", "model.hidden=16", "model.attn_hidden=8",
                                     "model.temporal_diff=true"]), d / "test.h5", d / "test.h5"),
        "embedding_mean_probe": (_train([*feats, "model=embedding_mean_probe", f"run_dir={d / 'probe'}"]),
                                 tiny_dataset / "test", tiny_dataset / "test"),
        "keypoint_lstm": (_train([*kp, f"run_dir={d / 'kp'}", "model.hidden_sizes=[8,8]"]), tiny_keypoints,
                          tiny_keypoints),
        "keypoint_lstm_stacked": (_train([*kp, "model=keypoint_lstm_stacked", f"run_dir={d / 'kps'}",
                                          "model.hidden_sizes=[8,16,8]", "model.head_sizes=[8]"]), tiny_keypoints, None),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for family, (best, data_root, checked) in runs.items():
            # the probe's embedder is the BiLSTM's: the model graph alone keeps the fixture short
            record = export_onnx(best, data_root=checked, extras=False if family == "embedding_mean_probe" else None)
            out[family] = {"best": best, "data_root": data_root, "checked": checked, "record": record}
    out["caches"] = d
    return out


def _rows(best: Path, source: Path, count: int = 3) -> torch.Tensor:
    """Inputs of ``source`` (a cache/keypoint file or videos) as inference reads them for ``best``."""
    from lsvit.deploy.export import real_inputs

    return real_inputs(best, read_meta(best), source, count)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_exports_checks_and_matches_pytorch_at_batch_1_and_3(families, family):
    run = families[family]
    best, record = run["best"], run["record"]
    meta = read_meta(best)
    assert meta["model"]["name"] == family
    path = best / "model.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["inputs"] and [o.name for o in proto.graph.output] == ["logits"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    contract = input_contract(meta)
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == list(contract.shape)
    md = read_metadata(proto)
    assert md["class_names"] == meta["class_names"] and md["input"] == dict(contract.to_json(), name="inputs")
    model, _ = build_from_checkpoint(best)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(321)  # other inputs than the exporter's own checks
    real = _rows(best, run["data_root"])
    assert len(real) == 3 and real.std() > 0
    for batch in (1, 3):
        for x in (torch.randn(batch, *contract.shape, generator=g), real[:batch]):
            with torch.no_grad():
                ref = model(x)
            got = _logits(session, x)
            assert got.shape == (batch, len(meta["class_names"]))
            assert (got - ref).abs().max() <= 1e-4, f"{family} batch {batch}"
    diffs = record["verified"]["max_abs_diff"]
    assert max(diffs.values()) <= 1e-4 and len(diffs) == 4  # random and real, batch 1 and 3
    real_label = (f"real inputs from {run['checked']}" if run["checked"] else
                  f"rows of {meta['data']['source_file']}")  # no data_root: the checkpoint's own keypoint file
    assert {f"{real_label}, batch 1", f"{real_label}, batch 3"} <= set(diffs)
    front, body = parse_card((best / "README.md").read_text())
    from lsvit.models.registry import FAMILIES

    assert "onnx" in front["tags"] and f"| family | {FAMILIES[family].title}" in body
    assert "`model.onnx` | 18 | float32 | dynamic | `inputs` batchx" in body
    # the card carries the checkpoint's own metrics, in the front matter and in the table
    val = front["model-index"][0]["results"][0]
    assert val["dataset"]["split"] == "validation" and front["model-index"][0]["name"] == family
    assert val["metrics"][0] == {"type": "accuracy", "name": "Top-1 accuracy (1 view)",
                                 "value": round(meta["metrics"]["val/top1"], 4)}
    assert f"| validation (selection) | 1 | pytorch | {meta['metrics']['val/top1']:.4f} |" in body
    assert f"({sum(p.numel() for p in model.parameters()):,})" in body


def test_input_descriptions_and_limitations_of_the_new_families_in_their_cards(families):
    cards = {f: (families[f]["best"] / "README.md").read_text() for f in FAMILIES}
    limits = {f: c.split("## Limitations", 1)[1] for f, c in cards.items()}
    for f in ("bilstm_attention", "embedding_mean_probe"):
        assert "| raw_videos | 4 frames per video (uniform sampling), each cut into 3 views" in cards[f]
        assert "have random weights (embed.pretrained=false)" in limits[f] and "three 32 px views" in limits[f]
        assert "training videos" in cards[f] and "Trained from scratch" not in limits[f]
    assert "Order-blind baseline" in limits["embedding_mean_probe"] and "Order-blind" not in limits["bilstm_attention"]
    for f in ("keypoint_lstm", "keypoint_lstm_stacked"):
        assert "Sees only body/hand/face keypoints" in limits[f] and "imported keypoints (source npy)" in limits[f]
        assert "| raw_videos | MediaPipe landmarks per frame" in cards[f] and "training sequences" in cards[f]
        assert "Trained from scratch" not in limits[f] and "not recorded" not in limits[f]


def test_frame_embedder_is_a_second_verified_graph_with_its_input_documented(families, tiny_dataset):
    from lsvit.data.discovery import discover_unlabelled
    from lsvit.deploy.export import describe
    from lsvit.families.embeddings.extract import EmbedConfig, VideoViews
    from lsvit.families.embeddings.graph import EMBED_RTOL, build_checkpoint_embedder

    best, record = families["bilstm_attention"]["best"], families["bilstm_attention"]["record"]
    meta = read_meta(best)
    path = best / "embedder.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    inp, out = proto.graph.input[0], proto.graph.output[0]
    assert inp.name == "views" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert inp.type.tensor_type.shape.dim[0].dim_param
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]] == [3, 32, 32, 3]
    assert out.name == "embeddings" and [d.dim_value for d in out.type.tensor_type.shape.dim[1:]] == [12, 32]
    md = read_metadata(proto)
    embedder = build_checkpoint_embedder(meta["data"])
    assert md["graph"] == "frame_embedder" and md["settings"] == meta["data"]["settings"]
    assert md["output"]["channels"] == meta["data"]["settings"]["layout"] == embedder.layout
    assert md["input"]["views"] == ["left", "right", "whole"] and "INTER_AREA" in md["input"]["resize"]
    norm = md["input"]["normalization"]  # each backbone's own mean/std, in [0, 1] units
    assert norm["vit"]["backbone"] == "vit_tiny_patch16_224" and norm["cnn"]["backbone"] == "resnet10t"
    assert norm["cnn"]["mean"] == pytest.approx((embedder.cnn.mean.flatten() / 255).tolist(), abs=1e-6)
    # frames of a real video cut into views, as extraction cuts them: the graph = the PyTorch FrameEmbedder
    cfg = EmbedConfig.from_mapping(meta["data"]["settings"]["embed"])
    views = torch.from_numpy(VideoViews(discover_unlabelled(tiny_dataset / "test")[:1], cfg)[0]["views"][0])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for x in (views[:1], views[:3], views):
        with torch.no_grad():
            ref = embedder(x)
        got = torch.from_numpy(session.run(["embeddings"], {"views": x.numpy()})[0])
        assert got.shape == ref.shape and (got - ref).abs().max() <= EMBED_RTOL * max(1.0, float(ref.abs().max()))
    erec = record["embedder"]
    assert erec["file"] == "embedder.onnx" and max(erec["verified"]["max_abs_diff"].values()) <= 1e-4 * 10
    assert {"random views, batch 1", "random views, batch 3", "rendered frames, batch 3"} <= set(
        erec["verified"]["max_abs_diff"])
    exports = json.loads((best / "export.json").read_text())
    assert list(exports) == ["model.onnx", "embedder.onnx"] and exports["model.onnx"]["embedder"] == "embedder.onnx"
    assert exports["embedder.onnx"]["input"]["dtype"] == "uint8"
    body = (best / "README.md").read_text()
    assert "| `embedder.onnx` | 18 | float32 | dynamic | `views` framesx3x32x32x3 uint8 → `embeddings` framesx12x32" in body
    assert "Δembeddings" in body and 'embedder.run(["embeddings"], {"views": views})' in body
    text = describe(record)
    assert "model.onnx" in text and "embedder.onnx" in text and "'views' framesx3x32x32x3 N V H W C uint8" in text


def _same_rows(a: Path, b: Path, tol: float = 1e-4) -> int:
    ref, got = list(csv.reader(open(a))), list(csv.reader(open(b)))
    assert ref[0] == got[0] and len(ref) == len(got) > 1
    probs = [i for i, h in enumerate(ref[0]) if h.startswith("prob_") or h.endswith("_prob")]
    assert probs
    for x, y in zip(ref[1:], got[1:]):
        assert [x[i] for i in range(len(x)) if i not in probs] == [y[i] for i in range(len(y)) if i not in probs]
        assert max(abs(float(x[i]) - float(y[i])) for i in probs) <= tol
    return len(ref) - 1


@pytest.mark.parametrize("family", FAMILIES)
def test_runtime_onnx_writes_the_same_csv_for_every_family(families, family, tiny_dataset, tmp_path, monkeypatch):
    from lsvit.inference import run_inference

    run = families[family]
    best, source = run["best"], run["data_root"]
    if family == "embedding_mean_probe":  # its graph was exported without the embedder: read the cache
        source = families["caches"] / "test.h5"
    elif family == "bilstm_attention":  # raw videos: embedder.onnx, then model.onnx, against both PyTorch models
        source = tiny_dataset / "test"
    ref_csv, onnx_csv = tmp_path / "pytorch.csv", tmp_path / "onnx.csv"
    calls = []
    forward = OnnxModel.forward
    monkeypatch.setattr(OnnxModel, "forward", lambda self, x: calls.append(self.input_name) or forward(self, x))
    assert run_inference(str(best), str(source), str(ref_csv), batch_size=3, probs=True, topk=2) == 0
    assert not calls
    assert run_inference(str(best), str(source), str(onnx_csv), batch_size=3, probs=True, topk=2,
                         runtime="onnx") == 0
    n = _same_rows(ref_csv, onnx_csv)
    assert n == {"keypoint_lstm": 18, "keypoint_lstm_stacked": 18}.get(family, 8)
    assert calls.count("inputs") == -(-n // 3)  # every batch went through the graph
    assert calls.count("views") == (2 if family == "bilstm_attention" else 0)  # 8 videos' frames, 4 videos a call


def test_runtime_onnx_on_raw_videos_runs_both_graphs_and_refuses_a_missing_or_foreign_embedder(
        families, tiny_dataset, tmp_path, monkeypatch):
    from lsvit.families.embeddings.graph import load_onnx_embedder
    from lsvit.inference import predict

    best = families["bilstm_attention"]["best"]
    calls = []
    forward = OnnxModel.forward
    monkeypatch.setattr(OnnxModel, "forward", lambda self, x: calls.append((self.input_name, len(x))) or
                        forward(self, x))
    onnx_out = predict(best, tiny_dataset / "test", batch_size=3, runtime="onnx", progress=False)
    # 8 videos x 4 frames through embedder.onnx (the frames of 4 videos per call), then the sequence model
    assert [n for name, n in calls if name == "views"] == [16, 16]
    assert [n for name, n in calls if name == "inputs"] == [3, 3, 2]
    monkeypatch.undo()
    torch_out = predict(best, tiny_dataset / "test", batch_size=3, progress=False)
    assert onnx_out["ids"] == torch_out["ids"] and (onnx_out["probs"] - torch_out["probs"]).abs().max() <= 1e-4
    copy = tmp_path / "best"
    shutil.copytree(best, copy)
    (copy / "embedder.onnx").unlink()
    with pytest.raises(LsvitError, match=r"needs the frame embedder's graph: .*embedder.onnx does not exist; export "
                                         r"it: python tools/export.py"):
        predict(copy, tiny_dataset / "test", runtime="onnx", progress=False)
    assert predict(copy, families["caches"] / "test.h5", runtime="onnx", progress=False)["ids"]  # a cache needs no embedder
    data = json.loads(json.dumps(read_meta(best)["data"]))
    data["settings"]["cnn"]["fingerprint"] = "0" * 16  # other backbone weights than the graph holds
    with pytest.raises(LsvitError, match=r"was exported for another frame embedder than .* records \(differs in \['cnn'\]\)"):
        load_onnx_embedder(best, data)


def test_unexportable_backbone_is_named_and_nothing_is_written(families, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from lsvit.families.embeddings import graph as embedder_mod
    from lsvit.families.embeddings.backbones import Backbone, FrameEmbedder

    class Eigen(torch.nn.Module):  # a transformers-style model whose forward has no ONNX translation
        def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
            x = pixel_values.mean(1).flatten(1)[:, :8]
            return SimpleNamespace(last_hidden_state=torch.linalg.eigvalsh(x[:, :, None] * x[:, None, :])[:, None])

    best = tmp_path / "best"
    shutil.copytree(families["bilstm_attention"]["best"], best)
    for f in ("model.onnx", "embedder.onnx", "export.json"):
        (best / f).unlink()
    real = embedder_mod.build_checkpoint_embedder(read_meta(best)["data"])
    bad = FrameEmbedder(real.vit, Backbone(Eigen(), "hf:someone/eigen-vit", 8, (0.5,) * 3, (0.5,) * 3, "hf"), 32)
    monkeypatch.setattr(embedder_mod, "build_checkpoint_embedder", lambda data, device="cpu": bad)
    before = sorted(p.name for p in best.iterdir())
    with pytest.raises(LsvitError) as err:
        export_onnx(best)
    msg = str(err.value)
    assert msg.startswith("cannot export the frame embedder of bilstm_attention to ONNX: backbone "
                          "cnn=hf:someone/eigen-vit (a Hugging Face transformers model) cannot be exported")
    assert "aten._linalg_eigh" in msg and "embedder=false" in msg and "\n" not in msg
    assert sorted(p.name for p in best.iterdir()) == before  # neither graph, no temporary file
    record = export_onnx(best, extras=False)  # the sequence model alone still exports
    assert "embedder" not in record and (best / "model.onnx").is_file() and not (best / "embedder.onnx").exists()
    with pytest.raises(LsvitError, match=r"embedder=true: keypoint_lstm takes 'keypoints' inputs, which need no graph beside model.onnx"):
        export_onnx(families["keypoint_lstm"]["best"], output=tmp_path / "x.onnx", extras=True)


class _Shifted(torch.nn.Module):
    """A model whose every output is 0.01 off: what a wrong translation would give."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) + 0.01


@pytest.mark.parametrize("graph", ["inputs", "views"])
def test_a_drifting_graph_of_either_kind_is_named_and_neither_file_is_written(families, tmp_path, monkeypatch, graph):
    best = tmp_path / "best"
    shutil.copytree(families["bilstm_attention"]["best"], best)
    for f in ("model.onnx", "embedder.onnx", "export.json"):
        (best / f).unlink()
    real_export = export_mod.export_graph
    names = []

    def drifting(model, example, path, opset=18, dynamic_batch=True, name="model", input_name="inputs",
                 output_name="logits"):
        names.append(name)
        if input_name == graph:
            model = _Shifted(model)
        return real_export(model, example, path, opset, dynamic_batch, name, input_name, output_name)

    monkeypatch.setattr(export_mod, "export_graph", drifting)
    before = sorted(p.name for p in best.iterdir())
    with pytest.raises(LsvitError) as err:
        export_onnx(best)
    msg = str(err.value)
    if graph == "inputs":  # the sequence model: after the embedder passed, which is not kept either
        assert msg.startswith("bilstm_attention: ONNX Runtime's logits differ from PyTorch's by up to 0.01 (")
        assert "tolerance 0.0001" in msg
    else:
        assert msg.startswith("the frame embedder of bilstm_attention: ONNX Runtime's embeddings differ from "
                              "PyTorch's by up to 0.01 (")
    assert "the graph is not kept" in msg and "\n" not in msg
    assert not [n for n in names if n.startswith("backbone")]  # a graph that exported: no backbone is blamed
    assert sorted(p.name for p in best.iterdir()) == before  # no model.onnx, no embedder.onnx, no temporary file


def test_opset_too_old_for_the_new_families(families, tmp_path):
    best = tmp_path / "best"
    shutil.copytree(families["bilstm_attention"]["best"], best)
    for f in ("model.onnx", "embedder.onnx", "export.json"):
        (best / f).unlink()
    before = sorted(p.name for p in best.iterdir())
    with pytest.raises(LsvitError) as err:  # the frame embedder goes first: its ViT's attention needs opset 14
        export_onnx(best, opset=11)
    assert str(err.value).startswith("cannot export the frame embedder of bilstm_attention to ONNX: backbone "
                                     "vit=vit_tiny_patch16_224 (a timm model) cannot be exported (operator ")
    assert "opset 11" in str(err.value) and "embedder=false" in str(err.value)
    with pytest.raises(LsvitError) as err:  # the BiLSTM's attention pooling (einsum) needs opset 12
        export_onnx(best, opset=11, extras=False)
    msg = str(err.value)
    assert msg.startswith("cannot export bilstm_attention to ONNX: operator aten::einsum is not supported at opset 11")
    assert "\n" not in msg and sorted(p.name for p in best.iterdir()) == before
    # the keypoint LSTMs go back to opset 9 through the TorchScript translations, verified like any graph ...
    record = export_onnx(families["keypoint_lstm"]["best"], output=tmp_path / "kp9.onnx", opset=9)
    assert "dynamo=False" in record["exporter"] and max(record["verified"]["max_abs_diff"].values()) <= 1e-4
    proto = onnx.load(str(tmp_path / "kp9.onnx"))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {9}
    # ... while at opset 8 their graph holds an operator ONNX Runtime no longer has: named, nothing written
    with pytest.raises(LsvitError) as err:
        export_onnx(families["keypoint_lstm"]["best"], output=tmp_path / "kp8.onnx", opset=8)
    assert str(err.value).startswith("keypoint_lstm: ") and "ConstantFill" in str(err.value)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".kp8", "kp8"))]


def test_contract_samples_read_the_checkpoints_own_rows_as_inference_does(families):
    import h5py
    import numpy as np

    meta = read_meta(families["bilstm_attention"]["best"])
    contract = input_contract(meta)
    files = meta["data"]["files"]  # no test file in this run: its validation rows' file (the training cache)
    test_file = files.get("test") or files["val"]
    assert contract.sample_kind.startswith(f"rows of {test_file} (the checkpoint's own cache")
    with h5py.File(test_file, "r") as f:
        stored = torch.from_numpy(f["embeddings"][:2].astype(np.float32))
    assert torch.equal(contract.sample(2), stored)
    kp = read_meta(families["keypoint_lstm"]["best"])
    assert torch.equal(input_contract(kp).sample(3), _rows(families["keypoint_lstm"]["best"], Path(kp["data"]["source_file"])))
    gone = dict(meta, data=dict(meta["data"], files={"test": "/nonexistent/test.h5"}))
    assert input_contract(gone).sample is None  # the file is not on this machine: random inputs only


@pytest.mark.parametrize("family", ["bilstm_attention", "keypoint_lstm_stacked"])
def test_an_unreadable_recorded_file_falls_back_to_random_checks_with_a_warning(families, tmp_path, family):
    """The checkpoint's own cache/keypoint file is an extra check, not an input: when it is broken the export goes
    on with random inputs and says why (in a warning and in the record)."""
    best = tmp_path / "best"
    shutil.copytree(families[family]["best"], best, ignore=shutil.ignore_patterns("*.onnx", "export.json"))
    bad = tmp_path / ("bad.h5" if family == "bilstm_attention" else "bad_kp.h5")
    bad.write_bytes(b"not an HDF5 file")
    meta = json.loads((best / "meta.json").read_text())
    if family == "bilstm_attention":
        meta["data"]["files"] = {"test": str(bad)}
    else:
        meta["data"]["source_file"] = str(bad)
    (best / "meta.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match=rf"{bad}.*checked on random inputs only"):
        record = export_onnx(best, extras=False)
    assert set(record["verified"]["max_abs_diff"]) == {"random inputs, batch 1", "random inputs, batch 3"}
    assert record["verified"]["real_inputs"].startswith(f"none ({bad}") and (best / "model.onnx").is_file()


def test_realtime_runtime_onnx_gives_the_pytorch_predictions_csv(families, sample_video, tmp_path, monkeypatch):
    from lsvit.realtime import run_realtime

    best = families["bilstm_attention"]["best"]
    video, _ = sample_video
    kw = dict(stride=2, threshold=0.0, smooth=1, headless=True, progress=False)
    ref = run_realtime(best, str(video), output=tmp_path / "pt.mp4", **kw)
    calls = []
    forward = OnnxModel.forward
    monkeypatch.setattr(OnnxModel, "forward", lambda self, x: calls.append(self.input_name) or forward(self, x))
    got = run_realtime(best, str(video), output=tmp_path / "onnx.mp4", runtime="onnx", **kw)
    assert calls.count("views") == 20 and calls.count("inputs") == 9  # both graphs: every frame, every prediction
    a, b = list(csv.DictReader(open(ref["csv"]))), list(csv.DictReader(open(got["csv"])))
    assert len(a) == len(b) == 20 and sum(bool(r["predicted"]) for r in a) == 9  # window 4, then every 2nd frame
    for x, y in zip(a, b):
        assert {k: x[k] for k in ("frame", "predicted", "label")} == {k: y[k] for k in ("frame", "predicted", "label")}
        for k in ("probability", "confidence"):  # written with 4 decimals: 1e-4 apart at a rounding edge
            assert (x[k] == y[k] == "") or abs(float(x[k]) - float(y[k])) <= 1e-4 + 1e-9


def test_files_given_to_the_wrong_checkpoint_or_of_other_classes_get_one_line(trained, families, tmp_path):
    """Issue 24.4 and 24.10: an LS-ViT checkpoint given an embedding cache, a keypoint checkpoint given one, and an
    evaluation on a cache made for other classes say what is wrong, instead of 'none of the videos could be read',
    "attribute 'label_map' is missing" or a top-1 of 0 over 'unreadable' videos."""
    import h5py

    from lsvit.inference import evaluate_checkpoint, predict

    cache = families["caches"] / "test.h5"
    with pytest.raises(LsvitError, match=r"test.h5: a 'clips' checkpoint reads videos or folders of them, not .h5 "
                                         r"files \(.h5 files are read by 'embeddings' and 'keypoints' checkpoints\)"):
        predict(trained, cache, progress=False)
    with pytest.raises(LsvitError, match=r"test.h5: not a keypoint file: it has no 'sequences'; it is an embedding "
                                         r"cache \(tools/extract_features.py\)"):
        predict(families["keypoint_lstm"]["best"], cache, progress=False)
    other = tmp_path / "other_classes.h5"
    shutil.copy(cache, other)
    with h5py.File(other, "a") as f:
        names = json.loads(f.attrs["class_names"])
        f.attrs["class_names"] = json.dumps([f"not_{c}" for c in names])
    with pytest.raises(LsvitError, match=r"other_classes.h5: none of its \d+ inputs is of the checkpoint's 8 classes"):
        evaluate_checkpoint(families["bilstm_attention"]["best"], data_root=other, progress=False)
