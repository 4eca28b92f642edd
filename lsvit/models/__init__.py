"""Model families, registered with timm on import (``timm.create_model('lsvit_...')``)."""

from lsvit.models.lsvit import LMI, SMIF, LSViT
from lsvit.models.pretrained import load_backbone_weights, read_state_dict

__all__ = ["LMI", "LSViT", "SMIF", "load_backbone_weights", "read_state_dict"]
