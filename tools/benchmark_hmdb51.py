"""Train and test on the official HMDB51 splits; write results.csv and results.md (mean ± std).

`python tools/benchmark_hmdb51.py experiment=hmdb51_lsvit_base [benchmark.splits=[1,2,3]] [resume=true]`
`accelerate launch --multi_gpu --num_processes 4 tools/benchmark_hmdb51.py experiment=hmdb51_lsvit_base`
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.split_benchmark import run_split_benchmark

    run_split_benchmark(cfg)


if __name__ == "__main__":
    run_tool(main, "benchmark_hmdb51", env=True)
