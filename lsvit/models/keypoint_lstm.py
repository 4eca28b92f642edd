"""Keypoint sequence classifiers: LSTMs over ``(B, T, F)`` keypoint vectors, timm's model interface.

* ``keypoint_lstm`` (seed 000): stacked LSTM layers of one width with dropout between them, a
  linear head on the last layer's final hidden state.
* ``keypoint_lstm_stacked`` (seed 002): LSTM 64 -> 128 -> 64, then dense 64 -> 32 -> classes with
  ReLU. (Seed 002's Keras LSTMs used ReLU as the cell activation; PyTorch's LSTM cell is tanh,
  which is also what keeps a long sequence's state bounded.)

Both take ``bidirectional=True``: the final state is then the forward direction's last step
concatenated with the backward direction's first step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from lsvit.models.registry import INIT_ONLY, EntryPoint


class KeypointLSTM(nn.Module):
    """LSTM layers (widths ``hidden_sizes``) -> final hidden state -> MLP (``head_sizes``) -> classes.

    Args:
        num_classes: output classes.
        input_size: features per frame (F).
        hidden_sizes: the width of each LSTM layer, bottom to top.
        head_sizes: hidden widths of the dense head before the classifier (ReLU between).
        dropout: between LSTM layers and before each dense layer.
        bidirectional: run each LSTM layer in both directions.
        drop_rate: dropout before the classifier.
    """

    def __init__(self, num_classes: int = 10, input_size: int = 84, hidden_sizes: Sequence[int] = (128, 128),
                 head_sizes: Sequence[int] = (), dropout: float = 0.2, bidirectional: bool = False,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        if int(input_size) < 1:
            raise ValueError(f"input_size={input_size}: must be >= 1 (features per frame)")
        if not hidden_sizes:
            raise ValueError("hidden_sizes: at least one LSTM layer")
        self.num_classes, self.input_size = int(num_classes), int(input_size)
        self.bidirectional = bool(bidirectional)
        dirs = 2 if bidirectional else 1
        layers, width = [], int(input_size)
        for h in hidden_sizes:
            layers.append(nn.LSTM(width, int(h), batch_first=True, bidirectional=self.bidirectional))
            width = int(h) * dirs
        self.lstms = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        head: list[nn.Module] = []
        for h in head_sizes:
            head += [nn.Dropout(dropout), nn.Linear(width, int(h)), nn.ReLU(inplace=True)]
            width = int(h)
        self.head_mlp = nn.Sequential(*head)
        self.num_features = width
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(width, self.num_classes) if self.num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, F)`` -> the top LSTM layer's outputs ``(B, T, H * directions)``."""
        for i, lstm in enumerate(self.lstms):
            if i:
                x = self.dropout(x)
            x, _ = lstm(x)
        return x

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """The final hidden state of the top layer (both directions' ends when bidirectional)."""
        if not self.bidirectional:
            return x[:, -1]
        h = x.shape[-1] // 2
        return torch.cat([x[:, -1, :h], x[:, 0, h:]], dim=-1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, dense head, classifier (``pre_logits``: stop before the classifier)."""
        x = self.head_mlp(self.pool(x))
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, F)`` keypoints -> ``(B, num_classes)`` logits."""
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The final linear layer."""
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A new classifier for ``num_classes`` (0: features only)."""
        self.num_classes = int(num_classes)
        self.head = nn.Linear(self.num_features, self.num_classes) if self.num_classes > 0 else nn.Identity()

    def no_weight_decay(self) -> set[str]:
        """No parameter is exempt beyond biases (handled by the optimizer groups)."""
        return set()


def _create(defaults: dict, kwargs: dict) -> KeypointLSTM:
    # timm passes its pretrained-config keywords to every entry point; an LSTM has no pretrained weights
    return KeypointLSTM(**{**defaults, **{k: v for k, v in kwargs.items() if k not in INIT_ONLY}})


def keypoint_lstm(pretrained: bool = False, **kwargs) -> KeypointLSTM:
    """Seed 000: LSTM 2 x 128 with dropout between the layers, linear head on the final hidden state."""
    return _create({"hidden_sizes": (128, 128), "head_sizes": ()}, kwargs)


def keypoint_lstm_stacked(pretrained: bool = False, **kwargs) -> KeypointLSTM:
    """Seed 002: LSTM 64 -> 128 -> 64, dense 64 -> 32 -> classes (ReLU)."""
    return _create({"hidden_sizes": (64, 128, 64), "head_sizes": (64, 32), "dropout": 0.0}, kwargs)


# registered by lsvit.plugins.setup (importing this module registers nothing)
ENTRY_POINTS = (
    EntryPoint(KeypointLSTM, keypoint_lstm, "keypoint LSTM (seed 000: LSTM layers, linear head on the final hidden "
               "state, on MediaPipe keypoint sequences)"),
    EntryPoint(KeypointLSTM, keypoint_lstm_stacked, "stacked keypoint LSTM (seed 002: LSTM 64-128-64, dense 64-32, "
               "on MediaPipe keypoint sequences)"),
)
