"""One train/evaluate loop for every model family, on Hugging Face Accelerate.

The loop sees batches ``{"inputs", "label", "id"}`` and a model ``inputs -> logits``; it
knows nothing of videos, embeddings or keypoints. Data come from a data module (see
:class:`lsvit.data.VideoDataModule`), models from ``timm.create_model`` through hydra.
"""

from __future__ import annotations

import json
import logging
import math
import contextlib
import errno
import os
import pickle
import shutil
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, gather_object, set_seed
from accelerate.utils.other import load as accelerate_load
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import BatchSampler, DataLoader
from tqdm.auto import tqdm

import lsvit.models  # noqa: F401  (registers the model families with timm)
from lsvit import LsvitError
from lsvit.config import build
from lsvit.data.dataset import SeededSampler
from lsvit.data.transforms import to_model_input
from lsvit.engine.accel import build_accelerator
from lsvit.engine.checkpoint import (STATE, atomic_write_text, load_weights, read_trainer_state, save_best,
                                     staging_dir, swap_in)
from lsvit.engine.loggers import write_metrics_csv
from lsvit.engine.metrics import classification_metrics
from lsvit.engine.guards import (Interrupted, NonFiniteGuard, StopSignals, check_disk_space, check_model_input,
                                 checkpoint_bytes, validate_train_config)
from lsvit.engine.optim import build_optimizer, current_lr, is_epoch_scheduler
from lsvit.engine.views import view_scores

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------- evaluation
def _union_across_ranks(accelerator: Accelerator, items: Any) -> list[str]:
    """Sorted union of every process's ``items`` (e.g. broken-video messages)."""
    items = sorted(set(items))
    return sorted(set(gather_object(items))) if accelerator.num_processes > 1 else items


@torch.no_grad()
def evaluate(model: nn.Module, dataloader: DataLoader, accelerator: Accelerator, prefix: str = "val/",
             desc: str = "eval", num_views: int = 1) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics over a (prepared) dataloader, gathered across processes without duplicates.

    Args:
        model: the prepared model.
        dataloader: the prepared dataloader.
        accelerator: the run's accelerator.
        prefix: metric key prefix.
        desc: progress-bar label.
        num_views: views per sample (clips x crops); their softmax scores are averaged.

    Returns:
        ``(metrics, outputs)``; ``outputs`` holds gathered ``logits`` (scores), ``labels``,
        ``ids`` and the ``errors`` met (broken samples, left out of the metrics).
    """
    model.eval()
    logits_all, labels_all, ids, errors = [], [], [], []
    for batch in tqdm(dataloader, desc=desc, leave=False, disable=None if accelerator.is_local_main_process else True):
        with accelerator.autocast():
            logits = view_scores(model, batch["inputs"], num_views, batch.get("color"))
        logits, labels = accelerator.gather_for_metrics((logits.float().contiguous(), batch["label"]))
        ids.extend(accelerator.gather_for_metrics(list(batch["id"]), use_gather_object=True))
        logits_all.append(logits.cpu())
        labels_all.append(labels.cpu())
        errors.extend(batch.get("error", []))
    logits = torch.cat(logits_all) if logits_all else torch.zeros(0, 0)
    labels = torch.cat(labels_all) if labels_all else torch.zeros(0, dtype=torch.long)
    errors = _union_across_ranks(accelerator, errors)
    return classification_metrics(logits, labels, prefix), {"logits": logits, "labels": labels, "ids": ids,
                                                            "errors": errors}


# ------------------------------------------------------------------------------------------- helpers
def _grad_norm(model: nn.Module, accelerator: Accelerator, clip: float | None, mode: str) -> torch.Tensor | None:
    """The total gradient norm (clipped to ``clip`` when set), on the device: the guard's evidence."""
    norm = accelerator.clip_grad_norm_(model.parameters(), float(clip)) if clip else None
    if norm is None and mode != "scaler":  # the fp16 scaler checks the gradients itself
        norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    return norm


def _loss_fn(label_smoothing: float) -> nn.Module:
    # ignore_index=-1: stand-ins for broken videos carry label -1
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing, ignore_index=-1)


