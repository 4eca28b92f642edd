"""The training engine: one loop on Accelerate for every model family."""

from lsvit.engine.accel import build_accelerator, resolve_device, resolve_precision
from lsvit.engine.checkpoint import build_from_checkpoint, load_weights, read_meta, save_best
from lsvit.engine.metrics import classification_metrics, confusion_matrix
from lsvit.engine.trainer import evaluate, train

__all__ = ["build_accelerator", "build_from_checkpoint", "classification_metrics", "confusion_matrix", "evaluate",
           "load_weights", "read_meta", "resolve_device", "resolve_precision", "save_best", "train"]
