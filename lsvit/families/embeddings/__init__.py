"""The frame-embedding family: per-frame backbone embeddings cached in gzip HDF5 (the BiLSTM and its probe).

* :mod:`~lsvit.families.embeddings.backbones`: the frame embedder (two backbones x left/right/whole views);
* :mod:`~lsvit.families.embeddings.extract`: videos -> an embedding cache (resumable, sharded over ranks);
* :mod:`~lsvit.families.embeddings.cache`: reading a cache (:class:`FeatureH5Dataset`) and raw videos;
* :mod:`~lsvit.families.embeddings.datamodule`: :class:`FeatureDataModule`;
* :mod:`~lsvit.families.embeddings.graph`: the frame embedder as a second ONNX graph (``embedder.onnx``);
* :mod:`~lsvit.families.embeddings.realtime`, :mod:`~lsvit.families.embeddings.attention`,
  :mod:`~lsvit.families.embeddings.bench`: the realtime step, the attention report, the benchmark's part;
* :mod:`~lsvit.families.embeddings.input_type`: :data:`EMBEDDINGS`, the registered input type.
"""

from lsvit.families.embeddings.backbones import FrameEmbedder, build_embedder
from lsvit.families.embeddings.cache import FeatureH5Dataset
from lsvit.families.embeddings.datamodule import FeatureDataModule
from lsvit.families.embeddings.extract import EmbedConfig, run_extraction
from lsvit.families.embeddings.input_type import EMBEDDINGS, EmbeddingsInput

__all__ = ["EMBEDDINGS", "EmbedConfig", "EmbeddingsInput", "FeatureDataModule", "FeatureH5Dataset", "FrameEmbedder",
           "build_embedder", "run_extraction"]
