"""The keypoint input type: per-frame body/hand/face keypoints ``(T, F)`` (both keypoint LSTMs).

Read from a keypoint file (``.h5``, this project's or seed 000's layout; seed 004's ``.csv``) as it is, or from raw
videos through MediaPipe with the checkpoint's extraction settings. Registered by :func:`lsvit.plugins.setup`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lsvit.contracts import CardText, ExtraGraph, InputContract, meta_int
from lsvit.data.dataset import recorded_rows
from lsvit.data.discovery import VideoItem
from lsvit.families.keypoints.bench import deploy_cases, section_keypoints
from lsvit.families.keypoints.dataset import (
    KeypointH5Dataset,
    KeypointVideoDataset,
    keypoint_cache_dataset,
    keypoint_csv_dataset,
)
from lsvit.families.keypoints.realtime import KeypointFrames
from lsvit.perf import DeployCase


class KeypointsInput:
    """Keypoint sequences ``(T, F)``: F coordinates per frame, fixed to T frames and normalised like training."""

    name = "keypoints"
    aliases: tuple[str, ...] = ()
    file_suffixes = (".h5", ".csv")

    def from_videos(self, meta: Mapping[str, Any], items: Sequence[VideoItem], *, strict: bool = False,
                    backend: str | None = None, num_clips: int = 1, num_crops: int = 1, runtime: str = "pytorch",
                    checkpoint: str | Path | None = None) -> KeypointVideoDataset:
        """Raw videos through MediaPipe with the checkpoint's extraction settings (the same Python for both
        runtimes: the graph starts at the keypoint sequence)."""
        return KeypointVideoDataset(items, dict(meta["data"]), strict)

    def from_file(self, meta: Mapping[str, Any], path: Path, strict: bool = False) -> KeypointH5Dataset:
        """A keypoint file (``.h5``) or a seed-004 landmark CSV of the checkpoint's layout."""
        reader = keypoint_csv_dataset if path.suffix.lower() == ".csv" else keypoint_cache_dataset
        return reader(path, dict(meta["data"]), list(meta["class_names"]), strict)

    def contract(self, data: Mapping[str, Any], model_args: Mapping[str, Any]) -> InputContract:
        """Keypoint sequences ``(B, T, F)``: F coordinates per frame (the extraction's cache)."""
        t = meta_int(data, "num_frames", self.name)
        f = meta_int(data, "feature_count", self.name)
        extraction = data.get("extraction") or {}
        mode = extraction.get("mode") if isinstance(extraction, Mapping) else None
        solution = f"mode {mode}" if mode else "the solution that gives this layout"
        details = {"num_frames": t, "num_features": f, "normalize": data.get("normalize"),
                   "values": "keypoint coordinates per frame (lsvit.families.keypoints: fixed length, then normalised as "
                             "'normalize' says)", "layout": data.get("layout"), "extraction": extraction,
                   "raw_videos": f"MediaPipe landmarks per frame ({solution}; zeros where nothing is detected), the "
                                 f"sequence fixed to {t} frames ({data.get('sampling', 'pad')}), then normalised "
                                 f"({data.get('normalize')}): Python preprocessing (lsvit.families.keypoints), not part of "
                                 "the graph"}
        sample, sample_kind = recorded_rows(self, data, [data.get("source_file")],
                                            "the checkpoint's own keypoint file")
        return InputContract(self.name, (t, f), "B T F", details, sample, sample_kind)

    def extra_graphs(self, meta: Mapping[str, Any], data_root: str | Path | None) -> list[ExtraGraph]:
        """MediaPipe stays Python: no graph beside the model."""
        return []

    def frame_step(self, data: Mapping[str, Any], device: str, checkpoint: str | Path,
                   runtime: str = "pytorch") -> KeypointFrames:
        """MediaPipe keypoints per frame with the checkpoint's extraction settings, drawn on the frame."""
        return KeypointFrames(dict(data), device, checkpoint=checkpoint, runtime=runtime)

    def card_text(self, meta: Mapping[str, Any]) -> CardText:
        """How raw videos become keypoints, and what keypoints cannot see."""
        notes = ["From raw videos the keypoints come from MediaPipe with the settings above (the "
                 "`[keypoints]` extra), in Python: the graph starts at the keypoint sequence. Keypoint files "
                 "(`.h5`, seed-004 `.csv`) of the same layout are read as they are."]
        return CardText("sequences", notes, keypoint_limitations(meta.get("data") or {}))

    def bench_cases(self, smoke: bool) -> list[DeployCase]:
        """Both keypoint LSTMs at ``make demo-keypoints``' size."""
        return deploy_cases(smoke)

    def bench_sections(self) -> list[Callable[..., None]]:
        """Window latency, MediaPipe extraction and realtime frames per second."""
        return [section_keypoints]


def keypoint_limitations(data: Mapping[str, Any]) -> list[str]:
    """What a keypoint checkpoint cannot see, from its layout and extraction settings."""
    out = ["Sees only body/hand/face keypoints: appearance, objects and anything the keypoint detector misses "
           "are invisible to it; frames without detections are zeros."]
    source = str(data.get("source") or "")
    if source and source != "mediapipe":
        out.append(f"Trained on imported keypoints (source {source}): raw videos are read with the MediaPipe "
                   "solution that gives this layout; keypoints from another extractor or version may differ.")
    if "num_frames" in data:
        out.append(f"Sees sequences of {data['num_frames']} frames ({data.get('sampling', 'pad')}: longer ones are "
                   "cut to their centre, shorter ones zero-padded at the end, unless sampled uniformly), normalised "
                   f"as '{data.get('normalize')}' says.")
    return out


KEYPOINTS = KeypointsInput()
