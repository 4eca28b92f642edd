"""Predict videos with a trained checkpoint and write submission.csv.

`python tools/inference.py checkpoint=outputs/<run>/best data_root=/path/to/test [output=submission.csv]
 [batch_size=8] [probs=true] [topk=5] [strict=true] [num_clips=5 num_crops=3] [runtime=onnx]`
"""

import sys

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.inference import run_inference

    sys.exit(run_inference(cfg.checkpoint, cfg.data_root, cfg.output, int(cfg.batch_size), int(cfg.num_workers),
                           bool(cfg.probs), int(cfg.topk), bool(cfg.strict), cfg.device, cfg.backend,
                           int(cfg.num_clips), int(cfg.num_crops), cfg.mixed_precision, cfg.runtime))


if __name__ == "__main__":
    run_tool(main, "inference")
