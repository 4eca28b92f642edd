"""Video-level stratified splits (a video, or a group of clips of one source, never lands on both sides)."""

from __future__ import annotations

import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from lsvit import LsvitError


def stratified_split(labels: Sequence[int], val_ratio: float, seed: int = 0,
                     groups: Sequence[str] | None = None) -> tuple[list[int], list[int]]:
    """Split indices per class, seeded, keeping groups whole.

    Each class with at least two groups gives about ``round(n * val_ratio)`` of its ``n``
    items (at least one group) to validation and keeps at least one group for training; a
    class with a single group stays in training. Unlike scikit-learn's splitters it never
    fails on tiny classes.

    Args:
        labels: one label per item.
        val_ratio: fraction in (0, 1).
        seed: shuffling seed.
        groups: items that must stay together (e.g. HMDB51 clips cut from one source video);
            default: every item is its own group.

    Returns:
        ``(train_indices, val_indices)``, each sorted.
    """
    if not 0.0 < val_ratio < 1.0:
        raise ValueError(f"val_ratio must be in (0, 1), got {val_ratio}")
    if groups is not None and len(groups) != len(labels):
        raise ValueError(f"{len(groups)} groups for {len(labels)} labels")
    rng = np.random.default_rng(seed)
    if groups is not None:
        classes_of: dict[str, set[int]] = defaultdict(set)
        for g, y in zip(groups, labels):
            classes_of[str(g)].add(int(y))
        if any(len(c) > 1 for c in classes_of.values()):
            return _split_shared_groups(labels, [str(g) for g in groups], val_ratio, rng)
    by_class: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, y in enumerate(labels):
        by_class[int(y)][str(groups[i]) if groups is not None else str(i)].append(i)
    train: list[int] = []
    val: list[int] = []
    for y in sorted(by_class):
        members = [by_class[y][g] for g in sorted(by_class[y])]
        order = rng.permutation(len(members))
        total = sum(len(m) for m in members)
        want = max(1, round(total * val_ratio))
        taken = 0
        for rank, gi in enumerate(order.tolist()):
            # whole groups until the target is reached; at least one group stays in training
            if len(members) >= 2 and taken < want and rank < len(members) - 1:
                val.extend(members[gi])
                taken += len(members[gi])
            else:
                train.extend(members[gi])
    return sorted(train), sorted(val)


