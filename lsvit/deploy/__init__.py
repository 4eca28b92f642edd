"""Deployment: ONNX export with verified parity, an ONNX Runtime inference path, model cards.

* :mod:`lsvit.deploy.contracts`: a checkpoint's model input (shape, layout, preprocessing) by data type.
* :mod:`lsvit.deploy.export`: ``export_onnx(checkpoint)`` -> ``model.onnx``, checked and verified
  (``tools/export.py``).
* :mod:`lsvit.deploy.runtime`: ``OnnxModel``, called by the scoring loop like the PyTorch model
  (``runtime=onnx``).
* :mod:`lsvit.deploy.card`: ``README.md`` of every ``best/`` (``render_card``, ``write_card``,
  ``add_evaluation``).

The ``onnx``/``onnxruntime``/``onnxscript`` packages (the ``export`` extra) are imported only when
exporting or running a graph; cards need none of them.
"""

from lsvit.deploy.card import add_evaluation, render_card, write_card
from lsvit.deploy.contracts import INPUT_CONTRACTS, InputContract, input_contract
from lsvit.deploy.export import export_onnx
from lsvit.deploy.runtime import OnnxModel, load_onnx

__all__ = ["INPUT_CONTRACTS", "InputContract", "OnnxModel", "add_evaluation", "export_onnx", "input_contract",
           "load_onnx", "render_card", "write_card"]
