"""What every family's data shares: the seeded sampler, stand-ins for broken inputs, the batch, the model input.

Sample contract (:mod:`lsvit.contracts`): ``{"inputs": Tensor, "label": int, "id": str}``, plus ``"error": str``
when a broken input was met (and ``"substitute": True`` when another input took its place in training) and
``"seed"`` (training). Clips travel as uint8 ``(T, S, S, 3)`` with a ``"color"`` ``(3, 6)`` map;
:func:`to_model_input` makes the model's float input from both on the device (other inputs, e.g. embeddings, are
float and have no ``"color"``). Dataset keys are an index or an ``(index, seed)`` pair from :class:`SeededSampler`;
the seed drives every random choice of that sample (frames, crop, flip), so training data is the same function of
``(seed, epoch, index)`` whether one process or eight load it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import Dataset, Sampler, default_collate

from lsvit import LsvitError

Key = int | tuple[int, int]


def split_key(key: Key) -> tuple[int, int | None]:
    """``index`` or ``(index, seed)`` -> ``(index, seed or None)``."""
    if isinstance(key, (tuple, list)):
        return int(key[0]), int(key[1])
    return int(key), None


class SeededSampler(Sampler):
    """Shuffles with ``(seed, epoch)`` and hands each index its own sample seed.

    Deterministic across process counts: Accelerate shards the batches this yields, and
    every process derives the same per-sample seeds, so 1 and N processes see identical data.
    """

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True) -> None:
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the engine (and Accelerate) before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.length) if self.shuffle else np.arange(self.length)
        seeds = rng.integers(0, 2**31 - 1, size=self.length)
        for i, s in zip(order.tolist(), seeds.tolist()):
            yield (i, s)


class WithSeeds(Dataset):
    """A training dataset whose samples carry their seed (``"seed"``), for the model's own randomness.

    The sampler's ``(index, seed)`` key already drives every random choice of the sample's data; with the seed
    in the batch, dropout and stochastic depth draw from it too (:mod:`lsvit.models.stochastic`), so 1 and N
    processes train alike. Any other attribute is the wrapped dataset's.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: Key) -> dict[str, Any]:
        sample = self.dataset[key]
        _, seed = split_key(key)
        return sample if seed is None else {**sample, "seed": seed}

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (unpickling in a worker): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


def sample_or_stand_in(load: Callable[[int], dict[str, Any]], index: int, seed: int | None, count: int, train: bool,
                       strict: bool, errors: tuple[type[Exception], ...], blank: Callable[[str], dict[str, Any]]
                       ) -> dict[str, Any]:
    """``load(index)``, or what takes the place of an unreadable sample, the same way in every dataset.

    Args:
        load: reads sample ``i`` (with the sample's own seed already bound).
        index: the sample asked for.
        seed: the sample's seed (training), which also picks the stand-in.
        count: number of samples in the dataset.
        train: training (a stand-in) or evaluation (a blank).
        strict: re-raise instead.
        errors: the exception types that mean "this sample is unreadable" (their message names the file).
        blank: the evaluation placeholder for the message: zero inputs, ``label=-1``, ``"error"``.

    Returns:
        The sample; in training another, readable sample chosen from ``seed`` (deterministic: every
        process and every rerun picks the same) carrying ``"error"`` and ``substitute=True``, so the
        batch stays full and the run can list the file; in evaluation ``blank(message)``.
    """
    try:
        return load(index)
    except errors as exc:
        if strict:
            raise
        warnings.warn(f"skipping {exc}", stacklevel=3)
        error = str(exc)
    if train:
        rng = np.random.default_rng(seed)
        for _ in range(min(count - 1, 20)):
            other = int(rng.integers(count))
            if other == index:
                continue
            try:
                return dict(load(other), error=error, substitute=True)
            except errors as exc2:
                warnings.warn(f"skipping {exc2}", stacklevel=3)
    return blank(error)