def _split_shared_groups(labels: Sequence[int], groups: Sequence[str], val_ratio: float,
                         rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """:func:`stratified_split` when groups span classes (both classes of a reversal pair drawn from one scene).

    Whole groups go to validation, in a seeded order, while one of the classes they touch is still short of
    its ``round(n * val_ratio)`` and each of them keeps at least one other group for training.
    """
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    names = sorted(members)
    total = Counter(int(y) for y in labels)
    want = {c: max(1, round(n * val_ratio)) for c, n in total.items()}
    groups_with = Counter(c for g in names for c in {int(labels[i]) for i in members[g]})
    taken: Counter[int] = Counter()
    train: list[int] = []
    val: list[int] = []
    for gi in rng.permutation(len(names)).tolist():
        idx = members[names[gi]]
        counts = Counter(int(labels[i]) for i in idx)
        # a group helps while one of its classes is short of validation videos (the others may overshoot,
        # or a group holding every class could never go once one class is full); training keeps a group of each
        if any(taken[c] < want[c] for c in counts) and all(groups_with[c] >= 2 for c in counts):
            val.extend(idx)
            taken.update(counts)
            groups_with.subtract(counts.keys())
        else:
            train.extend(idx)
    return sorted(train), sorted(val)


def compile_group_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """``data.group_pattern`` compiled (None when unset); a bad expression is one clear error."""
    try:
        return re.compile(pattern) if pattern else None
    except re.error as exc:
        raise LsvitError(f"data.group_pattern={pattern!r}: not a regular expression ({exc})") from exc


def group_of(video_id: str, pattern: re.Pattern[str] | None) -> str:
    """The source group of ``video_id`` under ``pattern``: its first group (or whole match), else the id itself."""
    m = pattern.search(video_id) if pattern is not None else None
    if m is None:
        return video_id
    return m.group(1) if m.groups() else m.group(0)


def split_summary(class_names: Sequence[str], labels: Sequence[int], train: Sequence[int], val: Sequence[int],
                  groups: Sequence[str] | None = None, rule: str = "", test: Sequence[int] | None = None,
                  test_pooled: bool = True) -> dict:
    """Train/validation (and test) clips and source groups per class, as written to a run's ``split_summary.json``.

    Args:
        class_names: the classes (labels index them).
        labels: the label of every item that was split (a separate validation or test set appended).
        train: indices of the training items.
        val: indices of the validation items.
        groups: the group (source video) of every item; default: each item its own.
        rule: how validation (and the test part) were chosen, in words.
        test: indices of the test items, when the data has a test part (held out by ``data.test_ratio`` or a
            separate test set): their counts are recorded too.
        test_pooled: the test items were split from the same items as training and validation (``test_ratio``):
            their source groups count among a class's ``groups``; a separate test set's do not.

    Returns:
        ``{"rule", "train_clips", "val_clips", "classes": {name: {"train_clips", "val_clips",
        "groups", "train_groups", "val_groups"}}, "single_group_classes": [...],
        "classes_without_val": [...]}``; with ``test``, also ``"test_clips"`` (overall and per class),
        ``"test_groups"`` per class and ``"classes_without_test"``.
    """
    group = (lambda i: str(groups[i])) if groups is not None else (lambda i: f"#{i}")
    parts = (("train", train), ("val", val)) + ((("test", test),) if test is not None else ())
    per: dict[str, dict] = {c: {f"{p}_{k}": (0 if k == "clips" else set()) for p, _ in parts for k in ("clips", "groups")}
                            for c in class_names}
    for part, idx in parts:
        for i in idx:
            c = per[class_names[int(labels[i])]]
            c[f"{part}_clips"] += 1
            c[f"{part}_groups"].add(group(i))
    classes = {}
    for name, c in per.items():
        row = {"train_clips": c["train_clips"], "val_clips": c["val_clips"],
               "groups": len(set().union(*(c[f"{p}_groups"] for p, _ in parts if p != "test" or test_pooled))),
               "train_groups": len(c["train_groups"]), "val_groups": len(c["val_groups"])}
        if test is not None:
            row.update(test_clips=c["test_clips"], test_groups=len(c["test_groups"]))
        classes[name] = row
    out = {"rule": rule, "train_clips": len(train), "val_clips": len(val), "classes": classes,
           "single_group_classes": sorted(n for n, c in classes.items() if c["groups"] == 1),
           "classes_without_val": sorted(n for n, c in classes.items() if c["val_clips"] == 0)}
    if test is not None:
        out["test_clips"] = len(test)
        out["classes_without_test"] = sorted(n for n, c in classes.items() if c["test_clips"] == 0)
    return out


def check_ratios(val_ratio: float | None, test_ratio: float) -> None:
    """``data.val_ratio`` and ``data.test_ratio`` as fractions of the whole dataset: each in range, together below 1.

    Args:
        val_ratio: the validation share, or None when validation is a separate set.
        test_ratio: the test share (0: no test part held out).

    Raises:
        LsvitError: a ratio out of range, or the two leaving nothing to train on.
    """
    if not 0.0 <= float(test_ratio) < 1.0:
        raise LsvitError(f"data.test_ratio={test_ratio}: must be in [0, 1) (0: no test part held out)")
    if val_ratio is not None and not 0.0 < float(val_ratio) < 1.0:
        raise LsvitError(f"data.val_ratio={val_ratio}: must be in (0, 1)")
    if val_ratio is not None and float(val_ratio) + float(test_ratio) >= 1.0:
        raise LsvitError(f"data.val_ratio={val_ratio} + data.test_ratio={test_ratio} >= 1: nothing left to train on "
                         "(both are shares of the whole dataset)")


def three_way_split(labels: Sequence[int], val_ratio: float | None, test_ratio: float, seed: int = 0,
                    groups: Sequence[str] | None = None) -> tuple[list[int], list[int], list[int]]:
    """Train / validation / test indices of one dataset, stratified and seeded, groups kept whole in every part.

    The test part is held out first (``test_ratio`` of each class, by :func:`stratified_split`), then validation
    from the rest, so that ``val_ratio`` stays a share of the whole dataset (``val_ratio / (1 - test_ratio)`` of the
    rest). With ``test_ratio=0`` the result is exactly :func:`stratified_split`'s (and the test part is empty), so
    switching the option on never changes a split made without it but by the test videos it takes.

    Args:
        labels: one label per item.
        val_ratio: validation share of the whole dataset; None: no validation hold-out (a separate set).
        test_ratio: test share of the whole dataset, in [0, 1).
        seed: shuffling seed.
        groups: items that must stay together (source videos).

    Returns:
        ``(train, val, test)``, each sorted.
    """
    check_ratios(val_ratio, test_ratio)
    rest, test = (stratified_split(labels, test_ratio, seed, groups) if test_ratio > 0
                  else (list(range(len(labels))), []))
    if val_ratio is None:
        return rest, [], test
    sub_groups = [groups[i] for i in rest] if groups is not None else None
    tr, va = stratified_split([labels[i] for i in rest], val_ratio / (1.0 - test_ratio), seed, sub_groups)
    return [rest[i] for i in tr], [rest[i] for i in va], test


def check_validation(summary: dict, where: str, remedies: str) -> None:
    """Say why validation is empty (an error), or which classes it lacks (one warning).

    Args:
        summary: from :func:`split_summary`.
        where: the data setting that names the dataset (``data.root=...``), for the message.
        remedies: what the user can do, for this data module's options.

    Raises:
        LsvitError: no validation clip at all, naming the real cause.
    """
    _check_part(summary, "val", "validation", where, remedies)


def check_test(summary: dict, where: str, remedies: str) -> None:
    """As :func:`check_validation`, for a test part held out by ``data.test_ratio``."""
    _check_part(summary, "test", "test", where, remedies)


def _check_part(summary: dict, part: str, what: str, where: str, remedies: str) -> None:
    classes = summary["classes"]
    single = summary["single_group_classes"]
    if summary[f"{part}_clips"] == 0:
        cause = (f"{len(single)} of {len(classes)} classes have a single source group (e.g. "
                 f"{', '.join(single[:5])}), and the clips of one source are never split between training and "
                 f"{what}" if single else "no class has enough clips to hold one out")
        raise LsvitError(f"{where}: the {what} set is empty: {cause}. {remedies}")
    missing = summary[f"classes_without_{part}"]
    if missing:
        why = " (a single source group each)" if set(missing) <= set(single) else ""
        warnings.warn(f"{where}: {len(missing)} of {len(classes)} classes have no {what} clips{why}: "
                      f"{', '.join(missing[:8])}{', ...' if len(missing) > 8 else ''}; their per-class {what} "
                      f"metrics will be missing. {remedies}", stacklevel=4)
