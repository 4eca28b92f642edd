"""Write the built-in keypoint dataset (gestures done right and wrong) in seed 002's and seed 004's formats.

`python tools/make_keypoint_demo.py [out=datasets/keypoints_demo] [train_per_class=30]`
"""

import hydra
from omegaconf import DictConfig

from lsvit.cli import guarded


@hydra.main(config_path="../configs", config_name="make_keypoint_demo", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from lsvit.data.keypoint_demo import DemoSpec, make_keypoint_demo

    spec = DemoSpec(int(cfg.train_per_class), int(cfg.test_per_class), int(cfg.min_frames), int(cfg.max_frames),
                    int(cfg.seed))
    guarded(make_keypoint_demo, cfg.out, spec)


if __name__ == "__main__":
    main()
