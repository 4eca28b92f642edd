"""Train a model: `python tools/train.py [overrides]` or `accelerate launch tools/train.py [overrides]`.

APPCONFIG__* environment variables map onto config keys (docs/configuration.md); command-line overrides win.
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.engine import train

    train(cfg)


if __name__ == "__main__":
    run_tool(main, "train", env=True)
