"""lsvit: video action recognition on one Accelerate engine.

Importing the package stays light (no torch). :func:`setup` registers the model families, input types and
config resolvers that configs and checkpoints name; every tool calls it, and so should a notebook::

    import lsvit
    lsvit.setup()
"""

__version__ = "0.1.0"


class LsvitError(Exception):
    """A user-facing error: tools print its message (no traceback) and exit non-zero."""


class Interrupted(Exception):
    """The run was stopped by a signal after saving ``last/``; ``code`` is the exit status to use.

    Defined here, beside :class:`LsvitError`, so that the tools' error handling (:func:`lsvit.cli.guarded`)
    imports nothing heavy: a tool that only writes files starts without torch.
    """

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def setup() -> None:
    """Register the built-in model families, input types and config resolvers (idempotent).

    See :mod:`lsvit.plugins`, the one place where registrations happen.
    """
    from lsvit.plugins import setup as _setup  # on call: `import lsvit` stays free of torch

    _setup()
