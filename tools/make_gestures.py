"""Write the built-in gesture dataset (a rendered hand; 8 classes in 4 reversal pairs) for the frame-embedding family.

`python tools/make_gestures.py [out=datasets/gestures] [train_per_class=40] [test_per_class=12] [fmt=mp4]`
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.data.gestures import GestureSpec, make_gesture_dataset

    make_gesture_dataset(cfg.out, GestureSpec(train_per_class=cfg.train_per_class, test_per_class=cfg.test_per_class,
                                              num_frames=cfg.frames, width=cfg.width, height=cfg.height, fps=cfg.fps,
                                              seed=cfg.seed, fmt=cfg.fmt, paired_train=cfg.paired_train,
                                              paired_test=cfg.paired_test))


if __name__ == "__main__":
    run_tool(main, "make_gestures", registry=False)
