"""Model families: forward/backward, identity at start, order sensitivity, pretrained loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

import lsvit.models  # noqa: F401
from lsvit import LsvitError
from lsvit.models import LSViT

NAMES = ["lsvit_test", "lsvit_frameavg_test"]


def _tiny(name: str = "lsvit_test", **kw) -> LSViT:
    return timm.create_model(name, **{"num_classes": 5, "num_frames": 4, "smif_window": 3, **kw})


def _clip(b: int = 2, t: int = 4) -> torch.Tensor:
    return torch.randn(b, t, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_every_parameter_learns(name):
    torch.manual_seed(0)
    model = _tiny(name)
    x, y = _clip(), torch.tensor([1, 3])
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    # step 0: zero-initialised gates block gradients behind them; one step opens them
    for _ in range(2):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    assert torch.isfinite(loss)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
        assert p.grad.abs().sum() > 0, f"{n} receives no gradient"


def test_identity_at_initialisation_equals_plain_vit():
    model = _tiny(temporal_init="identity").eval()
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2,
                            num_heads=2, num_classes=5).eval()
    missing, unexpected = vit.load_state_dict(model.state_dict(), strict=False)
    assert not missing and all(k.startswith(("smif.", "lmi.")) for k in unexpected)
    x = _clip()
    with torch.no_grad():
        ours = model.forward_features(x)
        ref = vit.forward_features(x.flatten(0, 1)).view_as(ours)
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("smif_channels", [0, 4])
def test_pretrained_starts_as_its_vit_from_scratch_starts_active(tmp_path, smif_channels):
    # temporal_init=auto: with an ImageNet backbone LS-ViT is exactly that ViT at step 0 (also with SMIF's own
    # motion channels); from scratch motion reaches the tokens at once (a clip and its reversal differ)
    vit = _save_vit(tmp_path / "vit.safetensors", img_size=32).eval()
    model = _tiny(pretrained=True, pretrained_file=str(tmp_path / "vit.safetensors"), smif_channels=smif_channels)
    assert model.temporal_init == "identity" and (model.smif_embed is not None) == bool(smif_channels)
    x = _clip()
    with torch.no_grad():
        ours = model.eval().forward_features(x)
        assert torch.equal(ours, vit.forward_features(x.flatten(0, 1)).view_as(ours))
        scratch = _tiny(smif_channels=smif_channels).eval()
        assert scratch.temporal_init == "active"
        assert (scratch(x) - scratch(x.flip(1))).abs().max() > 1e-3
    with pytest.raises(ValueError, match="temporal_init"):
        _tiny(temporal_init="open")


def _open_gates(model: LSViT) -> None:
    torch.manual_seed(1)
    with torch.no_grad():
        if model.smif is not None:
            model.smif.fuse[-1].weight.normal_(0, 0.2)
        for m in model.lmi.values():
            m.proj.weight.normal_(0, 0.2)


def test_lsvit_tells_a_clip_from_its_reversal_the_control_cannot():
    x = _clip()
    rev = x.flip(1)
    ls, ctrl = _tiny().eval(), _tiny("lsvit_frameavg_test").eval()
    _open_gates(ls)
    with torch.no_grad():
        assert (ls(x) - ls(rev)).abs().max() > 1e-3
        # true by construction (per-frame features, mean over time): this guards the construction of the control
        assert torch.allclose(ctrl(x), ctrl(rev), atol=1e-5)


@pytest.mark.parametrize("flag", ["smif", "lmi"])
def test_each_module_alone_is_order_sensitive(flag):
    kw = {"lmi_blocks": []} if flag == "smif" else {"smif": False}
    model = _tiny(**kw).eval()
    _open_gates(model)
    x = _clip()
    with torch.no_grad():
        assert (model(x) - model(x.flip(1))).abs().max() > 1e-4


def test_timm_interface_and_registrations():
    for name in ["lsvit_tiny_patch16_224", "lsvit_small_patch16_224", "lsvit_base_patch16_224",
                 "lsvit_frameavg_tiny_patch16_224", "lsvit_frameavg_small_patch16_224",
                 "lsvit_frameavg_base_patch16_224", *NAMES]:
        assert timm.is_model(name)
    m = _tiny()
    assert m(_clip()).shape == (2, 5)
    assert m.forward_head(m.forward_features(_clip()), pre_logits=True).shape == (2, 32)
    m.reset_classifier(7)
    assert m(_clip()).shape == (2, 7) and m.get_classifier().out_features == 7
    assert "lmi.0.time_pos" in m.no_weight_decay() and "smif.alpha" in m.no_weight_decay()
    # other clip lengths and sizes: temporal table interpolated
    assert m(torch.randn(1, 6, 3, 32, 32)).shape == (1, 7)


def test_invalid_settings():
    with pytest.raises(ValueError, match="odd"):
        _tiny(smif_window=4)
    with pytest.raises(ValueError, match="larger than num_frames"):
        timm.create_model("lsvit_test", num_frames=4, smif_window=5)
    with pytest.raises(ValueError, match=r"lmi_blocks=\[0, 2\]: block indices must be in 0..1"):
        _tiny(lmi_blocks=[0, 2])  # the test size has 2 blocks: 2 would have wrapped to block 0
    assert list(_tiny(lmi_blocks=[1]).lmi) == ["1"]


def test_patch_dropout_keeps_the_same_patches_in_every_frame():
    model = _tiny(patch_drop_rate=0.5).train()
    t, n = 4, 16  # 32 px / patch 8 = 4 x 4 patches, plus the class token
    tokens = torch.arange(1 + n, dtype=torch.float32)[None, :, None].repeat(2 * t, 1, 3)  # token value = position
    kept = model.drop_patches(tokens, t)
    assert kept.shape == (2 * t, 1 + n // 2, 3) and (kept[:, 0] == 0).all()  # the class token always stays
    per_clip = kept[..., 0].view(2, t, -1)
    assert (per_clip == per_clip[:, :1]).all()  # every frame of a clip keeps the same positions
    assert not torch.equal(per_clip[0, 0], per_clip[1, 0])  # clips draw their own
    assert torch.equal(model.eval().drop_patches(tokens, t), tokens)  # evaluation keeps everything
    assert model(_clip()).shape == (2, 5)


def test_full_resolution_smif_path():
    """``smif_stride=1``: the correction is computed at the input's resolution and added to the pixels."""
    from einops import rearrange

    torch.manual_seed(0)
    model = _tiny(smif_stride=1)
    assert model.smif.stride == 1
    _open_gates(model)
    x = _clip()
    assert model.smif.correction(x).shape == x.shape
    assert not model._fuse_in_token_space(x)
    expected = model.patch_embed(rearrange(model.smif(x), "b t c h w -> (b t) c h w"))
    assert torch.allclose(model.embed_frames(x), expected)
    assert not torch.allclose(model.embed_frames(x), model.patch_embed(x.flatten(0, 1)))  # the motion is in it
    with torch.no_grad():
        assert (model(x) - model(x.flip(1))).abs().max() > 1e-4


