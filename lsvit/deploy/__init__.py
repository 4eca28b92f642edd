"""Deployment: ONNX export with verified parity, an ONNX Runtime inference path, model cards.

* :mod:`lsvit.deploy.contracts`: a checkpoint's model input (shape, layout, preprocessing) by data type.
* :mod:`lsvit.deploy.export`: ``export_onnx(checkpoint)`` -> ``model.onnx``, checked and verified (``tools/export.py``).
* :mod:`lsvit.deploy.runtime`: ``OnnxModel``, called by the scoring loop like the PyTorch model (``runtime=onnx``).
* :mod:`lsvit.deploy.card`: ``README.md`` of every ``best/`` (``render_card``, ``write_card``, ``add_evaluation``).

The ``onnx``/``onnxruntime`` packages (the ``export`` extra) are imported only when exporting or
running a graph; cards need neither.
"""

from lsvit.deploy.card import add_evaluation, render_card, write_card
from lsvit.deploy.contracts import INPUT_CONTRACTS, InputContract, input_contract

__all__ = ["INPUT_CONTRACTS", "InputContract", "add_evaluation", "input_contract", "render_card", "write_card"]
