"""Write the built-in keypoint dataset (gestures done right and wrong) in seed 002's and seed 004's formats.

`python tools/make_keypoint_demo.py [out=datasets/keypoints_demo] [train_per_class=30]`
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.families.keypoints.demo import DemoSpec, make_keypoint_demo

    make_keypoint_demo(cfg.out, DemoSpec(int(cfg.train_per_class), int(cfg.test_per_class), int(cfg.min_frames),
                                         int(cfg.max_frames), int(cfg.seed)))


if __name__ == "__main__":
    run_tool(main, "make_keypoint_demo", registry=False)
