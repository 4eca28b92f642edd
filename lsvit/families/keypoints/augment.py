"""Keypoint augmentation drawn once per sequence from the sample's seed: mirror (hands swapped, side-named labels
mapped by :func:`lsvit.data.labelmaps.mirror_map`), rotation, scale, shift and time warp, so the whole sequence moves
together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lsvit.families.keypoints.layout import Layout, mirror_index
from lsvit.families.keypoints.sequences import _present, _xy


@dataclass
class KeypointAugment:
    """Sequence-consistent keypoint augmentation (one draw per sequence, from the sample's seed).

    Args:
        mirror: probability of a horizontal mirror (x -> 1 - x, hands and pose sides swapped, labels
            mapped by :func:`lsvit.data.labelmaps.mirror_map`).
        rotate: maximum rotation in degrees about the sequence's centre.
        scale: maximum relative scale change.
        shift: maximum shift, in units of the frame.
        time_warp: maximum relative change of speed, plus a smooth non-linear warp of the same size.
    """

    mirror: float = 0.0
    rotate: float = 10.0
    scale: float = 0.1
    shift: float = 0.05
    time_warp: float = 0.2

    def __call__(self, seq: np.ndarray, layout: Layout, rng: np.random.Generator, aspect: float = 1.0,
                 mirror_perm: tuple[np.ndarray, list[int]] | None = None, mirror: bool | None = None
                 ) -> tuple[np.ndarray, bool]:
        """Returns the augmented sequence and whether it was mirrored.

        ``mirror``: a mirror decided by the caller (the motion-aware augmentation, which also maps the label);
        None: drawn here with probability :attr:`mirror`.
        """
        out = seq.astype(np.float32, copy=True)
        if mirror is None:
            mirror = self.mirror > 0 and rng.random() < self.mirror
        if mirror:
            perm, xs = mirror_perm if mirror_perm is not None else mirror_index(layout)
            out = out[:, perm]
            present = out[:, xs] != 0
            out[:, xs] = np.where(present, 1.0 - out[:, xs], 0.0)
        mirrored = bool(mirror)
        if layout.spatial and (self.rotate or self.scale or self.shift):
            theta = math.radians(rng.uniform(-self.rotate, self.rotate))
            s = 1.0 + rng.uniform(-self.scale, self.scale)
            dx, dy = rng.uniform(-self.shift, self.shift, size=2)
            pts = layout.points(out)
            cx, cy = _centre(pts, layout)
            c, si = math.cos(theta) * s, math.sin(theta) * s
            for name, p in pts.items():
                ix, iy, iz = _xy(layout.group(name).channels)  # type: ignore[union-attr]
                ok = _present(p)
                # rotate in isotropic units (x * aspect), then back to frame units
                x, y = (p[..., ix] - cx) * aspect, p[..., iy] - cy
                nx, ny = (c * x - si * y) / aspect + cx + dx, si * x + c * y + cy + dy
                p[..., ix] = np.where(ok, nx, 0.0)
                p[..., iy] = np.where(ok, ny, 0.0)
                if iz is not None:
                    p[..., iz] = np.where(ok, p[..., iz] * s, 0.0)
        if self.time_warp > 0 and len(out) > 1:
            t = len(out)
            new_t = max(2, int(round(t * (1.0 + rng.uniform(-self.time_warp, self.time_warp)))))
            gamma = math.exp(rng.uniform(-self.time_warp, self.time_warp))
            u = np.linspace(0.0, 1.0, new_t) ** gamma
            # nearest frames, not interpolation: a missing (zero) frame stays missing
            out = out[np.clip(np.round(u * (t - 1)).astype(int), 0, t - 1)]
        return out, mirrored


def _centre(pts: dict[str, np.ndarray], layout: Layout) -> tuple[float, float]:
    xs, ys = [], []
    for name, p in pts.items():
        ix, iy, _ = _xy(layout.group(name).channels)  # type: ignore[union-attr]
        ok = _present(p)
        xs.append(p[..., ix][ok])
        ys.append(p[..., iy][ok])
    x, y = np.concatenate(xs), np.concatenate(ys)
    return (float(x.mean()), float(y.mean())) if len(x) else (0.5, 0.5)


