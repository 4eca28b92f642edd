"""Shared glue for the thin tools: clear errors instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from lsvit import Interrupted, LsvitError


def guarded(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; an :class:`LsvitError` (or a broken video in strict mode) prints one line and exits 2.

    A run stopped by SIGTERM/SIGINT after saving ``last/`` exits with 128 + the signal number.
    """
    from lsvit.data.readers import VideoReadError

    try:
        return fn(*args, **kwargs)
    except (LsvitError, VideoReadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as exc:  # preemption / Ctrl-C after last/ was saved: 128 + the signal number
        print(str(exc), file=sys.stderr)
        sys.exit(exc.code)
