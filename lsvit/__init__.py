"""lsvit: video action recognition on one Accelerate engine.

Importing the package stays light; ``lsvit.models`` registers the model families with
timm when imported (the engine and the tools import it).
"""

__version__ = "0.1.0"


class LsvitError(Exception):
    """A user-facing error: tools print its message (no traceback) and exit non-zero."""
