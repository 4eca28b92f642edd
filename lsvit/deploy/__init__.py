"""Deployment: ONNX export with verified parity and an ONNX Runtime inference path, for every input type.

* :mod:`lsvit.deploy.export`: ``export_onnx(checkpoint)`` -> ``model.onnx`` (and the input type's extra graphs, the
  frame embedder), checked and verified (``tools/export.py``).
* :mod:`lsvit.deploy.runtime`: ``OnnxModel``, called by the scoring loop like the PyTorch model (``runtime=onnx``).

What a graph takes as input comes from the checkpoint's registered input type (:func:`lsvit.registry.input_contract`);
nothing here names a type. The model card, which records the exports, is the checkpoint's
(:mod:`lsvit.checkpoint.card`). The ``onnx``/``onnxruntime``/``onnxscript`` packages (the ``export`` extra) are
imported only when exporting or running a graph.
"""

from lsvit.deploy.export import export_onnx
from lsvit.deploy.runtime import OnnxModel, load_model, load_onnx

__all__ = ["OnnxModel", "export_onnx", "load_model", "load_onnx"]
