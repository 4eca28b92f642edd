"""One training loop for every model family, on Hugging Face Accelerate.

:func:`train` is the story of a run, top to bottom: build, resume, the epoch loop
(:func:`train_one_epoch`, :func:`~lsvit.engine.evaluation.evaluate`, checkpoint, early stop),
the final test, reports, summary. What a family must offer the loop is written down in
:mod:`lsvit.engine` (the package docstring); the loop itself never asks what its inputs are.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from accelerate import Accelerator
from accelerate.utils import set_seed
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lsvit import Interrupted, LsvitError
from lsvit.checkpoint.card import add_evaluation
from lsvit.checkpoint.folder import disk_errors, load_weights, save_best
from lsvit.checkpoint.meta import model_spec
from lsvit.config import build
from lsvit.contracts import DataModule
from lsvit.data.dataset import SeededSampler, WithSeeds, to_model_input
from lsvit.device import apply_numerics, build_accelerator
from lsvit.engine.evaluation import evaluate, make_loader, union_across_ranks
from lsvit.engine.guards import NonFiniteGuard, StopSignals, check_disk_space, checkpoint_bytes
from lsvit.engine.loggers import init_trackers, make_trackers, write_metrics_csv
from lsvit.engine.optim import build_optimizer, current_lr, is_epoch_scheduler
from lsvit.engine.resume import load_last, save_last
from lsvit.engine.rundir import open_run_dir, remove_if_empty
from lsvit.engine.settings import EngineSettings, TrainSettings, train_settings
from lsvit.engine.state import RunState
from lsvit.io import atomic_write_text
from lsvit.locks import WriterLock
from lsvit.models.stochastic import per_sample_seeds, seed_stochastic_layers, unseeded_randomness
from lsvit.provenance import run_info
from lsvit.reports import write_run_reports

log = logging.getLogger(__name__)
_SKIP_MODES = {"device": "on the device (fused optimizer, no host sync)", "scaler": "by the fp16 GradScaler",
               "host": "after one scalar read per step (unfused optimizer)"}


# ------------------------------------------------------------------------------------------- the story
def train(cfg: DictConfig) -> dict[str, Any]:
    """Train a model from a composed hydra config (see ``configs/train.yaml``).

    Returns:
        Summary: ``run_dir``, ``best_epoch``, ``best_metric``, ``best_metrics``,
        ``last_metrics``, ``epochs_run``, ``skipped`` (broken inputs met), ``stopped_early``, and
        ``test_metrics`` when the data has a test part.
    """
    settings = train_settings(cfg)  # bad or unknown settings: one message before any work starts
    # accelerator, locked run folder, data, model, loaders, optimizer, schedule (prepared); the lock goes on leaving
    with build_run(cfg, settings) as run:
        state = start_state(run, settings.resume)  # from last/ with resume=true, else a fresh one
        log.info("non-finite steps are skipped %s", _SKIP_MODES[run.guard.attach(run.optimizer, run.accelerator)])
        write_run_files(run)  # config.yaml, split_summary.json
        init_trackers(run.accelerator, cfg, run.run_dir, settings.wandb)

        errors, best_outputs, last_row, stopped_early = set(state.skipped), {}, {}, False
        start_epoch = state.epoch
        with run.signals:  # SIGTERM/SIGINT: save last/ at the next step and leave (handlers restored on exit)
            for epoch in range(start_epoch, run.epochs):
                t0 = time.time()
                train_metrics = train_one_epoch(run, state, epoch, errors)
                train_s = train_metrics.pop("_s")
                val_metrics, outputs = evaluate(run.model, run.val_dl, run.accelerator, desc=f"val {epoch + 1}")
                row = {"epoch": epoch + 1, "step": state.global_step, "lr": current_lr(run.optimizer),
                       **train_metrics, **val_metrics, "train/nonfinite_steps": run.guard.total,
                       "time/train_s": train_s, "time/epoch_s": time.time() - t0}
                end_of_epoch(run, state, row, outputs, errors)
                if state.best_epoch == epoch + 1:
                    best_outputs = outputs
                last_row = row
                checkpoint_last(run, state)
                if epoch + 1 < run.epochs and run.stop_requested(state, force_sync=True):
                    leave(run, state, epoch + 1, 0)
                if _job_done(run, epoch - start_epoch + 1, epoch + 1):
                    break
                if run.patience and state.bad_epochs >= run.patience:
                    run.accelerator.print(f"early stopping: {run.monitor} did not improve in {run.patience} epochs")
                    stopped_early = True
                    break

        finished = stopped_early or state.epoch >= run.epochs
        best_outputs, test = final_test(run, state, best_outputs) if finished else (best_outputs, None)
        if test is not None:
            errors.update(test["outputs"]["errors"])
        skipped = union_across_ranks(run.accelerator, errors)
        summary = summarize(run, state, last_row, finished, stopped_early, skipped, test)
        if run.main:
            write_run_reports(run.run_dir, summary, run.class_names, best_outputs or None,
                              test["outputs"] if test else None)
        finish(run, state, summary)
        return summary


# ------------------------------------------------------------------------------------------- building
@dataclass
class Run:
    """What a run builds from its config; model, optimizer, scheduler and loaders are prepared by Accelerate."""

    cfg: DictConfig
    settings: TrainSettings
    accelerator: Accelerator
    run_dir: Path
    lock: WriterLock | None  # the run folder's writer lock (main process), held until the run ends
    dm: DataModule
    class_names: list[str]
    model_spec: dict[str, Any]
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_dl: DataLoader
    val_dl: DataLoader
    criterion: nn.Module
    guard: NonFiniteGuard
    signals: StopSignals

    @property
    def main(self) -> bool:
        """Whether this process writes (the main process)."""
        return self.accelerator.is_main_process

    @property
    def last_dir(self) -> Path:
        """``last/``: the exact-resume checkpoint."""
        return self.run_dir / "last"

    @property
    def engine(self) -> EngineSettings:
        """``engine.*``."""
        return self.settings.engine

    @property
    def epochs(self) -> int:
        """``engine.epochs``."""
        return self.engine.epochs

    @property
    def monitor(self) -> str:
        """``engine.monitor``: the metric that picks ``best/``."""
        return self.engine.monitor

    @property
    def mode(self) -> str:
        """``engine.monitor_mode``: ``max`` or ``min``."""
        return self.engine.monitor_mode

    @property
    def patience(self) -> int:
        """``engine.patience``: evaluations without improvement before early stopping (0: off)."""
        return self.engine.patience

    @property
    def log_every(self) -> int:
        """``engine.log_every``: optimizer steps between host syncs (progress bar, guard, signals)."""
        return self.engine.log_every

    @property
    def save_every(self) -> int:
        """``engine.save_every_steps``: also save ``last/`` every N optimizer steps (0: per epoch)."""
        return self.engine.save_every_steps

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.lock is not None:  # however the run ends (the kernel releases it too if the process dies)
            self.lock.release()

    def stop_requested(self, state: RunState, force_sync: bool) -> bool:
        """Whether a signal asked to stop; every rank agrees (all-reduced at log steps and epoch ends)."""
        if self.accelerator.num_processes == 1:
            return self.signals.received is not None
        if not force_sync and state.global_step % self.log_every:
            return False
        flag = torch.tensor([1.0 if self.signals.received else 0.0], device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)


def _pin_memory(e: EngineSettings, accelerator: Accelerator) -> bool:
    return e.pinned if e.pinned is not None else accelerator.device.type == "cuda"


def build_run(cfg: DictConfig, settings: TrainSettings) -> Run:
    """Accelerator, run folder, data module, model, loaders, optimizer and scheduler, all prepared.

    Raises:
        LsvitError: an unusable run folder, empty training/validation data, an indivisible batch.
    """
    e = settings.engine
    # accelerate logs every file of every checkpoint at INFO; keep the console for the run itself
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    # deterministic kernels and matmul precision, once per run and before CUDA starts (cuBLAS reads its workspace
    # setting then); set every time, so that a previous run in this process leaves nothing behind
    apply_numerics(e.deterministic, e.matmul_precision)
    # the trackers first: a logger that cannot work (TensorBoard not installed) is one message before any work
    trackers = make_trackers(settings.run_dir, settings.wandb, settings.tensorboard)
    accelerator = build_accelerator(e.device, e.mixed_precision, e.grad_accum, settings.run_dir, trackers)
    set_seed(settings.seed)
    dm = build(cfg.data, "data")
    class_names = list(dm.class_names)
    if len(class_names) < 2:  # one class trains to top-1 1.000 and says nothing
        raise LsvitError(f"the data has {len(class_names)} class(es) {class_names}: a classifier needs at least 2 "
                         "(one sub-folder per class under data.root)")
    # the model's settings that the data decides (e.g. the feature count of a keypoint file), then what
    # best/meta.json will record: a registered family with plain arguments (refused now, not at the first save)
    model_cfg = model_config(cfg.model, dm)
    spec = model_spec(model_cfg)
    model = build(OmegaConf.create(model_cfg), "model", num_classes=len(class_names))
    if settings.init_from:
        load_weights(model, settings.init_from, expect_classes=class_names)
    # the run folder is locked (one writer) only once the settings have built a model: a bad setting touches nothing
    run_dir, lock = open_run_dir(settings.run_dir, accelerator, settings.resume, settings.overwrite)
    try:
        return _prepared_run(cfg, settings, accelerator, run_dir, lock, dm, class_names, spec, model)
    except BaseException:
        if lock is not None:  # the main process: a run that never started leaves no empty folder behind
            remove_if_empty(run_dir)
            lock.release()
        raise


def model_config(node: DictConfig, dm: DataModule) -> dict[str, Any]:
    """The model's config with the settings the data decides (:meth:`~lsvit.contracts.DataModule.model_args`).

    A key the data decides that the config leaves null (or out) takes the data's value; one set to another
    value is an error naming both, so a model is never built for inputs other than the data's.

    Raises:
        LsvitError: a model setting that contradicts the data.
    """
    cfg = OmegaConf.to_container(node, resolve=True)
    for key, value in dm.model_args().items():
        if cfg.get(key) is None:
            cfg[key] = value
        elif cfg[key] != value:
            raise LsvitError(f"invalid configuration: model.{key}={cfg[key]} but the data gives {value} (leave "
                             f"model.{key} unset to take the data's)")
    return cfg


def loader_workers(num_workers: int, dataset: Any, accelerator: Accelerator | None = None) -> int:
    """``engine.num_workers``, or 0 for a dataset that says workers would not help (``needs_workers`` false: its
    samples are in memory already, e.g. an embedding cache read with ``data.in_memory``)."""
    if num_workers > 0 and getattr(dataset, "needs_workers", True) is False:
        if accelerator is not None:
            accelerator.print(f"note: the data is in memory: the loader runs in the main process "
                              f"(engine.num_workers={num_workers} not used)")
        return 0
    return num_workers


def _prepared_run(cfg: DictConfig, settings: TrainSettings, accelerator: Accelerator, run_dir: Path,
                  lock: WriterLock | None, dm: DataModule, class_names: list[str], spec: dict[str, Any],
                  model: nn.Module) -> Run:
    e = settings.engine
    if accelerator.is_main_process:
        check_disk_space(run_dir, checkpoint_bytes(model))
    dm.setup(model)
    if len(dm.train_dataset) == 0 or len(dm.val_dataset) == 0:
        raise LsvitError(f"{len(dm.train_dataset)} training / {len(dm.val_dataset)} validation videos: "
                         "both must be non-empty (check data.root and data.val_ratio)")

    batch_size = e.batch_size
    if batch_size % accelerator.num_processes:
        raise LsvitError(f"engine.batch_size={batch_size} is the global batch and must divide evenly over "
                         f"{accelerator.num_processes} processes")
    loader = dict(collate_fn=dm.collate_fn, num_workers=loader_workers(e.num_workers, dm.train_dataset, accelerator),
                  prefetch=e.prefetch_factor, pin_memory=_pin_memory(e, accelerator), persistent=e.persistent_workers)
    sampler = SeededSampler(len(dm.train_dataset), seed=settings.seed, shuffle=True)
    # the samples carry their seeds, and the model's dropout / stochastic depth draw from them (not from each
    # process's RNG): one sample gets the same masks on whichever rank it lands, so 1 and N processes agree
    train_dl = make_loader(WithSeeds(dm.train_dataset), batch_size, sampler=sampler,
                           drop_last=len(dm.train_dataset) >= batch_size, **loader)
    seed_stochastic_layers(model)
    unseeded = unseeded_randomness(model)
    if unseeded and accelerator.num_processes > 1:
        accelerator.print(f"note: {', '.join(unseeded)}: dropout inside nn.LSTM draws from each process's RNG, "
                          "so runs on 1 and N processes differ slightly (set the LSTM's dropout to 0 to align them)")
    val_dl = make_loader(dm.val_dataset, e.eval_batch_size or batch_size, **loader)

    o = cfg.optim
    optimizer = build_optimizer(build(o.optimizer), model, float(o.lr), float(o.weight_decay),
                                float(o.get("head_lr_mult", 1.0)), o.get("head_lr"))
    updates_per_epoch = math.ceil(len(train_dl) / e.grad_accum)
    scheduler = build(cfg.scheduler)(optimizer=optimizer, total_steps=updates_per_epoch * e.epochs,
                                     steps_per_epoch=updates_per_epoch)
    if e.compile:
        model = torch.compile(model)
    model, optimizer, train_dl, val_dl, scheduler = accelerator.prepare(model, optimizer, train_dl, val_dl, scheduler)
    criterion = build_criterion(e.label_smoothing)
    guard = NonFiniteGuard(e.max_nonfinite, accelerator.device)
    return Run(cfg, settings, accelerator, run_dir, lock, dm, class_names, spec, model, optimizer, scheduler, train_dl, val_dl,
               criterion, guard, StopSignals())


def build_criterion(label_smoothing: float) -> nn.Module:
    """Cross-entropy; ``ignore_index=-1``: stand-ins for broken inputs carry label -1."""
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing, ignore_index=-1)


def start_state(run: Run, resume: bool) -> RunState:
    """The run state from ``last/`` (``resume=true``; saying which) or a fresh one; the guard counts on from it."""
    state = load_last(run.accelerator, run.last_dir, run.class_names) if resume else None
    if resume:
        run.accelerator.print(f"resume=true: no complete checkpoint in {run.last_dir}; starting from scratch"
                              if state is None else
                              f"resumed from {run.last_dir}: epoch {state.epoch}, step {state.global_step}")
    state = state or RunState(run.class_names)
    run.guard.total = state.nonfinite_steps
    return state


def write_run_files(run: Run) -> None:
    """The run's resolved ``config.yaml`` and, when the data module offers it, ``split_summary.json``
    (train/validation counts per class: the validation set can be audited afterwards)."""
    if not run.main:
        return
    atomic_write_text(run.run_dir / "config.yaml", OmegaConf.to_yaml(run.cfg, resolve=True))
    atomic_write_text(run.run_dir / "split_summary.json", json.dumps(run.dm.split_summary(), indent=1))


# ------------------------------------------------------------------------------------------- one epoch
def train_one_epoch(run: Run, state: RunState, epoch: int, errors: set[str]) -> dict[str, float]:
    """Train one epoch (from ``state.step_in_epoch`` when resuming mid-epoch).

    The step is Accelerate's: ``accumulate``, ``autocast``, ``backward``, and on sync steps gradient
    clipping and the optimizer step through the non-finite guard (a NaN/inf gradient never reaches
    the weights). Running sums stay on the device: no host sync inside the step.

    Returns:
        ``train/loss``, ``train/top1`` (all ranks) and ``_s``, the seconds spent.
    """
    acc, model, guard, e = run.accelerator, run.model, run.guard, run.engine
    per_step_scheduler = not is_epoch_scheduler(run.scheduler)
    # through the prepared loader: Accelerate re-applies *its* epoch counter (which restarts at 0
    # after a resume) to the sampler at every iteration start
    run.train_dl.set_epoch(epoch)
    model.train()
    skip = state.step_in_epoch if epoch == state.epoch else 0
    loader = acc.skip_first_batches(run.train_dl, skip) if skip else run.train_dl
    if skip:
        loader.set_epoch(epoch)
    loss_sum, correct, seen = (torch.zeros((), device=acc.device) for _ in range(3))
    t0 = time.time()
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{run.epochs}", initial=skip, total=len(run.train_dl),
               disable=None if acc.is_local_main_process else True, leave=False)  # None: off when not a TTY
    for i, batch in enumerate(bar, start=skip):
        errors.update(batch.get("error", []))
        with acc.accumulate(model):
            with acc.autocast(), per_sample_seeds(batch.get("seed")):
                logits = model(to_model_input(batch["inputs"], batch.get("color")))
                loss = run.criterion(logits.float(), batch["label"])
            finite = guard.observe(loss)
            # always backward (every rank alike): a NaN loss leaves NaN gradients, and the guard
            # never lets non-finite gradients reach the weights
            acc.backward(loss)
            if acc.sync_gradients:
                guard.step(run.optimizer, grad_norm(model, acc, e.clip_grad, guard.mode))
            if per_step_scheduler:
                run.scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
        valid = (batch["label"] >= 0) & finite
        n = valid.sum()
        loss_sum += torch.where(finite, loss.detach(), 0.0) * n
        correct += ((logits.argmax(1) == batch["label"]) & valid).sum()
        seen += n
        if not acc.sync_gradients:
            continue
        state.global_step += 1
        if state.global_step % run.log_every == 0:
            guard.sync(acc, f"epoch {epoch + 1}, step {state.global_step}")
            if acc.is_local_main_process:
                bar.set_postfix(loss=f"{(loss_sum / seen.clamp(min=1)).item():.4f}",
                                acc=f"{(correct / seen.clamp(min=1)).item():.3f}", lr=f"{current_lr(run.optimizer):.2e}")
        more = i + 1 < len(run.train_dl)
        if run.save_every and state.global_step % run.save_every == 0 and more:
            state.epoch, state.step_in_epoch = epoch, i + 1
            checkpoint_last(run, state)
        if more and run.stop_requested(state, force_sync=False):
            leave(run, state, epoch, i + 1)
    bar.close()
    guard.sync(acc, f"the end of epoch {epoch + 1}")
    totals = acc.reduce(torch.stack([loss_sum, correct, seen]), reduction="sum")
    return {"train/loss": (totals[0] / totals[2].clamp(min=1)).item(),
            "train/top1": (totals[1] / totals[2].clamp(min=1)).item(), "_s": time.time() - t0}


def grad_norm(model: nn.Module, accelerator: Accelerator, clip: float | None, mode: str) -> torch.Tensor | None:
    """The total gradient norm (clipped to ``clip`` when set), on the device: the guard's evidence."""
    norm = accelerator.clip_grad_norm_(model.parameters(), float(clip)) if clip else None
    if norm is None and mode != "scaler":  # the fp16 scaler checks the gradients itself
        norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    return norm