def _loader(dataset: Any, batch_size: int, collate_fn: Any, num_workers: int, pin_memory: bool,
            persistent: bool, prefetch: int, sampler: Any = None, drop_last: bool = False) -> DataLoader:
    kw: dict[str, Any] = {}
    if num_workers > 0:
        kw = dict(persistent_workers=persistent, prefetch_factor=prefetch)
    if sampler is not None:
        # a BatchSampler over the seeded sampler: accelerate shards its batches as they are
        return DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch_size, drop_last), collate_fn=collate_fn,
                          num_workers=num_workers, pin_memory=pin_memory, **kw)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn,
                      num_workers=num_workers, pin_memory=pin_memory, **kw)


def prepare_run_dir(run_dir: str, accelerator: Accelerator, resume: bool, overwrite: bool) -> Path:
    """Agree on one run folder across processes, check it is writable, guard old runs."""
    chosen = broadcast_object_list([str(Path(run_dir).resolve())])[0] if accelerator.num_processes > 1 else run_dir
    path = Path(chosen)
    if accelerator.is_main_process:
        has_run = (path / "metrics.csv").exists() or (path / "last").exists() or (path / "best").exists()
        if has_run and not resume:
            if not overwrite:
                raise LsvitError(f"run_dir={path} already holds a run. Pass resume=true to continue it, "
                                 "overwrite=true to replace it, or another run_dir=")
            for sub in ("best", "last", "metrics.csv", "summary.json", "report.md"):
                p = path / sub
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".write_test_{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise LsvitError(f"run_dir={path}: not writable ({exc.strerror})") from exc
    accelerator.wait_for_everyone()
    return path


@contextlib.contextmanager
def disk_errors(target: Path) -> Any:
    """A failed checkpoint write (disk full, quota, permissions) is one clear error; the old copy is intact."""
    try:
        yield
    except OSError as exc:
        why = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror or str(exc)
        raise LsvitError(f"could not write {target} ({why}); the previous checkpoint there is intact") from exc


