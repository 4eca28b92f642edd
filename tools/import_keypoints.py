"""Seed 002's MP_Data .npy tree or seed 004's landmark CSV(s) -> one keypoint HDF5 file.

`python tools/import_keypoints.py format=npy src=MP_Data out=datasets/kp.h5`
`python tools/import_keypoints.py format=csv src=[coordinates_1.csv,coordinates_2.csv] out=datasets/kp.h5 \
 drop_visibility=true`
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.families.keypoints.importers import import_tool

    print(import_tool(cfg))


if __name__ == "__main__":
    run_tool(main, "import_keypoints")
