"""Keypoint sequence classifiers: LSTMs over ``(B, T, F)`` keypoint vectors, timm's model interface.

* ``keypoint_lstm`` (seed 000): stacked LSTM layers of one width with dropout between them, a
  linear head on the last layer's final hidden state.
* ``keypoint_lstm_stacked`` (seed 002): LSTM 64 -> 128 -> 64, then dense 64 -> 32 -> classes with
  ReLU; ``activation="relu"`` gives seed 002's Keras cells (``LSTM(64, activation="relu")``).

``activation``: the LSTM cell's activation of its candidate input and of its output, ``tanh`` (the default: PyTorch's
``nn.LSTM``, cuDNN on GPU) or ``relu`` (Keras's ``LSTM(activation="relu")``, which ``nn.LSTM`` cannot do:
:class:`ActLSTM`, the same cell written out; the gates stay sigmoid, as Keras's ``recurrent_activation``). A ReLU
cell's state is not bounded as tanh's is: the engine's gradient clipping and non-finite guard stay on. Both take
``bidirectional=True``: the final state is then the forward direction's last step concatenated with the backward
direction's first step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from lsvit.models.registry import INIT_ONLY, EntryPoint

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"tanh": torch.tanh, "relu": F.relu}


class ActLSTM(nn.Module):
    """One LSTM layer with a chosen cell activation (Keras's ``LSTM(activation=...)``); ``nn.LSTM``'s interface.

    The cell, per step (gates in PyTorch's and Keras's order i, f, g, o)::

        i, f, g, o = x W_ih^T + b_ih + h W_hh^T + b_hh
        c = sigmoid(f) * c + sigmoid(i) * act(g)
        h = sigmoid(o) * act(c)

    With ``act = tanh`` this is exactly ``nn.LSTM`` (tested: same weights, same outputs). The parameters have
    ``nn.LSTM``'s names and shapes (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, and
    ``..._reverse``), so a checkpoint reads the same either way. The steps run as a Python loop (the input
    projection of all steps is one matmul): the ONNX exporter unrolls it over the model's fixed ``num_frames``.
    Initialised as Keras initialises its LSTM (the recipe seed 002's ReLU cells were tuned with): Glorot-uniform input
    weights, orthogonal recurrent weights, zero biases but 1 on the forget gate.

    Args:
        input_size: features per step.
        hidden_size: H.
        bidirectional: a second, backward direction; outputs ``(B, T, 2H)``.
        activation: ``relu`` or ``tanh``.
    """

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool = False,
                 activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r}: choose one of {sorted(ACTIVATIONS)}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.bidirectional, self.activation = bool(bidirectional), activation
        self._suffixes = ("", "_reverse") if bidirectional else ("",)
        h4 = 4 * self.hidden_size
        for sfx in self._suffixes:
            self.register_parameter(f"weight_ih_l0{sfx}", nn.Parameter(torch.empty(h4, self.input_size)))
            self.register_parameter(f"weight_hh_l0{sfx}", nn.Parameter(torch.empty(h4, self.hidden_size)))
            self.register_parameter(f"bias_ih_l0{sfx}", nn.Parameter(torch.empty(h4)))
            self.register_parameter(f"bias_hh_l0{sfx}", nn.Parameter(torch.empty(h4)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras's LSTM initialisation (see the class docstring)."""
        h = self.hidden_size
        for sfx in self._suffixes:
            w_ih, w_hh = getattr(self, f"weight_ih_l0{sfx}"), getattr(self, f"weight_hh_l0{sfx}")
            # Keras's kernel is (input, 4H): Glorot's fan is input + 4H, the same for our transposed layout
            bound = math.sqrt(6.0 / (self.input_size + 4 * h))
            nn.init.uniform_(w_ih, -bound, bound)
            with torch.no_grad():  # Keras: one orthogonal (H, 4H) matrix; ours is its transpose
                w_hh.copy_(nn.init.orthogonal_(torch.empty(h, 4 * h)).t())
            nn.init.zeros_(getattr(self, f"bias_ih_l0{sfx}"))
            b_hh = getattr(self, f"bias_hh_l0{sfx}")
            nn.init.zeros_(b_hh)
            with torch.no_grad():
                b_hh[h:2 * h] = 1.0  # unit_forget_bias

    def _run(self, x: torch.Tensor, sfx: str, reverse: bool) -> torch.Tensor:
        act = ACTIVATIONS[self.activation]
        w_hh = getattr(self, f"weight_hh_l0{sfx}")
        # the input's part of the gates for every step at once; both biases folded in
        xw = F.linear(x, getattr(self, f"weight_ih_l0{sfx}"),
                      getattr(self, f"bias_ih_l0{sfx}") + getattr(self, f"bias_hh_l0{sfx}"))
        b, t = x.shape[0], x.shape[1]
        h = x.new_zeros(b, self.hidden_size)
        c = x.new_zeros(b, self.hidden_size)
        out: list[torch.Tensor] = [h] * t
        for step in (range(t - 1, -1, -1) if reverse else range(t)):
            i, f, g, o = (xw[:, step] + F.linear(h, w_hh)).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * act(g)
            h = torch.sigmoid(o) * act(c)
            out[step] = h
        return torch.stack(out, dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """``(B, T, input_size)`` -> ``((B, T, H * directions), None)`` (``nn.LSTM``'s output; no final state)."""
        outs = [self._run(x, sfx, reverse=bool(sfx)) for sfx in self._suffixes]
        return (outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)), None

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, activation={self.activation}"
                + (", bidirectional=True" if self.bidirectional else ""))


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
        activation: the LSTM cells' activation: ``tanh`` (``nn.LSTM``) or ``relu`` (Keras's
            ``LSTM(activation="relu")``, seed 002: :class:`ActLSTM`).
    """

    def __init__(self, num_classes: int = 10, input_size: int = 84, hidden_sizes: Sequence[int] = (128, 128),
                 head_sizes: Sequence[int] = (), dropout: float = 0.2, bidirectional: bool = False,
                 drop_rate: float = 0.0, activation: str = "tanh") -> None:
        super().__init__()
        if int(input_size) < 1:
            raise ValueError(f"input_size={input_size}: must be >= 1 (features per frame)")
        if not hidden_sizes:
            raise ValueError("hidden_sizes: at least one LSTM layer")
        self.num_classes, self.input_size = int(num_classes), int(input_size)
        self.bidirectional = bool(bidirectional)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r}: choose one of {sorted(ACTIVATIONS)}")
        self.activation = activation
        dirs = 2 if bidirectional else 1
        layers, width = [], int(input_size)
        for h in hidden_sizes:
            # tanh: PyTorch's own LSTM (cuDNN's fused kernel on GPU); other activations: the cell written out
            layers.append(nn.LSTM(width, int(h), batch_first=True, bidirectional=self.bidirectional)
                          if activation == "tanh" else ActLSTM(width, int(h), self.bidirectional, activation))
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
    """Seed 002: LSTM 64 -> 128 -> 64, dense 64 -> 32 -> classes (ReLU); ``activation="relu"``: its ReLU cells."""
    return _create({"hidden_sizes": (64, 128, 64), "head_sizes": (64, 32), "dropout": 0.0}, kwargs)


# registered by lsvit.plugins.setup (importing this module registers nothing)
ENTRY_POINTS = (
    EntryPoint(KeypointLSTM, keypoint_lstm, "keypoint LSTM (seed 000: LSTM layers, linear head on the final hidden "
               "state, on MediaPipe keypoint sequences)"),
    EntryPoint(KeypointLSTM, keypoint_lstm_stacked, "stacked keypoint LSTM (seed 002: LSTM 64-128-64, dense 64-32, "
               "on MediaPipe keypoint sequences)"),
)
