"""The one place where lsvit registers what its configs and checkpoints refer to by name.

:func:`setup` registers, once per process:

* the model families (every ``ENTRY_POINTS`` of :mod:`lsvit.models`) with timm and the checkpoint allowlist;
* the input types of the built-in families (:mod:`lsvit.families`: clips, frame embeddings, keypoints);
* the config resolvers (``${keypoint_features:<file>}``).

Every entry point passes through it: the tools through :func:`lsvit.cli.run_tool`, the test suite through
``tests/conftest.py``, a notebook through ``lsvit.setup()``. Importing a module never registers anything, so
what works does not depend on which module happened to be imported first. A family of your own is one more
``register_input_type(...)`` and ``register_family(...)`` call after ``lsvit.setup()`` (see
``docs/adding-a-family.md``).
"""

from __future__ import annotations

from omegaconf import OmegaConf

from lsvit.families.clips import CLIPS
from lsvit.families.embeddings import EMBEDDINGS
from lsvit.families.keypoints import KEYPOINTS
from lsvit.families.keypoints.fileformat import keypoint_feature_count
from lsvit.models import bilstm_attention, keypoint_lstm, lsvit
from lsvit.models.registry import register_family
from lsvit.registry import register_input_type

BUILTIN_INPUT_TYPES = (CLIPS, EMBEDDINGS, KEYPOINTS)
BUILTIN_MODEL_MODULES = (lsvit, bilstm_attention, keypoint_lstm)
# name -> function: configs may write ${name:...}
RESOLVERS = {"keypoint_features": keypoint_feature_count}


def setup() -> None:
    """Register the built-in model families, input types and config resolvers (idempotent)."""
    for name, fn in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
    for module in BUILTIN_MODEL_MODULES:
        for entry in module.ENTRY_POINTS:
            register_family(entry)
    for input_type in BUILTIN_INPUT_TYPES:
        register_input_type(input_type)
