"""Video reading, clip sampling, clip transforms, datasets, splits and synthetic data.

The names below are imported on first use (:mod:`lsvit.lazy`): a tool that needs one leaf module (the
synthetic data writer, HMDB51 preparation) does not pay for torch and timm.
"""

from lsvit.lazy import lazy_exports

_EXPORTS = {
    "VideoDataModule": "lsvit.data.datamodule", "model_norm": "lsvit.data.datamodule",
    "SeededSampler": "lsvit.data.dataset", "VideoDataset": "lsvit.data.dataset", "collate": "lsvit.data.dataset",
    "FeatureDataModule": "lsvit.data.features", "FeatureH5Dataset": "lsvit.data.features",
    "HMDB51DataModule": "lsvit.data.hmdb51.datamodule",
    "KeypointDataModule": "lsvit.data.keypoints", "KeypointH5Dataset": "lsvit.data.keypoints",
    "VideoItem": "lsvit.data.discovery", "discover_classes": "lsvit.data.discovery",
    "discover_unlabelled": "lsvit.data.discovery", "read_list_file": "lsvit.data.discovery",
    "VideoReadError": "lsvit.data.readers", "read_clip": "lsvit.data.readers",
    "sample_indices": "lsvit.data.sampling",
    "stratified_split": "lsvit.data.splits",
    "ClipTransform": "lsvit.data.transforms", "to_model_input": "lsvit.data.transforms",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