def stack_inputs(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``torch.stack(tensors)`` (the same values), allocated where it is cheapest: see :func:`collate`."""
    if torch.utils.data.get_worker_info() is not None or not all(
            t.device.type == "cpu" and not t.requires_grad for t in tensors):
        return default_collate(list(tensors))
    return torch.from_numpy(np.stack([t.numpy() for t in tensors]))


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of samples; ids and error messages stay lists.

    In a DataLoader worker the inputs are stacked straight into shared memory (``default_collate``'s way), so the
    batch is not copied once more on its way to the main process; in the main process by NumPy, whose large arrays
    take huge pages (a fresh batch costs a fraction of the page faults torch's allocation does: 9 vs 25 ms for 32 x
    (32, 12, 768) float32 here).
    """
    batch: dict[str, Any] = {
        "inputs": stack_inputs([s["inputs"] for s in samples]),
        "label": torch.tensor([int(s["label"]) for s in samples], dtype=torch.long),
        "id": [s["id"] for s in samples],
    }
    if "color" in samples[0]:  # uint8 clips: their colour maps, applied on the device
        batch["color"] = torch.stack([s["color"] for s in samples])
    if "seed" in samples[0]:  # training: the model's own randomness follows each sample's seed too
        batch["seed"] = torch.tensor([int(s["seed"]) for s in samples], dtype=torch.int64)
    errors = [s["error"] for s in samples if s.get("error")]
    if errors:
        batch["error"] = errors
        # which samples are stand-ins for broken videos (inference skips them)
        # (a training substitute is another, readable video: valid)
        batch["valid"] = torch.tensor([not s.get("error") or bool(s.get("substitute")) for s in samples])
    return batch


def to_model_input(inputs: torch.Tensor, color: torch.Tensor | None = None) -> torch.Tensor:
    """A batch as the model takes it: uint8 frames + colour maps -> normalised float, on their device.

    Args:
        inputs: uint8 ``(B, ..., H, W, 3)`` (``...`` = T, or V x T for evaluation views), or
            any float input (embeddings, keypoints, already-normalised clips), returned as is.
        color: ``(B, 3, 6)`` maps from :meth:`ClipTransform.color` (required for uint8).

    Returns:
        float32 ``(B, ..., 3, H, W)`` for uint8 inputs.
    """
    if inputs.dtype != torch.uint8:
        return inputs
    if color is None:
        raise ValueError("uint8 inputs need their per-sample 'color' maps (see lsvit.families.clips.transforms)")
    b = inputs.shape[0]
    lead, (h, w) = inputs.shape[1:-3], inputs.shape[-3:-1]
    # channels first while still uint8, then one (3x3) @ (3 x HW) matmul per frame: a bmm with
    # long rows is several times faster on CPU than a (HW x 3) @ (3 x 3) one
    x = rearrange(inputs, "b ... h w c -> b (...) c (h w)").float()
    color = color.to(device=x.device, dtype=x.dtype)[:, None]  # (B, 1, 3, 6)
    y = torch.matmul(color[..., :3], x).add_(color[..., 3:4])
    y.clamp_(color[..., 4:5], color[..., 5:6])
    return y.view(b, *lead, 3, h, w)


def first_inputs(ds: Any, count: int, where: str) -> torch.Tensor:
    """The model inputs of the first ``count`` readable samples of an inference dataset, batched.

    Raises:
        LsvitError: none of its samples can be read (``where`` names the source).
    """
    samples = []
    for i in range(len(ds)):
        s = ds[i]
        if "error" not in s:
            samples.append(s)
        if len(samples) == count:
            break
    if not samples:
        raise LsvitError(f"{where}: none of its inputs could be read")
    batch = collate(samples)
    return to_model_input(batch["inputs"], batch.get("color")).float()


def recorded_rows(input_type: Any, data: Mapping[str, Any], paths: Sequence[Any], what: str
                  ) -> tuple[Callable[[int], torch.Tensor] | None, str]:
    """A contract's ``sample``: the first rows of the first of ``paths`` that is a file on this machine.

    The rows are read by the input type's own file reader (``input_type.from_file``, what inference reads a
    file of that type with): the values the model saw in evaluation. ``(None, "")`` when none of the files is here.

    Args:
        input_type: the :class:`~lsvit.contracts.InputType` whose files these are.
        data: the checkpoint's ``meta["data"]``.
        paths: candidate files (e.g. the checkpoint's own test, validation and training files).
        what: what the files are, in words.
    """
    path = next((Path(str(p)) for p in paths if p and Path(str(p)).is_file()), None)
    if path is None:
        return None, ""

    def rows(n: int) -> torch.Tensor:
        if path.suffix.lower() not in input_type.file_suffixes:
            raise LsvitError(f"{path}: '{input_type.name}' inputs are not read from {path.suffix} files")
        return first_inputs(input_type.from_file({"data": dict(data), "class_names": []}, path), n, str(path))

    return rows, f"rows of {path} ({what}, read as inference reads it)"
