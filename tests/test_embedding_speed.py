"""The frame-embedding family's fast paths (issue 26.3): batch norms folded for extraction, one video per decoding
task, and caches read into memory in blocks of rows (``in_memory=auto``)."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.utils.fusion
from torch.utils.data import DataLoader

from lsvit import LsvitError
from lsvit.data.dataset import SeededSampler, collate
from lsvit.data.discovery import discover_classes
from lsvit.data.h5 import mark_complete, write_json_attr
from lsvit.families.embeddings.backbones import Backbone, fold_batchnorms
from lsvit.families.embeddings.cache import FeatureH5Dataset, memory_mode, read_rows
from lsvit.families.embeddings.extract import EmbedConfig, VideoViews, embed_stream

TINY = {"vit": "vit_tiny_patch16_224", "cnn": "resnet10t", "image_size": 32, "pretrained": False, "dim": 32,
        "vit_args": {"depth": 1, "patch_size": 8, "embed_dim": 32, "num_heads": 2},
        "cnn_args": {"channels": [8, 16, 32, 96]}, "num_frames": 4, "dtype": "float16"}


def _trained_looking(model: nn.Module) -> nn.Module:
    """Batch-norm statistics away from a fresh init's (mean 0, var 1, scale 1, shift 0), so that folding them
    changes the convolutions' weights."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


def _embedder():
    emb = EmbedConfig(**TINY).build()
    _trained_looking(emb.cnn.model)
    return emb


# ------------------------------------------------------------------------------------------ folding
def test_folded_embedder_agrees_leaves_the_original_alone_and_records_the_same_weights():
    emb = _embedder()
    before = {k: v.clone() for k, v in emb.cnn.model.state_dict().items()}
    fast = emb.for_inference()
    assert fast is not emb and fast.vit is emb.vit  # the ViT has no batch norm: shared as it is
    assert fast.cnn is not emb.cnn and fast.cnn.info == emb.cnn.info and fast.layout == emb.layout
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.cnn.modules())  # every one folded away
    assert all(torch.equal(v, emb.cnn.model.state_dict()[k]) for k, v in before.items())
    assert fast.for_inference() is fast  # folding again changes nothing
    views = torch.randint(0, 256, (6, 3, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        a, b = emb(views), fast(views)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * float(a.abs().max()))
    # stored as float16, a value may round to the neighbouring float16: never further
    np.testing.assert_array_max_ulp(a.half().numpy(), b.half().numpy(), maxulp=1)


def test_a_batch_norm_fed_by_a_shared_convolution_is_not_folded():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn, self.other = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1)
            self.conv2, self.bn2 = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.bn2(self.conv2(self.bn(y) + self.other(y)))  # conv's output also feeds `other`

    net = _trained_looking(Net())
    g = fold_batchnorms(net, torch.randn(2, 3, 8, 8))
    assert g is not None and isinstance(g.get_submodule("m.bn"), nn.BatchNorm2d)  # left in place
    assert isinstance(g.get_submodule("m.bn2"), nn.Identity)  # the private one folded
    x = torch.randn(3, 3, 8, 8)
    with torch.inference_mode():
        torch.testing.assert_close(g(x), net.forward_features(x), rtol=1e-5, atol=1e-5)


def test_a_fold_that_changes_the_output_is_refused_and_the_model_runs_as_it_is(monkeypatch, caplog):
    emb = _embedder()
    # a wrong fold (the convolution kept as it was, its batch norm dropped): the check on the example must catch it
    monkeypatch.setattr(torch.nn.utils.fusion, "fuse_conv_bn_eval", lambda conv, bn: conv)
    with caplog.at_level(logging.WARNING):
        fast = emb.for_inference()
    assert fast.cnn is emb.cnn and "running it unfolded" in caplog.text


def test_transformers_and_untraceable_backbones_run_as_they_are():
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            y = self.bn(self.conv(x))
            return y if float(y.sum()) > 0 else -y  # data-dependent control flow: torch.fx cannot trace it

    bb = Backbone(_trained_looking(Untraceable()), "x", 4, (0.5,) * 3, (0.25,) * 3)
    assert bb.for_inference() is bb
    hf = Backbone(_trained_looking(Untraceable()), "hf:x", 4, (0.5,) * 3, (0.25,) * 3, kind="hf")
    assert hf.for_inference() is hf


