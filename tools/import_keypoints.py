"""Seed 002's MP_Data .npy tree or seed 004's landmark CSV(s) -> one keypoint HDF5 file.

`python tools/import_keypoints.py format=npy src=MP_Data out=datasets/kp.h5`
`python tools/import_keypoints.py format=csv src=[coordinates_1.csv,coordinates_2.csv] out=datasets/kp.h5 \
 drop_visibility=true`
"""

import hydra
from omegaconf import DictConfig, ListConfig

from lsvit.cli import guarded


@hydra.main(config_path="../configs", config_name="import_keypoints", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from lsvit import LsvitError
    from lsvit.data.keypoints import read_keypoint_index
    from lsvit.features.keypoint_import import import_csv, import_npy

    def run() -> None:
        if cfg.format == "npy":
            out = import_npy(cfg.src, cfg.out, cfg.layout)
        elif cfg.format == "csv":
            src = list(cfg.src) if isinstance(cfg.src, ListConfig) else cfg.src
            out = import_csv(src, cfg.out, bool(cfg.drop_visibility))
        else:
            raise LsvitError(f"format={cfg.format}: choose npy (seed 002's MP_Data) or csv (seed 004)")
        idx = read_keypoint_index(out)
        print(f"wrote {out}: {len(idx.names)} sequences, {len(idx.class_names)} classes {idx.class_names[:8]}, "
              f"{idx.layout.feature_count} features per frame ({idx.layout.describe()})")

    guarded(run)


if __name__ == "__main__":
    main()
