"""Video reading, clip sampling, clip transforms, datasets, splits and synthetic data."""

from lsvit.data.datamodule import VideoDataModule, model_norm
from lsvit.data.dataset import SeededSampler, VideoDataset, collate
from lsvit.data.features import FeatureDataModule, FeatureH5Dataset
from lsvit.data.hmdb51 import HMDB51DataModule
from lsvit.data.keypoints import KeypointDataModule, KeypointH5Dataset
from lsvit.data.discovery import VideoItem, discover_classes, discover_unlabelled, read_list_file
from lsvit.data.readers import VideoReadError, read_clip
from lsvit.data.sampling import sample_indices
from lsvit.data.splits import stratified_split
from lsvit.data.transforms import ClipTransform, to_model_input

__all__ = ["ClipTransform", "FeatureDataModule", "FeatureH5Dataset", "HMDB51DataModule", "KeypointDataModule",
           "KeypointH5Dataset", "SeededSampler", "VideoDataModule", "VideoDataset", "VideoItem",
           "VideoReadError", "collate", "discover_classes", "discover_unlabelled", "model_norm", "read_clip",
           "read_list_file", "sample_indices", "stratified_split", "to_model_input"]
