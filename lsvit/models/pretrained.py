"""Load ImageNet ViT weights into a video model's spatial backbone.

Looks in this order, and says where it looked when nothing is found:

1. ``pretrained_file`` if given (``.safetensors``, ``.pth``/``.pt``/``.bin`` state dict, or
   Google's ``.npz``);
2. ``<weights_dir>/<backbone>.{safetensors,pth,pt,bin,npz}``, then ``<weights_dir>/<backbone>_timm.{...}`` (seed
   003's name for the same file: ``weights/vit_base_patch16_224_timm.pth``);
3. the Hugging Face hub through ``timm.create_model(backbone, pretrained=True)``, unless
   ``HF_HUB_OFFLINE=1``.

timm's ``checkpoint_filter_fn`` adapts the state dict (position embeddings resized to the
model's image size, patch embeddings converted); a classifier with a different number of
classes is dropped; the temporal modules keep their identity initialisation.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torch.nn as nn

from lsvit import LsvitError

log = logging.getLogger(__name__)
WEIGHT_EXTS = (".safetensors", ".pth", ".pt", ".bin", ".npz")
# file names tried in weights_dir, in order: timm's model name, then seed 003's (a timm state dict saved as <name>_timm.pth)
WEIGHT_STEMS = ("{backbone}", "{backbone}_timm")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict without executing pickled code (``weights_only=True``)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LsvitError(f"{path}: not a loadable weights file ({str(exc).splitlines()[0][:200]})") from exc
    for key in ("model", "state_dict", "module"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    return sd


def _candidates(backbone: str, pretrained_file: str | None, weights_dir: str) -> list[Path]:
    if pretrained_file:
        return [Path(pretrained_file)]
    return [Path(weights_dir) / f"{stem.format(backbone=backbone)}{ext}" for stem in WEIGHT_STEMS for ext in WEIGHT_EXTS]


def load_backbone_weights(model: nn.Module, backbone: str, pretrained_file: str | None = None,
                          weights_dir: str = "weights") -> list[str]:
    """Copy pretrained ViT weights into ``model`` (a timm ``VisionTransformer`` subclass).

    Args:
        model: the model to fill.
        backbone: timm name of the image model (e.g. ``vit_base_patch16_224``).
        pretrained_file: an explicit weights file.
        weights_dir: folder searched for ``<backbone>.<ext>``.

    Returns:
        Names of the parameters left at their initialisation (temporal modules, new head).

    Raises:
        LsvitError: no weights could be found, or they do not fit the model.
    """
    from timm.models.vision_transformer import _load_weights, checkpoint_filter_fn

    found = next((p for p in _candidates(backbone, pretrained_file, weights_dir) if p.is_file()), None)
    if found is not None and found.suffix == ".npz":
        _load_weights(model, str(found))
        log.info("loaded %s (npz) into the backbone", found)
        return []
    if found is not None:
        sd = read_state_dict(found)
        source = str(found)
    elif pretrained_file:
        raise LsvitError(f"model.pretrained_file={pretrained_file}: no such file")
    elif os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise LsvitError(_missing_message(backbone, weights_dir, offline=True))
    else:
        import timm

        try:
            sd = timm.create_model(backbone, pretrained=True).state_dict()
        except Exception as exc:
            raise LsvitError(_missing_message(backbone, weights_dir, offline=False) + f"\nhub error: {exc}") from exc
        source = f"hf-hub:{backbone}"
    sd = checkpoint_filter_fn(sd, model)
    own = model.state_dict()
    head = {k for k in sd if k.startswith("head.") and (k not in own or own[k].shape != sd[k].shape)}
    for k in head:
        sd.pop(k)
    bad = [k for k in sd if k in own and own[k].shape != sd[k].shape]
    if bad:
        raise LsvitError(f"{source}: shapes do not fit the model for {bad[:5]} "
                         f"(is it a {backbone} checkpoint?)")
    result = model.load_state_dict(sd, strict=False)
    unexpected = [k for k in result.unexpected_keys]
    if unexpected:
        log.warning("%s: ignored %d keys not in the model, e.g. %s", source, len(unexpected), unexpected[:3])
    spatial_missing = [k for k in result.missing_keys if not k.startswith(("smif.", "smif_embed.", "lmi.", "head."))]
    if spatial_missing:
        raise LsvitError(f"{source}: the backbone lacks {spatial_missing[:5]}: not a {backbone} checkpoint")
    log.info("loaded %s into the backbone (%d new parameters)", source, len(result.missing_keys))
    return list(result.missing_keys)


def _missing_message(backbone: str, weights_dir: str, offline: bool) -> str:
    looked = ", ".join(str(p) for p in _candidates(backbone, None, weights_dir))
    how = ("HF_HUB_OFFLINE=1 forbids the hub" if offline else "the hub could not be reached")
    return (f"pretrained weights for {backbone} not found. Looked for: {looked}; {how}.\n"
            f"Get the file on a machine with internet access and copy it here:\n"
            f"  python -c \"import timm, safetensors.torch as st; m = timm.create_model('{backbone}', "
            f"pretrained=True); st.save_file(m.state_dict(), '{weights_dir}/{backbone}.safetensors')\"\n"
            f"or set model.pretrained_file=/path/to/file, or model.pretrained=false to train from scratch.")
