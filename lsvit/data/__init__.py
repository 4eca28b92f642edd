"""Data primitives every family shares: discovery, video readers, frame sampling, splits, the seeded sampler and
batch, HDF5 and resumable-extraction helpers, the built-in motion and gesture datasets and HMDB51 preparation.

Family-specific data (clip datasets and transforms, embedding caches, keypoint files) lives in
:mod:`lsvit.families`. Import the leaf modules (``lsvit.data.discovery``, ...): this package imports nothing, so a
tool that needs one leaf module (the synthetic data writer, HMDB51 preparation) does not pay for torch.
"""
