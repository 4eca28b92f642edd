"""Extraction of per-frame features (frame embeddings, keypoints) into cached files.

:mod:`lsvit.features.store` is what every extraction shares: per-video results written
atomically, resumable, sharded across processes, assembled into one file at the end.
:mod:`lsvit.features.embeddings` (backbones, the 12-channel layout) and
:mod:`lsvit.features.extract` (the gzip HDF5 embedding cache) are the BiLSTM family's extractor.
"""

from lsvit.features.embeddings import Backbone, FrameEmbedder, build_backbone, build_embedder, channel_layout
from lsvit.features.extract import EmbedConfig, ExtractionJob, extract_to_h5, job_from_source, run_extraction
from lsvit.features.store import ExtractionStore, parts_dir

__all__ = ["Backbone", "EmbedConfig", "ExtractionJob", "ExtractionStore", "FrameEmbedder", "build_backbone",
           "build_embedder", "channel_layout", "extract_to_h5", "job_from_source", "parts_dir", "run_extraction"]
