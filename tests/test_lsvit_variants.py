"""LS-ViT's variants (``smif=``, ``lmi=``, ``lmi_blocks=``): identity at start, order, export, settings, old
checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

import lsvit.models  # noqa: F401
from lsvit.models import LSViT
from lsvit.models.lsvit import LMI, SMIF, MotionExcitation, SMIFDifference, resolve_smif
from lsvit.models.registry import build_family, check_model_args

LEGACY = Path(__file__).parent / "data" / "lsvit_legacy"
DIMS = dict(patch_size=8, embed_dim=32, depth=2, num_heads=2)  # lsvit_test's backbone
# (smif, lmi, lmi_blocks, extra keyword arguments): every form of each module, each placement
VARIANTS = [
    ("pixels", "attention", None, {}),
    ("channels", "attention", None, {"smif_channels": 4}),
    ("difference", "attention", None, {}),
    ("none", "attention", None, {}),
    ("pixels", "excitation", None, {}),
    ("difference", "excitation", None, {}),
    ("none", "excitation", None, {}),
    ("pixels", "none", None, {}),
    ("channels", "none", None, {"smif_channels": 4}),
    ("difference", "none", None, {}),
    ("none", "attention", "encoder", {}),
    ("none", "excitation", "encoder", {}),
    ("difference", "excitation", [0, "encoder"], {"global_pool": "avg"}),  # no class token: nothing to skip
]
IDS = [f"smif={s}-lmi={m}-at={b}{'-' + '-'.join(map(str, kw.values())) if kw else ''}" for s, m, b, kw in VARIANTS]


def _model(smif: str, lmi: str, blocks, **kw) -> LSViT:
    return timm.create_model("lsvit_test", num_classes=5, num_frames=4, smif_window=3, smif=smif, lmi=lmi,
                             lmi_blocks=blocks, **kw)


def _clip(b: int = 2, t: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, t, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _perturb(model: torch.nn.Module, seed: int = 1, scale: float = 0.05) -> None:
    """Every weight moved: the zero-initialised output layers then carry signal (as after some training)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> tuple[Path, Path]:
    """A random ViT at the test size written as a pretrained file, with the class token and with avg pooling."""
    out = []
    for pool in ("token", "avg"):
        torch.manual_seed(3)
        vit = timm.create_model("vit_tiny_patch16_224", img_size=32, num_classes=1000, global_pool=pool, **DIMS)
        _perturb(vit, seed=4, scale=0.02)  # not the default init: the norms' weights differ from 1 too
        path = tmp_path_factory.mktemp("vit") / f"vit_{pool}.safetensors"
        save_file(vit.state_dict(), str(path))
        out.append(path)
    return tuple(out)


# ------------------------------------------------------------------------------------------------ identity
@pytest.mark.parametrize("smif,lmi,blocks,kw", VARIANTS, ids=IDS)
def test_every_variant_is_its_pretrained_vit_at_initialisation(backbone, smif, lmi, blocks, kw):
    """temporal_init=auto with a pretrained backbone is identity: per-frame features and logits bit for bit."""
    pool = kw.get("global_pool", "token")
    path = backbone[pool == "avg"]
    model = _model(smif, lmi, blocks, pretrained=True, pretrained_file=str(path), **kw).eval()
    assert model.temporal_init == "identity" and model.smif_form == smif and model.lmi_form == lmi
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, num_classes=5, global_pool=pool, **DIMS).eval()
    missing, unexpected = vit.load_state_dict(model.state_dict(), strict=False)
    assert not missing and all(k.startswith(("smif.", "smif_embed.", "lmi.")) for k in unexpected)
    assert bool(unexpected) == (smif != "none" or lmi != "none")  # the variant has its modules
    x = _clip()
    with torch.no_grad():
        ours = model.forward_features(x)
        ref = vit.forward_features(x.flatten(0, 1)).view_as(ours)
        assert torch.equal(ours, ref)
        assert torch.equal(model(x), model.forward_head(ref))


# ------------------------------------------------------------------------------------------------ order
@pytest.mark.parametrize("smif,lmi,blocks,kw", VARIANTS, ids=IDS)
def test_every_variant_with_a_temporal_module_tells_a_clip_from_its_reversal(smif, lmi, blocks, kw):
    torch.manual_seed(0)
    model = _model(smif, lmi, blocks, temporal_init="active", **kw).eval()
    _perturb(model)
    x = _clip()
    with torch.no_grad():
        gap = (model(x) - model(x.flip(1))).abs().max()
    assert gap > 1e-3, f"{smif}/{lmi}: a reversed clip gives the same logits (gap {gap:.2e})"


