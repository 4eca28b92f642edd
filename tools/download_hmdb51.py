"""Download HMDB51's official archives (resumable, verified) and prepare them into datasets/hmdb51.

`python tools/download_hmdb51.py [out=datasets/hmdb51] [prepare=false]`
Exit code 0: complete; 1: prepared but something is missing (listed); 2: download failed or bad input (one line).
"""

import sys

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.data.hmdb51.download import download_hmdb51, hmdb51_archives

    archives = hmdb51_archives(cfg.videos_url, cfg.splits_url, cfg.videos_checksum, cfg.splits_checksum,
                               cfg.videos_size, cfg.splits_size)
    result = download_hmdb51(cfg.downloads, cfg.out, archives, bool(cfg.prepare), bool(cfg.check_counts),
                             float(cfg.timeout), int(cfg.retries), float(cfg.retry_wait))
    if not cfg.prepare:
        print("\n".join(str(p) for p in result))
        return
    print(result.summary())
    sys.exit(1 if result.problems else 0)


if __name__ == "__main__":
    run_tool(main, "download_hmdb51", registry=False)
