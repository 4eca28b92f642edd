"""A sweep's run folders gathered into one table: mean ± std over seeds, per variant.

A sweep is Hydra's multirun (``python tools/train.py -m model.lmi=attention,excitation,none seed=0,1,2``; the
joblib launcher on this machine, ``hydra/launcher=slurm`` for a cluster): every job trains into its own run folder under
``outputs/sweeps/<name>/``. :func:`sweep_report` reads the folders back — ``config.yaml``, ``summary.json``, the
best checkpoint's ``test_predictions.csv`` and ``model.safetensors`` header, all as data — and groups the runs by
the settings that differ between them, seeds aside. Per variant: the number of runs, test top-1 and the direction
within reversal pairs (mean ± std over seeds; pairs found from the class names), the parameter count, the time of a
training step and its ratio to the control's (the frame-average model, or the variant named by ``control``).
Written as Markdown, CSV and a plot (``sweep_report.{md,csv,png}`` in the sweep folder).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lsvit import LsvitError
from lsvit.checkpoint.card import weights_summary
from lsvit.io import atomic_write_text
from lsvit.pairs import csv_direction_accuracy

# settings that differ between the runs of one variant without making another variant
PER_RUN = ("seed", "run_dir", "name", "resume", "overwrite", "data.seed", "engine.device", "engine.num_workers")


@dataclass
class RunRecord:
    """One finished run of a sweep, as its folder records it."""

    folder: Path
    config: dict[str, Any]
    test_top1: float | None
    direction: float | None
    params: int | None
    step_s: float | None


@dataclass
class Variant:
    """The runs of one combination of settings (seeds pooled)."""

    settings: dict[str, Any]
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``key=value`` of the settings that make this variant (``-`` when every run shares them)."""
        return " ".join(f"{k}={_short(v)}" for k, v in self.settings.items()) or "-"


def _short(v: Any) -> str:
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def read_run(folder: Path) -> RunRecord:
    """A finished run folder's figures (test top-1 from ``summary.json``, the direction from the best checkpoint's
    test predictions, parameters from its weights' header, the mean optimizer step time).

    Raises:
        LsvitError: a folder without ``summary.json`` or ``config.yaml`` (a run that did not finish).
    """
    summary_path, config_path = folder / "summary.json", folder / "config.yaml"
    if not summary_path.is_file() or not config_path.is_file():
        raise LsvitError(f"{folder}: not a finished run (needs summary.json and config.yaml)")
    summary = json.loads(summary_path.read_text())
    config = yaml.safe_load(config_path.read_text())  # plain YAML data, written by the engine
    test = (summary.get("test_metrics") or {}).get("test/top1")
    preds = folder / "test_predictions.csv"
    direction = csv_direction_accuracy(preds)["direction_accuracy"] if preds.is_file() else None
    params, _ = weights_summary(folder / "best")
    steps = (summary.get("last_metrics") or {}).get("step")
    train_s = sum(float(r.get("time/train_s", 0.0)) for r in _history(folder))
    step_s = train_s / steps if steps and train_s else None
    return RunRecord(folder, _flat(config), test, direction, params, step_s)


def _history(folder: Path) -> list[dict[str, str]]:
    path = folder / "metrics.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def group_runs(runs: Sequence[RunRecord]) -> list[Variant]:
    """Variants: runs with the same settings apart from :data:`PER_RUN` (seeds and folders)."""
    keys = sorted({k for r in runs for k in r.config})
    differing = [k for k in keys if not any(k == p or k.endswith(f".{p}") for p in PER_RUN)
                 and len({json.dumps(r.config.get(k), sort_keys=True) for r in runs}) > 1]
    variants: dict[str, Variant] = {}
    for r in runs:
        settings = {k: r.config.get(k) for k in differing}
        variants.setdefault(json.dumps(settings, sort_keys=True), Variant(settings)).runs.append(r)
    return list(variants.values())


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the known values (std 0 for one value; None for none)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None, None
    m = sum(vals) / len(vals)
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0


