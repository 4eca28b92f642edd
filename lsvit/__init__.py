"""lsvit: video action recognition on one Accelerate engine.

Importing the package stays light; ``lsvit.models`` registers the model families with
timm when imported (the engine and the tools import it).
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
