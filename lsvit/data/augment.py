"""Named clip augmentation presets built with albumentations, one random draw per clip.

``gesture_strong`` is seed 001's recipe: horizontal flip (p=1.0), optical or grid distortion
(p=0.5), brightness/contrast or colour balance (p=0.8), Gaussian or ISO noise (p=0.6), motion or
Gaussian blur (p=0.6), then a resize (640 x 640 in the seed). Validation: the resize only.

A pipeline is always applied to the whole clip at once, ``A.Compose(...)(images=frames)``:
albumentations then draws the random parameters once and applies them to every frame. Calling it
frame by frame would draw new flips, distortions and blurs per frame and destroy the motion the
models must see. The draw is seeded (``seed`` -> the same augmented clip in 1 or N processes,
and on a resumed extraction).

The flip is not the pipeline's own: a flipped clip of a side-named class must take its mirrored partner's label
(``swipe_left`` -> ``swipe_right``), which albumentations cannot know. Callers build the pipeline without it
(:meth:`ClipAugment.without_flip`) and flip with the label map (:mod:`lsvit.data.labelmaps`): the clip loader
with ``data.hflip``, the extraction of augmented copies with the preset's own flip probability (1.0 in seed 001:
every copy mirrored, :func:`flip_probability`).
"""

from __future__ import annotations

import inspect
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

    def without_flip(self) -> ClipAugment:
        """The same preset without its horizontal flip (the caller flips, mapping the label)."""
        return ClipAugment(self.name, self.train, {**self.args, "hflip": 0.0})

    def __getstate__(self) -> dict[str, Any]:
        # the pipeline is rebuilt in each worker process
        return {"name": self.name, "train": self.train, "args": self.args, "_pipeline": None}


def flip_probability(name: str | None, args: Mapping[str, Any] | None = None) -> float:
    """The flip probability of preset ``name`` with ``args`` (its ``hflip`` argument, else the preset's default)."""
    if not name or name not in _BUILDERS:
        return 0.0
    default = inspect.signature(_BUILDERS[name]).parameters.get("hflip")
    value = dict(args or {}).get("hflip", default.default if default is not None else 0.0)
    return float(value)


def make_aug(name: str | None, train: bool = True, args: Mapping[str, Any] | None = None) -> ClipAugment | None:
    """:class:`ClipAugment` for ``name``, or ``None`` when ``name`` is empty/None."""
    if not name or str(name).lower() in ("none", "null"):
        return None
    return ClipAugment(str(name), train, args)
