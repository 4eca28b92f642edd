"""LS-ViT: a ViT with short-term (SMIF) and long-term (LMI) temporal-difference modules, in several variants.

After Chen et al., "LS-VIT: Vision Transformer for action recognition based on long and
short-term temporal difference", Frontiers in Neurorobotics 18 (2024), which builds on
TDN's temporal differences (Wang et al., CVPR 2021). Built on timm's
``VisionTransformer``: the spatial blocks, patch embedding, position embedding and
pretrained weights are timm's own; this file adds the temporal modules and the video head.

Input ``(B, T, 3, H, W)``. Shapes inside: per-frame tokens ``((B T), N, C)``.

Variants (constructor keywords, hence ``model.<key>=`` in the configs):

- ``smif=pixels``: :class:`SMIF` (this project's motion maps), its correction added to the RGB pixels;
- ``smif=channels``: :class:`SMIF` with ``smif_channels`` motion maps (null: 16) and a patch projection of their own;
- ``smif=difference``: :class:`SMIFDifference`, weighted differences of neighbouring frames (TDN's short-term TDM);
- ``smif=none``: no short-term module; ``smif=true/false`` is the spelling before the variants (``true`` =
  ``channels`` when ``smif_channels > 0``, else ``pixels``): old configs and checkpoints rebuild the same model;
- ``lmi=attention``: :class:`LMI`, temporal self-attention at reduced width (seed 003's cross-frame attention);
- ``lmi=excitation``: :class:`MotionExcitation`, TEA's motion excitation (the LS-ViT paper's LMI form);
- ``lmi=none``: no long-term module;
- ``lmi_blocks``: ``null`` after every block; a list of block indices; ``encoder``: once, on the encoder's
  output tokens (after its final norm) before pooling, as in seed 003's diagram; a list may mix both.

* **SMIF, pixels / channels** (before patch embedding), for frame ``t`` with neighbours
  ``k in K = {-h..h} \\ {0}``, ``h = (window - 1) / 2``, edges replicated::

      M_t = mean_{k in K, c} |x_{t+k} - x_t|                       (motion magnitude, 1 channel)
      A_t = M_t / max_{hw} M_t                                     (motion-aware weight in [0, 1])
      S_t = (1 / 2h) sum_{k=1..h} (x_{t+k} - x_{t-k})                (signed change: odd in time)
      F_t = sum_c S_t * (d_x x_t, d_y x_t) / |grad x_t|              (normal-flow direction)
      x'_t = x_t + alpha * phi([A_t * x_t, S_t, A_t, F_t])           (phi's last conv starts at 0)

  ``phi`` is a pointwise (1x1) conv -> GELU -> 1x1 conv; ``alpha`` is a learnable per-channel scale.
  ``S_t`` changes sign when the clip is reversed, which ``|.|`` alone cannot; ``F_t`` (the
  Lucas-Kanade numerator) gives the direction of motion whatever the contrast between an
  object and its background.

* **SMIF, difference** (the paper's "weighting the difference across several consecutive frames",
  after TDN's short-term TDM, Wang et al., CVPR 2021; the authors' ``TDN_Net`` in
  github.com/MCG-NJU/TDN, ``ops/tdn_net.py``: the 4 differences of 5 consecutive frames, stacked,
  average-pooled, through a stem of their own, added to the RGB stem's features), on the same pooled pixels::

      D_{t,k} = x_{t+k+1} - x_{t+k},   k = -h .. h-1                (2h signed differences, edges replicated)
      x'_t = x_t + sum_k W_k D_{t,k}                                (W_k: C x C, start at 0)

  TDN fuses as ``0.5 x + 0.5 diff``; here the patch embedding is linear, so a point-wise weighting added
  to the pixels is a motion patch projection added to the tokens, and ``x + ...`` keeps the pretrained
  start exact (``0.5 x`` would not).

* **LMI, attention** (after the blocks in ``lmi_blocks``), for each spatial token ``n`` across *all*
  T frames, at reduced width ``r = C / lmi_reduction``::

      z_t = W_r LN(x_t)                  D_t = z_t - z_{t-1}  (D_0 = 0, signed)
      u_t = z_t + W_d D_t + P_t          (P: learned temporal position)
      x_t <- x_t + W_o MHSA_time(u)_t    (W_o zero-initialised)

  Attention over time sees the order (``P``) and the sign of change (``D``), so the
  pooled head can tell a clip from its reversal.

* **LMI, excitation**: the motion excitation (ME) module of TEA (Li et al., "TEA: Temporal Excitation
  and Aggregation for Action Recognition", CVPR 2020, arXiv:2004.01398; the authors' ``MEModule`` in
  github.com/Phoenix1327/tea-action-recognition, ``ops/tea50_8f.py``), the form the LS-ViT paper's
  long-term module takes from TDN's long-term TDM (``mSEModule`` in github.com/MCG-NJU/TDN,
  ``ops/base_module.py``). TEA's five steps, on features ``X`` of T frames::

      (i)   X^r = conv_red * X                                 channels C -> C / r
      (ii)  M(t) = conv_trans * X^r(t+1) - X^r(t),  M(T) = 0   feature-level temporal difference
      (iii) M^s = Pool(M)                                      global average over space
      (iv)  A = 2 sigmoid(conv_exp * M^s) - 1                  a channel gate per frame in (-1, 1)
      (v)   X^o = X + X * A                                    residual: the static content is kept

  On tokens: the pool runs over the patch tokens of each frame and the gate multiplies every token of
  that frame. Differences from TEA, each for a reason: (a) the pool is taken first, before the
  reduction: ``conv_red`` is linear, so ``Pool(conv_red * X) = conv_red * Pool(X)``, and so is a
  point-wise ``conv_trans``; the module then costs O(T C) after one mean instead of O(T N C).
  (b) ``conv_trans`` is point-wise (a linear map on the reduced channels, starting as the identity so
  that ``M`` starts as the plain difference) instead of TEA's 3x3 channel-wise conv: a 3x3 conv before
  a global average pool only rescales each channel (up to the border), and patch dropout leaves no grid
  to convolve. (c) A LayerNorm in front of the reduction (the transformer's pre-norm) replaces TEA's
  BatchNorm after it (batch statistics would couple the clips of a batch and differ between training
  and an exported graph). (d) ``conv_exp`` starts at zero, so ``A = 0`` and the module is an exact
  identity at initialisation. The authors' code writes the gate as ``sigmoid(.) - 0.5`` (half of
  step (iv)'s); step (iv) is used here. TDN's long-term module averages this forward difference with a
  backward one (``conv_trans * X^r(t) - X^r(t+1)``) and gates multi-scale maps instead of a pooled
  vector; the backward average is left out on purpose: with ``conv_trans`` at its identity start the
  two directions swap under time reversal, the module's output on a reversed clip is the reversal of
  its output, and the frame-mean head cannot tell the two apart. The forward difference alone flips
  sign under reversal (``2 sigmoid - 1`` is odd), so the gate sees the direction of change.

Every branch starts as identity with ``temporal_init=identity`` (SMIF's last layer, the difference
weights, the motion projection, ``W_o`` and ``conv_exp`` are zero): at step 0 LS-ViT's per-frame
features equal those of the plain ViT with the same weights, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from timm.layers import trunc_normal_
from timm.models.vision_transformer import VisionTransformer

from lsvit.models.pretrained import load_backbone_weights
from lsvit.models.registry import EntryPoint

__all__ = ["LMI", "LMI_FORMS", "LSViT", "MotionExcitation", "SMIF", "SMIFDifference", "SMIF_CHANNELS", "SMIF_FORMS",
           "TEMPORAL_INITS", "resolve_smif"]

# how SMIF's and LMI's output layers start: "identity" (zero: LS-ViT is the plain ViT at step 0),
# "active" (random: the temporal branches speak from the first step), "auto" (decided by the factory)
TEMPORAL_INITS = ("auto", "identity", "active")
SMIF_FORMS = ("pixels", "channels", "difference", "none")
LMI_FORMS = ("attention", "excitation", "none")
ENCODER = "encoder"  # lmi_blocks' name for "once, on the encoder's output tokens"


SMIF_CHANNELS = 16  # motion maps of smif=channels when smif_channels is null (the demo's setting)


def resolve_smif(smif: bool | str | None, smif_channels: int | None = None) -> tuple[str, int]:
    """The SMIF variant a ``smif`` setting names (one of :data:`SMIF_FORMS`) and its motion-map count.

    ``true``/``false`` are the spelling before the variants existed: ``true`` is ``channels`` when
    ``smif_channels > 0`` and ``pixels`` otherwise, so an old config or checkpoint rebuilds the same model.
    ``smif_channels`` belongs to ``channels`` (null: :data:`SMIF_CHANNELS`); ``none`` ignores it, so that an
    ablation can switch SMIF off without touching it.

    Returns:
        ``(form, channels)``: ``channels`` is 0 except for ``channels``.

    Raises:
        ValueError: an unknown name, ``channels`` with 0 maps, or maps given to a form that has none.
    """
    maps = None if smif_channels is None else int(smif_channels)
    if smif is True:
        return ("channels", maps) if maps else ("pixels", 0)
    if smif is False or smif is None:
        return "none", 0
    form = str(smif).lower()
    if form not in SMIF_FORMS:
        raise ValueError(f"smif={smif!r}: choose one of {', '.join(SMIF_FORMS)} "
                         "(true/false: the older spelling, true = channels when smif_channels > 0, else pixels)")
    if form == "channels":
        if maps is not None and maps < 1:
            raise ValueError(f"smif=channels needs smif_channels >= 1 (got {maps}): the number of motion maps with "
                             f"their own patch projection (null: {SMIF_CHANNELS})")
        return form, SMIF_CHANNELS if maps is None else maps
    if form != "none" and maps:
        raise ValueError(f"smif={form} takes no smif_channels (got {maps}): motion maps with their own patch "
                         "projection are smif=channels; set smif=channels, or smif_channels=null")
    return form, 0


def _lmi_sites(lmi_blocks: Any, depth: int) -> list[str]:
    """The LMI positions ``lmi_blocks`` names, as ModuleDict keys: block indices as strings, ``"encoder"`` last."""
    what = (f"expected null (after every block), a list of block indices in 0..{depth - 1}, or '{ENCODER}' "
            "(once, on the encoder's output tokens before pooling)")
    if lmi_blocks is None:
        return [str(i) for i in range(depth)]
    items = [lmi_blocks] if isinstance(lmi_blocks, str) else lmi_blocks
    try:
        items = list(items)
    except TypeError:
        raise ValueError(f"lmi_blocks={lmi_blocks!r}: {what}") from None
    blocks, encoder = set(), False
    for b in items:
        if isinstance(b, str) and b.lower() == ENCODER:
            encoder = True
        elif isinstance(b, int) and not isinstance(b, bool):
            blocks.add(b)
        else:
            raise ValueError(f"lmi_blocks={lmi_blocks!r}: {what}")
    if any(not 0 <= b < depth for b in blocks):
        raise ValueError(f"lmi_blocks={items}: block indices must be in 0..{depth - 1} "
                         f"(the model has {depth} blocks)")
    return [str(b) for b in sorted(blocks)] + ([ENCODER] if encoder else [])


def _unit_rms(v: torch.Tensor, floor: float = 1e-2) -> torch.Tensor:
    """``v`` divided by its root mean square over each clip ``(T, C, H, W)`` (at least ``floor``)."""
    return v / v.square().mean(dim=(1, 2, 3, 4), keepdim=True).sqrt().clamp(min=floor)


def _shifted(x: torch.Tensor, k: int) -> torch.Tensor:
    """``x[:, t + k]`` for every frame ``t`` of ``(B, T, ...)``, edges replicated (slices, no gather)."""
    t = x.shape[1]
    if k == 0:
        return x
    k = max(-(t - 1), min(t - 1, k))
    if k > 0:
        return torch.cat([x[:, k:], x[:, -1:].expand(-1, k, *x.shape[2:])], dim=1)
    return torch.cat([x[:, :1].expand(-1, -k, *x.shape[2:]), x[:, :k]], dim=1)


def _box_blur(v: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over the in-bounds pixels of a ``k x k`` window on the (H, W) axes of channels-last ``(..., H, W, C)``.

    The same numbers as ``avg_pool2d(k, 1, k // 2, count_include_pad=False)`` (summed in another order), as
    ``k`` shifted slices per axis: about twice as fast on a CPU at these sizes, and nothing at all for ``k = 1``.
    """
    if k == 1:
        return v
    p, (h, w) = k // 2, v.shape[-3:-1]
    rows = F.pad(v, (0, 0, p, p))  # width axis (-2)
    s = rows[..., 0:w, :]
    for i in range(1, k):
        s = s + rows[..., i:i + w, :]
    cols = F.pad(s, (0, 0, 0, 0, p, p))  # height axis (-3)
    s = cols[..., 0:h, :, :]
    for i in range(1, k):
        s = s + cols[..., i:i + h, :, :]
    ones = torch.ones(1, 1, h + w, dtype=v.dtype, device=v.device)
    ch = F.avg_pool1d(ones[..., :h], k, 1, p) * k  # in-bounds window lengths: k, or fewer at the borders
    cw = F.avg_pool1d(ones[..., :w], k, 1, p) * k
    return s / (ch[0, 0, :, None, None] * cw[0, 0, None, :, None])


