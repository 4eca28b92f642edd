"""Top-1 and within-pair direction accuracy of runs or prediction files, side by side.

`python tools/pair_accuracy.py outputs/demo outputs/demo_frame_avg` prints one table row per run folder
(val and test top-1 of the best checkpoint, direction within reversal pairs); a `submission.csv` or
`*_predictions.csv` argument prints that file's figures. Pairs: the built-in motion dataset's
lsvit.data.synthetic.REVERSAL_PAIRS.
"""

import sys
from pathlib import Path

from lsvit.cli import guarded
from lsvit.data.synthetic import REVERSAL_PAIRS
from lsvit.pairs import compare_runs, csv_direction_accuracy


def main(paths: list[str]) -> None:
    runs = [p for p in paths if Path(p).is_dir()]
    if runs:
        print(compare_runs(runs, REVERSAL_PAIRS))
    for path in (p for p in paths if not Path(p).is_dir()):
        r = csv_direction_accuracy(path, REVERSAL_PAIRS)
        print(f"{path}: top-1 {r['top1']:.3f} ({r['rows']} videos); prediction in the right pair {r['pair_accuracy']:.3f}; "
              f"right direction within the pair {r['direction_accuracy']:.3f} ({r['direction_correct']}/{r['in_pair']})")


if __name__ == "__main__":
    guarded(main, sys.argv[1:])
