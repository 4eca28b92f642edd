"""Config helpers: environment overrides (``APPCONFIG__*``) and composing configs in code.

Seed 003's users configure through the environment; each ``APPCONFIG__<NAME>`` maps onto
one hydra key (see :data:`APPCONFIG_KEYS` and docs/configuration.md). Command-line overrides
win: an environment value is dropped when the command line sets the same key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lsvit import LsvitError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

APPCONFIG_KEYS: dict[str, str] = {
    "BATCH_SIZE": "engine.batch_size",
    "EPOCHS": "engine.epochs",
    "LR": "optim.lr",
    "WEIGHT_DECAY": "optim.weight_decay",
    "GRAD_ACCUM": "engine.grad_accum",
    "MIXED_PRECISION": "engine.mixed_precision",
    "DEVICE": "engine.device",
    "NUM_WORKERS": "engine.num_workers",
    "PATIENCE": "engine.patience",
    "NUM_FRAMES": "data.num_frames",
    "FRAME_STRIDE": "data.frame_stride",
    "IMAGE_SIZE": "data.image_size",
    "VAL_RATIO": "data.val_ratio",
    "DATA_ROOT": "data.root",
    "BACKEND": "data.backend",
    "SMIF_WINDOW": "model.smif_window",
    "PATCH_SIZE": "model.patch_size",
    "EMBED_DIM": "model.embed_dim",
    "DEPTH": "model.depth",
    "NUM_HEADS": "model.num_heads",
    "PRETRAINED": "model.pretrained",
    "SEED": "seed",
    "CHECKPOINT_DIR": "run_dir",
    "RUN_DIR": "run_dir",
}
# Derived from the data, so setting them would contradict it.
_IGNORED = {"NUM_CLASSES": "the number of classes comes from the dataset's class folders"}
PREFIX = "APPCONFIG__"


def env_overrides(environ: Mapping[str, str] | None = None) -> list[str]:
    """Hydra overrides from ``APPCONFIG__*`` variables.

    Raises:
        LsvitError: an unknown ``APPCONFIG__`` name (a typo would otherwise do nothing), or two names of one key
            set to different values (``APPCONFIG__CHECKPOINT_DIR`` and ``APPCONFIG__RUN_DIR``).
    """
    environ = os.environ if environ is None else environ
    out: dict[str, tuple[str, str]] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(PREFIX):
            continue
        key = name[len(PREFIX):].upper()
        if key in _IGNORED:
            print(f"note: {name} is ignored: {_IGNORED[key]}", file=sys.stderr)  # not into a printed config
            continue
        if key not in APPCONFIG_KEYS:
            raise LsvitError(f"{name}: unknown setting; known: "
                             + ", ".join(PREFIX + k for k in sorted(APPCONFIG_KEYS)))
        target = APPCONFIG_KEYS[key]
        if target in out and out[target][1] != value:
            raise LsvitError(f"{out[target][0]}={out[target][1]} and {name}={value} both set {target}: keep one")
        out[target] = (name, value)
    return [f"{target}={value}" for target, (_, value) in out.items()]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def merge_env_overrides(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """``argv`` with the environment's overrides beside its own; keys given in ``argv`` win.

    They go right after the command line's last override (or at the end when it has none), so Hydra's flags keep
    working wherever they stand (``--cfg job experiment=demo`` and ``experiment=demo --cfg job`` alike), and
    as ``++key=value``: a model setting of ``APPCONFIG__DEPTH`` exists in the model's constructor even when no
    config file spells it out.
    """
    given = {_key(a) for a in argv if "=" in a and not a.startswith("-")}
    env = [f"++{o}" for o in env_overrides(environ) if _key(o) not in given]
    argv = list(argv)
    last = max((i for i, a in enumerate(argv) if "=" in a and not a.startswith("-")), default=len(argv) - 1)
    return argv[:last + 1] + env + argv[last + 1:]


def compose(config_name: str = "train", overrides: Sequence[str] = ()) -> "DictConfig":  # noqa: F821
    """Compose a config from ``configs/`` in code (tests, notebooks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def build(node: "DictConfig", where: str = "", **kwargs: "object") -> "object":  # noqa: F821
    """``hydra.utils.instantiate`` whose failures read as one clear line.

    Hydra wraps errors raised by constructors; an :class:`LsvitError` comes back out as
    itself, a constructor's ``ValueError`` (its own check of a setting) as ``"<where>: <message>"``,
    anything else (a typo'd key, a wrong type) as an ``LsvitError`` with hydra's message.

    Args:
        node: the config node (with ``_target_``).
        where: the config group it comes from (``model``, ``data``), named in messages.
        **kwargs: extra keyword arguments for the target.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, LsvitError):
            raise cause from None
        if isinstance(cause, ValueError) and where:
            raise LsvitError(f"invalid configuration: {where}: {cause}") from exc
        raise LsvitError(str(exc).replace("\n", " ")) from exc


def run_dir_of(default: str) -> str:
    """The ``${run_dir_of:...}`` resolver of ``configs/train.yaml``: ``default`` in a single run; in a Hydra sweep
    (``-m``) the job's own folder, ``<hydra.sweep.dir>/<hydra.sweep.subdir>`` (``outputs/sweeps/<name>/<job
    number>``), so that the jobs of one sweep never share a run folder."""
    from hydra.core.hydra_config import (
        HydraConfig,  # on call: composing a config in code needs no Hydra runtime
    )
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return default
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return default
    return f"{hc.sweep.dir}/{hc.sweep.subdir}"