class _PixelMotion(nn.Module):
    """A correction computed from the frames on ``stride x stride`` pooled pixels and added to them.

    Subclasses compute it channels-last (:meth:`correction_cl`): the per-pixel layers then read and write
    contiguous rows (a linear layer on a channels-first view gathers with strides, several times slower
    here), and the projections in :class:`LSViT` take patches straight from that layout.
    """

    stride: int

    def correction_cl(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` -> the correction at the working resolution, channels-last ``(B, T, h, w, C')``."""
        raise NotImplementedError

    def correction(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` -> the correction at the working resolution ``(B, T, C', ceil(H / s), ceil(W / s))``."""
        return rearrange(self.correction_cl(x), "b t h w c -> b t c h w")

    def pooled_cl(self, x: torch.Tensor) -> torch.Tensor:
        """The frames average-pooled by ``stride`` (unchanged at stride 1), channels-last and contiguous."""
        if self.stride > 1:
            t = x.shape[1]
            x = rearrange(F.avg_pool2d(rearrange(x, "b t c h w -> (b t) c h w"), self.stride, ceil_mode=True),
                          "(b t) c h w -> b t c h w", t=t)
        return rearrange(x, "b t c h w -> b t h w c").contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W) -> (B, T, C, H, W)``: the frames plus the motion correction.

        With ``stride > 1`` the motion maps and the fusion run on ``stride x stride`` average-pooled
        frames and the correction is upsampled (nearest) before it is added: the patch embedding
        pools far more than that anyway, and the per-pixel work shrinks by ``stride**2``.
        """
        t, (h, w) = x.shape[1], x.shape[-2:]
        out = rearrange(self.correction(x), "b t c h w -> (b t) c h w")
        if self.stride > 1:
            out = F.interpolate(out, size=(h, w), mode="nearest")
        return x + rearrange(out, "(b t) c h w -> b t c h w", t=t)


class SMIF(_PixelMotion):
    """Short-term motion-informed features on pixels (``smif=pixels|channels``; see the module docstring).

    Args:
        in_chans: image channels.
        window: odd temporal window (frames), >= 3.
        hidden: channels of the fusion conv.
        blur: side of the box blur on the normal flow, in full-resolution pixels (odd).
        stride: computes on ``stride x stride`` pooled pixels.
        out_chans: channels of the correction (``None``: ``in_chans``, added to the pixels).
        unit_scale: divide the signed differences and the flow by their RMS over each clip before the
            fusion (used with ``out_chans``; off in the pixel form, so older checkpoints keep their outputs).
    """

    def __init__(self, in_chans: int = 3, window: int = 5, hidden: int = 16, blur: int = 7, stride: int = 1,
                 out_chans: int | None = None, unit_scale: bool = False) -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"smif_stride must be >= 1, got {stride}")
        if window < 3 or window % 2 == 0:
            raise ValueError(f"smif_window must be odd and >= 3, got {window}")
        if blur < 1 or blur % 2 == 0:
            raise ValueError(f"smif blur must be odd and >= 1, got {blur}")
        self.half = window // 2
        self.stride = stride
        # the flow blur covers the same image area at any stride (the pooling itself blurs)
        self.blur = max(1, (blur // stride) | 1)
        # pointwise, as Linear layers on channels-last pixels: the differences and gradients
        # already carry the spatial context and the patch embedding pools space (3x3 convs
        # here cost more than a whole tiny ViT; tiny-channel 1x1 convs are slow on CPU)
        out_chans = out_chans or in_chans
        self.fuse = nn.Sequential(nn.Linear(2 * in_chans + 3, hidden), nn.GELU(), nn.Linear(hidden, out_chans))
        # identity at start through a zero output layer (not a zero gate: a zero gate in front of a
        # random layer gets almost no gradient, and the branch then stays shut for hundreds of steps)
        nn.init.zeros_(self.fuse[-1].weight)
        nn.init.zeros_(self.fuse[-1].bias)
        self.alpha = nn.Parameter(torch.ones(out_chans))
        self.unit_scale = unit_scale

    def features_cl(self, x: torch.Tensor) -> torch.Tensor:
        """``phi``'s input ``[A x, S, A, F]``, channels-last ``(B, T, h, w, 2 C + 3)`` (no parameters)."""
        x = self.pooled_cl(x)  # (B, T, h, w, C)
        mag = torch.zeros_like(x[..., :1])
        signed = torch.zeros_like(x)
        for k in range(1, self.half + 1):  # 2h shifted views, each vectorised over all frames
            fwd, bwd = _shifted(x, k), _shifted(x, -k)
            mag = mag + (fwd - x).abs().mean(-1, keepdim=True) + (bwd - x).abs().mean(-1, keepdim=True)
            signed = signed + (fwd - bwd)
        mag = mag / (2 * self.half)
        signed = signed / (2 * self.half)
        weight = mag / mag.amax(dim=(-3, -2), keepdim=True).clamp(min=1e-6)
        # central spatial differences (edges replicated): x along axis -2, y along axis -3
        gx = torch.cat([x[..., 1:2, :] - x[..., :1, :], (x[..., 2:, :] - x[..., :-2, :]) / 2,
                        x[..., -1:, :] - x[..., -2:-1, :]], -2)
        gy = torch.cat([x[..., 1:2, :, :] - x[..., :1, :, :], (x[..., 2:, :, :] - x[..., :-2, :, :]) / 2,
                        x[..., -1:, :, :] - x[..., -2:-1, :, :]], -3)
        # S * grad I: the sign of the normal flow, whatever the object/background contrast
        norm = (gx.square() + gy.square()).sum(-1, keepdim=True).add(1e-2).sqrt()
        flow = torch.cat([(signed * gx).sum(-1, keepdim=True), (signed * gy).sum(-1, keepdim=True)], -1) / norm
        # spread the flow (it lives on edges) so that a patch over a moving object carries one
        # consistent motion value, wherever the edge falls inside the patch
        flow = _box_blur(flow, self.blur)
        # the signed maps enter the fusion at unit scale, whatever the clip's contrast and speed: raw, they
        # are ~10x smaller than the pixels beside them, and a freshly initialised fusion layer (Adam moves
        # each weight by about the learning rate per step) then needs thousands of steps to hear them
        if self.unit_scale:
            signed, flow = _unit_rms(signed), _unit_rms(flow)
        return torch.cat([weight * x, signed, weight, flow], dim=-1)

    def hidden(self, feats: torch.Tensor) -> torch.Tensor:
        """``phi``'s first layer and GELU on features laid out in any order, channels last."""
        return self.fuse[1](self.fuse[0](feats))

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weight, bias)`` of ``alpha * fuse[-1]``: the last layer with alpha folded in (one pass, not two)."""
        last = self.fuse[-1]
        return last.weight * self.alpha[:, None], last.bias * self.alpha

    def correction_cl(self, x: torch.Tensor) -> torch.Tensor:
        """``alpha * phi(...)`` at the working resolution, channels-last: ``(B, T, ceil(H / s), ceil(W / s), C')``."""
        return F.linear(self.hidden(self.features_cl(x)), *self.output_layer())

    def reset_output(self) -> None:
        """A random (PyTorch default) start for the last fusion layer: motion reaches the pixels at once."""
        self.fuse[-1].reset_parameters()


class SMIFDifference(_PixelMotion):
    """``smif=difference``: a learned weighting of the differences of consecutive frames (TDN's short-term TDM).

    See the module docstring. The weights ``W_k`` are one point-wise linear map from the ``2h`` stacked
    differences (``2h x C`` channels) to ``C``, zero at the start.

    Args:
        in_chans: image channels.
        window: odd temporal window (frames), >= 3: ``window - 1`` differences.
        stride: computes on ``stride x stride`` pooled pixels.
    """

    def __init__(self, in_chans: int = 3, window: int = 5, stride: int = 1) -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"smif_stride must be >= 1, got {stride}")
        if window < 3 or window % 2 == 0:
            raise ValueError(f"smif_window must be odd and >= 3, got {window}")
        self.half = window // 2
        self.stride = stride
        self.weigh = nn.Linear(2 * self.half * in_chans, in_chans)
        nn.init.zeros_(self.weigh.weight)
        nn.init.zeros_(self.weigh.bias)

    def correction_cl(self, x: torch.Tensor) -> torch.Tensor:
        """``sum_k W_k D_{t,k}`` at the working resolution, channels-last: ``(B, T, ceil(H / s), ceil(W / s), C)``."""
        x = self.pooled_cl(x)
        views = [_shifted(x, k) for k in range(-self.half, self.half + 1)]
        diffs = torch.cat([b - a for a, b in zip(views[:-1], views[1:])], dim=-1)  # (B, T, h, w, 2h C)
        return self.weigh(diffs)

    def reset_output(self) -> None:
        """A random (PyTorch default) start for the difference weights."""
        self.weigh.reset_parameters()


