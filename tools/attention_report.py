"""Attention statistics of a BiLSTM run: `python tools/attention_report.py run_dir=outputs/<run>`.

Writes attention_{val,test}.json (mean channel / sequence weights, argmax/argmin, channels named by the cache's
layout) and attention_{val,test}.png into the run folder, from its best/ checkpoint and the caches it was trained on.
"""

import logging
import sys

from lsvit.cli import guarded

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
    if "run_dir" not in args:
        sys.exit("usage: python tools/attention_report.py run_dir=outputs/<run> [device=auto]")
    from lsvit.features.attention import attention_report

    guarded(attention_report, args["run_dir"], device=args.get("device", "auto"))
