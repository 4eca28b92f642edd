"""A checkpoint folder is data, never code: meta.json can only rebuild a registered family with plain values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import tiny_overrides

from lsvit import LsvitError
from lsvit.checkpoint.folder import build_from_checkpoint, read_meta
from lsvit.config import compose
from lsvit.inference import predict


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory) -> Path:
    from lsvit.engine import train

    run = tmp_path_factory.mktemp("sec") / "run"
    train(compose("train", tiny_overrides(tiny_dataset / "train", run, "engine.epochs=1")))
    return run / "best"


def _hostile_models(marker: Path) -> dict[str, tuple[dict, str]]:
    """name -> (the ``model`` section of a hostile meta.json, what the error must name)."""
    m = str(marker)
    return {
        # each of these, handed to hydra's instantiate as the old loader did, would create `marker`
        "top_level_callable": ({"_target_": "os.makedirs", "name": m}, "_target_='os.makedirs'"),
        "top_level_args": ({"_target_": "os.makedirs", "_args_": [m]}, "_target_='os.makedirs'"),
        "nested_in_legacy_args": ({"_target_": "timm.create_model", "model_name": "lsvit_test",
                                   "norm_layer": {"_target_": "os.makedirs", "name": m}}, "norm_layer._target_"),
        "nested_in_args": ({"name": "lsvit_test", "args": {"act_layer": {"_target_": "os.makedirs", "name": m}}},
                           "act_layer._target_"),
        "partial": ({"name": "lsvit_test", "args": {"_partial_": True}}, "model.args._partial_=True"),
        "args_directive": ({"name": "lsvit_test", "args": {"_args_": [m]}}, "model.args._args_="),
        "unknown_family": ({"name": "resnet18", "args": {}}, "'resnet18' is not one of lsvit's model families"),
        "unknown_family_legacy": ({"_target_": "timm.create_model", "model_name": "resnet18"}, "'resnet18'"),
        "unknown_keyword": ({"name": "lsvit_test", "args": {"evil": 1}}, "model.args.evil=1"),
        "class_valued_keyword": ({"name": "lsvit_test", "args": {"block_fn": "os.system"}}, "model.args.block_fn"),
        "non_plain_value": ({"name": "lsvit_test", "args": {"depth": {"n": 2}}}, "model.args.depth={'n': 2}"),
        "not_an_object": (["lsvit_test"], "expected a JSON object"),
    }


@pytest.mark.parametrize("case", list(_hostile_models(Path("x"))))
def test_hostile_meta_is_refused_before_anything_runs(trained, tmp_path, case):
    marker = tmp_path / "pwned"
    model, named = _hostile_models(marker)[case]
    folder = tmp_path / "best"
    shutil.copytree(trained, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["model"] = model
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(LsvitError) as err:
        build_from_checkpoint(folder)
    assert named in str(err.value) and "meta.json" in str(err.value)
    with pytest.raises(LsvitError):  # the tools' path too
        predict(folder, tmp_path, progress=False)
    assert not marker.exists()


def test_the_payloads_are_live(tmp_path):
    """Guards the test above: what it refuses does run code when given to hydra's instantiate."""
    from hydra.utils import instantiate

    marker = tmp_path / "ran"
    instantiate(_hostile_models(marker)["top_level_callable"][0])
    assert marker.exists()


