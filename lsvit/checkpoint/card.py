"""The model card (``README.md``) of a ``best/`` folder, in the Hugging Face model-card style.

YAML front matter (library, tags, datasets, metrics, ``model-index`` with the results) and
markdown: the family and its size, the classes, the input contract, the training data and split,
the command, commit and resolved config of the run, validation and test/evaluation metrics with
their number of views, the ONNX exports, and the known limitations derived from ``meta.json``.

Everything comes from the folder's files (``meta.json``, ``model.safetensors``'s header,
``evaluations.json``, ``export.json``), so the card can be re-rendered at any time:
:func:`save_best <lsvit.checkpoint.save_best>` writes it with the checkpoint,
:func:`add_evaluation` (``tools/evaluate.py``, the end-of-training test) adds a result and
re-renders it, and an ONNX export re-renders it with the export.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lsvit import LsvitError
from lsvit.checkpoint.evaluations import EVALUATIONS, metrics_of, prefix_of, read_evaluations
from lsvit.checkpoint.exports import EXPORT_RECORD, read_exports
from lsvit.checkpoint.meta import read_meta
from lsvit.contracts import CardText
from lsvit.io import atomic_write_text
from lsvit.models.registry import FAMILIES
from lsvit.registry import DEFAULT_TYPE, canonical_type, input_contract, type_of

CARD = "README.md"
_METRICS = (("top1", "top-1"), ("top5", "top-5"), ("macro_f1", "macro-F1"), ("loss", "loss"))


# ------------------------------------------------------------------------------------------------ helpers
def _cell(value: Any) -> str:
    """A markdown table cell: pipes escaped, newlines flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if value is None else _cell(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _value(v: Any) -> str:
    """A contract value in words: objects as ``key=value`` pairs, lists as JSON."""
    if isinstance(v, dict):
        return ", ".join(f"{k}={_value(x)}" for k, x in v.items()) or "—"
    return json.dumps(v) if isinstance(v, list) else str(v)


def _fence(text: str, lang: str = "") -> str:
    """``text`` in a code fence longer than any run of backticks inside it."""
    ticks = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def config_value(config_yaml: str, section: str, key: str) -> str | None:
    """``key``'s scalar under the top-level ``section`` of a resolved config text (read as text, never parsed)."""
    inside = False
    for line in config_yaml.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            inside = line.rstrip() == f"{section}:"
            continue
        m = re.match(rf"^  {re.escape(key)}:\s*(.*?)\s*$", line)
        if inside and m:
            return m.group(1).strip("'\"")
    return None


def family_name(model_name: str) -> str:
    """The family of a registered model name, in words (its registration's title)."""
    fam = FAMILIES.get(model_name)
    return fam.title if fam is not None and fam.title else model_name


def card_text(meta: Mapping[str, Any]) -> CardText:
    """What the checkpoint's input type says about its inputs (a generic text for a type not registered here)."""
    try:
        return type_of(meta).card_text(meta)
    except LsvitError:
        return CardText()


def weights_summary(folder: str | Path) -> tuple[int | None, int | None]:
    """``(parameter count, bytes)`` of ``model.safetensors`` from its header (no tensor is loaded)."""
    from safetensors import safe_open

    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        return None, None
    count = 0
    with safe_open(str(path), framework="pt") as f:
        for k in f.keys():
            n = 1
            for d in f.get_slice(k).get_shape():
                n *= int(d)
            count += n
    return count, path.stat().st_size


# ------------------------------------------------------------------------------------------------ the card
def limitations(meta: Mapping[str, Any], evaluations: Sequence[Mapping[str, Any]]) -> list[str]:
    """Known limitations, derived from what ``meta.json`` records: the input type's, the model family's, the data's."""
    data = meta.get("data") or {}
    model = meta.get("model") or {}
    text = card_text(meta)
    out = list(text.limitations)
    if data.get("synthetic"):
        out.append(f"Trained on synthetic data ({data.get('dataset_note') or 'rendered videos'}): it is a "
                   "demonstration, not a model of real-world actions.")
    k = len(meta.get("class_names") or [])
    n_train = data.get("num_train")
    if isinstance(n_train, int) and k and n_train < 50 * k:
        out.append(f"Small training set: {n_train} {text.unit} for {k} classes (~{n_train / k:.0f} per class).")
    if k:
        out.append(f"Closed set: every input gets one of the {k} classes; there is no 'none of these' class.")
    fam = FAMILIES.get(str(model.get("name", "")))
    if fam is not None and fam.limitations is not None:
        out += fam.limitations(model.get("args") or {})
    if not evaluations:
        out.append("No held-out test result is recorded yet: the validation score selected this checkpoint, so it "
                   "is optimistic.")
    return out


def _front_matter(meta: Mapping[str, Any], evaluations: Sequence[Mapping[str, Any]], exported: bool) -> str:
    import yaml

    name = str((meta.get("model") or {}).get("name", "model"))
    data = meta.get("data") or {}
    dataset = str(data.get("dataset") or data.get("type") or "unknown")
    kind = canonical_type(str(data.get("type", DEFAULT_TYPE)))
    tags = ["lsvit", "video-classification", "action-recognition", name.split("_")[0], kind, "pytorch"]
    if exported:
        tags.append("onnx")
    tags = list(dict.fromkeys(tags))  # the family prefix is often "lsvit" again
    results = []
    # val/* only: the train/* metrics of the same epoch row are not results
    val = {k.split("/", 1)[1]: v for k, v in (meta.get("metrics") or {}).items()
           if isinstance(k, str) and k.startswith("val/")}
    rows: list[tuple[str, str, int, Mapping[str, Any], str]] = [("validation", dataset, 1, val, "")]
    rows += [(str(e.get("split") or "test"), str(e.get("dataset")), int(e.get("views") or 1), e.get("metrics") or {},
              f", {e.get('runtime')}" if e.get("runtime") not in (None, "pytorch") else "") for e in evaluations]
    for split, ds, views, m, rt in rows:
        mets = [{"type": "accuracy", "name": f"Top-1 accuracy ({views} view{'s' * (views > 1)}{rt})",
                 "value": round(float(m["top1"]), 4)}] if "top1" in m else []
        if "top5" in m:
            mets.append({"type": "top_5_accuracy", "name": f"Top-5 accuracy ({views} view{'s' * (views > 1)}{rt})",
                         "value": round(float(m["top5"]), 4)})
        if "macro_f1" in m:
            mets.append({"type": "f1", "name": f"Macro-F1 ({views} view{'s' * (views > 1)}{rt})",
                         "value": round(float(m["macro_f1"]), 4), "args": {"average": "macro"}})
        if mets:
            results.append({"task": {"type": "video-classification", "name": "Video classification"},
                            "dataset": {"name": ds, "type": ds, "split": split}, "metrics": mets})
    front: dict[str, Any] = {"library_name": "lsvit", "pipeline_tag": "video-classification", "tags": tags,
                             "datasets": sorted({dataset, *(str(e.get("dataset")) for e in evaluations)}),
                             "metrics": ["accuracy", "f1"]}
    if results:
        front["model-index"] = [{"name": name, "results": results}]
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n"


def render_card(meta: Mapping[str, Any], evaluations: Sequence[Mapping[str, Any]] = (),
                exports: Mapping[str, Mapping[str, Any]] | None = None, num_params: int | None = None,
                weights_bytes: int | None = None) -> str:
    """The model card of a checkpoint, as markdown with YAML front matter.

    Args:
        meta: the checkpoint's ``meta.json`` content.
        evaluations: recorded evaluations (see :func:`add_evaluation`).
        exports: ONNX export records, file name -> record (``export.json``).
        num_params: the parameter count (tensors in ``model.safetensors``).
        weights_bytes: the size of ``model.safetensors``.
    """
    exports = exports or {}
    model = meta.get("model") or {}
    name, args = str(model.get("name", "model")), model.get("args") or {}
    data, run = meta.get("data") or {}, meta.get("run") or {}
    classes = list(meta.get("class_names") or [])
    dataset = str(data.get("dataset") or "unknown")
    lines = [_front_matter(meta, evaluations, bool(exports)), f"# {name}", ""]
    text = card_text(meta)
    lines += [f"An lsvit {canonical_type(str(data.get('type', DEFAULT_TYPE)))} classifier: {family_name(name)}, {len(classes)} classes, "
              f"trained on `{dataset}`. Rebuild it with lsvit from this folder alone (`meta.json` + "
              "`model.safetensors`)" + (", or run the ONNX graph without PyTorch." if exports else "."), ""]

    lines += ["## Model", "", "| | |", "|---|---|", f"| family | {_cell(family_name(name))} |",
              f"| registered name | `{name}` |"]
    if num_params is not None:
        lines.append(f"| parameters | {num_params / 1e6:.2f} M ({num_params:,}) |")
    if weights_bytes is not None:
        lines.append(f"| weights | `model.safetensors`, {weights_bytes / 1e6:.1f} MB |")
    if args:
        lines.append("| arguments | " + ", ".join(f"`{_cell(k)}={_cell(json.dumps(v))}`" for k, v in args.items())
                     + " |")
    lines += [f"| lsvit | {meta.get('lsvit_version', '?')}, saved {meta.get('saved_at', '?')} |", ""]

    lines += [f"## Classes ({len(classes)})", "", ", ".join(f"`{_cell(c)}`" for c in classes) or "—", ""]

    lines += ["## Input", ""]
    try:
        contract = input_contract(meta).to_json()
        lines += ["| | |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(_value(v))} |" for k, v in contract.items()]
        lines += ["", "The model takes the float input above (batch first); `lsvit.inference` reads and transforms "
                  "raw inputs into it exactly as evaluation did."]
        for note in text.notes:
            lines += ["", note]
    except LsvitError as exc:
        lines.append(f"No input contract: {exc}")
    lines.append("")

    lines += ["## Training data and split", "", "| | |", "|---|---|", f"| dataset | `{_cell(dataset)}` |"]
    if data.get("dataset_note"):
        lines.append(f"| what | {_cell(data['dataset_note'])} |")
    unit = text.unit
    for key, label in (("split", "official split"), ("num_train", f"training {unit}"),
                       ("num_val", f"validation {unit}"), ("num_test", f"test {unit}")):
        if data.get(key) is not None:
            lines.append(f"| {label} | {_cell(data[key])} |")
    cfg = str(run.get("config_yaml") or "")
    for section, key, label in (("data", "val_ratio", "validation share (of the training folder)"),
                                ("data", "val_root", "validation folder"), ("data", "root", "training folder")):
        value = config_value(cfg, section, key)
        if value not in (None, "null"):
            lines.append(f"| {label} | `{_cell(value)}` |")
    if meta.get("seed") is not None:
        lines.append(f"| seed | {meta['seed']} |")
    if meta.get("epoch") is not None:
        epochs = config_value(cfg, "engine", "epochs")
        lines.append(f"| selected | epoch {meta['epoch']}{f' of {epochs}' if epochs else ''}, best "
                     f"`{_cell(meta.get('monitor', '?'))}` |")
    lines.append("")

    lines += ["## Results", "", "| data | split | views | runtime | top-1 | top-5 | macro-F1 | clips |",
              "|---|---|---|---|---|---|---|---|"]
    val = {k.split("/", 1)[1]: v for k, v in (meta.get("metrics") or {}).items()
           if isinstance(k, str) and k.startswith("val/")}
    if val:
        lines.append(f"| `{_cell(dataset)}` | validation (selection) | 1 | pytorch | {_num(val.get('top1'))} | "
                     f"{_num(val.get('top5'))} | {_num(val.get('macro_f1'))} | {_num(val.get('num_samples'))} |")
    for e in evaluations:
        m = e.get("metrics") or {}
        views = e.get("views") or 1
        clips, crops = e.get("num_clips"), e.get("num_crops")
        how = (f"{views} ({clips} clip{'s' * (clips != 1)} x {crops} crop{'s' * (crops != 1)})"
               if clips and crops else str(views))
        lines.append(f"| `{_cell(e.get('dataset'))}` | {_cell(e.get('split') or '—')} | {how} | "
                     f"{_cell(e.get('runtime', 'pytorch'))} | {_num(m.get('top1'))} | {_num(m.get('top5'))} | "
                     f"{_num(m.get('macro_f1'))} | {_num(m.get('num_samples'))} |")
    if not val and not evaluations:
        lines.append("| — | | | | | | | |")
    lines += ["", "Accuracies are fractions in [0, 1]; several views are averaged in probability.", ""]

    if exports:
        lines += _deployment(exports)

    lines += ["## Training", ""]
    if run.get("command"):
        lines += ["Command:", "", _fence(str(run["command"]), "bash"), ""]
    lines += [f"Code commit: `{_cell(run.get('commit', 'unknown'))}`", ""]
    if cfg:
        lines += ["<details><summary>Resolved config</summary>", "", _fence(cfg, "yaml"), "", "</details>", ""]

    lines += ["## Limitations", ""] + [f"- {item}" for item in limitations(meta, evaluations)] + [""]
    return "\n".join(lines)


def _io(rec: Mapping[str, Any]) -> str:
    """``name shape dtype -> name shape`` of an export record's graph."""
    def one(d: Any) -> str:
        if not isinstance(d, Mapping):
            return "?"
        shape = "x".join(str(x) for x in d.get("shape") or [])
        return f"`{_cell(d.get('name', '?'))}` {_cell(shape)} {_cell(d.get('dtype', ''))}".rstrip()
    return f"{one(rec.get('input'))} → {one(rec.get('output'))}"


def _deployment(exports: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The card's ONNX section: one row per exported graph, how to run them."""
    lines = ["## Deployment (ONNX)", "", "| file | opset | precision | batch | graph | ONNX Runtime vs PyTorch | exporter |",
             "|---|---|---|---|---|---|---|"]
    embedders = {f: r for f, r in exports.items() if r.get("graph") == "frame_embedder"}
    for fname, rec in exports.items():
        verified = rec.get("verified") or {}
        diffs = verified.get("max_abs_diff") or {}
        worst = max(diffs.values()) if diffs else None
        out = (rec.get("output") or {}).get("name", "logits") if isinstance(rec.get("output"), Mapping) else "logits"
        lines.append(f"| `{_cell(fname)}` | {_cell(rec.get('opset'))} | {_cell(rec.get('precision'))} | "
                     f"{'dynamic' if rec.get('dynamic_batch') else 'fixed (1)'} | {_io(rec)} | "
                     f"max \\|Δ{_cell(out)}\\| {'—' if worst is None else f'{worst:.1e}'} over {len(diffs)} checks "
                     f"(tolerance {_cell(verified.get('atol', '—'))}) | {_cell(rec.get('exporter'))} |")
    model_file = next((f for f in exports if f not in embedders), None)
    lines += ["", "Run with lsvit's readers: `python tools/inference.py checkpoint=<this folder> data_root=... "
              "runtime=onnx` (and `tools/realtime.py ... runtime=onnx`). Or with ONNX Runtime alone:", ""]
    code = ["import json, onnxruntime as ort"]
    if embedders:
        efile = next(iter(embedders))
        inp = embedders[efile].get("input") or {}
        size = (inp.get("shape") or [None, None, "S"])[2]
        lines += [f"`{efile}` is the frame embedder: it takes uint8 views `(frames, 3, {size}, {size}, 3)`, per frame "
                  "its left half (columns `[0, W // 2)`), right half (`[W // 2, W)`) and the whole frame, each RGB and "
                  f"squashed to {size} x {size} with OpenCV (`INTER_AREA` when both H and W // 2 exceed it, else "
                  "`INTER_LINEAR`); it normalises for each backbone itself. Its embeddings are rounded to the "
                  "cache's precision (`float16` unless the metadata's `lsvit.output` says otherwise) and stacked "
                  "over the checkpoint's frames (`lsvit.input` `frames`) into the model's input.", ""]
        code += [f"embedder = ort.InferenceSession(\"{efile}\")",
                 f"# views: uint8 array (T, 3, {size}, {size}, 3) of a video's T sampled frames (see above)",
                 "emb = embedder.run([\"embeddings\"], {\"views\": views})[0].astype(\"float16\").astype(\"float32\")",
                 "x = emb[None]  # (1, T, C, D)"]
    if model_file is not None:
        code += [f"session = ort.InferenceSession(\"{model_file}\")",
                 "meta = session.get_modelmeta().custom_metadata_map",
                 "contract, classes = json.loads(meta[\"lsvit.input\"]), json.loads(meta[\"lsvit.class_names\"])"]
        if not embedders:
            code.append("# x: float32 array shaped contract[\"shape\"] (batch first), prepared as contract describes")
        code += ["logits = session.run([\"logits\"], {\"inputs\": x})[0]", "print([classes[i] for i in logits.argmax(1)])"]
    lines += [_fence("\n".join(code), "python"), ""]
    return lines


def write_card(folder: str | Path, evaluations: Sequence[Mapping[str, Any]] | None = None,
               meta: Mapping[str, Any] | None = None) -> Path:
    """(Re-)write ``<folder>/README.md`` atomically from the folder's files.

    Args:
        folder: a ``best/`` folder (or its staging folder, during :func:`~lsvit.checkpoint.save_best`).
        evaluations: the evaluations to show; ``None`` reads ``evaluations.json``.
        meta: the checkpoint's metadata; ``None`` reads ``meta.json`` (as data, validated).

    Returns:
        The card's path.
    """
    folder = Path(folder)
    meta = read_meta(folder) if meta is None else meta
    evaluations = read_evaluations(folder) if evaluations is None else list(evaluations)
    num_params, size = weights_summary(folder)
    text = render_card(meta, evaluations, read_exports(folder), num_params, size)
    atomic_write_text(folder / CARD, text)
    return folder / CARD


def parse_card(text: str) -> tuple[dict[str, Any], str]:
    """``(front matter, markdown body)`` of a card (for checks; the front matter is parsed with ``yaml.safe_load``)."""
    import yaml

    m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    if not m:
        raise LsvitError("not a model card: no YAML front matter between '---' lines at the top")
    front = yaml.safe_load(m.group(1))
    if not isinstance(front, dict):
        raise LsvitError("model card front matter is not a mapping")
    return front, m.group(2)


def add_evaluation(folder: str | Path, result: Mapping[str, Any]) -> bool:
    """Record one evaluation of the checkpoint in ``folder`` and re-render its card.

    Args:
        folder: the ``best/`` folder.
        result: metrics with a prefix (``eval/top1``, ``test/top5`` ...) plus, where known,
            ``dataset``, ``split``, ``views`` (clips x crops per video), ``num_clips``, ``num_crops``,
            ``runtime`` (``pytorch``/``onnx``). Other entries (file lists ...) are ignored.

    Earlier evaluations are kept; one of the same dataset, split, views and runtime is replaced (a
    re-run describes the same weights).

    Returns:
        True when recorded; False (after one warning on stderr) when the folder cannot be written,
        e.g. a read-only checkpoint from someone else.
    """
    metrics = metrics_of(result)
    if not metrics:
        raise LsvitError(f"add_evaluation({folder}): the result holds no metrics (expected e.g. 'eval/top1')")
    entry = {"dataset": str(result.get("dataset") or "?"), "split": result.get("split") or prefix_of(result),
             "views": int(result.get("views") or 1), "num_clips": result.get("num_clips"),
             "num_crops": result.get("num_crops"), "runtime": str(result.get("runtime") or "pytorch"),
             "metrics": metrics, "date": datetime.datetime.now().isoformat(timespec="seconds")}
    key = ("dataset", "split", "views", "runtime")
    try:
        kept = [e for e in read_evaluations(folder) if any(e.get(k) != entry[k] for k in key)]
        evaluations = [*kept, entry]
        atomic_write_text(Path(folder) / EVALUATIONS, json.dumps(evaluations, indent=2, default=str))
        write_card(folder, evaluations)
    except OSError as exc:
        print(f"warning: could not add the evaluation to {Path(folder) / CARD} ({exc.strerror or exc})",
              file=sys.stderr)
        return False
    return True


def record_export(checkpoint: str | Path, record: Mapping[str, Any], card: bool = True) -> None:
    """Keep ``record`` in ``<checkpoint>/export.json`` (one per file name) and re-render the model card."""
    exports = read_exports(checkpoint)
    exports[str(record["file"])] = {k: v for k, v in record.items() if k != "path"}  # the folder may move
    atomic_write_text(Path(checkpoint) / EXPORT_RECORD, json.dumps(exports, indent=2))
    if card:
        write_card(checkpoint)
