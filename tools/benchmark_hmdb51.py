"""Train and test on the official HMDB51 splits; write results.csv and results.md (mean ± std).

`python tools/benchmark_hmdb51.py experiment=hmdb51_lsvit_base [benchmark.splits=[1,2,3]] [resume=true]`
`accelerate launch --multi_gpu --num_processes 4 tools/benchmark_hmdb51.py experiment=hmdb51_lsvit_base`
"""

import sys

import hydra
from omegaconf import DictConfig

from lsvit.cli import guarded
from lsvit.config import merge_env_overrides


@hydra.main(config_path="../configs", config_name="benchmark_hmdb51", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from lsvit.split_benchmark import run_split_benchmark

    guarded(run_split_benchmark, cfg)


if __name__ == "__main__":
    sys.argv[1:] = guarded(merge_env_overrides, sys.argv[1:])
    main()