def _flat(cfg: DictConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = node if isinstance(node, (int, float, str, bool)) or node is None else str(node)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return out


def _better(value: float, best: float | None, mode: str) -> bool:
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best if mode == "max" else value < best


def _report(path: Path, summary: dict[str, Any], files: dict[str, Any]) -> None:
    """A short human-readable ``report.md``: best checkpoint, its metrics, test result, files."""
    lines = [f"# Run report: {path.name}", "", f"best epoch: {summary['best_epoch']}  "
             f"({summary['monitor']} = {summary['best_metric']:.4f})", ""]
    metrics = dict(summary.get("best_metrics", {}), **summary.get("test_metrics", {}))
    lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {v:.4f} |" for k, v in metrics.items()
                                                  if isinstance(v, float)]
    if summary.get("test_metrics"):
        lines += ["", f"test: {summary['test_views']} view(s) per video, scores averaged; the test part was "
                      "evaluated once, with the best checkpoint (never used for model selection)"]
    for tag, tag_files in files.items():
        lines += ["", f"{tag}: " + ", ".join(f"[{Path(f).name}]({Path(f).name})" for f in tag_files.values())]
        confusions = summary.get(f"{tag}_top_confusions") or []
        if confusions:
            lines += [f"top {tag} confusions (true -> predicted: clips):"]
            lines += [f"- {a} -> {b}: {c}" for a, b, c, _ in confusions[:10]]
    if summary.get("skipped"):
        lines += ["", f"skipped unreadable videos: {len(summary['skipped'])}"]
        lines += [f"- {e}" for e in summary["skipped"][:50]]
    atomic_write_text(path / "report.md", "\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------- training
def train(cfg: DictConfig) -> dict[str, Any]:
    """Train a model from a composed hydra config (see ``configs/train.yaml``).

    Returns:
        Summary: ``run_dir``, ``best_epoch``, ``best_metric``, ``best_metrics``,
        ``last_metrics``, ``epochs_run``, ``skipped`` (broken videos met), ``stopped_early``.
    """
    validate_train_config(cfg)  # bad settings: one message before any work starts
    e = cfg.engine
    ev = cfg.get("eval") or {}
    # accelerate logs every file of every checkpoint at INFO; keep the console for the run itself
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    log_with = ["wandb"] if cfg.get("logger") and cfg.logger.get("wandb") else None
    accelerator = build_accelerator(e.device, e.mixed_precision, int(e.grad_accum), str(cfg.run_dir), log_with)
    set_seed(int(cfg.seed))
    run_dir = prepare_run_dir(str(cfg.run_dir), accelerator, bool(cfg.resume), bool(cfg.get("overwrite", False)))
    main = accelerator.is_main_process

    dm = build(cfg.data)
    class_names = list(dm.class_names)
    model = build(cfg.model, num_classes=len(class_names))
    check_model_input(model, cfg)
    if cfg.get("init_from"):
        load_weights(model, cfg.init_from, expect_classes=class_names)
    if main:
        check_disk_space(run_dir, checkpoint_bytes(model))
    dm.setup(model)
    if len(dm.train_dataset) == 0 or len(dm.val_dataset) == 0:
        raise LsvitError(f"{len(dm.train_dataset)} training / {len(dm.val_dataset)} validation videos: "
                         "both must be non-empty (check data.root and data.val_ratio)")

    batch_size = int(e.batch_size)
    if batch_size % accelerator.num_processes:
        raise LsvitError(f"engine.batch_size={batch_size} is the global batch and must divide evenly over "
                         f"{accelerator.num_processes} processes")
    pin = bool(e.pin_memory) if e.pin_memory != "auto" else accelerator.device.type == "cuda"
    sampler = SeededSampler(len(dm.train_dataset), seed=int(cfg.seed), shuffle=True)
    train_dl = _loader(dm.train_dataset, batch_size, dm.collate_fn, int(e.num_workers), pin,
                       bool(e.persistent_workers), int(e.prefetch_factor), sampler,
                       drop_last=len(dm.train_dataset) >= batch_size)
    val_dl = _loader(dm.val_dataset, int(e.get("eval_batch_size") or batch_size), dm.collate_fn,
                     int(e.num_workers), pin, bool(e.persistent_workers), int(e.prefetch_factor))

    o = cfg.optim
    optimizer = build_optimizer(build(o.optimizer), model, float(o.lr), float(o.weight_decay),
                                float(o.get("head_lr_mult", 1.0)), o.get("head_lr"))
    epochs = int(e.epochs)
    updates_per_epoch = math.ceil(len(train_dl) / int(e.grad_accum))
    scheduler = build(cfg.scheduler)(optimizer=optimizer, total_steps=updates_per_epoch * epochs,
                                           steps_per_epoch=updates_per_epoch)
    if e.get("compile"):
        model = torch.compile(model)
    model, optimizer, train_dl, val_dl, scheduler = accelerator.prepare(model, optimizer, train_dl, val_dl,
                                                                        scheduler)
    criterion = _loss_fn(float(e.label_smoothing))

    state: dict[str, Any] = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_metric": None,
                             "best_epoch": None, "bad_epochs": 0, "history": [], "class_names": class_names,
                             "skipped": [], "best_metrics": {}}
    last_dir = run_dir / "last"
    if cfg.resume:
        prev = read_trainer_state(last_dir)
        if prev is None:
            accelerator.print(f"resume=true: no complete checkpoint in {last_dir}; starting from scratch")
        else:
            if prev.get("class_names") != class_names:
                raise LsvitError(f"resume=true: {last_dir} was trained on {len(prev.get('class_names', []))} "
                                 f"classes {prev.get('class_names', [])[:5]}..., the data has "
                                 f"{len(class_names)} {class_names[:5]}...")
            try:
                # Accelerate skips an RNG file it cannot load with only an INFO log, which would make the
                # resumed run silently differ: load them here first (weights_only, as Accelerate does)
                for rng_file in sorted(last_dir.glob("random_states_*.pkl")):
                    accelerate_load(rng_file)
                accelerator.load_state(str(last_dir))
            except pickle.UnpicklingError as exc:  # torch.load(weights_only=True) refused a pickled object
                raise LsvitError(f"resume=true: {last_dir} holds a file that is not plain tensors and was refused "
                                 f"(weights_only loading): {str(exc).splitlines()[0][:200]}") from exc
            state.update(prev)
            accelerator.print(f"resumed from {last_dir}: epoch {state['epoch']}, step {state['global_step']}")

    if main:
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    if log_with:
        w = cfg.logger.wandb
        init = {k: v for k, v in dict(name=run_dir.name, dir=str(run_dir), mode=w.get("mode"),
                                      entity=w.get("entity"), tags=list(w.get("tags") or [])).items() if v}
        accelerator.init_trackers(str(w.get("project", "lsvit")), config=_flat(cfg), init_kwargs={"wandb": init})

    def save_last() -> None:
        """Accelerate state + trainer state, swapped in atomically."""
        guard.sync(accelerator, "", check=False)
        state["nonfinite_steps"] = guard.total
        tmp = last_dir.with_name(".last.tmp")
        if main and tmp.exists():
            shutil.rmtree(tmp)
        accelerator.wait_for_everyone()
        with disk_errors(last_dir):
            accelerator.save_state(str(tmp))
            accelerator.wait_for_everyone()
            if main:
                atomic_write_text(tmp / STATE, json.dumps(state, indent=1))
                swap_in(tmp, last_dir)
        accelerator.wait_for_everyone()

    def stop_requested(force_sync: bool) -> bool:
        """Whether a signal asked to stop; every rank agrees (all-reduced at log steps and epoch ends)."""
        if accelerator.num_processes == 1:
            return signals.received is not None
        if not force_sync and state["global_step"] % log_every:
            return False
        flag = torch.tensor([1.0 if signals.received else 0.0], device=accelerator.device)
        return bool(accelerator.reduce(flag, reduction="sum").item() > 0)

    def leave(epoch: int, step_in_epoch: int) -> None:
        state["epoch"], state["step_in_epoch"] = epoch, step_in_epoch
        save_last()
        if main and state["history"]:
            write_metrics_csv(run_dir / "metrics.csv", state["history"])
        name = signals.name or "a signal on another process"
        raise Interrupted(f"stopped by {name} at epoch {epoch + 1}, step {state['global_step']}; saved {last_dir}. "
                          f"Continue with resume=true run_dir={run_dir}", 128 + int(signals.received or 15))

    monitor, mode = str(e.monitor), str(e.monitor_mode)
    patience = int(e.patience)
    log_every = max(1, int(e.log_every))
    save_every = int(e.get("save_every_steps") or 0)
    best_outputs: dict[str, Any] = {}
    stopped_early = False
    train_errors: set[str] = set(state["skipped"])
    last_metrics: dict[str, Any] = {}
    start_epoch = int(state["epoch"])
    per_step_scheduler = not is_epoch_scheduler(scheduler)
    guard = NonFiniteGuard(int(e.get("max_nonfinite") or 10), accelerator.device, int(state.get("nonfinite_steps", 0)))
    skip_mode = guard.attach(optimizer, accelerator)
    log.info("non-finite steps are skipped %s", {"device": "on the device (fused optimizer, no host sync)",
                                                  "scaler": "by the fp16 GradScaler",
                                                  "host": "after one scalar read per step (unfused optimizer)"}[skip_mode])
    signals = StopSignals()
    with signals:  # SIGTERM/SIGINT: save last/ at the next step and leave (handlers restored on exit)
        for epoch in range(start_epoch, epochs):
            # through the prepared loader: Accelerate re-applies *its* epoch counter (which restarts
            # at 0 after a resume) to the sampler at every iteration start
            train_dl.set_epoch(epoch)
            model.train()
            skip = int(state["step_in_epoch"]) if epoch == start_epoch else 0
            loader = accelerator.skip_first_batches(train_dl, skip) if skip else train_dl
            if skip:
                loader.set_epoch(epoch)
            # running sums stay on the device: no host sync inside the step
            loss_sum = torch.zeros((), device=accelerator.device)
            correct = torch.zeros((), device=accelerator.device)
            seen = torch.zeros((), device=accelerator.device)
            t0 = time.time()
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", initial=skip, total=len(train_dl),
                       # None: off when not a TTY
                       disable=None if accelerator.is_local_main_process else True, leave=False)
            for i, batch in enumerate(bar, start=skip):
                train_errors.update(batch.get("error", []))
                with accelerator.accumulate(model):
                    with accelerator.autocast():
                        logits = model(to_model_input(batch["inputs"], batch.get("color")))
                        loss = criterion(logits.float(), batch["label"])
                    finite = guard.observe(loss)
                    # always backward (every rank alike): a NaN loss leaves NaN gradients, and the
                    # guard never lets non-finite gradients reach the weights
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        guard.step(optimizer, _grad_norm(model, accelerator, e.clip_grad, guard.mode))
                    if per_step_scheduler:
                        scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                valid = (batch["label"] >= 0) & finite
                n = valid.sum()
                loss_sum += torch.where(finite, loss.detach(), 0.0) * n
                correct += ((logits.argmax(1) == batch["label"]) & valid).sum()
                seen += n
                if accelerator.sync_gradients:
                    state["global_step"] += 1
                    if state["global_step"] % log_every == 0:
                        guard.sync(accelerator, f"epoch {epoch + 1}, step {state['global_step']}")
                        if accelerator.is_local_main_process:
                            bar.set_postfix(loss=f"{(loss_sum / seen.clamp(min=1)).item():.4f}",
                                            acc=f"{(correct / seen.clamp(min=1)).item():.3f}",
                                            lr=f"{current_lr(optimizer):.2e}")
                    if save_every and state["global_step"] % save_every == 0 and i + 1 < len(train_dl):
                        state["epoch"], state["step_in_epoch"] = epoch, i + 1
                        save_last()
                    if i + 1 < len(train_dl) and stop_requested(False):
                        leave(epoch, i + 1)
            bar.close()
            guard.sync(accelerator, f"the end of epoch {epoch + 1}")
            totals = accelerator.reduce(torch.stack([loss_sum, correct, seen]), reduction="sum")
            train_time = time.time() - t0

            val_metrics, outputs = evaluate(model, val_dl, accelerator, "val/", desc=f"val {epoch + 1}")
            row: dict[str, Any] = {"epoch": epoch + 1, "step": state["global_step"], "lr": current_lr(optimizer),
                                   "train/loss": (totals[0] / totals[2].clamp(min=1)).item(),
                                   "train/top1": (totals[1] / totals[2].clamp(min=1)).item(),
                                   **val_metrics, "train/nonfinite_steps": guard.total, "time/train_s": train_time,
                                   "time/epoch_s": time.time() - t0}
            if monitor not in row:
                raise LsvitError(f"engine.monitor={monitor} is not a logged metric (choose from {sorted(row)})")
            if not per_step_scheduler:
                scheduler.step(row[monitor])
            train_errors.update(outputs["errors"])
            state["history"].append(row)
            state["epoch"], state["step_in_epoch"] = epoch + 1, 0
            improved = _better(float(row[monitor]), state["best_metric"], mode)
            if improved:
                state["best_metric"], state["best_epoch"], state["bad_epochs"] = float(row[monitor]), epoch + 1, 0
                state["best_metrics"] = {k: v for k, v in row.items() if k.startswith("val/")}
                best_outputs = outputs
                if main:
                    meta = {"model": OmegaConf.to_container(cfg.model, resolve=True), "class_names": class_names,
                            "data": dm.meta(), "metrics": row, "epoch": epoch + 1, "monitor": monitor,
                            "seed": int(cfg.seed)}
                    with disk_errors(run_dir / "best"):
                        save_best(run_dir / "best", accelerator.unwrap_model(model), meta)
            else:
                state["bad_epochs"] += 1
            state["skipped"] = sorted(train_errors)
            if main:
                write_metrics_csv(run_dir / "metrics.csv", state["history"])
            if log_with:
                accelerator.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=epoch + 1)
            accelerator.print(f"epoch {epoch + 1}/{epochs}: train loss {row['train/loss']:.4f} "
                              f"top1 {row['train/top1']:.3f} | val loss {row['val/loss']:.4f} "
                              f"top1 {row['val/top1']:.3f} "
                              f"top5 {row['val/top5']:.3f} f1 {row['val/macro_f1']:.3f}{' *' if improved else ''} "
                              f"({row['time/epoch_s']:.1f}s)")
            last_metrics = row
            save_last()
            if epoch + 1 < epochs and stop_requested(True):
                leave(epoch + 1, 0)
            job_done = e.get("stop_after_epochs") and epoch + 1 - start_epoch >= int(e.stop_after_epochs)
            if job_done and epoch + 1 < epochs:
                accelerator.print(f"stopping after {e.stop_after_epochs} epoch(s) in this job; "
                                  f"continue with resume=true run_dir={run_dir}")
                break
            if patience and state["bad_epochs"] >= patience:
                accelerator.print(f"early stopping: {monitor} did not improve for {patience} evaluations")
                stopped_early = True
                break

    finished = stopped_early or int(state["epoch"]) >= epochs
    test_ds = dm.make_test_dataset(int(ev.get("num_clips", 1)), int(ev.get("num_crops", 1))) \
        if finished and state["best_epoch"] is not None and hasattr(dm, "make_test_dataset") else None
    test_metrics: dict[str, Any] = {}
    test_outputs: dict[str, Any] = {}
    if finished and state["best_epoch"] is not None and (test_ds is not None or not best_outputs):
        # the reports and the test describe the selected checkpoint, also after a resume
        accelerator.wait_for_everyone()
        load_weights(accelerator.unwrap_model(model), run_dir / "best")
        if not best_outputs:
            _, best_outputs = evaluate(model, val_dl, accelerator, "val/", desc="val (best)")
        if test_ds is not None:
            test_dl = accelerator.prepare(_loader(test_ds, int(ev.get("batch_size") or e.get("eval_batch_size")
                                                               or batch_size), dm.collate_fn, int(e.num_workers),
                                                  pin, False, int(e.prefetch_factor)))
            test_metrics, test_outputs = evaluate(model, test_dl, accelerator, "test/", desc="test",
                                                  num_views=test_ds.num_views)
            train_errors.update(test_outputs["errors"])
            accelerator.print(f"test ({len(test_ds)} videos, {test_ds.num_views} view(s)): top1 "
                              f"{test_metrics['test/top1']:.4f} top5 {test_metrics['test/top5']:.4f} "
                              f"macro-F1 {test_metrics['test/macro_f1']:.4f}")

    all_skipped = _union_across_ranks(accelerator, train_errors)
    summary = {"run_dir": str(run_dir), "best_epoch": state["best_epoch"], "best_metric": state["best_metric"],
               "monitor": monitor, "best_metrics": state["best_metrics"],
               "last_metrics": last_metrics or (state["history"][-1] if state["history"] else {}),
               "epochs_run": state["epoch"], "finished": finished, "stopped_early": stopped_early,
               "skipped": all_skipped, "num_processes": accelerator.num_processes,
               "nonfinite_steps": guard.total,
               "train_minutes": sum(float(r.get("time/epoch_s", 0.0)) for r in state["history"]) / 60}
    if test_metrics:
        summary["test_metrics"] = test_metrics
        summary["test_views"] = test_ds.num_views  # type: ignore[union-attr]
        summary["num_test"] = len(test_ds)  # type: ignore[arg-type]
    if main:
        from lsvit.reports import write_reports  # lsvit.reports builds on lsvit.engine: imported late

        files: dict[str, Any] = {}
        if best_outputs:
            rep = write_reports(run_dir, best_outputs["logits"], best_outputs["labels"], class_names, "val",
                                best_outputs["ids"], run_dir / "metrics.csv", {"epoch": state["best_epoch"]})
            files["val"], summary["val_top_confusions"] = rep["files"], rep["top_confusions"]
        if test_outputs:
            rep = write_reports(run_dir, test_outputs["logits"], test_outputs["labels"], class_names, "test",
                                test_outputs["ids"], extra={"views": summary["test_views"],
                                                            "epoch": state["best_epoch"]})
            files["test"], summary["test_top_confusions"] = rep["files"], rep["top_confusions"]
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
        if state["best_epoch"] is not None:
            _report(run_dir, summary, files)
    if all_skipped:
        accelerator.print(f"skipped {len(all_skipped)} unreadable video(s) during the run:\n  "
                          + "\n  ".join(all_skipped[:20]))
    if state["best_epoch"] is not None:
        accelerator.print(f"best {monitor} = {state['best_metric']:.4f} at epoch {state['best_epoch']} "
                          f"-> {run_dir / 'best'}")
    if log_with:
        accelerator.end_training()
    accelerator.wait_for_everyone()
    return summary