# ------------------------------------------------------------------------------------------ the loop
def test_the_loop_gives_the_same_embeddings_for_any_decoders_and_is_the_folded_embedder_s(tiny_dataset):
    _, items = discover_classes(str(tiny_dataset / "test"), None)
    cfg = EmbedConfig(**TINY)
    emb = _embedder()
    ds = VideoViews(items[:5], cfg)
    runs = {w: dict((k, a) for k, a, _ in embed_stream(emb, ds, "cpu", 2, w, progress=False)) for w in (0, 2)}
    runs["processes"] = dict((k, a) for k, a, _ in embed_stream(emb, ds, "cpu", 2, 2, False, decode="processes"))
    assert list(runs[0]) == [it.id for it in items[:5]] == list(runs[2]) == list(runs["processes"])
    # groups of 2 videos whoever decodes them: the same values
    assert all(np.array_equal(runs[0][k], runs[w][k]) for k in runs[0] for w in (2, "processes"))
    with pytest.raises(LsvitError, match="processes with a crop or augmented copies"):  # one pipeline, two threads
        next(embed_stream(emb, VideoViews(items[:2], cfg, [1, 1], "gesture_strong"), "cpu", 2, 2, False,
                          decode="threads"))
    # what the loop runs is the folded embedder, on the same groups of videos
    fast = emb.for_inference()
    views = np.concatenate([ds[i]["views"][0] for i in range(2)])
    with torch.inference_mode():
        want = fast(torch.from_numpy(views)).numpy()
    assert np.array_equal(np.concatenate([runs[0][it.id][0] for it in items[:2]]), want)


# ------------------------------------------------------------------------------------------ loading
def _cache(path, rows: int = 23, shape=(3, 2, 5), copies: bool = True):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((rows, *shape)).astype(np.float16)
    copy = np.array([(r % 3 == 2) if copies else 0 for r in range(rows)], np.int16)  # every 3rd row: a copy
    ids = [f"c{(r - 2) % 2}/v{(r - 2)}" if copy[r] else f"c{r % 2}/v{r}" for r in range(rows)]
    with h5py.File(path, "w") as f:
        f.create_dataset("embeddings", data=data, chunks=(1, *shape), compression="gzip", shuffle=True)
        f.create_dataset("labels", data=np.arange(rows) % 2)
        f.create_dataset("ids", data=ids, dtype=h5py.string_dtype())
        f.create_dataset("copies", data=copy)
        write_json_attr(f, "class_names", ["a", "b"])
        write_json_attr(f, "settings", {})
        mark_complete(f)
    return data


def test_block_reads_return_exactly_the_rows_asked_for(tmp_path):
    data = _cache(tmp_path / "c.h5")
    rows = [0, 1, 2, 5, 9, 10, 11, 12, 20, 22]
    with h5py.File(tmp_path / "c.h5", "r") as f:
        for block in (1, 3, 4, 64):
            got = read_rows(f["embeddings"], rows, block)
            assert got.dtype == np.float16 and np.array_equal(got, data[rows]), block
        assert read_rows(f["embeddings"], []).shape == (0, 3, 2, 5)


def test_in_memory_auto_serves_the_stored_rows_with_the_same_seeded_draws_under_workers(tmp_path):
    data = _cache(tmp_path / "c.h5")
    lazy = FeatureH5Dataset(tmp_path / "c.h5", train=True)
    auto = FeatureH5Dataset(tmp_path / "c.h5", train=True, in_memory="auto")
    assert not lazy.in_memory and auto.in_memory
    assert any(len(c) > 1 for c in auto.choices)  # training samples draw among a video and its copies
    assert not FeatureH5Dataset(tmp_path / "c.h5", in_memory="auto", memory_limit_gb=1e-9).in_memory  # too big

    def epoch(ds, workers):
        dl = DataLoader(ds, batch_size=4, collate_fn=collate, num_workers=workers, sampler=SeededSampler(len(ds)))
        return [(b["inputs"], list(b["id"]), b["label"].tolist()) for b in dl]

    want = epoch(lazy, 0)
    for ds, workers in ((auto, 0), (auto, 2), (lazy, 2)):
        got = epoch(ds, workers)
        assert all(torch.equal(a[0], b[0]) and a[1:] == b[1:] for a, b in zip(got, want)), workers
    assert want[0][0].dtype == torch.float32
    rows: dict[str, list[int]] = {}  # a video's rows: itself and its copies
    for r, i in enumerate(lazy.index.ids):
        rows.setdefault(i, []).append(r)
    drawn = [next(r for r in rows[i] if np.array_equal(x.numpy(), data[r].astype(np.float32)))
             for b in want for x, i in zip(b[0], b[1])]
    assert any(lazy.index.copies[r] for r in drawn)  # copies were drawn, and each value is a stored row


def test_in_memory_words_and_the_precision_kept():
    f16, f32 = np.dtype(np.float16), np.dtype(np.float32)
    assert memory_mode("auto", 10, (4, 4), f16, 1.0) == f32  # fits as float32: a sample is a view
    assert memory_mode("auto", 2**20, (32, 12, 768), f16, 1.0) is None  # 24 GiB as float16: read per sample
    assert memory_mode("auto", 2**10, (32, 12, 768), f16, 1.0) == f16  # 0.56 GiB as float16, 1.1 as float32
    assert memory_mode(True, 2**30, (9,), f16, 0.0) == f16 and memory_mode(False, 1, (1,), f16, 9.0) is None
    assert memory_mode("true", 1, (1,), f16, 1.0) == f32 and memory_mode("false", 1, (1,), f16, 9.0) is None
    with pytest.raises(LsvitError, match="true, false or auto"):
        memory_mode("sometimes", 1, (1,), f16, 1.0)
