"""The Accelerator, configured explicitly from the hydra ``engine`` group, and the process-wide numerics of a run
(deterministic kernels, float32 matmul precision)."""

from __future__ import annotations

import os
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

from lsvit import LsvitError

DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("auto", "no", "fp16", "bf16")
MATMUL_PRECISIONS = ("highest", "high", "medium")
# cuBLAS's deterministic workspace (NVIDIA's documented value; seed 000 and Lightning set the same)
CUBLAS_WORKSPACE = ":4096:8"


def _mps() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def resolve_device(device: str) -> str:
    """``auto`` -> cuda, then mps, then cpu; an unavailable explicit choice is an error."""
    if device not in DEVICES:
        raise LsvitError(f"engine.device={device}: choose one of {DEVICES}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if _mps() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise LsvitError("engine.device=cuda but no CUDA device is visible (use engine.device=auto or cpu)")
    if device == "mps" and not _mps():
        raise LsvitError("engine.device=mps but MPS is not available on this machine")
    if device == "mps" and torch.cuda.is_available():
        raise LsvitError("engine.device=mps on a machine with CUDA: Accelerate always prefers CUDA here")
    return device


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` -> bf16 on capable CUDA, fp16 on older CUDA and on MPS, no on CPU.

    CPU autocast to bf16 is slower than fp32 on most CPUs without AMX, so ``auto`` keeps
    fp32 there; ``engine.mixed_precision=bf16`` still forces it.
    """
    if precision not in PRECISIONS:
        raise LsvitError(f"engine.mixed_precision={precision}: choose one of {PRECISIONS}")
    if precision != "auto":
        if precision == "fp16" and device == "cpu":
            raise LsvitError("engine.mixed_precision=fp16 needs a GPU; use bf16 or no on CPU")
        return precision
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device == "mps":
        return "fp16"
    return "no"


def build_accelerator(device: str = "auto", mixed_precision: str = "auto", grad_accum: int = 1,
                      run_dir: str | None = None, log_with: list[Any] | None = None) -> Accelerator:
    """An Accelerator whose settings all come from the arguments (i.e. from hydra).

    ``split_batches=True``: ``engine.batch_size`` is the global batch, split over the
    processes, so 1 and N processes take the same optimizer steps on the same samples.
    """
    if grad_accum < 1:
        raise LsvitError(f"engine.grad_accum={grad_accum}: must be >= 1")
    dev = resolve_device(device)
    prec = resolve_precision(mixed_precision, dev)
    # AcceleratorState is a per-process singleton: without this, a second run in the same
    # process (a notebook, a sweep) could not change mixed precision or device. The
    # distributed PartialState (process group) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(
        cpu=dev == "cpu",
        mixed_precision=prec,
        gradient_accumulation_steps=grad_accum,
        log_with=log_with or None,
        project_config=ProjectConfiguration(project_dir=run_dir, automatic_checkpoint_naming=False),
        dataloader_config=DataLoaderConfiguration(split_batches=True, even_batches=True),
        step_scheduler_with_optimizer=True,
    )


def apply_numerics(deterministic: bool | str = False, matmul_precision: str = "highest") -> None:
    """Set the process-wide numerics of a run, every time a run starts (so one run's choice never leaks into the
    next run of the same process, a notebook or a sweep).

    Args:
        deterministic: ``True``: deterministic kernels only (``torch.use_deterministic_algorithms``; an operation
            without one raises, naming it), ``CUBLAS_WORKSPACE_CONFIG`` set (unless already set) before CUDA starts,
            cuDNN deterministic and not benchmarking; ``"warn"``: the same, an operation without a deterministic
            kernel warns instead; ``False``: PyTorch's defaults.
        matmul_precision: ``torch.set_float32_matmul_precision``: ``highest`` (full float32, PyTorch's default),
            ``high`` (TF32 on Ampere and newer GPUs) or ``medium`` (bfloat16 passes where supported).

    Raises:
        LsvitError: an unknown value.
    """
    if deterministic not in (True, False, "warn"):
        raise LsvitError(f"engine.deterministic={deterministic}: choose true, false or warn")
    if matmul_precision not in MATMUL_PRECISIONS:
        raise LsvitError(f"engine.matmul_precision={matmul_precision}: choose one of {MATMUL_PRECISIONS}")
    on = deterministic is not False
    if on:
        # read when cuBLAS creates its handles: before the first CUDA matmul of the process (a process that has
        # already used CUDA keeps the workspace it has)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(on, warn_only=deterministic == "warn")
    torch.backends.cudnn.deterministic = on
    if on:
        torch.backends.cudnn.benchmark = False  # autotuning picks kernels by timing: another choice each run
    torch.set_float32_matmul_precision(matmul_precision)
