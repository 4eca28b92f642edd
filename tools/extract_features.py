"""Extract frame embeddings into a gzip HDF5 cache (resumable; sharded under `accelerate launch`).

`python tools/extract_features.py source.root=datasets/gestures/train out=cache/train.h5 [embed=efficientnet_lite0]`
`python tools/extract_features.py source.hmdb51_root=datasets/hmdb51 out=datasets/hmdb51/embeddings.h5`
Settings: configs/extract_features.yaml (backbones: configs/embed/). A killed run continues when rerun.
"""

import hydra
from omegaconf import DictConfig, OmegaConf

from lsvit.cli import guarded


@hydra.main(config_path="../configs", config_name="extract_features", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from lsvit.features.extract import run_extraction

    guarded(run_extraction, **OmegaConf.to_container(cfg, resolve=True))


if __name__ == "__main__":
    main()
