"""Writes the legacy LS-ViT checkpoints the compatibility test reads (run once, with the code of main 6f75c15).

Each case is a ``meta.json``-style ``{"name", "args"}`` (the keyword arguments a hydra model config of that
time stored, ``smif: true/false`` + ``smif_channels``), its weights (every parameter perturbed so that the
zero-initialised temporal branches carry signal); ``io.safetensors`` holds one input batch and the logits that
code gave for each case.

    git archive 6f75c15 lsvit | tar -x -C /tmp/old && PYTHONPATH=/tmp/old python tests/data/lsvit_legacy/make.py
"""

import json
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file

import lsvit.models  # noqa: F401

# a hydra model config of that time less _target_, model_name and the init-only keys (pretrained, ...), as
# lsvit.engine.checkpoint.model_spec wrote it into meta.json
COMMON = {"num_frames": 4, "smif_window": 3, "smif_hidden": 16, "smif_stride": None, "temporal_init": "auto",
          "lmi_reduction": None, "drop_rate": 0.0, "drop_path_rate": 0.1, "img_size": 32}
CASES = {
    "pixels": dict(COMMON, smif=True, smif_channels=0, lmi_blocks=None),
    "channels": dict(COMMON, smif=True, smif_channels=8, smif_stride=2, lmi_blocks=[1], global_pool="avg"),
    "lmi_only": dict(COMMON, smif=False, smif_channels=0, lmi_blocks=[0]),
    "off": dict(COMMON, smif=False, smif_channels=0, lmi_blocks=[]),
}

if __name__ == "__main__":
    here = Path(__file__).parent
    x = torch.randn(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    io = {"inputs": x}
    for case, args in CASES.items():
        torch.manual_seed(0)
        model = timm.create_model("lsvit_test", num_classes=5, **args).eval()
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
            logits = model(x)
        folder = here / case
        folder.mkdir(exist_ok=True)
        (folder / "meta.json").write_text(json.dumps({"model": {"name": "lsvit_test", "args": args},
                                                      "class_names": list("abcde")}, indent=1) + "\n")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
        io[f"logits/{case}"] = logits
        print(case, sum(p.numel() for p in model.parameters()), logits[0, :3].tolist())
    save_file(io, str(here / "io.safetensors"))