def find_control(variants: Sequence[Variant], control: str | None) -> Variant | None:
    """The variant the step times are compared with: the one matching ``control`` (``key=value``), else the
    frame-average model (a model name with ``frameavg``, or SMIF and LMI both off)."""
    if control:
        key, _, value = control.partition("=")
        found = [v for v in variants if _short(v.settings.get(key)) == value]
        if not found:
            raise LsvitError(f"control={control}: no variant has it (variants: "
                             + "; ".join(v.label for v in variants) + ")")
        return found[0]
    for v in variants:
        cfg = v.runs[0].config
        if "frameavg" in str(cfg.get("model.model_name", "")) or \
                (str(cfg.get("model.smif")).lower() in ("false", "none") and
                 str(cfg.get("model.lmi", "none")).lower() in ("none", "false") and cfg.get("model.lmi_blocks") == []):
            return v
    return None


def sweep_report(sweep_dir: str | Path, control: str | None = None, write: bool = True) -> dict[str, Any]:
    """Gather a sweep's finished runs into one table (Markdown, CSV, plot in ``sweep_dir``).

    Args:
        sweep_dir: the sweep's folder (``outputs/sweeps/<name>``): every folder below it holding a finished run.
        control: ``key=value`` of the variant step times are compared with (default: the frame-average model).
        write: write ``sweep_report.{md,csv,png}`` into ``sweep_dir``.

    Returns:
        ``{"rows": [...], "markdown": str, "files": [...]}``.

    Raises:
        LsvitError: no finished run under ``sweep_dir``.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise LsvitError(f"{root}: no such folder (a sweep's folder: outputs/sweeps/<name>)")
    runs = [read_run(p.parent) for p in sorted(root.rglob("summary.json"))]
    if not runs:
        raise LsvitError(f"{root}: no finished run below it (no summary.json)")
    variants = group_runs(runs)
    ctrl = find_control(variants, control)
    ctrl_step = mean_std([r.step_s for r in ctrl.runs])[0] if ctrl else None
    rows = []
    for v in variants:
        top1, top1_sd = mean_std([r.test_top1 for r in v.runs])
        direction, direction_sd = mean_std([r.direction for r in v.runs])
        step = mean_std([r.step_s for r in v.runs])[0]
        rows.append({"variant": v.label, "runs": len(v.runs), "test_top1": top1, "test_top1_std": top1_sd,
                     "direction": direction, "direction_std": direction_sd, "params": v.runs[0].params,
                     "step_ms": step * 1e3 if step else None,
                     "step_vs_control": step / ctrl_step if step and ctrl_step else None,
                     "control": v is ctrl})
    md = _markdown(rows, root, ctrl)
    files = []
    if write:
        atomic_write_text(root / "sweep_report.md", md)
        atomic_write_text(root / "sweep_report.csv", _csv(rows))
        _plot(rows, root / "sweep_report.png")
        files = [str(root / f"sweep_report.{ext}") for ext in ("md", "csv", "png")]
    return {"rows": rows, "markdown": md, "files": files}


def _pm(m: float | None, sd: float | None) -> str:
    return "-" if m is None else f"{m:.3f} ± {sd:.3f}"


def _markdown(rows: list[dict[str, Any]], root: Path, ctrl: Variant | None) -> str:
    lines = [f"# Sweep {root.name}", "",
             "| variant | runs | test top-1 (mean ± std) | direction within pairs | parameters | step (ms) | "
             "step / control |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        params = "-" if r["params"] is None else f"{r['params'] / 1e6:.2f} M"
        step = "-" if r["step_ms"] is None else f"{r['step_ms']:.0f}"
        ratio = "-" if r["step_vs_control"] is None else f"{r['step_vs_control']:.2f}x"
        lines.append(f"| {r['variant']}{' (control)' if r['control'] else ''} | {r['runs']} | "
                     f"{_pm(r['test_top1'], r['test_top1_std'])} | {_pm(r['direction'], r['direction_std'])} | "
                     f"{params} | {step} | {ratio} |")
    lines += ["", "Direction: the right class among the test clips predicted inside their own reversal pair (pairs "
                  "found from the class names; 0.5 is what a model blind to frame order gets). Step: mean time of an "
                  "optimizer step over the run" + (", relative to the control's." if ctrl else ".")]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, whatever the display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(rows)), 3.5))
    x = range(len(rows))
    width = 0.38
    for off, key, name in ((-width / 2, "test_top1", "test top-1"), (width / 2, "direction", "direction")):
        vals = [r[key] or 0.0 for r in rows]
        errs = [r[f"{key}_std"] or 0.0 for r in rows]
        ax.bar([i + off for i in x], vals, width, yerr=errs, capsize=3, label=name)
    ax.set_xticks(list(x), [r["variant"] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