# ------------------------------------------------------------------------------------------- epoch end
def end_of_epoch(run: Run, state: RunState, row: dict[str, Any], outputs: dict[str, Any], errors: set[str]) -> None:
    """Record the epoch: schedule on the metric, best checkpoint, ``metrics.csv``, trackers, one console line."""
    if run.monitor not in row:
        raise LsvitError(f"engine.monitor={run.monitor} is not a logged metric (choose from {sorted(row)})")
    if is_epoch_scheduler(run.scheduler):
        run.scheduler.step(row[run.monitor])
    errors.update(outputs["errors"])
    if not row.get("val/num_samples") and outputs["errors"]:
        raise LsvitError(f"none of the {len(outputs['errors'])} validation inputs could be read (e.g. "
                         f"{outputs['errors'][0]}): no checkpoint can be selected; fix or replace them, or give "
                         "another validation set")
    improved = state.record(row, run.monitor, run.mode)
    if improved and run.main:
        meta = {"model": run.model_spec, "class_names": run.class_names, "data": run.dm.meta(), "metrics": row,
                "epoch": row["epoch"], "monitor": run.monitor, "seed": run.settings.seed,
                "run": run_info(OmegaConf.to_yaml(run.cfg, resolve=True))}
        with disk_errors(run.run_dir / "best"):
            save_best(run.run_dir / "best", run.accelerator.unwrap_model(run.model), meta)
    state.skipped = sorted(errors)
    if run.main:
        write_metrics_csv(run.run_dir / "metrics.csv", state.history)
    if run.settings.trackers:
        run.accelerator.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=row["epoch"])
    run.accelerator.print(f"epoch {row['epoch']}/{run.epochs}: train loss {row['train/loss']:.4f} "
                          f"top1 {row['train/top1']:.3f} | val loss {row['val/loss']:.4f} top1 {row['val/top1']:.3f} "
                          f"top5 {row['val/top5']:.3f} f1 {row['val/macro_f1']:.3f}{' *' if improved else ''} "
                          f"({row['time/epoch_s']:.1f}s)")


