"""Train and test on every official split, then tabulate: the number papers report.

``run_split_benchmark(cfg)`` trains one run per split (``data.split=1|2|3``) with the engine,
each testing its best checkpoint once on the split's test part, and writes ``results.csv``
and ``results.md`` (per-split top-1 / top-5 / macro-F1, mean ± sample std over splits,
the config and the commit). It works for any model family and any data module with a
``split`` setting; under ``accelerate launch`` every process runs it and only the main
process writes.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from accelerate import PartialState
from omegaconf import DictConfig, OmegaConf, open_dict

from lsvit import LsvitError
from lsvit.device import resolve_device
from lsvit.engine import train
from lsvit.engine.rundir import remove_if_empty
from lsvit.io import atomic_write_text
from lsvit.locks import lock_for_job
from lsvit.provenance import code_version

METRICS = (("top1", "test/top1"), ("top5", "test/top5"), ("macro_f1", "test/macro_f1"))


def split_config(cfg: DictConfig, split: int, out_dir: Path) -> DictConfig:
    """The training config of one split: ``data.split`` set, its own run folder."""
    c = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    with open_dict(c):
        c.data.split = int(split)
        c.run_dir = str(out_dir / f"split{split}")
        c.pop("benchmark", None)
    return c


def _finished_summary(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    return summary if summary.get("finished") and summary.get("test_metrics") else None


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def results_tables(rows: list[dict[str, Any]], cfg_yaml: str, commit: str, command: str) -> tuple[str, str]:
    """``results.csv`` and ``results.md`` text from one row per split."""
    cols = ["split", "top1", "top5", "macro_f1", "val_top1", "best_epoch", "epochs_run", "num_test", "views",
            "train_minutes", "run_dir"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([f"{r[c]:.6f}" if isinstance(r[c], float) else r[c] for c in cols])
    stats = {k: mean_std([r[k] for r in rows]) for k, _ in METRICS}
    w.writerow(["mean", *(f"{stats[k][0]:.6f}" for k, _ in METRICS)] + [""] * (len(cols) - 4))
    w.writerow(["std", *(f"{stats[k][1]:.6f}" for k, _ in METRICS)] + [""] * (len(cols) - 4))
    md = ["# Split benchmark", "",
          f"Mean top-1 over {len(rows)} split(s): **{100 * stats['top1'][0]:.2f} ± {100 * stats['top1'][1]:.2f}** "
          "(sample std). Each split: validation from its train part, the best checkpoint tested once on its "
          "test part.", "",
          "| split | top-1 | top-5 | macro-F1 | best val top-1 | best epoch | test clips | views | train min |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['split']} | {100 * r['top1']:.2f} | {100 * r['top5']:.2f} | {100 * r['macro_f1']:.2f} | "
                  f"{100 * r['val_top1']:.2f} | {r['best_epoch']} | {r['num_test']} | {r['views']} | "
                  f"{r['train_minutes']:.2f} |")
    md.append("| mean ± std | " + " | ".join(f"{100 * stats[k][0]:.2f} ± {100 * stats[k][1]:.2f}" for k, _ in METRICS)
              + " | | | | | |")
    md += ["", f"- commit: `{commit}`", f"- command: `{command}`", f"- written: {time.strftime('%Y-%m-%d %H:%M:%S')}",
           "", "<details><summary>config (split 1; the other splits differ only in data.split and run_dir)"
           "</summary>", "", "```yaml", cfg_yaml.rstrip(), "```", "</details>"]
    return buf.getvalue(), "\n".join(md) + "\n"


def run_split_benchmark(cfg: DictConfig) -> dict[str, Any]:
    """Train + test every split in ``cfg.benchmark.splits``; write ``results.{csv,md}``.

    With ``resume=true`` a split whose run already finished (``summary.json`` with test
    metrics) is not trained again, and an interrupted one continues from its ``last/``.

    Returns:
        ``{"rows": [...], "mean": {...}, "std": {...}, "out_dir": ...}``.
    """
    b = cfg.get("benchmark")
    if b is None or not b.get("splits"):
        raise LsvitError("benchmark.splits is empty: give e.g. benchmark.splits=[1,2,3]")
    splits = [int(s) for s in b.splits]
    if "split" not in cfg.data:
        raise LsvitError(f"data={cfg.data.get('name')}: this dataset has no official splits (data.split)")
    out_dir = Path(str(b.out_dir))
    # the process state as the engine sets it up (on a CPU, gloo ranks), so that only the main process locks
    state = PartialState(cpu=resolve_device(str(cfg.engine.device)) == "cpu")
    # one benchmark per folder at a time (each split's run folder is locked by its training too)
    lock = lock_for_job(out_dir, "benchmark.out_dir", "wait for it to finish, stop it, or choose another "
                        "benchmark.out_dir=", state)
    try:
        return _run_splits(cfg, splits, out_dir)
    except BaseException:
        if lock is not None:  # a benchmark that failed before writing anything leaves no empty folder behind
            remove_if_empty(out_dir)
        raise
    finally:
        if lock is not None:
            lock.release()


def _run_splits(cfg: DictConfig, splits: list[int], out_dir: Path) -> dict[str, Any]:
    rows = []
    for s in splits:
        c = split_config(cfg, s, out_dir)
        done = _finished_summary(Path(c.run_dir)) if cfg.get("resume") else None
        summary = done or train(c)
        if not summary.get("test_metrics"):
            raise LsvitError(f"split {s}: the run stopped before its test ({c.run_dir}); "
                             "rerun with resume=true to continue it")
        tm = summary["test_metrics"]
        rows.append({"split": s, **{k: float(tm[key]) for k, key in METRICS},
                     "val_top1": float(summary["best_metrics"].get("val/top1", float("nan"))),
                     "best_epoch": summary["best_epoch"], "epochs_run": summary["epochs_run"],
                     "num_test": summary.get("num_test"), "views": summary.get("test_views"),
                     "train_minutes": float(summary.get("train_minutes", 0.0)), "run_dir": c.run_dir})
    state = PartialState()
    if state.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg_yaml = OmegaConf.to_yaml(split_config(cfg, splits[0], out_dir), resolve=True)
        atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        csv_text, md = results_tables(rows, cfg_yaml, code_version(), " ".join(["python", *sys.argv]))
        atomic_write_text(out_dir / "results.csv", csv_text)
        atomic_write_text(out_dir / "results.md", md)
        print(md.split("\n\n<details>")[0])
    state.wait_for_everyone()
    stats = {k: mean_std([r[k] for r in rows]) for k, _ in METRICS}
    return {"rows": rows, "mean": {k: v[0] for k, v in stats.items()}, "std": {k: v[1] for k, v in stats.items()},
            "out_dir": str(out_dir)}
