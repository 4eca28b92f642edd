"""Model families, registered with timm on import (``timm.create_model('lsvit_...')``)."""

from lsvit.models.keypoint_lstm import KeypointLSTM
from lsvit.models.bilstm_attention import BiLSTMAttention, EmbeddingMeanProbe
from lsvit.models.lsvit import LMI, SMIF, LSViT
from lsvit.models.pretrained import load_backbone_weights, read_state_dict
from lsvit.models.registry import FAMILIES, build_family, check_model_args, register_family

__all__ = ["BiLSTMAttention", "EmbeddingMeanProbe", "FAMILIES", "KeypointLSTM", "LMI", "LSViT", "SMIF", "build_family",
           "check_model_args", "load_backbone_weights",
           "read_state_dict", "register_family"]
