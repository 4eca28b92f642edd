"""Top-1 and within-pair direction accuracy of submission.csv files whose ids start with the true class folder.

`python tools/pair_accuracy.py outputs/demo_bilstm/submission.csv [more.csv ...]` (pairs: the built-in motion
dataset's lsvit.data.synthetic.REVERSAL_PAIRS).
"""

import sys

from lsvit.data.synthetic import REVERSAL_PAIRS
from lsvit.pairs import csv_direction_accuracy

if __name__ == "__main__":
    for path in sys.argv[1:]:
        r = csv_direction_accuracy(path, REVERSAL_PAIRS)
        print(f"{path}: top-1 {r['top1']:.3f} ({r['rows']} videos); prediction in the right pair {r['pair_accuracy']:.3f}; "
              f"right direction within the pair {r['direction_accuracy']:.3f} ({r['direction_correct']}/{r['in_pair']})")
