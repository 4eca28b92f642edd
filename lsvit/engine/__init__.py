"""The training engine: one loop on Accelerate for every model family.

:func:`train` (:mod:`lsvit.engine.trainer`) reads the run's settings once (:mod:`lsvit.engine.settings`), asks the
data module of :mod:`lsvit.contracts` for data and the timm-interface model for logits, and never asks what the
inputs are. It writes one locked run folder (main process only): ``best/`` (:func:`lsvit.checkpoint.save_best`),
``last/`` (:mod:`lsvit.engine.resume`), ``metrics.csv``, ``config.yaml``, ``split_summary.json``,
``summary.json``, ``report.md`` and the reports of :mod:`lsvit.reports`.
"""

from lsvit.engine.evaluation import evaluate
from lsvit.engine.settings import EngineSettings, TrainSettings, train_settings
from lsvit.engine.state import RunState
from lsvit.engine.trainer import train

__all__ = ["EngineSettings", "RunState", "TrainSettings", "evaluate", "train", "train_settings"]