def _save_vit(path, **kw):
    from safetensors.torch import save_file

    vit = timm.create_model("vit_tiny_patch16_224", patch_size=8, embed_dim=32, depth=2, num_heads=2,
                            num_classes=1000, **kw)
    save_file(vit.state_dict(), str(path))
    return vit


def test_pretrained_backbone_loads_from_weights_dir_and_resizes(tmp_path):
    vit = _save_vit(tmp_path / "vit_w.safetensors", img_size=64)
    model = _tiny(pretrained=True, pretrained_file=str(tmp_path / "vit_w.safetensors"))  # 32 px: resized pos
    assert torch.equal(model.blocks[1].mlp.fc1.weight, vit.blocks[1].mlp.fc1.weight)
    assert model.pos_embed.shape == (1, 17, 32)
    assert model.head.out_features == 5  # the 1000-class head was dropped
    assert model.smif.fuse[-1].weight.abs().sum() == 0  # new modules keep their identity start


def test_pretrained_backbone_is_found_in_weights_dir(tmp_path):
    """No explicit file: ``<weights_dir>/<backbone>.safetensors`` is where the ViT weights come from."""
    dims = dict(patch_size=8, embed_dim=32, depth=2, num_heads=2)
    vit = _save_vit(tmp_path / "vit_tiny_patch16_224.safetensors", img_size=32)
    model = timm.create_model("lsvit_tiny_patch16_224", pretrained=True, weights_dir=str(tmp_path), num_classes=5,
                              num_frames=4, smif_window=3, img_size=32, **dims)
    assert torch.equal(model.blocks[0].attn.qkv.weight, vit.blocks[0].attn.qkv.weight)
    assert torch.equal(model.pos_embed, vit.pos_embed)


def test_missing_weights_say_where_they_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LsvitError) as err:
        timm.create_model("lsvit_tiny_patch16_224", pretrained=True, weights_dir=str(tmp_path), num_classes=3)
    msg = str(err.value)
    assert str(tmp_path / "vit_tiny_patch16_224.safetensors") in msg and "HF_HUB_OFFLINE" in msg


