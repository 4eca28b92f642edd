"""The keypoint family: MediaPipe hand/holistic keypoints in HDF5 (the keypoint LSTMs).

* :mod:`~lsvit.families.keypoints.layout`: what the F numbers of a frame are (groups of points and channels);
* :mod:`~lsvit.families.keypoints.fileformat`: the keypoint HDF5 file (seed 000's layout), written and read;
* :mod:`~lsvit.families.keypoints.mediapipe`: videos -> keypoints (resumable, parallel);
* :mod:`~lsvit.families.keypoints.importers`: seed 002's ``.npy`` tree and seed 004's CSVs -> a keypoint file;
* :mod:`~lsvit.families.keypoints.sequences`, :mod:`~lsvit.families.keypoints.augment`: fixed length,
  normalisation, mirroring and the per-sequence augmentation;
* :mod:`~lsvit.families.keypoints.dataset`, :mod:`~lsvit.families.keypoints.datamodule`: datasets and
  :class:`KeypointDataModule`;
* :mod:`~lsvit.families.keypoints.realtime`, :mod:`~lsvit.families.keypoints.demo`,
  :mod:`~lsvit.families.keypoints.bench`: the realtime step, the built-in demo data, the benchmark's part;
* :mod:`~lsvit.families.keypoints.input_type`: :data:`KEYPOINTS`, the registered input type.
"""

from lsvit.families.keypoints.datamodule import KeypointDataModule
from lsvit.families.keypoints.dataset import KeypointH5Dataset
from lsvit.families.keypoints.fileformat import KeypointRecord, read_keypoint_index, write_keypoint_h5
from lsvit.families.keypoints.input_type import KEYPOINTS, KeypointsInput
from lsvit.families.keypoints.layout import Layout, mode_layout

__all__ = ["KEYPOINTS", "KeypointDataModule", "KeypointH5Dataset", "KeypointRecord", "KeypointsInput", "Layout",
           "mode_layout", "read_keypoint_index", "write_keypoint_h5"]
