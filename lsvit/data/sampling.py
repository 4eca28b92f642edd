"""Which frames of a video make a clip.

``dense``: ``num_frames`` frames ``stride`` apart (random start when training, centred
otherwise). ``uniform``: TSN-style, one frame from each of ``num_frames`` equal segments
(random within the segment when training, its middle otherwise). Several evaluation views
(``num_clips``) spread dense windows or uniform offsets evenly over the video.
Videos shorter than the span never fail: ``short=loop`` wraps around,
``short=repeat_last`` holds the last frame.
"""

from __future__ import annotations

import numpy as np

SAMPLINGS = ("dense", "uniform")
SHORT_POLICIES = ("loop", "repeat_last")


def sample_indices(num_video_frames: int, num_frames: int, stride: int = 1, sampling: str = "dense",
                   train: bool = False, rng: np.random.Generator | None = None, short: str = "loop",
                   clip_index: int = 0, num_clips: int = 1) -> np.ndarray:
    """Frame indices of one clip.

    Args:
        num_video_frames: frames in the video (>= 1).
        num_frames: frames in the clip (T).
        stride: step between frames (dense sampling).
        sampling: ``dense`` or ``uniform``.
        train: random placement (needs ``rng``); otherwise deterministic.
        rng: random generator for training.
        short: ``loop`` or ``repeat_last`` for videos shorter than the dense span.
        clip_index: which of ``num_clips`` evenly spread evaluation views.
        num_clips: number of evaluation views.

    Returns:
        int64 array of ``num_frames`` indices in ``[0, num_video_frames)``.
    """
    n = int(num_video_frames)
    if n < 1:
        raise ValueError("num_video_frames must be >= 1")
    if num_frames < 1 or stride < 1:
        raise ValueError("num_frames and stride must be >= 1")
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling={sampling!r}: choose one of {SAMPLINGS}")
    if short not in SHORT_POLICIES:
        raise ValueError(f"short={short!r}: choose one of {SHORT_POLICIES}")
    if train and rng is None:
        rng = np.random.default_rng()

    if sampling == "uniform":
        seg = n / num_frames
        if train:
            offsets = rng.random(num_frames)  # type: ignore[union-attr]
        else:
            offsets = np.full(num_frames, (clip_index + 0.5) / num_clips)
        idx = np.floor((np.arange(num_frames) + offsets) * seg).astype(np.int64)
        return np.clip(idx, 0, n - 1)

    span = (num_frames - 1) * stride + 1
    room = n - span
    if room >= 0:
        if train:
            start = int(rng.integers(0, room + 1))  # type: ignore[union-attr]
        elif num_clips > 1:
            start = int(round(room * clip_index / (num_clips - 1)))
        else:
            start = room // 2
        return start + np.arange(num_frames, dtype=np.int64) * stride
    idx = np.arange(num_frames, dtype=np.int64) * stride
    if short == "loop":
        return idx % n
    return np.minimum(idx, n - 1)