def test_with_both_modules_off_the_model_is_order_blind():
    """smif=none + lmi=none is the frame-average control: no module, and reversal cannot change the logits."""
    model = _model("none", "none", None).eval()
    assert model.smif is None and len(model.lmi) == 0 and model.smif_embed is None
    _perturb(model)
    x = _clip()
    with torch.no_grad():
        assert torch.allclose(model(x), model(x.flip(1)), atol=1e-5)


def test_excitation_follows_tea_equations():
    """TEA's five steps written out by hand on the pooled tokens: the module computes exactly that."""
    torch.manual_seed(0)
    m = MotionExcitation(32, reduction=4, prefix_tokens=1)
    _perturb(m, scale=0.3)
    b, t, n = 2, 4, 5
    x = torch.randn(b * t, n, 32)
    with torch.no_grad():
        pooled = x[:, 1:].mean(1).view(b, t, 32)                            # Pool over the patch tokens only
        xr = m.reduce(m.norm(pooled))                                      # (i)
        motion = torch.zeros_like(xr)
        motion[:, :-1] = m.transform(xr[:, 1:]) - xr[:, :-1]               # (ii), M(T) = 0
        a = 2 * torch.sigmoid(m.expand(motion)) - 1                        # (iv)
        expected = x + x * a.reshape(b * t, 1, 32)                         # (v)
        assert torch.allclose(m(x, t), expected, atol=1e-6)
        # the class token is gated but not pooled: changing it moves no gate
        y = x.clone()
        y[:, 0] += 10
        assert torch.equal(m.gate(y, t), m.gate(x, t))


def test_difference_smif_is_a_weighting_of_consecutive_frame_differences():
    torch.manual_seed(0)
    m = SMIFDifference(3, window=5, stride=1)
    _perturb(m, scale=0.3)
    x = torch.randn(1, 6, 3, 4, 4)
    with torch.no_grad():
        got = m.correction(x)
        t = 2  # an inner frame: the differences x3-x2, x2-x1, x1-x0 ... around it, edges not involved
        diffs = torch.cat([x[:, t + k + 1] - x[:, t + k] for k in range(-2, 2)], dim=1)  # (1, 12, 4, 4)
        want = torch.einsum("oc,bchw->bohw", m.weigh.weight, diffs) + m.weigh.bias.view(1, 3, 1, 1)
        assert torch.allclose(got[:, t], want, atol=1e-6)
        # the first frame replicates itself: its backward differences are zero
        first = torch.cat([torch.zeros_like(x[:, 0])] * 2 + [x[:, 1] - x[:, 0], x[:, 2] - x[:, 1]], dim=1)
        want0 = torch.einsum("oc,bchw->bohw", m.weigh.weight, first) + m.weigh.bias.view(1, 3, 1, 1)
        assert torch.allclose(got[:, 0], want0, atol=1e-6)


# ------------------------------------------------------------------------------------------------ placement
def test_encoder_placement_runs_once_on_the_normed_output_tokens():
    model = _model("none", "attention", "encoder").eval()
    assert list(model.lmi) == ["encoder"] and isinstance(model.lmi["encoder"], LMI)
    _perturb(model)
    seen = {}
    model.lmi["encoder"].register_forward_pre_hook(lambda mod, args: seen.update(x=args[0].clone()))
    x = _clip()
    with torch.no_grad():
        out = model.forward_features(x)
        tokens = model.patch_embed(x.flatten(0, 1))
        tokens = model.norm_pre(model._pos_embed(tokens))
        for blk in model.blocks:
            tokens = blk(tokens)
        normed = model.norm(tokens)
    assert torch.allclose(seen["x"], normed, atol=1e-6)  # it read the encoder's final, normed tokens
    assert torch.allclose(out.flatten(0, 1), model.lmi["encoder"](normed, 4), atol=1e-6)
    both = _model("none", "excitation", [1, "encoder"])
    assert list(both.lmi) == ["1", "encoder"] and all(isinstance(m, MotionExcitation) for m in both.lmi.values())


