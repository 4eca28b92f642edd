"""The frame-embedding BiLSTM (seed 001's ``CNNBiLSTMWithAttention``) and an order-blind probe.

``BiLSTMAttention`` on embeddings ``(B, T, C, D)``:

1. **channel attention**: per frame, a score for each of the C channels (a small MLP on the
   channel's vector), softmax over C, the channels' weighted sum -> ``(B, T, D)``;
2. **residual BiLSTM**: a linear projection to ``hidden``, a bidirectional LSTM (``hidden / 2``
   per direction), added back to the projection and normalised -> ``(B, T, hidden)``;
3. **sequence attention**: a score per frame, softmax over T, the weighted sum -> ``(B, hidden)``;
4. a linear classifier.

``forward(x, return_attention=True)`` also returns the two attention maps (channel ``(B, T, C)``,
sequence ``(B, T)``; each sums to 1 over its last axis). The timm interface: ``forward_features``
-> the sequence ``(B, T, hidden)``; ``forward_head`` -> the attention pool and the classifier.

``EmbeddingMeanProbe`` is the order-blind baseline on the same cache: the mean over time of the
embeddings, a LayerNorm and a linear layer. Any permutation of the frames gives it the same input,
so it cannot tell a clip from its time reversal.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from einops import rearrange

from lsvit.io import atomic_write_bytes, atomic_write_text
from lsvit.models.registry import EntryPoint


def _attention_score(dim: int, hidden: int) -> nn.Sequential:
    """The score MLP of an attention pool: ``(..., dim) -> (..., 1)``, normalised by a softmax afterwards.

    The last layer has no bias: a constant added to every score cancels in the softmax, so it would be a
    parameter that never receives a gradient.
    """
    return nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1, bias=False))


def _drop_softmax_bias(module: nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    """Load-time hook: checkpoints written before the score lost its bias still load (the bias had no effect)."""
    state_dict.pop(prefix + "score.2.bias", None)


class ChannelAttention(nn.Module):
    """Weights over the C channels of each frame: ``(B, T, C, D) -> (B, T, D), (B, T, C)``."""

    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.score = _attention_score(dim, hidden)
        self.register_load_state_dict_pre_hook(_drop_softmax_bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.score(x).squeeze(-1).softmax(-1)  # (B, T, C)
        return torch.einsum("btc,btcd->btd", w, x), w


class ResidualBiLSTM(nn.Module):
    """Projection + BiLSTM + residual: ``(B, T, D) -> (B, T, hidden)``."""

    def __init__(self, dim: int, hidden: int = 256, num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden % 2:
            raise ValueError(f"hidden={hidden}: must be even (two directions of hidden / 2)")
        self.proj = nn.Linear(dim, hidden)
        self.lstm = nn.LSTM(hidden, hidden // 2, num_layers=num_layers, batch_first=True, bidirectional=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.proj(x)
        out, _ = self.lstm(p)
        return self.norm(out + p)


class SequenceAttention(nn.Module):
    """Weights over the T steps: ``(B, T, H) -> (B, H), (B, T)``."""

    def __init__(self, hidden: int, attn_hidden: int = 128) -> None:
        super().__init__()
        self.score = _attention_score(hidden, attn_hidden)
        self.register_load_state_dict_pre_hook(_drop_softmax_bias)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.score(h).squeeze(-1).softmax(-1)  # (B, T)
        return torch.einsum("bt,bth->bh", w, h), w


class BiLSTMAttention(nn.Module):
    """Channel attention + residual BiLSTM + sequence attention + classifier on frame embeddings.

    Args:
        num_classes: K.
        in_channels: C, channels per frame (12 for seed 001's layout).
        in_dim: D, width of a channel (768).
        hidden: width of the BiLSTM's output (``hidden / 2`` per direction).
        num_layers: BiLSTM layers.
        attn_hidden: width of the attention scoring MLPs.
        dropout: on the channel-attended input and before the classifier.
        lstm_dropout: between BiLSTM layers (``num_layers`` > 1).
        input_norm: LayerNorm each channel's vector first (backbones' embeddings differ in scale).
        temporal_diff: feed the BiLSTM each frame's change from the previous frame beside the frame
            (``[z_t, z_t - z_{t-1}]``): static content (a background) cancels in the difference.
        channel_embed: add a learned vector per channel to its (normalised) embedding before the channel attention.
            Without it the attention pool is the same function of every channel: swapping two channels (the left
            and the right view of a frame) gives the same output, so the model cannot tell in which half of the
            frame something happens (``move_left`` from ``move_right`` when the hand crosses the middle).
        channel_embed_init: standard deviation of the channel vectors at start (0: they start at zero, the model
            then begins as seed 001's).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 12, in_dim: int = 768, hidden: int = 256,
                 num_layers: int = 1, attn_hidden: int = 128, dropout: float = 0.3,
                 lstm_dropout: float = 0.0, input_norm: bool = True, temporal_diff: bool = False,
                 channel_embed: bool = False, channel_embed_init: float = 1.0) -> None:
        super().__init__()
        self.num_classes, self.in_channels, self.in_dim = num_classes, in_channels, in_dim
        self.num_features = self.hidden = hidden
        self.norm_in = nn.LayerNorm(in_dim) if input_norm else nn.Identity()
        self.channel_attn = ChannelAttention(in_dim, attn_hidden)
        self.channel_embed = (nn.Parameter(torch.randn(in_channels, in_dim) * channel_embed_init) if channel_embed
                              else None)
        self.drop_in = nn.Dropout(dropout)
        self.temporal_diff = temporal_diff
        self.rnn = ResidualBiLSTM(in_dim * (2 if temporal_diff else 1), hidden, num_layers, lstm_dropout)
        self.seq_attn = SequenceAttention(hidden, attn_hidden)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_classes) if num_classes > 0 else nn.Identity()
        self._last: dict[str, torch.Tensor] = {}

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[2] != self.in_channels or x.shape[3] != self.in_dim:
            raise ValueError(f"expected embeddings (B, T, {self.in_channels}, {self.in_dim}), got {tuple(x.shape)}")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(B, T, C, D)`` -> the BiLSTM's sequence ``(B, T, hidden)``."""
        self._check(x)
        x = self.norm_in(x)
        if self.channel_embed is not None:
            x = x + self.channel_embed  # (C, D) broadcast over (B, T): which view each vector came from
        z, w = self.channel_attn(x)
        self._last["channel"] = w
        if self.temporal_diff:
            z = torch.cat([z, z - torch.cat([z[:, :1], z[:, :-1]], 1)], -1)  # the first frame's change is 0
        return self.rnn(self.drop_in(z))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Sequence attention pool (when given ``(B, T, hidden)``) and the classifier."""
        if x.ndim == 3:
            x, w = self.seq_attn(x)
            self._last["sequence"] = w
        x = self.drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor, return_attention: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits ``(B, K)``; with ``return_attention`` also ``{"channel": (B, T, C), "sequence": (B, T)}``."""
        self._last = {}
        logits = self.forward_head(self.forward_features(x))
        attn, self._last = self._last, {}
        return (logits, attn) if return_attention else logits

    @torch.no_grad()
    def evaluation_report(self, out_dir: Any, tag: str, batches: Any, data_meta: dict[str, Any]) -> dict[str, Any]:
        """The engine's optional hook after the best checkpoint's final evaluation: attention statistics.

        Writes ``attention_<tag>.json`` (mean channel and sequence weights, their argmax/argmin, channels
        named by the cache's layout) and ``attention_<tag>.png`` into ``out_dir``.

        Returns:
            Numbers to log (``attention/<tag>/...``).
        """
        import json
        from pathlib import Path


        layout = list((data_meta.get("settings") or {}).get("layout") or [])
        stats = attention_statistics(self, batches, next(self.parameters()).device, layout or None)
        if not stats.get("num_samples"):
            return {}
        out = Path(out_dir)
        atomic_write_text(out / f"attention_{tag}.json", json.dumps(dict(stats, part=tag), indent=1))
        plot_attention(stats, out / f"attention_{tag}.png", f"{tag} ({stats['num_samples']} videos)")
        return {f"attention/{tag}/channel_argmax": stats["channel_argmax"],
                f"attention/{tag}/channel_max": max(stats["channel_mean"]),
                f"attention/{tag}/sequence_argmax": stats["sequence_argmax"],
                f"attention/{tag}/sequence_argmin": stats["sequence_argmin"]}

    def get_classifier(self) -> nn.Module:
        """The final linear layer."""
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Any = None) -> None:
        """A new classifier for ``num_classes`` (0: none, ``forward`` returns pooled features)."""
        self.num_classes = num_classes
        self.head = nn.Linear(self.hidden, num_classes) if num_classes > 0 else nn.Identity()


