"""Train a model: `python tools/train.py [overrides]` or `accelerate launch tools/train.py [overrides]`.

APPCONFIG__* environment variables map onto config keys (README); command-line overrides win.
"""

import sys

import hydra
from omegaconf import DictConfig

from lsvit.cli import guarded
from lsvit.config import merge_env_overrides


@hydra.main(config_path="../configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from lsvit.engine import train

    guarded(train, cfg)


if __name__ == "__main__":
    sys.argv[1:] = guarded(merge_env_overrides, sys.argv[1:])
    main()
