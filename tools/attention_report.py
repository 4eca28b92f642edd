"""Attention statistics of a BiLSTM run: `python tools/attention_report.py run_dir=outputs/<run>`.

Writes attention_{val,test}.json (mean channel / sequence weights, argmax/argmin, channels named by the cache's
layout) and attention_{val,test}.png into the run folder, from its best/ checkpoint and the caches it was trained on.
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.families.embeddings.attention import attention_report

    attention_report(cfg.run_dir, device=cfg.device)


if __name__ == "__main__":
    run_tool(main, "attention_report")