def test_pretrained_from_the_wrong_architecture_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file(timm.create_model("resnet18").state_dict(), str(tmp_path / "r.safetensors"))
    with pytest.raises(LsvitError):
        _tiny(pretrained=True, pretrained_file=str(tmp_path / "r.safetensors"))


@pytest.mark.parametrize("patch,size,stride", [(16, 64, 4), (8, 32, 2)])
def test_low_resolution_smif_in_token_space_equals_the_pixel_path(patch, size, stride):
    """SMIF at stride s, fused as conv(correction, W summed per s x s block), is exactly patch_embed(x + upsampled)."""
    from einops import rearrange

    torch.manual_seed(0)
    m = timm.create_model("lsvit_tiny_patch16_224", num_classes=3, num_frames=4, img_size=size, patch_size=patch,
                          embed_dim=32, depth=1, num_heads=2, smif_window=3)
    assert m.smif.stride == stride  # default: a quarter of the patch side
    torch.nn.init.normal_(m.smif.fuse[-1].weight, std=0.5)
    x = torch.randn(2, 4, 3, size, size)
    assert m._fuse_in_token_space(x)
    fast = m._embed_with_motion(x)
    slow = m.patch_embed(rearrange(m.smif(x), "b t c h w -> (b t) c h w"))
    assert torch.allclose(fast, slow, atol=1e-5)
    fast.square().mean().backward()
    assert m.smif.fuse[0].weight.grad.abs().sum() > 0 and m.patch_embed.proj.weight.grad.abs().sum() > 0


def test_dropout_and_stochastic_depth_follow_each_samples_seed():
    """The property that makes 1 and N processes train alike with drop_path/dropout on (issue 24.3): a sample's
    masks depend on its own seed, not on which other samples share its batch (i.e. which rank holds it)."""
    import timm

    from lsvit.models.stochastic import per_sample_seeds, seed_stochastic_layers

    torch.manual_seed(0)
    model = timm.create_model("lsvit_test", num_classes=4, num_frames=4, smif_window=3, drop_path_rate=0.5,
                              drop_rate=0.5)
    keys = set(model.state_dict())
    assert seed_stochastic_layers(model) >= 5 and set(model.state_dict()) == keys  # no parameters: same checkpoint
    model.train()
    x = torch.randn(3, 4, 3, 32, 32)
    seeds = torch.tensor([11, 22, 33])
    with per_sample_seeds(seeds):
        whole = model(x)
    with per_sample_seeds(seeds[1:]):  # another "rank": the last two samples alone
        part = model(x[1:])
    torch.testing.assert_close(whole[1:], part)
    with per_sample_seeds(torch.tensor([11, 99, 33])):  # another seed: another mask for that sample only
        other = model(x)
    torch.testing.assert_close(other[[0, 2]], whole[[0, 2]])
    assert not torch.allclose(other[1], whole[1])
    # outside the context (and in eval mode) the layers are the ones they replace
    assert not torch.allclose(model(x), model(x))
    model.eval()
    torch.testing.assert_close(model(x), model(x))


def test_seed_003s_weight_file_name_is_found_and_read_safely(tmp_path):
    """Seed 003 keeps timm's ViT-B state dict as ``weights/vit_base_patch16_224_timm.pth`` (torch.save): found under
    that name, read with ``weights_only=True``; a file whose unpickling would run code is refused, the code not run."""
    dims = dict(patch_size=8, embed_dim=32, depth=2, num_heads=2)
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, num_classes=1000, **dims)
    torch.save(vit.state_dict(), tmp_path / "vit_tiny_patch16_224_timm.pth")
    model = timm.create_model("lsvit_tiny_patch16_224", pretrained=True, weights_dir=str(tmp_path), num_classes=5,
                              num_frames=4, smif_window=3, img_size=32, **dims)
    assert torch.equal(model.blocks[1].attn.qkv.weight, vit.blocks[1].attn.qkv.weight)

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "ran",))

    bad = tmp_path / "bad"
    bad.mkdir()
    torch.save({"state_dict": vit.state_dict(), "extra": Payload()}, bad / "vit_tiny_patch16_224_timm.pth")
    with pytest.raises(LsvitError, match="not a loadable weights file"):
        timm.create_model("lsvit_tiny_patch16_224", pretrained=True, weights_dir=str(bad), num_classes=5,
                          num_frames=4, smif_window=3, img_size=32, **dims)
    assert not (tmp_path / "ran").exists()
    with pytest.raises(LsvitError) as err:  # nothing there: the message lists seed 003's name too
        timm.create_model("lsvit_tiny_patch16_224", pretrained=True, weights_dir=str(tmp_path / "none"), num_classes=3)
    assert str(tmp_path / "none" / "vit_tiny_patch16_224_timm.pth") in str(err.value)
