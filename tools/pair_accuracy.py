"""Top-1 and within-pair direction accuracy of runs or prediction files, side by side.

`python tools/pair_accuracy.py outputs/demo outputs/demo_frame_avg` prints one table row per run folder
(val and test top-1 of the best checkpoint, direction within reversal pairs); a `submission.csv` or
`*_predictions.csv` argument prints that file's figures. Reversal pairs are found from the class names
(move_left/move_right, grow/shrink, open/close, ...: lsvit.data.labelmaps).
"""

import argparse

from lsvit.cli import guarded
from lsvit.pairs import describe_paths

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("paths", nargs="+", help="run folders and/or predictions files (submission.csv, *_predictions.csv)")
    print(guarded(describe_paths, ap.parse_args().paths))
