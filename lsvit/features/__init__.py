"""Extraction of per-frame features (frame embeddings, keypoints) into cached files.

:mod:`lsvit.features.store` is what every extraction shares: per-video results written
atomically, resumable, sharded across processes, assembled into one file at the end.
"""

from lsvit.features.store import ExtractionStore, parts_dir

__all__ = ["ExtractionStore", "parts_dir"]
