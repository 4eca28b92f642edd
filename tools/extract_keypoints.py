"""MediaPipe keypoints of a folder of videos -> one keypoint HDF5 file (resumable, parallel).

`python tools/extract_keypoints.py root=/path/to/videos out=datasets/kp.h5 mode=hands [num_workers=2] [roi=hog]`
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.families.keypoints.mediapipe import extract_tool

    print(extract_tool(cfg))


if __name__ == "__main__":
    run_tool(main, "extract_keypoints")
