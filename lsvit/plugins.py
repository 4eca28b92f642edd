"""The one place where lsvit registers what its configs and checkpoints refer to by name.

:func:`setup` registers, once per process:

* the model families (every ``ENTRY_POINTS`` of :mod:`lsvit.models`) with timm and the checkpoint allowlist;
* the input types of the built-in families (:mod:`lsvit.families`: clips, frame embeddings, keypoints);
* the config resolvers (``${run_dir_of:...}``: a sweep job's own run folder; ``${keypoint_features:<file>}``).

Every entry point passes through it: the tools through :func:`lsvit.cli.run_tool`, the test suite through
``tests/conftest.py``, a notebook through ``lsvit.setup()``. Importing a module never registers anything, so
what works does not depend on which module happened to be imported first.

A family of your own registers itself with one function (``register_input_type(...)``,
``register_family(EntryPoint(...))``; see ``docs/adding-a-family.md``), which :func:`setup` calls after the
built-in ones when it is named as a plugin: in your package's metadata (the entry-point group ``lsvit.plugins``,
``my_family = "my_pkg.family:register"``), or for a module of your own without packaging in the environment
(``LSVIT_PLUGINS=my_family:register``, several separated by commas). Then every stock tool serves it. Plugins
are code you chose to run, named by you; nothing read from a checkpoint or a data file ever names one.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from omegaconf import OmegaConf

from lsvit import LsvitError
from lsvit.config import run_dir_of
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
RESOLVERS = {"keypoint_features": keypoint_feature_count, "run_dir_of": run_dir_of}


PLUGIN_GROUP = "lsvit.plugins"
PLUGIN_ENV = "LSVIT_PLUGINS"
_loaded: set[str] = set()


def setup() -> None:
    """Register the built-in model families, input types and config resolvers, then the plugins (idempotent).

    Raises:
        LsvitError: a plugin that cannot be imported or whose registration fails (named, with the reason).
    """
    for name, fn in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
    for module in BUILTIN_MODEL_MODULES:
        for entry in module.ENTRY_POINTS:
            register_family(entry)
    for input_type in BUILTIN_INPUT_TYPES:
        register_input_type(input_type)
    for name, target in plugin_targets():
        if target not in _loaded:
            load_plugin(name, target)
            _loaded.add(target)


def plugin_targets() -> list[tuple[str, str]]:
    """``(name, "module:function")`` of every plugin: the installed packages' ``lsvit.plugins`` entry points, then
    the ``LSVIT_PLUGINS`` environment variable's."""
    found = [(ep.name, ep.value) for ep in entry_points(group=PLUGIN_GROUP)]
    found += [(t.strip(), t.strip()) for t in os.environ.get(PLUGIN_ENV, "").split(",") if t.strip()]
    return found


def load_plugin(name: str, target: str) -> None:
    """Import ``module:function`` and call the function (it registers its input types and model families).

    Raises:
        LsvitError: naming the plugin, when it cannot be imported or its registration fails.
    """
    module, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr or "register")
        fn()
    except LsvitError as exc:
        raise LsvitError(f"plugin {name} ({target}): {exc}") from exc
    except (ImportError, AttributeError) as exc:
        raise LsvitError(f"plugin {name} ({target}) cannot be loaded: {exc} (entry points: {PLUGIN_GROUP}; "
                         f"environment: {PLUGIN_ENV}=module:function)") from exc
