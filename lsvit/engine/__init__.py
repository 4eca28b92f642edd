"""The training engine: one loop on Accelerate for every model family.

The loop (:func:`train`, :mod:`lsvit.engine.trainer`) knows nothing of videos, embeddings or
keypoints. A family offers it three things, and nothing else is asked of it.

**A data module** (``configs/data/<name>.yaml``, ``_target_`` a class taking typed keyword
arguments; :class:`lsvit.data.VideoDataModule` is the reference):

- ``class_names``: the classes; labels index them.
- ``setup(model)``: builds ``train_dataset`` and ``val_dataset`` (it may read the model's
  ``pretrained_cfg``, e.g. for the normalisation).
- ``train_dataset``: keys are ``(index, seed)`` pairs from :class:`lsvit.data.SeededSampler`;
  every random choice of a sample is drawn from its seed, so 1 and N processes see the same data.
- samples ``{"inputs": Tensor, "label": int, "id": str}``; a broken input in evaluation gives
  ``label=-1`` and ``"error"`` (left out of the metrics and of ``submission.csv``); in training
  another input takes its place (``"error"`` kept, so the run can list it).
- ``collate_fn``: :func:`lsvit.data.collate` for any such sample.
- ``meta()``: plain JSON; everything inference needs to read raw inputs the way evaluation did.
  Its ``"type"`` (``video``, ``embeddings``, ``keypoints``) picks the reader in
  :mod:`lsvit.inference` (``DATASET_BUILDERS`` for raw videos, ``CACHE_READERS`` for cached files).
- optionally ``make_test_dataset(num_clips, num_crops)``: the held-out test part, evaluated once
  with the best checkpoint at the end; its dataset may have ``num_views`` > 1 (views averaged).
- optionally ``split_summary()``: train/validation counts per class, written to ``split_summary.json``.

**One hook** turns a batch into model input: :func:`lsvit.data.to_model_input` (uint8 clips and
their per-clip ``"color"`` maps become normalised float on the device; float inputs such as
embeddings and keypoints pass through). Every consumer (training, evaluation, inference) calls it.

**A model**: a timm-interface module (``forward(inputs) -> logits (B, K)``, ``forward_features``,
``forward_head``, ``reset_classifier``, ``get_classifier``, optionally ``no_weight_decay``),
registered with :func:`lsvit.models.register_family` and configured as
``_target_: timm.create_model`` + ``model_name``. Only registered families, with plain JSON
keyword arguments of their constructor, can be rebuilt from a checkpoint. Optionally
``evaluation_report(out_dir, tag, batches, data_meta) -> dict``: the model's own report of the
best checkpoint (e.g. the BiLSTM's attention statistics), called after the final evaluation on
validation and test; what it returns is printed and logged.

**What the engine writes** (main process only, into one locked run folder): ``best/``
(``model.safetensors`` + ``meta.json``: ``{"model": {"name", "args"}, "class_names", "data":
meta(), "metrics", ...}``: inference rebuilds everything from it), ``last/`` (Accelerate state +
``trainer_state.json``, :class:`~lsvit.engine.state.RunState`), ``metrics.csv``, ``config.yaml``,
``summary.json``, ``report.md`` and the reports of :mod:`lsvit.reports`.
"""

from lsvit.engine.accel import build_accelerator, resolve_device, resolve_precision
from lsvit.engine.checkpoint import build_from_checkpoint, load_weights, read_meta, save_best
from lsvit.engine.evaluation import evaluate
from lsvit.engine.state import RunState
from lsvit.engine.trainer import train
from lsvit.metrics import classification_metrics, confusion_matrix

__all__ = ["RunState", "build_accelerator", "build_from_checkpoint", "classification_metrics", "confusion_matrix",
           "evaluate", "load_weights", "read_meta", "resolve_device", "resolve_precision", "save_best", "train"]
