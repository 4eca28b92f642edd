"""The clips family: raw videos or frame folders decoded on the fly (LS-ViT and its frame-average control).

* :mod:`~lsvit.families.clips.transforms`: clip-consistent crop/flip/colour (one draw per clip);
* :mod:`~lsvit.families.clips.dataset`: :class:`VideoDataset`, clips decoded on the fly;
* :mod:`~lsvit.families.clips.datamodule`: :class:`VideoDataModule` (class folders, list files);
* :mod:`~lsvit.families.clips.hmdb51`: :class:`HMDB51DataModule` (the official splits);
* :mod:`~lsvit.families.clips.realtime`: the per-frame step of the realtime loop;
* :mod:`~lsvit.families.clips.input_type`: :data:`CLIPS`, the registered input type.
"""

from lsvit.families.clips.datamodule import VideoDataModule, model_norm
from lsvit.families.clips.dataset import VideoDataset
from lsvit.families.clips.hmdb51 import HMDB51DataModule
from lsvit.families.clips.input_type import CLIPS, ClipsInput
from lsvit.families.clips.transforms import ClipTransform

__all__ = ["CLIPS", "ClipTransform", "ClipsInput", "HMDB51DataModule", "VideoDataModule", "VideoDataset", "model_norm"]
