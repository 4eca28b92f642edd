"""Prepare HMDB51 from the official archives (or extracted folders) and check it.

`python tools/prepare_hmdb51.py videos=hmdb51_org.rar splits=test_train_splits.rar [out=datasets/hmdb51]`
Exit code 0: complete; 1: prepared but something is missing (listed); 2: bad input.
"""

import sys

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.data.hmdb51 import prepare_hmdb51

    report = prepare_hmdb51(cfg.videos, cfg.splits, cfg.out, bool(cfg.link), bool(cfg.keep_archives),
                            bool(cfg.check_counts))
    print(report.summary())
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    run_tool(main, "prepare_hmdb51", registry=False)
