"""Model families of every input type, written on timm's model interface.

Each module lists its timm entry points in ``ENTRY_POINTS``; :func:`lsvit.plugins.setup` registers them
(``timm.create_model('lsvit_tiny_patch16_224')`` works after it). Importing this package registers nothing.
"""

from lsvit.models.bilstm_attention import BiLSTMAttention, EmbeddingMeanProbe
from lsvit.models.keypoint_lstm import KeypointLSTM
from lsvit.models.lsvit import LMI, SMIF, LSViT
from lsvit.models.pretrained import load_backbone_weights, read_state_dict
from lsvit.models.registry import FAMILIES, EntryPoint, build_family, check_model_args, register_family

__all__ = ["BiLSTMAttention", "EmbeddingMeanProbe", "EntryPoint", "FAMILIES", "KeypointLSTM", "LMI", "LSViT", "SMIF",
           "build_family", "check_model_args", "load_backbone_weights", "read_state_dict", "register_family"]
