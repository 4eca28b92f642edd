"""Evaluate a checkpoint on a labelled dataset, write the reports and add the result to its model card.

`python tools/evaluate.py checkpoint=outputs/<run>/best data_root=/path/to/test [num_clips=5 num_crops=3] [runtime=onnx]`
`python tools/evaluate.py checkpoint=outputs/<run>/best hmdb51_root=datasets/hmdb51 split=1 num_clips=5 num_crops=3`
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.inference import evaluate_checkpoint

    evaluate_checkpoint(cfg.checkpoint, cfg.data_root, cfg.hmdb51_root, cfg.split, cfg.out_dir, int(cfg.num_clips),
                        int(cfg.num_crops), int(cfg.batch_size), int(cfg.num_workers), cfg.device, cfg.backend,
                        bool(cfg.strict), mixed_precision=cfg.mixed_precision, runtime=cfg.runtime)


if __name__ == "__main__":
    run_tool(main, "evaluate")
