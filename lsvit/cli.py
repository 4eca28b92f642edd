"""What every tool in ``tools/`` passes through: registrations, environment overrides, the config, clear errors.

A tool is :func:`run_tool` around one package function::

    def main(cfg: DictConfig) -> None:
        print(do_the_work(cfg.checkpoint, ...))

    if __name__ == "__main__":
        run_tool(main, "inference")

:func:`run_tool` calls :func:`lsvit.setup` (model families, input types, config resolvers: the one explicit
place, before Hydra resolves anything), merges ``APPCONFIG__*`` variables for the training tools, composes
``configs/<name>.yaml`` with Hydra, refuses a missing mandatory key (``???``) in one line naming it, and turns
an :class:`~lsvit.LsvitError` (or a broken video in strict mode) into one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsvit import Interrupted, LsvitError, setup
from lsvit.config import merge_env_overrides

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; an :class:`LsvitError` (a broken video in strict mode is one too) prints one line and exits 2.

    A run stopped by SIGTERM/SIGINT after saving ``last/`` exits with 128 + the signal number.
    """
    try:
        return fn(*args, **kwargs)
    except LsvitError as exc:
        fail(str(exc))
    except Interrupted as exc:  # preemption / Ctrl-C after last/ was saved: 128 + the signal number
        print(str(exc), file=sys.stderr)
        sys.exit(exc.code)


def fail(message: str) -> None:
    """Print ``error: <message>`` on stderr and exit with status 2.

    An error raised in a DataLoader worker comes back wrapped in the worker's traceback ("Caught VideoReadError
    in DataLoader worker process 0. Original Traceback ..."): only its own last line is the message.
    """
    if "\nOriginal Traceback" in message:
        last = [ln for ln in message.splitlines() if ln.strip()][-1]
        message = last.split(": ", 1)[1] if ": " in last and last.split(": ", 1)[0].endswith(("Error", "Exception"))\
            else last
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_required(cfg: Any, tool: str) -> None:
    """Refuse a config with mandatory keys left unset (``???``), naming them all in one line.

    Raises:
        LsvitError: ``<tool>: out= is required`` (the keys as the command line spells them).
    """
    from omegaconf import OmegaConf

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        keys = " ".join(f"{k}=..." for k in missing)
        raise LsvitError(f"{tool}: {keys} {'is' if len(missing) == 1 else 'are'} required "
                         f"(python tools/{tool}.py --help lists the options)")


def run_tool(main: Callable[[Any], Any], config_name: str, *, registry: bool = True, env: bool = False) -> None:
    """Run a tool: ``main(cfg)`` with ``configs/<config_name>.yaml`` composed from the command line.

    Args:
        main: the tool's body; its LsvitErrors become one line.
        config_name: the tool's config (also the name its messages use).
        registry: call :func:`lsvit.setup` first (False for tools that only write or check files and start
            without torch: the synthetic data writer, HMDB51 preparation).
        env: merge ``APPCONFIG__*`` environment overrides (:mod:`lsvit.config`; the training tools).
    """
    import hydra


    # torch, timm and the families: only for tools that rebuild models or data, and not to print --help
    if registry and not {"--help", "-h", "--hydra-help"} & set(sys.argv[1:]):
        guarded(setup)
    if env:
        sys.argv[1:] = guarded(merge_env_overrides, sys.argv[1:])

    @hydra.main(config_path=str(CONFIG_DIR), config_name=config_name, version_base="1.3")
    def entry(cfg: Any) -> Any:
        guarded(check_required, cfg, config_name)
        return guarded(main, cfg)

    entry()
