"""What each number of a keypoint feature vector is: landmark groups, points, channels.

A frame's feature vector is the concatenation of landmark *groups* (``pose`` 33 points,
``face`` 468, ``left_hand`` / ``right_hand`` 21 each), each point contributing some of the
channels ``x y z v`` (v = visibility) in that order. The layout travels with the data (an
HDF5 attribute and the checkpoint's ``meta.json``), so that augmentation knows which numbers
are x coordinates and which groups to swap in a mirror, normalisation knows where the
shoulders are, realtime drawing knows where the points are, and raw-video inference can
rebuild exactly the vector a model was trained on, whichever seed's format it came from.

Layouts of the seeds: seed 000 ``hands`` (84: ``MAX_NUM_HANDS_MEDIAPIPE`` = 2 hand slots x 21 x (x, y); 42 with
one slot, 168 with four), seed 002 ``holistic`` (1662: pose xyzv, face xyz, left hand xyz, right hand xyz), seed
004's CSV (pose, right hand, left hand, each point x y z v: 300 numbers, 225 with the visibility columns dropped).

Hand slots (``hands`` mode, :func:`hand_slot_names`): one slot is ``hand``; two are ``left_hand`` and
``right_hand``; more add ``hand_3``, ``hand_4``, ... (seed 000 fills slot 0 with a left hand, slot 1 with a right
hand, then the next free slot: :func:`lsvit.families.keypoints.mediapipe.assign_hand_slots`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lsvit import LsvitError

# landmarks per MediaPipe group
GROUP_POINTS = {"pose": 33, "face": 468, "left_hand": 21, "right_hand": 21}
CHANNELS = "xyzv"
# MediaPipe pose: (left, right) landmark index pairs, swapped by a mirror
POSE_MIRROR_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
                     (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
# skeleton edges for drawing
HAND_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
              (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20))
POSE_EDGES = ((11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24), (23, 25), (25, 27),
              (24, 26), (26, 28), (0, 2), (0, 5), (2, 7), (5, 8), (9, 10))


@dataclass(frozen=True)
class Group:
    """One landmark group: ``points`` landmarks with ``channels`` (a subsequence of ``xyzv``) each."""

    name: str
    points: int
    channels: str

    @property
    def size(self) -> int:
        """Numbers this group contributes to a frame's vector."""
        return self.points * len(self.channels)


@dataclass(frozen=True)
class Layout:
    """An ordered tuple of groups; the feature vector is their concatenation."""

    groups: tuple[Group, ...]

    @property
    def feature_count(self) -> int:
        """Numbers per frame (F)."""
        return sum(g.size for g in self.groups)

    @property
    def names(self) -> list[str]:
        """Group names in order."""
        return [g.name for g in self.groups]

    @property
    def spatial(self) -> bool:
        """Whether every group has x and y (so it can be drawn, mirrored, rotated, normalised)."""
        return all("x" in g.channels and "y" in g.channels for g in self.groups)

    def group(self, name: str) -> Group | None:
        """The group called ``name`` (None when absent)."""
        return next((g for g in self.groups if g.name == name), None)

    def slices(self) -> dict[str, slice]:
        """Where each group sits in the vector."""
        out, start = {}, 0
        for g in self.groups:
            out[g.name] = slice(start, start + g.size)
            start += g.size
        return out

    def points(self, seq: np.ndarray) -> dict[str, np.ndarray]:
        """``(T, F)`` -> ``{group: (T, P, C)}`` views (writing to them writes ``seq``)."""
        if seq.shape[-1] != self.feature_count:
            raise LsvitError(f"a sequence with {seq.shape[-1]} features per frame does not fit the layout "
                             f"{self.describe()} ({self.feature_count})")
        return {g.name: seq[..., s].reshape(*seq.shape[:-1], g.points, len(g.channels))
                for g, s in zip(self.groups, self.slices().values())}

    def assemble(self, parts: dict[str, np.ndarray | None]) -> np.ndarray:
        """One frame's vector from per-group ``(P, 4)`` arrays of ``x y z v`` (None or absent: zeros)."""
        out = np.zeros(self.feature_count, dtype=np.float32)
        for g, s in zip(self.groups, self.slices().values()):
            arr = parts.get(g.name)
            if arr is not None:
                out[s] = np.asarray(arr, dtype=np.float32)[:, [CHANNELS.index(c) for c in g.channels]].reshape(-1)
        return out

    def to_json(self) -> list[list[Any]]:
        """Plain JSON: ``[[name, points, channels], ...]``."""
        return [[g.name, g.points, g.channels] for g in self.groups]

    @classmethod
    def from_json(cls, obj: Any, where: str = "layout") -> Layout:
        """Parse (and check) a layout read from a file."""
        if not isinstance(obj, list) or not obj:
            raise LsvitError(f"{where}: expected a list of [name, points, channels], got {obj!r:.80}")
        groups = []
        for item in obj:
            ok = (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
                  and isinstance(item[1], int) and item[1] > 0 and isinstance(item[2], str) and item[2])
            if not ok:
                raise LsvitError(f"{where}: bad group {item!r:.80} (expected [name, points, channels])")
            groups.append(Group(item[0], item[1], item[2]))
        return cls(tuple(groups))

    def describe(self) -> str:
        """Short text, e.g. ``pose 33xyzv + left_hand 21xyz``."""
        return " + ".join(f"{g.name} {g.points}{g.channels}" for g in self.groups)


