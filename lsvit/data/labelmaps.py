"""Label maps of motion-aware augmentation: which class a clip becomes when it is mirrored or played backwards.

A horizontal flip turns ``swipe_left`` into ``swipe_right`` and ``rotate_cw`` into ``rotate_ccw``; playing a clip
backwards turns ``move_left`` into ``move_right``, ``grow`` into ``shrink`` and ``sit_down`` into ``stand_up``.
Both are found from the class names — a name's words are swapped for their opposites (:data:`MIRROR_WORDS`,
:data:`REVERSAL_WORDS`), and the class with the swapped name is the partner — or given explicitly as pairs. The
one mechanism serves every family: the clip transforms, the embedding caches and the keypoint sequences apply a
flip or a reversal to the data and :func:`mirror_map` / :func:`reversal_map` to the label.

* mirror: every class has an image (its partner, or itself: a mirrored ``clap`` is a clap), except a class that
  names a side without a partner (a flipped ``swipe_left`` would carry a wrong label): an error names it;
* reversal: only classes with a partner are played backwards (a reversed ``drink`` is no class at all): the map
  gives ``-1`` for the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lsvit import LsvitError

# what a horizontal mirror swaps: sides, and the sense of a rotation seen in the picture
MIRROR_WORDS = {"left": "right", "right": "left", "cw": "ccw", "ccw": "cw", "clockwise": "counterclockwise",
                "counterclockwise": "clockwise", "anticlockwise": "clockwise"}
# what playing a clip backwards swaps: directions of motion and processes that run the other way
_REVERSAL_PAIRS = [("left", "right"), ("up", "down"), ("in", "out"), ("cw", "ccw"), ("clockwise", "counterclockwise"),
                   ("open", "close"), ("opening", "closing"), ("grow", "shrink"), ("expand", "contract"),
                   ("push", "pull"), ("raise", "lower"), ("rise", "fall"), ("appear", "vanish"),
                   ("appear", "disappear"), ("forward", "backward"), ("forwards", "backwards"), ("enter", "exit"),
                   ("sit", "stand"), ("pick", "put"), ("on", "off"), ("fill", "empty"), ("approach", "recede"),
                   ("inhale", "exhale"), ("lift", "drop")]
REVERSAL_WORDS = {**{a: b for a, b in _REVERSAL_PAIRS}, **{b: a for a, b in _REVERSAL_PAIRS},
                  "anticlockwise": "clockwise"}
_SPLIT = re.compile(r"([_\-\s.]+)")


def _swap_case(word: str, other: str) -> str:
    if word.isupper():
        return other.upper()
    if word[:1].isupper():
        return other.capitalize()
    return other


def swapped_name(name: str, words: Mapping[str, str]) -> str | None:
    """``name`` with every word that has an opposite in ``words`` swapped for it (case kept); None if none has."""
    parts = _SPLIT.split(name)
    out, changed = [], False
    for part in parts:
        other = words.get(part.lower())
        if other is not None and not _SPLIT.fullmatch(part):
            out.append(_swap_case(part, other))
            changed = True
        else:
            out.append(part)
    return "".join(out) if changed else None


def _explicit(class_names: Sequence[str], pairs: Iterable[Sequence[str]] | Mapping[str, str], key: str
              ) -> dict[int, int]:
    index = {c: i for i, c in enumerate(class_names)}
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out: dict[int, int] = {}
    for pair in items:
        a, b = tuple(pair)
        if a not in index or b not in index:
            raise LsvitError(f"{key}: {a!r} <-> {b!r} names a class that is not in the data "
                             f"({', '.join(list(class_names)[:10])})")
        out[index[a]], out[index[b]] = index[b], index[a]
    return out


def partners(class_names: Sequence[str], words: Mapping[str, str]) -> dict[int, int]:
    """Class index -> the index of the class named with ``words`` swapped, for every class that has one."""
    index = {c: i for i, c in enumerate(class_names)}
    out = {}
    for c, i in index.items():
        other = swapped_name(c, words)
        if other is not None and other in index and other != c:
            out[i] = index[other]
    return out


def mirror_map(class_names: Sequence[str], pairs: Iterable[Sequence[str]] | Mapping[str, str] | None = None,
               key: str = "data.mirror_map") -> list[int]:
    """Label index -> label index under a horizontal flip (a class without a side keeps its label).

    Args:
        class_names: the classes, in label order.
        pairs: explicit partners (``[[a, b], ...]`` or ``{a: b}``); otherwise found by :data:`MIRROR_WORDS`.
        key: the setting that gave ``pairs`` (messages).

    Raises:
        LsvitError: a class names a side (or a sense of rotation) and has no partner, or ``pairs`` names an
            unknown class.
    """
    out = list(range(len(class_names)))
    if pairs:
        for a, b in _explicit(class_names, pairs, key).items():
            out[a] = b
        return out
    found = partners(class_names, MIRROR_WORDS)
    for i, c in enumerate(class_names):
        if i in found:
            out[i] = found[i]
        elif swapped_name(c, MIRROR_WORDS) is not None:
            raise LsvitError(f"class {c!r} names a side and has no mirrored partner (a flipped clip would carry "
                             f"the wrong label): give {key}, or turn the flip off")
    return out


def reversal_map(class_names: Sequence[str], pairs: Iterable[Sequence[str]] | Mapping[str, str] | None = None,
                 key: str = "data.reverse_pairs") -> list[int]:
    """Label index -> the label of the same clip played backwards, or ``-1`` for a class that has no reversal
    partner (such clips are never reversed).

    Args:
        class_names: the classes, in label order.
        pairs: explicit reversal pairs; otherwise found by :data:`REVERSAL_WORDS`.
        key: the setting that gave ``pairs`` (messages).
    """
    found = _explicit(class_names, pairs, key) if pairs else partners(class_names, REVERSAL_WORDS)
    return [found.get(i, -1) for i in range(len(class_names))]


def reversal_pairs(class_names: Sequence[str]) -> list[tuple[str, str]]:
    """The reversal pairs among ``class_names``, each once, as names (``[("move_left", "move_right"), ...]``)."""
    m = reversal_map(class_names)
    return [(class_names[i], class_names[j]) for i, j in enumerate(m) if j > i]


@dataclass(frozen=True)
class MotionAugment:
    """A horizontal flip and a time reversal drawn once per training sample, with the label they imply.

    The one mechanism of every family: each draws ``flip, reverse, label = augment.draw(label, rng)`` and applies
    the flip and the reversal to its own data (clips: frames mirrored and played backwards; frame embeddings: the
    left and right views swapped and the frames reversed; keypoints: points mirrored and sides swapped, frames
    reversed). Only classes with a reversal partner are ever reversed; a flip maps side-named classes.

    Attributes:
        mirror: label -> label under a flip (None: never flip).
        flip_prob: probability of a flip.
        reverse: label -> label played backwards, ``-1`` for classes that are never reversed (None: never).
        reverse_prob: probability of a reversal (for classes that have a partner).
    """

    mirror: tuple[int, ...] | None = None
    flip_prob: float = 0.0
    reverse: tuple[int, ...] | None = None
    reverse_prob: float = 0.0

    @classmethod
    def build(cls, class_names: Sequence[str], flip_prob: float = 0.0, reverse_prob: float = 0.0,
              mirror_pairs: Iterable[Sequence[str]] | Mapping[str, str] | None = None,
              reverse_pairs: Iterable[Sequence[str]] | Mapping[str, str] | str | None = "auto",
              prefix: str = "data") -> MotionAugment:
        """The maps of ``class_names`` (found from the names, or the explicit pairs), for the probabilities given.

        Raises:
            LsvitError: a probability outside [0, 1], a side-named class without a partner while flipping, pairs
                naming unknown classes (each naming the setting).
        """
        for key, p in (("hflip", flip_prob), ("reverse", reverse_prob)):
            if not 0.0 <= float(p) <= 1.0:
                raise LsvitError(f"{prefix}.{key}={p}: a probability in [0, 1]")
        mirror = tuple(mirror_map(class_names, mirror_pairs, f"{prefix}.mirror_map")) if flip_prob > 0 else None
        reverse = None
        if reverse_prob > 0 and reverse_pairs is not None:
            pairs = None if reverse_pairs == "auto" else reverse_pairs
            reverse = tuple(reversal_map(class_names, pairs, f"{prefix}.reverse_pairs"))  # type: ignore[arg-type]
        return cls(mirror, float(flip_prob), reverse, float(reverse_prob))

    @property
    def active(self) -> bool:
        """Whether it can change anything."""
        return (self.mirror is not None and self.flip_prob > 0) or (self.reverse is not None and self.reverse_prob > 0)

    def draw(self, label: int, rng: np.random.Generator) -> tuple[bool, bool, int]:
        """``(flip, reverse, new label)`` for a sample of ``label`` (unlabelled samples, label < 0, stay as they are)."""
        if label < 0:
            return False, False, label
        flip = self.mirror is not None and self.flip_prob > 0 and rng.random() < self.flip_prob
        if flip:
            label = self.mirror[label]  # type: ignore[index]
        rev = (self.reverse is not None and self.reverse_prob > 0 and self.reverse[label] >= 0
               and rng.random() < self.reverse_prob)
        if rev:
            label = self.reverse[label]  # type: ignore[index]
        return flip, rev, label
