"""Keypoint sequences made model inputs: fixed length (centre truncation, zero padding or uniform sampling), normalised."""

from __future__ import annotations

import numpy as np

from lsvit.families.keypoints.layout import Layout

SAMPLINGS = ("pad", "uniform")


NORMALIZE = ("none", "anchor")


# ------------------------------------------------------------------------------------------- sequences
def fix_length(seq: np.ndarray, num_frames: int, sampling: str = "pad", start: int | None = None) -> np.ndarray:
    """``(T, F)`` -> ``(num_frames, F)``.

    ``pad``: a longer sequence keeps its centre (or the window at ``start``), a shorter one gets zero
    frames at the end (seed 000). ``uniform``: ``num_frames`` evenly spaced frames of a longer
    sequence (the whole motion at a lower rate); a shorter one is padded.
    """
    t = len(seq)
    if t >= num_frames:
        if sampling == "uniform":
            return seq[np.linspace(0, t - 1, num_frames).round().astype(int)]
        s = (t - num_frames) // 2 if start is None else int(min(max(start, 0), t - num_frames))
        return seq[s:s + num_frames]
    out = np.zeros((num_frames, seq.shape[1]), dtype=seq.dtype)
    out[:t] = seq
    return out


def _present(pts: np.ndarray) -> np.ndarray:
    """``(T, P, C)`` -> ``(T, P)``: a point is missing when all its values are 0 (MediaPipe found nothing)."""
    return np.abs(pts).sum(axis=-1) > 0


def _xy(group_channels: str) -> tuple[int, int, int | None]:
    return group_channels.index("x"), group_channels.index("y"), (group_channels.index("z")
                                                                  if "z" in group_channels else None)


def sequence_anchor(seq: np.ndarray, layout: Layout, aspect: float = 1.0) -> tuple[float, float, float] | None:
    """``(x, y, scale)`` of the body anchor over the sequence (None when nothing was detected).

    Shoulders' centre and width when there is a pose; otherwise the wrists' mean and twice the palm
    length (wrist to middle-finger knuckle); otherwise the centroid and mean spread of all points.
    x is measured in height units (``x * aspect``) so that the scale is the same in both directions.
    """
    pts = layout.points(seq)
    pose = layout.group("pose")
    if pose is not None and pose.points == 33 and "x" in pose.channels:
        ix, iy, _ = _xy(pose.channels)
        p = pts["pose"]
        ok = _present(p)[:, 11] & _present(p)[:, 12]
        if ok.any():
            ls, rs = p[ok][:, 11], p[ok][:, 12]
            cx, cy = (ls[:, ix] + rs[:, ix]).mean() / 2, (ls[:, iy] + rs[:, iy]).mean() / 2
            width = np.hypot((ls[:, ix] - rs[:, ix]) * aspect, ls[:, iy] - rs[:, iy]).mean()
            if width > 1e-6:
                return float(cx), float(cy), float(width)
    wrists, palms = [], []
    for name in ("left_hand", "right_hand"):
        g = layout.group(name)
        if g is None or g.points != 21 or "x" not in g.channels:
            continue
        ix, iy, _ = _xy(g.channels)
        h = pts[name]
        ok = _present(h)[:, 0]
        if ok.any():
            wrists.append(h[ok][:, 0, [ix, iy]])
            palms.append(np.hypot((h[ok][:, 9, ix] - h[ok][:, 0, ix]) * aspect, h[ok][:, 9, iy] - h[ok][:, 0, iy]))
    if wrists:
        w = np.concatenate(wrists)
        scale = 2 * float(np.concatenate(palms).mean())
        if scale > 1e-6:
            return float(w[:, 0].mean()), float(w[:, 1].mean()), scale
    xs, ys = [], []
    for g in layout.groups:
        if "x" in g.channels and "y" in g.channels:
            ix, iy, _ = _xy(g.channels)
            ok = _present(pts[g.name])
            xs.append(pts[g.name][..., ix][ok])
            ys.append(pts[g.name][..., iy][ok])
    if not xs or not sum(len(x) for x in xs):
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    spread = float(np.hypot((x - x.mean()) * aspect, y - y.mean()).mean())
    return float(x.mean()), float(y.mean()), spread if spread > 1e-6 else 1.0


def normalize_sequence(seq: np.ndarray, layout: Layout, mode: str = "anchor", aspect: float = 1.0) -> np.ndarray:
    """Coordinates relative to the body anchor, in units of its scale (``mode="anchor"``), so the
    model does not learn where the person stood or how far from the camera; missing points stay 0.
    Visibility values are left alone; z is divided by the scale."""
    if mode == "none" or not layout.spatial:
        return seq
    anchor = sequence_anchor(seq, layout, aspect)
    if anchor is None:
        return seq
    ax, ay, s = anchor
    out = seq.copy()
    for name, p in layout.points(out).items():
        g = layout.group(name)
        ix, iy, iz = _xy(g.channels)  # type: ignore[union-attr]
        ok = _present(p)
        p[..., ix] = np.where(ok, (p[..., ix] - ax) * aspect / s, 0.0)
        p[..., iy] = np.where(ok, (p[..., iy] - ay) / s, 0.0)
        if iz is not None:
            p[..., iz] = np.where(ok, p[..., iz] / s, 0.0)
    return out


def prepare_sequence(seq: np.ndarray, layout: Layout, num_frames: int, sampling: str = "pad",
                     normalize: str = "anchor", aspect: float = 1.0, start: int | None = None) -> np.ndarray:
    """Evaluation's path from a raw sequence to the model's ``(num_frames, F)`` input (inference and
    realtime use it too, so every path sees the same numbers)."""
    return normalize_sequence(fix_length(np.asarray(seq, dtype=np.float32), num_frames, sampling, start), layout,
                              normalize, aspect).astype(np.float32)