# ------------------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize("kw,message", [
    ({"smif": "flow"}, r"smif='flow': choose one of pixels, channels, difference, none \(true/false"),
    ({"smif": "channels", "smif_channels": 0}, r"smif=channels needs smif_channels >= 1 \(got 0\)"),
    ({"lmi": "tsm"}, r"lmi='tsm': choose one of attention, excitation, none"),
    ({"lmi_blocks": "decoder"}, r"lmi_blocks='decoder': expected null \(after every block\), a list of block "
                                r"indices in 0..1, or 'encoder'"),
    ({"lmi_blocks": [0, "end"]}, r"lmi_blocks=\[0, 'end'\]: expected null"),
    ({"lmi_blocks": [True]}, r"lmi_blocks=\[True\]: expected null"),
    ({"lmi_blocks": 3}, r"lmi_blocks=3: expected null"),
    ({"lmi_blocks": [0, 2]}, r"lmi_blocks=\[0, 2\]: block indices must be in 0..1 \(the model has 2 blocks\)"),
    ({"lmi": "none", "lmi_blocks": "decoder"}, r"lmi_blocks='decoder'"),  # a typo is refused whatever lmi is
    ({"smif": "channels", "smif_channels": 4, "smif_stride": 3}, r"smif=channels needs smif_stride=3 to divide"),
    ({"smif": "difference", "smif_window": 4}, r"smif_window must be odd and >= 3, got 4"),
])
def test_bad_settings_are_one_clear_message(kw, message):
    args = {"smif_window": 3, **kw}
    with pytest.raises(ValueError, match=message):
        timm.create_model("lsvit_test", num_classes=5, num_frames=4, **args)


def test_spellings_old_and_new():
    # before the variants: smif true/false + smif_channels (0: pixels, N: channels with N maps)
    assert resolve_smif(True, 0) == ("pixels", 0) and resolve_smif(True, 16) == ("channels", 16)
    assert resolve_smif(True, None) == ("pixels", 0) and resolve_smif(False, 16) == ("none", 0)
    # the names: smif_channels belongs to channels (null: 16); none ignores it, so an ablation needs no other change
    assert resolve_smif("channels") == ("channels", 16) and resolve_smif("Channels", 4) == ("channels", 4)
    assert resolve_smif("none", 16) == ("none", 0) and resolve_smif("difference", 0) == ("difference", 0)
    for form in ("pixels", "difference"):  # maps given to a form without maps: refused, not silently dropped
        with pytest.raises(ValueError, match=f"smif={form} takes no smif_channels \\(got 16\\).*set smif=channels"):
            resolve_smif(form, 16)
    m = _model("channels", "none", None)
    assert isinstance(m.smif, SMIF) and m.smif_embed.in_channels == 16 and m.smif.fuse[-1].out_features == 16
    assert isinstance(_model("difference", "none", []).smif, SMIFDifference)
    assert len(_model("pixels", "attention", []).lmi) == 0  # an empty list: no LMI, as before
    # excitation's width: C / 16 by default (TEA's r), at least 8 channels
    assert _model("none", "excitation", None).lmi["0"].reduce.out_features == 8
    wide = timm.create_model("lsvit_tiny_patch16_224", num_classes=3, num_frames=4, img_size=32, depth=1,
                             smif="none", lmi="excitation")
    assert wide.lmi["0"].reduce.out_features == 192 // 16
    # the variant keys are what a best/meta.json may hold
    assert check_model_args("lsvit_test", {"smif": "difference", "lmi": "excitation", "lmi_blocks": [0, "encoder"]})


def test_every_model_preset_builds_each_variant():
    """configs/model/lsvit_*.yaml with the new keys overridden compose and build (hydra's own instantiate)."""
    from hydra.utils import instantiate

    from lsvit.config import compose

    for preset in ("lsvit_tiny", "lsvit_small", "lsvit_base"):
        cfg = compose("train", [f"model={preset}", "data.image_size=32", "data.num_frames=4", "model.smif_window=3"])
        assert cfg.model.smif == "pixels" and cfg.model.lmi == "attention" and cfg.model.lmi_blocks is None
        for smif, lmi, blocks in (("difference", "excitation", "encoder"), ("none", "none", None),
                                  ("channels", "attention", [0])):
            m = instantiate(cfg.model, smif=smif, lmi=lmi, lmi_blocks=blocks, num_classes=3, depth=1)
            assert m.smif_form == smif and m.lmi_form == lmi
    demo = compose("train", ["experiment=demo"])
    assert demo.model.smif == "channels" and demo.model.smif_channels is None and demo.model.lmi == "attention"
    assert instantiate(demo.model, num_classes=3, depth=1).smif_embed.in_channels == 16  # the demo's model is unchanged