def hand_slot_names(count: int) -> list[str]:
    """The group names of ``count`` hand slots: ``hand``; ``left_hand, right_hand``; then ``hand_3, hand_4, ...``."""
    if count < 1:
        raise LsvitError(f"{count} hand slots: at least one")
    if count == 1:
        return ["hand"]
    return ["left_hand", "right_hand"] + [f"hand_{k}" for k in range(3, count + 1)]


def is_hand(name: str) -> bool:
    """Whether a group is a hand (drawn with the hand skeleton, filled from MediaPipe Hands)."""
    return name == "hand" or name.endswith("_hand") or name.startswith("hand_")


def mode_layout(mode: str, face: bool = True, visibility: bool = True, hands: int = 2) -> Layout:
    """The layout MediaPipe extraction writes in ``mode`` (``hands``, ``holistic``, ``pose_hands``).

    ``hands``: the number of hand slots of ``hands`` mode (seed 000's ``MAX_NUM_HANDS_MEDIAPIPE``); Holistic has
    exactly a left and a right hand.
    """
    pose = Group("pose", 33, "xyzv" if visibility else "xyz")
    hands3 = (Group("left_hand", 21, "xyz"), Group("right_hand", 21, "xyz"))
    if mode == "hands":
        return Layout(tuple(Group(n, 21, "xy") for n in hand_slot_names(hands)))
    if mode == "holistic":
        return Layout((pose, *((Group("face", 468, "xyz"),) if face else ()), *hands3))
    if mode == "pose_hands":
        return Layout((pose, *hands3))
    raise LsvitError(f"keypoint mode {mode!r}: choose one of hands, holistic, pose_hands")


def seed004_layout(visibility: bool = True) -> Layout:
    """Seed 004's CSV columns: pose, right hand, left hand; ``x y z v`` per point (v dropped on request)."""
    ch = "xyzv" if visibility else "xyz"
    return Layout((Group("pose", 33, ch), Group("right_hand", 21, ch), Group("left_hand", 21, ch)))


def guess_layout(feature_count: int) -> Layout:
    """The seeds' layouts recognised by their size; anything else is one generic group of numbers."""
    known = [mode_layout("holistic"), mode_layout("holistic", visibility=False), mode_layout("pose_hands"),
             mode_layout("pose_hands", visibility=False), mode_layout("hands"), seed004_layout(True),
             Layout((Group("left_hand", 21, "xyz"), Group("right_hand", 21, "xyz"))),
             Layout((Group("pose", 33, "xyzv"),)),
             mode_layout("hands", hands=1), mode_layout("hands", hands=4)]  # seed 000 with 1 or 4 hand slots
    for lay in known:
        if lay.feature_count == feature_count:
            return lay
    return Layout((Group("features", feature_count, "f"),))


def points_layout(num_points: int, channels: str) -> Layout:
    """Landmarks of unknown groups (x/y known, sides unknown), e.g. a CSV of another pose model."""
    groups: Sequence[Group]
    if channels in ("xyzv", "xyz") and num_points == 75:
        return seed004_layout(channels == "xyzv")
    if num_points == 33:
        groups = (Group("pose", 33, channels),)
    else:
        groups = (Group("landmarks", num_points, channels),)
    return Layout(tuple(groups))


def mirror_index(layout: Layout) -> tuple[np.ndarray, list[int]]:
    """For a horizontal mirror: a permutation of the features and the indices of x values.

    Left and right hands trade places, and so do MediaPipe pose's left/right landmarks. Face
    mesh points are reflected but keep their indices (MediaPipe ships no symmetric map of the
    468-point mesh).

    Raises:
        LsvitError: the layout has no x coordinates, or a hand group without its partner of the same shape.
    """
    if not layout.spatial:
        raise LsvitError(f"layout {layout.describe()} has no x/y channels: it cannot be mirrored "
                         "(set data.mirror=0)")
    sl = layout.slices()
    perm = np.arange(layout.feature_count)
    lh, rh = layout.group("left_hand"), layout.group("right_hand")
    if (lh is None) != (rh is None) or (lh is not None and (lh.points, lh.channels) != (rh.points, rh.channels)):
        raise LsvitError(f"layout {layout.describe()}: hands cannot be swapped in a mirror (set data.mirror=0)")
    if lh is not None:
        perm[sl["left_hand"]] = np.arange(layout.feature_count)[sl["right_hand"]]
        perm[sl["right_hand"]] = np.arange(layout.feature_count)[sl["left_hand"]]
    pose = layout.group("pose")
    if pose is not None and pose.points == 33:
        c = len(pose.channels)
        base = sl["pose"].start
        for a, b in POSE_MIRROR_PAIRS:
            for k in range(c):
                perm[base + a * c + k], perm[base + b * c + k] = base + b * c + k, base + a * c + k
    xs = [s.start + i * len(g.channels) + g.channels.index("x") for g, s in zip(layout.groups, sl.values())
          for i in range(g.points)]
    return perm, xs