def checkpoint_last(run: Run, state: RunState) -> None:
    """Save ``last/`` with the guard's counters brought up to date."""
    run.guard.sync(run.accelerator, "", check=False)
    state.nonfinite_steps = run.guard.total
    save_last(run.accelerator, run.last_dir, state)


def leave(run: Run, state: RunState, epoch: int, step_in_epoch: int) -> None:
    """Stop on a signal: save ``last/`` and ``metrics.csv``, then raise :class:`Interrupted` (exit 128 + signal)."""
    state.epoch, state.step_in_epoch = epoch, step_in_epoch
    checkpoint_last(run, state)
    if run.main and state.history:
        write_metrics_csv(run.run_dir / "metrics.csv", state.history)
    name = run.signals.name or "a signal on another process"
    raise Interrupted(f"stopped by {name} at epoch {epoch + 1}, step {state.global_step}; saved {run.last_dir}. "
                      f"Continue with resume=true run_dir={run.run_dir}", 128 + int(run.signals.received or 15))


def _job_done(run: Run, epochs_this_job: int, epoch: int) -> bool:
    """``engine.stop_after_epochs``: leave after that many epochs in this job (time-sliced clusters)."""
    n = run.engine.stop_after_epochs
    if n and epochs_this_job >= n and epoch < run.epochs:
        run.accelerator.print(f"stopping after {n} epoch(s) in this job; continue with resume=true "
                              f"run_dir={run.run_dir}")
        return True
    return False


