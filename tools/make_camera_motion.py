"""Write a camera-motion dataset from real footage: pans, tilts and zooms as moving crop windows (6 classes).

`python tools/make_camera_motion.py [out=datasets/camera_motion] [sources=[my_footage/]] [train_per_class=64] ...`
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.data.camera_motion import CameraMotionSpec, make_camera_motion_dataset

    spec = CameraMotionSpec(train_per_class=cfg.train_per_class, test_per_class=cfg.test_per_class,
                            num_frames=cfg.frames, width=cfg.width, height=cfg.height, seed=cfg.seed,
                            test_fraction=cfg.test_fraction, segment_frames=cfg.segment_frames,
                            travel=(float(cfg.travel[0]), float(cfg.travel[1])),
                            zoom=(float(cfg.zoom[0]), float(cfg.zoom[1])),
                            window=(float(cfg.window[0]), float(cfg.window[1])), max_side=cfg.max_side)
    make_camera_motion_dataset(cfg.out, spec, list(cfg.sources) if cfg.sources else None)


if __name__ == "__main__":
    run_tool(main, "make_camera_motion", registry=False)
