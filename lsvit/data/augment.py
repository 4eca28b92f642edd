"""Named clip augmentation presets built with albumentations, one random draw per clip.

``gesture_strong`` is seed 001's recipe: horizontal flip (p=1.0), optical or grid distortion
(p=0.5), brightness/contrast or colour balance (p=0.8), Gaussian or ISO noise (p=0.6), motion or
Gaussian blur (p=0.6), then a resize (640 x 640 in the seed). Validation: the resize only.

A pipeline is always applied to the whole clip at once, ``A.Compose(...)(images=frames)``:
albumentations then draws the random parameters once and applies them to every frame. Calling it
frame by frame would draw new flips, distortions and blurs per frame and destroy the motion the
models must see. The draw is seeded (``seed`` -> the same augmented clip in 1 or N processes,
and on a resumed extraction).

Note the seed's flip probability of 1.0: every training clip is mirrored. That is harmless for
classes that are mirror-symmetric and wrong when left/right is part of the label (``move_left``
vs ``move_right``); pass ``hflip=0`` (``data.aug_args={hflip: 0}``) there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lsvit import LsvitError

AUG_PRESETS = ("gesture_strong",)


def gesture_strong(train: bool = True, size: int | None = 640, hflip: float = 1.0) -> Any:
    """Seed 001's albumentations pipeline.

    Args:
        train: the training recipe; ``False`` gives the validation one (the resize only).
        size: square output side of the final resize; ``None`` leaves the frame size alone (when a
            later step crops and resizes anyway, e.g. the LS-ViT loader).
        hflip: horizontal flip probability (1.0 in the seed).

    Returns:
        An ``albumentations.Compose``.
    """
    try:
        import albumentations as A
    except ImportError as exc:  # a dependency of lsvit; only a broken install lacks it
        raise LsvitError("data.aug=gesture_strong needs albumentations (pip install albumentations)") from exc

    resize = [A.Resize(int(size), int(size))] if size else []
    if not train:
        return A.Compose(resize)
    return A.Compose([
        A.HorizontalFlip(p=float(hflip)),
        A.OneOf([A.OpticalDistortion(), A.GridDistortion()], p=0.5),
        A.OneOf([A.RandomBrightnessContrast(), A.RGBShift()], p=0.8),
        # std 3-7 grey levels: albumentations 1.x's default (var_limit 10-50) that the seed ran with
        A.OneOf([A.GaussNoise(std_range=(0.012, 0.028)), A.ISONoise()], p=0.6),
        A.OneOf([A.MotionBlur(), A.GaussianBlur()], p=0.6),
        *resize,
    ])


_BUILDERS: dict[str, Callable[..., Any]] = {"gesture_strong": gesture_strong}


class ClipAugment:
    """A named preset applied to whole clips with a seeded draw (picklable: built lazily per process).

    Args:
        name: a preset of :data:`AUG_PRESETS`.
        train: training recipe or the validation one.
        args: keyword arguments of the preset (e.g. ``{"size": None, "hflip": 0.0}``).
    """

    def __init__(self, name: str, train: bool = True, args: Mapping[str, Any] | None = None) -> None:
        if name not in _BUILDERS:
            raise LsvitError(f"data.aug={name!r}: choose one of {', '.join(AUG_PRESETS)} (or null)")
        self.name, self.train, self.args = name, train, dict(args or {})
        self._pipeline: Any = None

    def __call__(self, frames: np.ndarray, seed: int | None = None) -> np.ndarray:
        """uint8 ``(T, H, W, 3)`` -> uint8 ``(T, H', W', 3)``: one draw for the whole clip."""
        if self._pipeline is None:
            self._pipeline = _BUILDERS[self.name](train=self.train, **self.args)
        if seed is not None:
            self._pipeline.set_random_seed(int(seed) % (2**32))
        return np.ascontiguousarray(self._pipeline(images=np.ascontiguousarray(frames))["images"])

    def __getstate__(self) -> dict[str, Any]:
        # the pipeline is rebuilt in each worker process
        return {"name": self.name, "train": self.train, "args": self.args, "_pipeline": None}


def make_aug(name: str | None, train: bool = True, args: Mapping[str, Any] | None = None) -> ClipAugment | None:
    """:class:`ClipAugment` for ``name``, or ``None`` when ``name`` is empty/None."""
    if not name or str(name).lower() in ("none", "null"):
        return None
    return ClipAugment(str(name), train, args)
