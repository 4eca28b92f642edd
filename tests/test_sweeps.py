"""Ablation sweeps on Hydra's own launchers, and the report that gathers a sweep's runs into one table."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lsvit import LsvitError
from lsvit.config import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]


def _fake_run(folder: Path, lmi: str, seed: int, top1: float, step_s: float, preds: list[tuple[str, str]],
              model_name: str = "lsvit_test") -> None:
    """A finished run folder as the engine writes it (only the files the report reads)."""
    from safetensors.torch import save_file

    (folder / "best").mkdir(parents=True)
    cfg = {"seed": seed, "run_dir": str(folder), "model": {"model_name": model_name, "lmi": lmi},
           "data": {"seed": seed, "root": "x"}, "engine": {"epochs": 2}}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    (folder / "summary.json").write_text(json.dumps({"test_metrics": {"test/top1": top1},
                                                     "last_metrics": {"step": 10}}))
    (folder / "metrics.csv").write_text(f"epoch,step,time/train_s\n1,5,{step_s * 5}\n2,10,{step_s * 5}\n")
    rows = ["id,label,prediction"] + [f"v{i},{a},{b}" for i, (a, b) in enumerate(preds)]
    (folder / "test_predictions.csv").write_text("\n".join(rows) + "\n")
    save_file({"w": torch.zeros(10, 10)}, str(folder / "best" / "model.safetensors"))


def test_the_report_pools_seeds_per_variant_and_compares_with_the_control(tmp_path):
    from lsvit.sweeps import sweep_report

    right = [("grow", "grow"), ("shrink", "shrink")]
    half = [("grow", "grow"), ("shrink", "grow")]
    _fake_run(tmp_path / "a0", "attention", 0, 0.8, 0.2, right)
    _fake_run(tmp_path / "a1", "attention", 1, 0.6, 0.2, half)
    _fake_run(tmp_path / "e0", "excitation", 0, 0.9, 0.1, right)
    _fake_run(tmp_path / "c0", "none", 0, 0.5, 0.1, half, model_name="lsvit_frameavg_test")
    r = sweep_report(tmp_path)
    rows = {row["variant"]: row for row in r["rows"]}
    att = rows["model.lmi=attention model.model_name=lsvit_test"]
    assert att["runs"] == 2 and att["test_top1"] == pytest.approx(0.7) and att["test_top1_std"] == pytest.approx(0.1414, abs=1e-4)
    assert att["direction"] == pytest.approx(0.75) and att["params"] == 100
    assert att["step_ms"] == pytest.approx(200) and att["step_vs_control"] == pytest.approx(2.0)
    assert rows["model.lmi=none model.model_name=lsvit_frameavg_test"]["control"]
    assert "| model.lmi=attention model.model_name=lsvit_test | 2 | 0.700 ± 0.141 | 0.750 ± 0.354 | 0.00 M | 200 | 2.00x |" \
        in r["markdown"]
    assert all(Path(f).is_file() for f in r["files"])
    with open(tmp_path / "sweep_report.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 3
    with pytest.raises(LsvitError, match=r"control=model.lmi=gated: no variant has it"):
        sweep_report(tmp_path, control="model.lmi=gated")
    with pytest.raises(LsvitError, match="no finished run below it"):
        sweep_report(tmp_path / "a0" / "best")


def test_the_slurm_sweep_renders_its_job(tmp_path, monkeypatch):
    """The submitit launcher's job, as `hydra/launcher=slurm` configures it, rendered to the sbatch script it submits."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "experiment=demo"],
                      return_hydra_config=True)
    launcher = instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == "SlurmLauncher"
    # what SlurmLauncher.launch does with its parameters, up to the script it submits
    params = dict(launcher.params)
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    # a stand-in `srun` on the PATH: submitit looks for one before it renders anything (nothing is submitted here)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    executor = submitit.AutoExecutor(cluster="slurm", folder=str(tmp_path / "jobs"))
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()
                                  if k not in ("submitit_folder", "max_num_timeout") and v is not None})
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit", "0")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --mem=64GB", "#SBATCH --time=720", "#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1"):
        assert line in script, (line, script)


@pytest.mark.slow
def test_a_local_sweep_runs_on_the_joblib_launcher_and_reports(tmp_path, tiny_dataset):
    """`tools/train.py -m` on this machine: one run folder per job under outputs/sweeps/<name>/, then the report."""
    from conftest import tiny_overrides

    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="offline", TQDM_DISABLE="1", PYTHONWARNINGS="ignore")
    args = [a for a in tiny_overrides(tiny_dataset / "train", tmp_path / "x", "engine.epochs=1",
                                      f"data.test_root={tiny_dataset / 'test'}", "name=abl")
            if not a.startswith(("run_dir=", "model.model_name="))]
    r = subprocess.run([sys.executable, str(ROOT / "tools/train.py"), "-m", *args,
                        "model.model_name=lsvit_test,lsvit_frameavg_test", "seed=0,1"], cwd=tmp_path,
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    sweep = tmp_path / "outputs/sweeps/abl"
    runs = sorted(p.parent.relative_to(sweep).as_posix() for p in sweep.rglob("summary.json"))
    assert runs == ["0", "1", "2", "3"]  # one run folder per job
    r = subprocess.run([sys.executable, str(ROOT / "tools/sweep_report.py"), str(sweep)], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| model.model_name=lsvit_frameavg_test (control) | 2 |" in r.stdout
    assert "| model.model_name=lsvit_test | 2 |" in r.stdout and (sweep / "sweep_report.png").is_file()


def test_every_preset_gives_each_sweep_job_its_own_run_folder():
    """A preset that set ``run_dir`` itself would send every job of ``-m experiment=<it>`` into one folder (the
    second job then refuses to overwrite the first): presets keep train.yaml's ``${run_dir_of:...}``."""
    from omegaconf import OmegaConf

    from lsvit.config import compose

    presets = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
    assert "demo" in presets
    for name in presets:
        cfg = compose("train", [f"experiment={name}"])
        raw = OmegaConf.to_container(cfg, resolve=False)["run_dir"]
        assert raw.startswith("${run_dir_of:"), (name, raw)
        assert cfg.run_dir == f"outputs/{cfg.name}", name  # a single run still trains into outputs/<name>
