"""A model's own randomness (dropout, stochastic depth) drawn from each training sample's seed.

Every random choice of a training *sample* — frames, crop, flip — is already a function of its seed
(:class:`lsvit.data.dataset.SeededSampler`), which is what makes 1 and N processes train alike. Dropout and
stochastic depth draw inside the model, from the process's RNG: with two processes each rank draws masks for
its half of the batch from its own generator, so the same sample gets another mask than in one process, and
the runs drift apart (issue 24.3: validation top-1 1.000 vs 0.750 after one epoch with ``drop_path_rate=0.1``).

:func:`seed_stochastic_layers` swaps a model's ``nn.Dropout`` and timm ``DropPath`` modules for versions that,
inside :func:`per_sample_seeds`, draw each sample's mask from a generator seeded by the sample's seed and the
draw's position in the forward pass: the same sample gets the same mask whichever rank holds it. Outside that
context (evaluation, inference, someone else's loop) they behave exactly like the modules they replace. Neither
has parameters, so checkpoints are unchanged. ``nn.LSTM``'s own inter-layer dropout cannot be reached from
outside the module: :func:`unseeded_randomness` names such layers so that the engine can say so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import torch
import torch.nn as nn
from timm.layers import DropPath

# a large odd multiplier keeps (seed, draw) pairs apart in the 63-bit seed space
_MIX = 0x9E3779B97F4A7C15 >> 1


@dataclass
class _Draws:
    seeds: list[int]
    count: int = 0  # draws so far in this forward pass: the same layer draws the same number in every process

    def uniform(self, rows: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """``(rows, *shape)`` uniforms; the rows are the samples', each sample's ``rows / B`` consecutive rows
        drawn from its own generator (``(B T)`` frame rows of a clip model are their clip's)."""
        self.count += 1
        b = len(self.seeds)
        if rows % b:
            raise ValueError(f"per-sample randomness: {rows} rows do not split over {b} samples")
        per = rows // b
        out = []
        for s in self.seeds:
            g = torch.Generator(device="cpu").manual_seed((s * _MIX + self.count) % (2**63 - 1))
            out.append(torch.rand((per, *shape), generator=g))
        return torch.cat(out).to(device, non_blocking=True)


_STATE: ContextVar[_Draws | None] = ContextVar("lsvit_sample_seeds", default=None)


@contextlib.contextmanager
def per_sample_seeds(seeds: torch.Tensor | None) -> Iterator[None]:
    """Within the block, seeded layers draw each sample's randomness from ``seeds`` (``(B,)`` integers, the
    batch's samples in order); ``None`` leaves them on the process RNG."""
    token = _STATE.set(_Draws([int(s) for s in seeds.tolist()]) if seeds is not None else None)
    try:
        yield
    finally:
        _STATE.reset(token)


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` whose masks follow each sample's seed inside :func:`per_sample_seeds`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with elements zeroed with probability ``p`` and the rest scaled by ``1 / (1 - p)``."""
        draws = _STATE.get()
        if not self.training or self.p == 0.0 or draws is None:
            return super().forward(x)
        keep = draws.uniform(x.shape[0], tuple(x.shape[1:]), x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


class SeededDropPath(DropPath):
    """timm's ``DropPath`` (per-sample stochastic depth) whose draws follow each sample's seed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each row's residual branch dropped with probability ``drop_prob`` (scaled by the keep probability)."""
        draws = _STATE.get()
        if not self.training or self.drop_prob == 0.0 or draws is None:
            return super().forward(x)
        keep_prob = 1.0 - self.drop_prob
        keep = draws.uniform(x.shape[0], (), x.device) < keep_prob
        mask = keep.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        return x * mask / keep_prob if self.scale_by_keep else x * mask


def seed_stochastic_layers(model: nn.Module) -> int:
    """Swap ``model``'s dropout and stochastic-depth modules for their seeded versions, in place.

    Returns:
        How many modules were swapped.
    """
    swapped = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                seeded = SeededDropout(child.p, child.inplace)
            elif type(child) is DropPath:
                seeded = SeededDropPath(child.drop_prob, child.scale_by_keep)
            else:
                continue
            seeded.train(child.training)
            setattr(parent, name, seeded)
            swapped += 1
    return swapped


def unseeded_randomness(model: nn.Module) -> list[str]:
    """Layers whose randomness stays on the process RNG (recurrent layers with inter-layer dropout)."""
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.RNNBase) and m.dropout > 0 and m.num_layers > 1]