def _difference_matrix(t: int, like: torch.Tensor) -> torch.Tensor:
    """The ``(T, T)`` matrix taking frames to their signed differences: row t is ``e_t - e_{t-1}``, row 0 is 0."""
    eye = torch.eye(t, dtype=like.dtype, device=like.device)
    return torch.cat([torch.zeros_like(eye[:1]), eye[1:] - eye[:-1]])


class LMI(nn.Module):
    """Long-term motion interaction, ``lmi=attention``: attention across all frames for each token.

    Args:
        dim: token width C.
        num_frames: frames the temporal position table is sized for (resized otherwise).
        reduction: works at width ``C // reduction`` to stay near a plain ViT's cost.
        head_dim: width per attention head.
    """

    def __init__(self, dim: int, num_frames: int, reduction: int = 4, head_dim: int = 32) -> None:
        super().__init__()
        r = max(dim // reduction, 8)
        self.heads = max(1, r // head_dim)
        if r % self.heads:
            self.heads = 1
        self.norm = nn.LayerNorm(dim)
        self.reduce = nn.Linear(dim, r)
        self.diff = nn.Linear(r, r)
        self.time_pos = nn.Parameter(torch.zeros(1, num_frames, r))
        # a constant, not state: checkpoints hold the same keys as before it existed
        self.register_buffer("delta", _difference_matrix(num_frames, self.time_pos), persistent=False)
        self.qkv = nn.Linear(r, 3 * r)
        self.proj = nn.Linear(r, dim)
        trunc_normal_(self.time_pos, std=0.02)
        # zero output projection: the block is an exact identity at initialisation
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def _time_pos(self, t: int) -> torch.Tensor:
        if t == self.time_pos.shape[1]:
            return self.time_pos
        pos = F.interpolate(rearrange(self.time_pos, "1 t r -> 1 r t"), size=t, mode="linear", align_corners=True)
        return rearrange(pos, "1 r t -> 1 t r")

    def _difference(self, t: int, like: torch.Tensor) -> torch.Tensor:
        if t == self.delta.shape[0]:
            return self.delta.to(like.dtype)
        return _difference_matrix(t, like)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``((B T), N, C) -> ((B T), N, C)``."""
        t = num_frames
        bt, n, _ = x.shape
        z = self.reduce(self.norm(x))                                   # ((B T), N, r), frame-major
        r = z.shape[-1]
        # D = z_t - z_{t-1} as one matmul over the time axis (per clip, all tokens at once): the same numbers
        # as slicing, without the zero-filled gradients and copies that slicing and concatenating cost
        d = torch.matmul(self._difference(t, z), z.view(bt // t, t, n * r))
        # u = z + W_d D + b_d + P: the bias and the temporal position added once, W_d D accumulated onto them
        zp = z.view(bt // t, t, n, r) + (self.diff.bias + self._time_pos(t))[:, :, None]
        u = torch.addmm(zp.view(-1, r), d.view(-1, r), self.diff.weight.t())
        u = rearrange(u.view(bt // t, t, n, r), "b t n r -> (b n) t r")
        q, k, v = rearrange(self.qkv(u), "bn t (three h d) -> three bn h t d", three=3, h=self.heads)
        o = F.scaled_dot_product_attention(q, k, v)  # fused kernel where available
        # back to frame-major order at the reduced width (a quarter of the bytes of doing it after proj)
        o = rearrange(o, "(b n) h t d -> (b t) n (h d)", n=n)
        return x + self.proj(o)

    def reset_output(self) -> None:
        """The ViT's own ``Linear`` start (truncated normal, std 0.02) for the output projection."""
        trunc_normal_(self.proj.weight, std=0.02)


class MotionExcitation(nn.Module):
    """Long-term motion interaction, ``lmi=excitation``: TEA's motion excitation on tokens (module docstring).

    Args:
        dim: token width C.
        reduction: works at width ``C // reduction`` (TEA and TDN use 16).
        prefix_tokens: class/register tokens in front of the patch tokens (left out of the pool, gated too).
    """

    def __init__(self, dim: int, reduction: int = 16, prefix_tokens: int = 1) -> None:
        super().__init__()
        r = min(dim, max(dim // reduction, 8))
        self.prefix = prefix_tokens
        self.norm = nn.LayerNorm(dim)
        self.reduce = nn.Linear(dim, r)             # conv_red
        self.transform = nn.Linear(r, r)            # conv_trans, point-wise; starts as the identity
        self.expand = nn.Linear(r, dim)             # conv_exp; starts at zero: A = 0, an exact identity
        with torch.no_grad():
            self.transform.weight.copy_(torch.eye(r))
            self.transform.bias.zero_()
        nn.init.zeros_(self.expand.weight)
        nn.init.zeros_(self.expand.bias)

    def gate(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``A`` of step (iv) for each frame: ``((B T), N, C) -> ((B T), 1, C)`` in (-1, 1)."""
        patches = x[:, self.prefix:] if x.shape[1] > self.prefix else x
        z = self.reduce(self.norm(patches.mean(1)))                      # (i) after (iii)'s pool (linear)
        z = rearrange(z, "(b t) r -> b t r", t=num_frames)
        m = F.pad(self.transform(z[:, 1:]) - z[:, :-1], (0, 0, 0, 1))   # (ii), M(T) = 0
        a = 2 * torch.sigmoid(self.expand(m)) - 1                       # (iv)
        return rearrange(a, "b t c -> (b t) 1 c")

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``((B T), N, C) -> ((B T), N, C)``: step (v), ``X + X * A`` written as ``X * (1 + A)`` (one pass)."""
        return x * (1 + self.gate(x, num_frames))

    def reset_output(self) -> None:
        """A random (PyTorch default) start for ``conv_exp``: the gate moves from the first step."""
        self.expand.reset_parameters()


def _patch_project(c: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``conv2d(c, weight, bias, stride=kernel)`` on channels-last maps, as one matmul over flattened patches.

    Args:
        c: ``(B, T, h, w, C)``; rows and columns beyond the last whole patch are dropped, as the conv does.
        weight: ``(D, C, kh, kw)``.
        bias: ``(D,)`` or None.

    Returns:
        Tokens ``((B T), (h // kh) (w // kw), D)`` in the order of ``conv2d(...).flatten(2).transpose(1, 2)``.
        The same sums as the convolution in another order; on a CPU the matmul's forward and backward
        take about 60 % of the time of the strided convolution's for these few-channel maps.
    """
    kh, kw = weight.shape[-2:]
    return F.linear(_patches(c, kh, kw).flatten(2), rearrange(weight, "d c kh kw -> d (kh kw c)"), bias)


def _patches(c: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """Channels-last maps ``(B, T, h, w, C)`` -> non-overlapping ``kh x kw`` patches ``((B T), patches, kh kw, C)``.

    Patches in row-major order (as a strided convolution's outputs); rows and columns beyond the last whole
    patch are dropped, as the convolution drops them.
    """
    gh, gw = c.shape[-3] // kh, c.shape[-2] // kw
    return rearrange(c[..., :gh * kh, :gw * kw, :], "b t (gh kh) (gw kw) c -> (b t) (gh gw) (kh kw) c", kh=kh, kw=kw)


class LSViT(VisionTransformer):
    """Video ViT with SMIF and LMI in the variants of the module docstring; with both off it is the control.

    Args:
        num_frames: clip length T the temporal tables are sized for.
        smif: the short-term module: ``pixels``, ``channels``, ``difference`` or ``none``; ``true``/``false``
            as before the variants (``true``: ``channels`` when ``smif_channels > 0``, else ``pixels``).
        smif_window: SMIF temporal window (odd, <= num_frames when num_frames >= 3).
        smif_hidden: channels of SMIF's fusion conv (``pixels``, ``channels``).
        smif_stride: SMIF computes on ``stride x stride`` pooled pixels (``None``: patch side / 4).
        lmi_blocks: where LMI runs: ``None`` after every block, a list of block indices (``[]``: nowhere),
            ``"encoder"``: once on the encoder's output tokens before pooling (also as a list entry).
        lmi_reduction: LMI width divisor (``None``: attention 4 up to width 256 and 8 above; excitation 16).
        temporal_init: how SMIF's and LMI's output layers start: ``identity`` (zero: the model is the plain
            ViT at step 0, what a pretrained backbone needs), ``active`` (random: motion reaches the tokens
            from the first step, what training from scratch needs), ``auto`` (``identity`` here; the
            ``lsvit_*`` factories resolve it from ``pretrained``).
        smif_channels: motion maps of ``smif=channels`` (added to the patch tokens by a patch projection of
            their own; needs ``smif_stride`` to divide the patch side); ``None``: 16. Refused by ``pixels``
            and ``difference`` (0 is accepted: the older spelling of "no maps"), ignored by ``none``.
        lmi: the long-term module: ``attention``, ``excitation`` or ``none``.
        **kwargs: timm ``VisionTransformer`` arguments (img_size, patch_size, embed_dim,
            depth, num_heads, num_classes, drop_rate, drop_path_rate, global_pool, ...).

    Raises:
        ValueError: a setting out of range, naming it and what it accepts.
    """

    def __init__(self, num_frames: int = 16, smif: bool | str = True, smif_window: int = 5, smif_hidden: int = 16,
                 smif_stride: int | None = None, lmi_blocks: Sequence[int | str] | str | None = None,
                 lmi_reduction: int | None = None, temporal_init: str = "auto", smif_channels: int | None = None,
                 lmi: str = "attention", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if temporal_init not in TEMPORAL_INITS:
            raise ValueError(f"temporal_init={temporal_init!r}: choose one of {TEMPORAL_INITS}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.smif_form, smif_channels = resolve_smif(smif, smif_channels)
        self.lmi_form = str(lmi).lower() if lmi is not None else "none"
        if self.lmi_form not in LMI_FORMS:
            raise ValueError(f"lmi={lmi!r}: choose one of {', '.join(LMI_FORMS)}")
        if self.smif_form != "none" and num_frames >= 3 and smif_window > num_frames:
            raise ValueError(f"smif_window={smif_window} is larger than num_frames={num_frames}")
        (h, w), (ph, pw) = self.patch_embed.img_size, self.patch_embed.patch_size
        if h % ph or w % pw:  # the patch grid must tile the frame (timm would only fail at the first forward)
            raise ValueError(f"img_size={h}x{w} is not divisible by the patch size {ph}x{pw}")
        sites = _lmi_sites(lmi_blocks, len(self.blocks))  # validated whatever lmi is: a typo is a typo
        self.num_frames = num_frames
        if smif_stride is None:  # a quarter of the patch side: 4 for /16 ViTs, 2 for /8
            smif_stride = max(1, self.patch_embed.patch_size[0] // 4)
        in_chans = self.patch_embed.proj.in_channels
        self.smif: _PixelMotion | None = None
        self.smif_embed: nn.Conv2d | None = None
        if self.smif_form in ("pixels", "channels"):
            channels = self.smif_form == "channels"
            self.smif = SMIF(in_chans, smif_window, smif_hidden, stride=smif_stride,
                             out_chans=smif_channels if channels else None, unit_scale=channels)
        elif self.smif_form == "difference":
            self.smif = SMIFDifference(in_chans, smif_window, stride=smif_stride)
        if self.smif_form == "channels":
            ph, pw = self.patch_embed.patch_size
            if ph % smif_stride or pw % smif_stride:
                raise ValueError(f"smif=channels needs smif_stride={smif_stride} to divide the patch size {ph}x{pw}")
            k = (ph // smif_stride, pw // smif_stride)
            self.smif_embed = nn.Conv2d(smif_channels, self.embed_dim, kernel_size=k, stride=k)
            nn.init.zeros_(self.smif_embed.weight)
            nn.init.zeros_(self.smif_embed.bias)
            self.smif.reset_output()  # the zero projection above keeps the identity start
        if self.lmi_form == "attention":
            if lmi_reduction is None:  # C/4 up to ViT-Ti width, C/8 beyond (measured: C/4 costs ViT-S 24 %)
                lmi_reduction = 4 if self.embed_dim <= 256 else 8
            self.lmi = nn.ModuleDict({s: LMI(self.embed_dim, num_frames, lmi_reduction) for s in sites})
        elif self.lmi_form == "excitation":
            self.lmi = nn.ModuleDict({s: MotionExcitation(self.embed_dim, lmi_reduction or 16, self.num_prefix_tokens)
                                      for s in sites})
        else:
            self.lmi = nn.ModuleDict()
        # the blocks LMI follows, looked up once (ModuleDict keys are strings)
        self._lmi_after = {int(s): s for s in self.lmi if s != ENCODER}
        self.temporal_init = "identity" if temporal_init == "auto" else temporal_init
        if self.temporal_init == "active":
            self.open_temporal_branches()

    def open_temporal_branches(self) -> None:
        """Give SMIF's and LMI's output layers a random start instead of zero (training from scratch).

        SMIF's last layer (or the difference weights) gets PyTorch's default ``Linear`` initialisation, so
        the motion features reach the patch embedding at full strength from the first step (with
        ``smif=channels`` the motion projection does); attention-LMI's output projection gets the ViT's own
        ``Linear`` initialisation (truncated normal, std 0.02), like every other residual branch; the
        excitation's ``conv_exp`` gets PyTorch's default.
        """
        if self.smif_embed is not None:
            self.smif_embed.reset_parameters()
        elif self.smif is not None:
            self.smif.reset_output()
        for m in self.lmi.values():
            m.reset_output()

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """timm's set plus the temporal gates/tables (norms and biases are handled by ndim)."""
        keys = set(super().no_weight_decay())
        keys |= {n for n, _ in self.named_parameters() if n.endswith(("alpha", ".time_pos"))}
        return keys

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``(B, T, C, H, W)`` -> per-frame tokens ``(B, T, N, D)``."""
        if x.ndim != 5:
            raise ValueError(f"LS-ViT expects clips (B, T, C, H, W), got shape {tuple(x.shape)}")
        t = x.shape[1]
        x = self.embed_frames(x)
        x = self._pos_embed(x)
        x = self.drop_patches(x, t)
        x = self.norm_pre(x)
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if t > 1 and i in self._lmi_after:
                x = self.lmi[self._lmi_after[i]](x, t)
        x = self.norm(x)
        if t > 1 and ENCODER in self.lmi:  # seed 003's diagram: once, on the tokens the head pools
            x = self.lmi[ENCODER](x, t)
        return rearrange(x, "(b t) n d -> b t n d", t=t)

    def drop_patches(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        """timm's patch dropout, with the *same* patches kept in every frame of a clip.

        Dropping patches per frame independently (timm's ``PatchDropout`` on ``(B T)`` images)
        would leave LMI attending over time across tokens of different image positions.

        Args:
            x: tokens ``((B T), prefix + N, D)``.
            num_frames: T.
        """
        prob = float(getattr(self.patch_drop, "prob", 0.0))
        if not self.training or prob == 0.0:
            return x
        prefix = self.num_prefix_tokens
        n = x.shape[1] - prefix
        keep = max(1, int(n * (1.0 - prob)))
        # one draw per clip, kept in image order, repeated for each of its frames
        idx = torch.rand(x.shape[0] // num_frames, n, device=x.device).argsort(-1)[:, :keep].sort(-1).values
        idx = idx.repeat_interleave(num_frames, 0)
        patches = x[:, prefix:].gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))
        return torch.cat([x[:, :prefix], patches], dim=1)

    def embed_frames(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` -> patch tokens ``((B T), N, D)`` with SMIF's motion correction fused in."""
        t = x.shape[1]
        if self.smif is None or t == 1:
            return self.patch_embed(rearrange(x, "b t c h w -> (b t) c h w"))
        if self.smif_embed is not None:  # SMIF's own motion channels, embedded by their own projection
            tokens = self.patch_embed(rearrange(x, "b t c h w -> (b t) c h w"))
            # the projection of the maps and phi's last layer are both linear: one product of the two small
            # weights replaces the last layer's pass over every pixel (it has as many outputs as inputs)
            # phi runs per pixel, so it may as well run on pixels already grouped by patch: the features (no
            # gradient) are regrouped once instead of phi's wider hidden maps forward and their gradient back
            smif: SMIF = self.smif  # type: ignore[assignment]
            w2, b2 = smif.output_layer()
            w, b = self.smif_embed.weight, self.smif_embed.bias
            kh, kw = w.shape[-2:]
            hidden = smif.hidden(_patches(smif.features_cl(x), kh, kw))     # ((B T), patches, kh kw, hidden)
            weight = torch.einsum("dckl,cj->dklj", w, w2).flatten(1)        # (D, kh kw hidden)
            bias = b + torch.einsum("dckl,c->d", w, b2)
            return tokens + F.linear(hidden.flatten(2), weight, bias)
        if self._fuse_in_token_space(x):
            return self._embed_with_motion(x)
        return self.patch_embed(rearrange(self.smif(x), "b t c h w -> (b t) c h w"))

    def _fuse_in_token_space(self, x: torch.Tensor) -> bool:
        pe, s = self.patch_embed, self.smif.stride  # type: ignore[union-attr]
        p = pe.patch_size
        return (s > 1 and p[0] % s == 0 and p[1] % s == 0 and x.shape[-2] % p[0] == 0 and x.shape[-1] % p[1] == 0
                and isinstance(pe.norm, nn.Identity) and pe.flatten and not pe.dynamic_img_pad)

    def _embed_with_motion(self, x: torch.Tensor) -> torch.Tensor:
        """``patch_embed(x + upsample(c))`` computed exactly as ``patch_embed(x) + conv(c, W summed per stride block)``.

        The patch projection is linear and the correction ``c`` is constant on ``stride x stride``
        blocks, so it can be projected at its own resolution: no full-resolution correction is
        ever built, and no gradient has to flow back through the full-resolution projection.
        """
        s = self.smif.stride  # type: ignore[union-attr]
        corr = self.smif.correction_cl(x)  # type: ignore[union-attr]
        tokens = self.patch_embed(rearrange(x, "b t c h w -> (b t) c h w"))
        w = self.patch_embed.proj.weight
        ph, pw = self.patch_embed.patch_size
        w_low = w.view(w.shape[0], w.shape[1], ph // s, s, pw // s, s).sum(dim=(3, 5))
        return tokens + _patch_project(corr, w_low)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # type: ignore[override]
        """Per-frame tokens -> pooled token per frame -> mean over time -> dropout -> linear."""
        t = x.shape[1]
        x = self.pool(rearrange(x, "b t n d -> (b t) n d"))
        x = rearrange(x, "(b t) d -> b t d", t=t).mean(1)
        x = self.fc_norm(x)
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``(B, T, C, H, W) -> logits (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


# ------------------------------------------------------------------------------------------------ registry
# augreg ViTs (timm's default tags) normalise with mean = std = 0.5
_CFG = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), input_size=(3, 224, 224), num_classes=400,
            classifier="head", first_conv="patch_embed.proj", license="apache-2.0")
_SIZES = {
    "test": dict(patch_size=8, embed_dim=32, depth=2, num_heads=2, img_size=32),
    "tiny": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "small": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "base": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
}
_BACKBONES = {"tiny": "vit_tiny_patch16_224", "small": "vit_small_patch16_224", "base": "vit_base_patch16_224"}


def _create(variant: str, size: str, control: bool, pretrained: bool = False, pretrained_file: str | None = None,
            weights_dir: str = "weights", **kwargs: Any) -> LSViT:
    for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(k, None)
    args = dict(_SIZES[size], num_classes=_CFG["num_classes"])
    args.update(kwargs)
    if control:
        args.update(smif=False, lmi="none", lmi_blocks=[])
    if args.get("temporal_init", "auto") == "auto":
        # an ImageNet backbone already sees: the temporal branches start shut so that LS-ViT is that ViT at
        # step 0; from scratch nothing sees yet, and a shut branch would random-walk while the ViT learns
        # (docs/lsvit.md, the demo and its levers), so it starts open and motion reaches the tokens at once
        args["temporal_init"] = "identity" if pretrained else "active"
    model = LSViT(**args)
    cfg = dict(_CFG, architecture=variant, input_size=(3, *model.patch_embed.img_size))
    model.pretrained_cfg = model.default_cfg = cfg
    if pretrained:
        backbone = _BACKBONES.get(size)
        if backbone is None and pretrained_file is None:
            raise ValueError(f"{variant}: no pretrained backbone for size '{size}'; set pretrained_file")
        load_backbone_weights(model, backbone or "", pretrained_file, weights_dir)
    return model


def lsvit_test(pretrained: bool = False, **kwargs: Any) -> LSViT:
    """A 2-block, 32-wide LS-ViT on 32x32 frames for tests."""
    return _create("lsvit_test", "test", False, pretrained, **kwargs)


def lsvit_tiny_patch16_224(pretrained: bool = False, **kwargs: Any) -> LSViT:
    """LS-ViT on ViT-Ti/16."""
    return _create("lsvit_tiny_patch16_224", "tiny", False, pretrained, **kwargs)


def lsvit_small_patch16_224(pretrained: bool = False, **kwargs: Any) -> LSViT:
    """LS-ViT on ViT-S/16."""
    return _create("lsvit_small_patch16_224", "small", False, pretrained, **kwargs)


def lsvit_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> LSViT:
    """LS-ViT on ViT-B/16."""
    return _create("lsvit_base_patch16_224", "base", False, pretrained, **kwargs)


def lsvit_frameavg_test(pretrained: bool = False, **kwargs: Any) -> LSViT:
    """The control at test size: frames classified independently and averaged."""
    return _create("lsvit_frameavg_test", "test", True, pretrained, **kwargs)


def lsvit_frameavg_tiny_patch16_224(pretrained: bool = False, **kwargs: Any) -> LSViT:
    """The control on ViT-Ti/16: no SMIF, no LMI, per-frame predictions averaged."""
    return _create("lsvit_frameavg_tiny_patch16_224", "tiny", True, pretrained, **kwargs)


def lsvit_frameavg_small_patch16_224(pretrained: bool = False, **kwargs: Any) -> LSViT:
    """The control on ViT-S/16."""
    return _create("lsvit_frameavg_small_patch16_224", "small", True, pretrained, **kwargs)


def lsvit_frameavg_base_patch16_224(pretrained: bool = False, **kwargs: Any) -> LSViT:
    """The control on ViT-B/16."""
    return _create("lsvit_frameavg_base_patch16_224", "base", True, pretrained, **kwargs)


LSVIT_TITLE = "LS-ViT (ViT + short-term SMIF + long-term LMI temporal differences)"
CONTROL_TITLE = "ViT frame-average (the LS-ViT control: no SMIF, no LMI)"
_ORDER_BLIND = ("Frame-average control: it averages per-frame predictions and cannot tell an action from its time "
                "reversal.")


def _limitations(args: Any) -> list[str]:
    """An LS-ViT built without its temporal modules is the order-blind control."""
    return [_ORDER_BLIND] if args.get("smif") is False and args.get("lmi_blocks") == [] else []


# registered by lsvit.plugins.setup (importing this module registers nothing)
ENTRY_POINTS = (
    *(EntryPoint(LSViT, fn, LSVIT_TITLE, _limitations) for fn in (
        lsvit_test, lsvit_tiny_patch16_224, lsvit_small_patch16_224, lsvit_base_patch16_224)),
    *(EntryPoint(LSViT, fn, CONTROL_TITLE, lambda args: [_ORDER_BLIND]) for fn in (
        lsvit_frameavg_test, lsvit_frameavg_tiny_patch16_224, lsvit_frameavg_small_patch16_224,
        lsvit_frameavg_base_patch16_224)),
)
