"""The ``best/`` folder as a format of its own, below the engine and deploy.

* :mod:`~lsvit.checkpoint.meta`: ``meta.json``, read as data and validated (:func:`read_meta`, :func:`model_spec`);
* :mod:`~lsvit.checkpoint.folder`: writing (:func:`save_best`, atomic) and rebuilding (:func:`build_from_checkpoint`,
  :func:`load_weights`) a checkpoint;
* :mod:`~lsvit.checkpoint.card`: the model card ``README.md`` (:func:`write_card`), evaluations and exports
  recorded into it (:func:`add_evaluation`, :func:`record_export`);
* :mod:`~lsvit.checkpoint.evaluations`, :mod:`~lsvit.checkpoint.exports`: ``evaluations.json`` and ``export.json``.

The engine writes a checkpoint with :func:`save_best`; deploy, inference and realtime read one. Nothing in a
``best/`` folder is imported, called or unpickled.
"""

from lsvit.checkpoint.card import add_evaluation, record_export, render_card, write_card
from lsvit.checkpoint.evaluations import read_evaluations
from lsvit.checkpoint.exports import EXPORT_RECORD, ONNX_FILE, read_exports
from lsvit.checkpoint.folder import (
           build_from_checkpoint,
           disk_errors,
           load_weights,
           save_best,
           staging_dir,
           swap_in,
)
from lsvit.checkpoint.meta import META, WEIGHTS, model_spec, read_meta

__all__ = ["EXPORT_RECORD", "META", "ONNX_FILE", "WEIGHTS", "add_evaluation", "build_from_checkpoint", "disk_errors",
           "load_weights", "model_spec", "read_evaluations", "read_exports", "read_meta",
           "record_export", "render_card", "save_best", "staging_dir", "swap_in", "write_card"]