class EmbeddingMeanProbe(nn.Module):
    """Order-blind baseline: mean over time of the embeddings -> LayerNorm -> linear.

    Args:
        num_classes: K.
        in_channels: C.
        in_dim: D.
        dropout: before the classifier.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 12, in_dim: int = 768, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_classes, self.in_channels, self.in_dim = num_classes, in_channels, in_dim
        self.num_features = in_channels * in_dim
        self.norm = nn.LayerNorm(self.num_features)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, D)`` -> the time-averaged ``(B, C * D)``, normalised."""
        if x.ndim != 4 or x.shape[2:] != (self.in_channels, self.in_dim):
            raise ValueError(f"expected embeddings (B, T, {self.in_channels}, {self.in_dim}), got {tuple(x.shape)}")
        return self.norm(rearrange(x.mean(1), "b c d -> b (c d)"))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Dropout and the classifier."""
        x = self.drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)``."""
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The linear layer."""
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Any = None) -> None:
        """A new classifier for ``num_classes``."""
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()


def _build(cls: type[nn.Module], kwargs: dict[str, Any]) -> nn.Module:
    for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(k, None)
    model = cls(**kwargs)
    model.pretrained_cfg = model.default_cfg = {"architecture": cls.__name__, "num_classes": kwargs.get("num_classes")}
    return model


def bilstm_attention(pretrained: bool = False, **kwargs: Any) -> BiLSTMAttention:
    """Channel attention + residual BiLSTM + sequence attention on frame embeddings (no pretrained weights)."""
    return _build(BiLSTMAttention, kwargs)  # type: ignore[return-value]


def embedding_mean_probe(pretrained: bool = False, **kwargs: Any) -> EmbeddingMeanProbe:
    """The order-blind baseline: time-averaged embeddings + linear."""
    return _build(EmbeddingMeanProbe, kwargs)  # type: ignore[return-value]


# registered by lsvit.plugins.setup (importing this module registers nothing)
ENTRY_POINTS = (
    EntryPoint(BiLSTMAttention, bilstm_attention, "frame-embedding BiLSTM (channel attention + residual BiLSTM + "
               "sequence attention on per-frame backbone embeddings)"),
    EntryPoint(EmbeddingMeanProbe, embedding_mean_probe, "order-blind embedding probe (time-averaged frame embeddings "
               "+ linear: the BiLSTM's baseline)",
               lambda args: ["Order-blind baseline: it averages the embeddings over time and cannot tell an action "
                             "from its time reversal."]),
)


# ------------------------------------------------------------------------------------------ statistics
@torch.no_grad()
def attention_statistics(model: BiLSTMAttention, batches: Any, device: str | torch.device = "cpu",
                         channel_names: list[str] | None = None) -> dict[str, Any]:
    """Mean channel and sequence attention over labelled batches (seed 001's report), as plain JSON.

    Args:
        model: a :class:`BiLSTMAttention` (in eval mode).
        batches: an iterable of engine batches (``{"inputs", "label", ...}``); error samples (label -1) are left out.
        device: where the model runs.
        channel_names: names of the C channels (the cache's layout).

    Returns:
        ``{"num_samples", "channel_mean" [C], "channel_argmax", "channel_argmin", "channel_names",
        "sequence_mean" [T], "sequence_argmax", "sequence_argmin", "channel_per_frame_mean" [T][C]}``.
    """
    was = model.training
    model.eval()
    ch_sum, ch_frame_sum, seq_sum, n = None, None, None, 0
    for batch in batches:
        keep = batch["label"] >= 0
        if not bool(keep.any()):
            continue
        _, attn = model(batch["inputs"][keep].to(device), return_attention=True)
        c, s = attn["channel"].float().cpu(), attn["sequence"].float().cpu()
        ch_sum = c.mean(1).sum(0) if ch_sum is None else ch_sum + c.mean(1).sum(0)
        ch_frame_sum = c.sum(0) if ch_frame_sum is None else ch_frame_sum + c.sum(0)
        seq_sum = s.sum(0) if seq_sum is None else seq_sum + s.sum(0)
        n += int(keep.sum())
    model.train(was)
    if n == 0:
        return {"num_samples": 0}
    ch, seq, chf = ch_sum / n, seq_sum / n, ch_frame_sum / n  # type: ignore[operator]
    return {"num_samples": n, "channel_names": channel_names or [str(i) for i in range(len(ch))],
            "channel_mean": ch.tolist(), "channel_argmax": int(ch.argmax()), "channel_argmin": int(ch.argmin()),
            "sequence_mean": seq.tolist(), "sequence_argmax": int(seq.argmax()), "sequence_argmin": int(seq.argmin()),
            "channel_per_frame_mean": chf.tolist()}


def plot_attention(stats: dict[str, Any], path: Any, title: str = "") -> None:
    """A small PNG: mean channel weights (bars, named) and mean sequence weights over T (line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    names = stats["channel_names"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=90)
    a.bar(range(len(names)), stats["channel_mean"], color="tab:blue")
    a.axhline(1 / len(names), color="gray", lw=0.8, ls="--")
    a.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    a.set_title("channel attention (mean)", fontsize=9)
    seq = stats["sequence_mean"]
    b.plot(range(len(seq)), seq, marker="o", ms=3)
    b.axhline(1 / len(seq), color="gray", lw=0.8, ls="--")
    b.set_xlabel("frame", fontsize=8)
    b.set_title("sequence attention (mean)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
