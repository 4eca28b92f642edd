"""Extract frame embeddings into a gzip HDF5 cache (resumable; sharded under `accelerate launch`).

`python tools/extract_features.py source.root=datasets/gestures/train out=cache/train.h5 [embed=efficientnet_lite0]`
`python tools/extract_features.py source.hmdb51_root=datasets/hmdb51 out=datasets/hmdb51/embeddings.h5`
Settings: configs/extract_features.yaml (backbones: configs/embed/). A killed run continues when rerun.
"""

from omegaconf import DictConfig, OmegaConf

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.families.embeddings.extract import run_extraction

    run_extraction(**OmegaConf.to_container(cfg, resolve=True))


if __name__ == "__main__":
    run_tool(main, "extract_features")
