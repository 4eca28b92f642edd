"""A sweep's runs in one table: `python tools/sweep_report.py outputs/sweeps/<name> [--control model.lmi=none]`.

Mean ± std over seeds of test top-1 and direction within reversal pairs, parameters, step time relative to the
control, per variant; writes sweep_report.{md,csv,png} into the sweep folder. A sweep:
`python tools/train.py -m model.lmi=attention,excitation,none seed=0,1,2` (docs/ablations.md).
"""

import argparse

from lsvit.cli import guarded
from lsvit.sweeps import sweep_report

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("sweep_dir", help="the sweep's folder, outputs/sweeps/<name>")
    ap.add_argument("--control", default=None, help="key=value of the variant step times are compared with "
                                                     "(default: the frame-average model)")
    a = ap.parse_args()
    r = guarded(sweep_report, a.sweep_dir, a.control)
    print(r["markdown"] + "wrote " + ", ".join(r["files"]))