# ------------------------------------------------------------------------------------------- after training
def final_test(run: Run, state: RunState, best_outputs: dict[str, Any]
               ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Reload ``best/``: its validation outputs (if not kept), the model's own reports, and its one test on the
    held-out part, if any.

    Returns:
        ``(best validation outputs, test)`` with ``test = {"metrics", "outputs", "views", "count"}`` or None.
    """
    if state.best_epoch is None:
        return best_outputs, None
    ev, e = run.settings.eval, run.engine
    test_ds = run.dm.make_test_dataset(ev.num_clips, ev.num_crops)
    # the reports and the test describe the selected checkpoint, also after a resume
    run.accelerator.wait_for_everyone()
    load_weights(run.accelerator.unwrap_model(run.model), run.run_dir / "best")
    if not best_outputs:
        _, best_outputs = evaluate(run.model, run.val_dl, run.accelerator, "val/", desc="val (best)")
    batch = run.settings.eval_batch
    model_reports(run, "val", run.dm.val_dataset, batch)
    if test_ds is None:
        return best_outputs, None
    model_reports(run, "test", test_ds, batch)
    test_dl = run.accelerator.prepare(make_loader(test_ds, batch, run.dm.collate_fn,
                                                  loader_workers(e.num_workers, test_ds),
                                                  _pin_memory(e, run.accelerator), False, e.prefetch_factor))
    metrics, outputs = evaluate(run.model, test_dl, run.accelerator, "test/", desc="test", num_views=test_ds.num_views)
    run.accelerator.print(f"test ({len(test_ds)} videos, {test_ds.num_views} view(s)): top1 {metrics['test/top1']:.4f} "
                          f"top5 {metrics['test/top5']:.4f} macro-F1 {metrics['test/macro_f1']:.4f}")
    if run.main:  # the model card of best/ shows its one test
        add_evaluation(run.run_dir / "best", {**metrics, "views": test_ds.num_views, "split": "test",
                                              "dataset": run.dm.meta().get("dataset", "test"),
                                              "num_clips": ev.num_clips, "num_crops": ev.num_crops})
    return best_outputs, {"metrics": metrics, "outputs": outputs, "views": test_ds.num_views, "count": len(test_ds)}


def model_reports(run: Run, tag: str, dataset: Any, batch_size: int) -> None:
    """A model's own reports of the best checkpoint (the optional ``evaluation_report`` hook, e.g. attention).

    Main process only, on the whole (unsharded) dataset; what the hook returns is printed and logged.
    """
    model = run.accelerator.unwrap_model(run.model)
    hook = getattr(model, "evaluation_report", None)
    if hook is None or not run.main or getattr(dataset, "num_views", 1) > 1:
        return
    device = run.accelerator.device
    batches = ({k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()}
               for b in make_loader(dataset, batch_size, run.dm.collate_fn))
    figures = hook(run.run_dir, tag, batches, run.dm.meta())
    if figures:
        run.accelerator.print(f"{tag} model report: " + ", ".join(f"{k.split('/')[-1]} {v:.4g}" if isinstance(v, float)
                                                                 else f"{k.split('/')[-1]} {v}" for k, v in figures.items()))
        if run.settings.trackers:
            run.accelerator.log(figures)


def summarize(run: Run, state: RunState, last_row: dict[str, Any], finished: bool, stopped_early: bool,
              skipped: list[str], test: dict[str, Any] | None) -> dict[str, Any]:
    """The run's summary (``summary.json``; :func:`train`'s return value)."""
    summary = {"run_dir": str(run.run_dir), "best_epoch": state.best_epoch, "best_metric": state.best_metric,
               "monitor": run.monitor, "best_metrics": state.best_metrics,
               "last_metrics": last_row or (state.history[-1] if state.history else {}), "epochs_run": state.epoch,
               "finished": finished, "stopped_early": stopped_early, "skipped": skipped,
               "num_processes": run.accelerator.num_processes, "nonfinite_steps": run.guard.total,
               "train_minutes": sum(float(r.get("time/epoch_s", 0.0)) for r in state.history) / 60}
    if test is not None:
        summary.update(test_metrics=test["metrics"], test_views=test["views"], num_test=test["count"])
    return summary


def finish(run: Run, state: RunState, summary: dict[str, Any]) -> None:
    """The closing lines, trackers closed, every process done."""
    if summary["skipped"]:
        run.accelerator.print(f"skipped {len(summary['skipped'])} unreadable video(s) during the run:\n  "
                              + "\n  ".join(summary["skipped"][:20]))
    if state.best_epoch is not None:
        run.accelerator.print(f"best {run.monitor} = {state.best_metric:.4f} at epoch {state.best_epoch} "
                              f"-> {run.run_dir / 'best'}")
    if run.settings.trackers:
        run.accelerator.end_training()
    run.accelerator.wait_for_everyone()
