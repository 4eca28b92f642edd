"""Write the built-in motion dataset (classes told apart only by motion, with reversal pairs).

`python tools/make_synthetic.py [out=datasets/synthetic] [train_per_class=48] [size=80] [fmt=mp4]`
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.data.synthetic import SyntheticSpec, make_motion_dataset

    make_motion_dataset(cfg.out, SyntheticSpec(train_per_class=cfg.train_per_class, test_per_class=cfg.test_per_class,
                                               num_frames=cfg.frames, size=cfg.size, seed=cfg.seed, fmt=cfg.fmt))


if __name__ == "__main__":
    run_tool(main, "make_synthetic", registry=False)