def test_a_directive_anywhere_else_in_meta_is_refused(trained, tmp_path):
    folder = tmp_path / "best"
    shutil.copytree(trained, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["data"]["transform"] = {"_target_": "os.makedirs", "name": str(tmp_path / "pwned")}
    (folder / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(LsvitError, match=r"meta\.data\.transform\._target_"):
        build_from_checkpoint(folder)
    assert not (tmp_path / "pwned").exists()


def test_meta_json_is_parsed_never_evaluated(trained, tmp_path):
    """Text that would run a command if evaluated is a JSON error, and the command never runs."""
    folder = tmp_path / "best"
    shutil.copytree(trained, folder)
    marker = tmp_path / "pwned"
    (folder / "meta.json").write_text(f"__import__('os').makedirs({str(marker)!r})")
    with pytest.raises(LsvitError, match="not valid JSON"):
        read_meta(folder)
    assert not marker.exists()


def test_new_runs_write_the_family_form(trained):
    model = json.loads((trained / "meta.json").read_text())["model"]
    assert set(model) == {"name", "args"} and model["name"] == "lsvit_test"
    assert "pretrained" not in model["args"] and "_target_" not in json.dumps(model)


def test_a_checkpoint_in_the_earlier_format_loads_and_predicts_the_same(trained, tiny_dataset, tmp_path):
    """meta.json as main wrote it before the family allowlist: the hydra model config, converted on load."""
    legacy = tmp_path / "legacy"
    shutil.copytree(trained, legacy)
    meta = json.loads((legacy / "meta.json").read_text())
    meta["model"] = {"_target_": "timm.create_model", "model_name": meta["model"]["name"], "pretrained": False,
                     "pretrained_file": None, "weights_dir": "weights", **meta["model"]["args"]}
    (legacy / "meta.json").write_text(json.dumps(meta))
    assert read_meta(legacy)["model"] == read_meta(trained)["model"]
    new = predict(trained, tiny_dataset / "test", progress=False)
    old = predict(legacy, tiny_dataset / "test", progress=False)
    assert old["ids"] == new["ids"] and torch.equal(old["probs"], new["probs"])


@pytest.mark.parametrize("field,value,named", [("history", [{"epoch": {"_target_": "os.system"}}], "'history'"),
                                               ("epoch", "1; rm -rf /", "'epoch'"), ("evil", 1, "unknown field")])
def test_a_hostile_trainer_state_is_refused_on_resume(trained, tiny_dataset, tmp_path, field, value, named):
    from lsvit.engine import train

    run = tmp_path / "run"
    shutil.copytree(trained.parent, run)
    state_file = run / "last" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state[field] = value
    state_file.write_text(json.dumps(state))
    with pytest.raises(LsvitError, match=named):
        train(compose("train", tiny_overrides(tiny_dataset / "train", run, "engine.epochs=2", "resume=true")))


def _graph(tmp_path: Path, node_domain: str = "", external: bool = False) -> Path:
    """A one-node ONNX graph ``y = x + w`` (optionally an operator of another domain, or ``w`` stored elsewhere)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones(3, np.float32), "w")
    if external:  # the weights "live" in a file beside, or anywhere else on the disk
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        w.external_data.add(key="location", value="../../../etc/passwd")
    node = helper.make_node("Add", ["x", "w"], ["y"], domain=node_domain)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], [w])
    opsets = [helper.make_opsetid("", 18)] + ([helper.make_opsetid(node_domain, 1)] if node_domain else [])
    path = tmp_path / f"g{node_domain}{external}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return path


def test_an_onnx_graph_runs_only_standard_operators_on_its_own_weights(tmp_path):
    # an .onnx from elsewhere is data: a custom-domain operator (code a runtime would load) or weights read from
    # other files are refused by name before ONNX Runtime parses the file
    pytest.importorskip("onnxruntime")
    from lsvit.deploy.runtime import OnnxModel

    ok = OnnxModel(_graph(tmp_path))
    assert torch.equal(ok(torch.zeros(3)), torch.ones(3))
    with pytest.raises(LsvitError, match=r"evil\.ops::Add.*custom operators are code"):
        OnnxModel(_graph(tmp_path, node_domain="evil.ops"))
    with pytest.raises(LsvitError, match=r"\['w'\] are stored in other files"):
        OnnxModel(_graph(tmp_path, external=True))
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a model")
    with pytest.raises(LsvitError, match="junk.onnx"):
        OnnxModel(tmp_path / "junk.onnx")


def test_a_transformers_folder_with_its_own_code_is_refused(tmp_path):
    """A Hugging Face backbone folder (named by a BiLSTM checkpoint's meta.json) whose config asks for its own
    Python code (``auto_map``) is refused: the code file never runs."""
    pytest.importorskip("transformers")
    from lsvit.families.embeddings.backbones import build_backbone

    folder, marker = tmp_path / "evil", tmp_path / "ran"
    folder.mkdir()
    (folder / "evil_config.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nfrom transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n")
    (folder / "config.json").write_text(json.dumps({
        "model_type": "evil", "auto_map": {"AutoConfig": "evil_config.EvilConfig", "AutoModel": "evil_config.EvilConfig"}}))
    for pretrained in (True, False):
        with pytest.raises(LsvitError, match="no transformers model could be loaded"):
            build_backbone(str(folder), "vit", image_size=32, pretrained=pretrained)
    assert not marker.exists()