# ------------------------------------------------------------------------------------------------ old checkpoints
@pytest.mark.parametrize("case", ["pixels", "channels", "lmi_only", "off"])
def test_checkpoints_written_before_the_variants_rebuild_the_same_model(case):
    """meta.json args (``smif: true/false`` + ``smif_channels``) and weights written by main 6f75c15's code
    (tests/data/lsvit_legacy/make.py) rebuild with the same parameter names and shapes and the same logits."""
    meta = json.loads((LEGACY / case / "meta.json").read_text())
    args = check_model_args(meta["model"]["name"], meta["model"]["args"])
    model = build_family(meta["model"]["name"], args, len(meta["class_names"])).eval()
    model.load_state_dict(load_file(str(LEGACY / case / "model.safetensors")), strict=True)
    expected_form = {"pixels": ("pixels", "attention"), "channels": ("channels", "attention"),
                     "lmi_only": ("none", "attention"), "off": ("none", "attention")}[case]
    assert (model.smif_form, model.lmi_form) == expected_form
    io = load_file(str(LEGACY / "io.safetensors"))
    with torch.no_grad():
        logits = model(io["inputs"])
    assert torch.allclose(logits, io[f"logits/{case}"], atol=1e-5, rtol=0), (logits - io[f"logits/{case}"]).abs().max()


def test_benchmark_times_each_variant_one_change_away_from_the_sizes_default():
    from lsvit.bench.models import SIZES, variants_of

    tiny, demo = variants_of(SIZES["tiny"]), variants_of(SIZES["demo"])
    assert set(tiny) == {"smif=channels", "smif=difference", "smif=none", "lmi=excitation", "lmi=none",
                         "lmi_blocks=encoder", "lmi=excitation, lmi_blocks=encoder"}
    assert "smif=pixels" in demo and "smif=channels" not in demo  # the demo's default is channels
    assert set(variants_of(SIZES["tiny"], ("lmi",))) == {k for k in tiny if k.startswith("lmi")}
    for dims, variants in ((SIZES["tiny"], tiny), (SIZES["demo"], demo)):
        for label, kw in variants.items():  # each builds, and is the variant its label names
            d = {k: v for k, v in dims.items() if k not in ("frames", "image", "batch")}
            m = timm.create_model("lsvit_tiny_patch16_224", num_classes=3, num_frames=4, img_size=32,
                                  **dict(d, depth=1, smif_window=3, **kw))
            assert f"smif={m.smif_form}" in label or f"lmi={m.lmi_form}" in label or "encoder" in label, label


# ------------------------------------------------------------------------------------------------ export
EXPORTED = [("difference", "excitation", [0, "encoder"], {}),
            ("channels", "attention", "encoder", {"smif_channels": 4, "global_pool": "avg"}),
            ("pixels", "excitation", None, {})]


@pytest.mark.slow
@pytest.mark.parametrize("smif,lmi,blocks,kw", EXPORTED, ids=[f"{s}-{m}-{b}" for s, m, b, _ in EXPORTED])
def test_variants_export_to_onnx_with_parity(tmp_path, smif, lmi, blocks, kw):
    import onnxruntime as ort

    from lsvit.deploy.export import export_graph, verify_parity

    torch.manual_seed(0)
    model = _model(smif, lmi, blocks, temporal_init="active", **kw).eval()
    _perturb(model)
    path = tmp_path / "model.onnx"
    exporter = export_graph(model, _clip(2), path, name=f"{smif}/{lmi}")
    assert "dynamo=True" in exporter
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diffs = verify_parity(model, session, {"batch 1": _clip(1, seed=5), "batch 3": _clip(3, seed=6)}, None, "v")
    assert max(diffs.values()) <= 1e-4
    x = _clip(2, seed=7)
    got = session.run(["logits"], {"inputs": x.numpy()})[0]
    got_rev = session.run(["logits"], {"inputs": x.flip(1).numpy()})[0]
    assert abs(got - got_rev).max() > 1e-3  # the graph keeps the order of time
