"""ONNX export of a ``best/`` checkpoint, verified against PyTorch before it is kept.

:func:`export_onnx` rebuilds the checkpoint's model (a registered family only, as inference does),
exports it with a dynamic batch axis, writes the class names and the input contract
(:mod:`lsvit.deploy.contracts`) into the ONNX metadata, checks the graph with ``onnx.checker`` and
runs it with ONNX Runtime (CPU) against the PyTorch model on random and structured or real inputs
at batch 1 and 3. Only a graph within the tolerance becomes ``model.onnx`` (written under a
temporary name and renamed): a failed export leaves nothing behind.

Exporter: ``torch.onnx.export(dynamo=True)`` (``torch.export`` + ONNX Script), the default and the
maintained path of torch 2.13. It captures LS-ViT (einops rearranges, SDPA, ``F.interpolate``)
without tracer warnings as a graph of about a third of the nodes the TorchScript exporter writes.
Its translations start at opset 18, and its conversion to older opsets fails on LS-ViT
(LayerNormalization, the Reduce operators' axes) while the exporter keeps opset 18 with only a log
line; so an older ``opset`` goes through the TorchScript exporter (``dynamo=False``), which has
per-opset translations down to 7 and names the operator an opset is too old for. Either graph is
verified the same way before it is kept.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import hashlib
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from lsvit import LsvitError, __version__
from lsvit.deploy.contracts import InputContract, input_contract
from lsvit.io import atomic_write_text, read_json

ONNX_FILE = "model.onnx"
EXPORT_RECORD = "export.json"
INPUT_NAME = "inputs"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 18  # the oldest the torch.export-based exporter writes natively: the widest runtime support
MIN_DYNAMO_OPSET = 18
MIN_OPSET = 7
FP32_ATOL = 1e-4
FP16_RTOL = 1e-2  # fp16 carries ~3 significant digits: tolerance relative to the largest logit (at least 1)
METADATA_PREFIX = "lsvit."
FORMAT = 1


def require_onnx(exporting: bool = False) -> tuple[Any, Any]:
    """The ONNX packages, or one clear error naming the extra that installs them.

    Args:
        exporting: also require ``onnxscript`` (the torch.export-based exporter needs it).

    Returns:
        ``(onnx, onnxruntime)``.
    """
    try:
        import onnx
        import onnxruntime

        if exporting:
            import onnxscript  # noqa: F401  (torch.onnx's torch.export-based exporter imports it)
    except ImportError as exc:
        raise LsvitError(f"ONNX export and runtime=onnx need the 'export' extra ({exc.name} is not installed): "
                         "pip install -e '.[export]'") from exc
    return onnx, onnxruntime


def max_opset() -> int:
    """The newest opset both torch's exporter and the installed ``onnx`` know."""
    import onnx
    from torch.onnx._constants import ONNX_MAX_OPSET

    return min(int(ONNX_MAX_OPSET), int(onnx.defs.onnx_opset_version()))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 8 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 23), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ the graph
def _operator_in(message: str) -> str | None:
    """The operator an exporter error names (``aten::scaled_dot_product_attention``, ``aten._linalg_eigh``)."""
    for pattern in (r"op='([\w.:]+)'", r"operator '([\w.:]+)'", r"(aten(?:::|\.)\w+)", r"operator (\w+)"):
        m = re.search(pattern, message)
        if m:
            return m.group(1)
    return None


def _first_lines(message: str, n: int = 2) -> str:
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", message).splitlines() if ln.strip()]
    return " ".join(lines[:n])[:400]


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Only warnings from these loggers: the ONNX Script optimizer logs every rewrite at INFO (hundreds of lines)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def _output_to_void() -> Iterator[None]:
    """Drop what C++ code writes to file descriptors 1 and 2 meanwhile.

    The TorchScript exporter dumps its whole IR graph (thousands of lines) when it fails: torch 2.13
    leaves its ONNX log switched on. The error itself is in the exception, which becomes our message.
    """
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        with open(os.devnull, "wb") as void:
            for fd in saved:
                os.dup2(void.fileno(), fd)
            yield
    finally:
        for fd, copy_fd in saved.items():
            os.dup2(copy_fd, fd)
            os.close(copy_fd)


def export_graph(model: nn.Module, example: torch.Tensor, path: str | Path, opset: int = DEFAULT_OPSET,
                 dynamic_batch: bool = True, name: str = "model") -> str:
    """Export ``model(example) -> logits`` to ``path``; returns the exporter used.

    Args:
        model: in eval mode, on the CPU.
        example: an input batch (batch >= 2 with ``dynamic_batch``: ``torch.export`` specialises 1).
        path: the ``.onnx`` file to write (weights inside: no external data).
        opset: the ``ai.onnx`` opset; >= 18 uses the ``torch.export`` exporter, older ones the
            TorchScript exporter (see the module docstring).
        dynamic_batch: make axis 0 of the input and the output symbolic (``batch``).
        name: the model's name, for messages.

    Raises:
        LsvitError: an opset out of range, or the exporter failed (naming the operator when it
            names one, e.g. an operator the opset is too old for).
    """
    if not MIN_OPSET <= opset <= max_opset():
        raise LsvitError(f"opset={opset}: choose {MIN_OPSET}..{max_opset()} (default {DEFAULT_OPSET})")
    dynamo = opset >= MIN_DYNAMO_OPSET
    kw: dict[str, Any] = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset, dynamo=dynamo)
    if dynamo:
        kw.update(external_data=False, verbose=False, optimize=True)
        if dynamic_batch:
            kw["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
    elif dynamic_batch:
        kw["dynamic_axes"] = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    quiet_cpp = contextlib.nullcontext() if dynamo else _output_to_void()
    try:
        with (warnings.catch_warnings(), torch.no_grad(), _quiet_loggers("onnxscript", "onnx_ir", "torch.onnx"),
              quiet_cpp):
            # the TorchScript exporter's deprecation and tracer warnings concern shape-dependent Python
            # branches; the shapes other than the batch are fixed by the contract and the graph is verified
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(path), **kw)
    except Exception as exc:  # the exporters raise their own error types (and torch.export's) for one cause
        op = _operator_in(str(exc))
        what = f"operator {op} is not supported at opset {opset}" if op else f"the exporter failed at opset {opset}"
        hint = "" if dynamo else f" (opset >= {MIN_DYNAMO_OPSET} uses the torch.export-based exporter)"
        raise LsvitError(f"cannot export {name} to ONNX: {what}{hint}: {_first_lines(str(exc))}") from exc
    return f"torch.onnx.export(dynamo={dynamo}) torch {torch.__version__.split('+')[0]}"


def max_abs_diff(model: nn.Module, session: Any, x: torch.Tensor, input_dtype: Any) -> float:
    """Largest absolute difference of the logits of ``model`` (PyTorch, fp32) and ``session`` on ``x``."""
    with torch.no_grad():
        ref = model(x).float()
    out = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy().astype(input_dtype)})[0]
    got = torch.from_numpy(out).float()
    if got.shape != ref.shape:
        raise LsvitError(f"ONNX output shape {tuple(got.shape)} differs from PyTorch's {tuple(ref.shape)}")
    return float((got - ref).abs().max())


def verify_parity(model: nn.Module, session: Any, inputs: Mapping[str, torch.Tensor], atol: float | None,
                  name: str, fixed_batch: int | None = None, fp16: bool = False) -> dict[str, float]:
    """Run every input batch through PyTorch and ONNX Runtime; the largest logit difference of each.

    Args:
        inputs: label -> float32 batch (e.g. ``"random, batch 3"``).
        atol: the tolerance; ``None``: 1e-4 (fp32), or ``1e-2 x max(1, |logits|)`` for an fp16 graph.
        fixed_batch: the graph's batch size when it has no dynamic batch axis (inputs are split).

    Returns:
        label -> max |logits difference|.

    Raises:
        LsvitError: naming the model, the largest difference, the input and the tolerance.
    """
    import numpy as np

    dtype = np.float16 if fp16 else np.float32
    diffs, tols = {}, {}
    for label, x in inputs.items():
        parts = list(x.split(fixed_batch)) if fixed_batch else [x]
        diffs[label] = max(max_abs_diff(model, session, p, dtype) for p in parts)
        if atol is not None:
            tols[label] = atol
        elif fp16:
            with torch.no_grad():
                tols[label] = FP16_RTOL * max(1.0, float(model(x).abs().max()))
        else:
            tols[label] = FP32_ATOL
    worst = max(diffs, key=lambda k: diffs[k] - tols[k])
    if diffs[worst] > tols[worst]:
        raise LsvitError(f"{name}: ONNX Runtime's logits differ from PyTorch's by up to {diffs[worst]:.3g} "
                         f"({worst}), above the tolerance {tols[worst]:.3g}; the graph is not kept")
    return diffs


def _session(onnxruntime: Any, model_bytes: bytes, name: str) -> Any:
    try:
        return onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NotImplemented types
        raise LsvitError(f"{name}: ONNX Runtime cannot run the exported graph: {_first_lines(str(exc))}") from exc


def set_metadata(proto: Any, props: Mapping[str, Any]) -> None:
    """Write ``props`` into ``metadata_props`` as JSON strings (keys prefixed ``lsvit.``), replacing old ones."""
    keys = {METADATA_PREFIX + k for k in props}
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in keys]
    del proto.metadata_props[:]
    for k, v in kept:
        proto.metadata_props.add(key=k, value=v)
    for k, v in props.items():
        proto.metadata_props.add(key=METADATA_PREFIX + k, value=json.dumps(v))


def read_metadata(proto_or_map: Any) -> dict[str, Any]:
    """The ``lsvit.*`` metadata of an ONNX model (a ModelProto or a ``custom_metadata_map``), parsed as JSON."""
    items = (proto_or_map.items() if isinstance(proto_or_map, Mapping)
             else ((p.key, p.value) for p in proto_or_map.metadata_props))
    out = {}
    for k, v in items:
        if k.startswith(METADATA_PREFIX):
            try:
                out[k[len(METADATA_PREFIX):]] = json.loads(v)
            except json.JSONDecodeError as exc:
                raise LsvitError(f"ONNX metadata {k}: not valid JSON ({exc})") from exc
    return out


# ------------------------------------------------------------------------------------------------ a checkpoint
def real_inputs(checkpoint: str | Path, meta: Mapping[str, Any], data_root: str | Path, count: int = 3
                ) -> torch.Tensor:
    """Up to ``count`` readable inputs from ``data_root``, read and transformed exactly as inference reads them."""
    from lsvit.data.dataset import collate
    from lsvit.data.discovery import discover_unlabelled
    from lsvit.data.transforms import to_model_input
    from lsvit.inference import CACHE_READERS, checkpoint_dataset

    src = Path(data_root)
    if not src.exists():
        raise LsvitError(f"data_root={src}: no such file or folder")
    reader = CACHE_READERS.get((meta["data"].get("type", "video"), src.suffix.lower())) if src.is_file() else None
    if reader is not None:
        ds = reader(src, meta["data"], list(meta["class_names"]), False)
    else:
        items = discover_unlabelled(src)
        if not items:
            raise LsvitError(f"data_root={src}: no videos or frame folders found")
        ds = checkpoint_dataset(dict(meta), items)
    samples = []
    for i in range(len(ds)):
        s = ds[i]
        if "error" not in s:
            samples.append(s)
        if len(samples) == count:
            break
    if not samples:
        raise LsvitError(f"data_root={src}: none of its inputs could be read")
    batch = collate(samples)
    return to_model_input(batch["inputs"], batch.get("color")).float()


def export_onnx(checkpoint: str | Path, output: str | Path | None = None, opset: int | None = None,
                dynamic_batch: bool = True, fp16: bool = False, atol: float | None = None,
                data_root: str | Path | None = None, fmt: str = "onnx") -> dict[str, Any]:
    """Export a ``best/`` checkpoint to ONNX, verified against PyTorch; the record of the export.

    Args:
        checkpoint: a run's ``best/`` folder.
        output: the ``.onnx`` file (default ``<checkpoint>/model.onnx``).
        opset: the ``ai.onnx`` opset (default 18).
        dynamic_batch: a symbolic batch axis (else the graph takes batch 1).
        fp16: a half-precision graph (inputs and logits float16); checked against the fp32 model
            with a tolerance of 1e-2 of the largest logit.
        atol: the parity tolerance (default 1e-4 for fp32).
        data_root: videos (or a cache file of the checkpoint's input type) to check real inputs
            on, read as inference reads them; without it, video checkpoints are checked on
            rendered clips as well as random inputs.
        fmt: ``onnx`` (the only format).

    Returns:
        The export record (also kept in ``<checkpoint>/export.json`` when the file is written into
        the checkpoint folder, and shown in its model card).

    Raises:
        LsvitError: a bad checkpoint, a data type without an input contract, an exporter failure
            (naming the operator), an invalid graph, or a parity difference beyond the tolerance;
            nothing is left at ``output`` then.
    """
    from lsvit.engine.checkpoint import WEIGHTS, build_from_checkpoint

    if fmt != "onnx":
        raise LsvitError(f"format={fmt}: only 'onnx' is supported")
    onnx, onnxruntime = require_onnx(exporting=True)
    checkpoint = Path(checkpoint)
    model, meta = build_from_checkpoint(checkpoint, "cpu")
    name = str(meta["model"]["name"])
    contract = input_contract(meta)  # before any work: a type without a contract is one clear error
    opset = DEFAULT_OPSET if opset is None else int(opset)
    out = Path(output) if output else checkpoint / ONNX_FILE
    if out.suffix != ".onnx":
        raise LsvitError(f"output={out}: expected a .onnx file name")
    if not out.parent.is_dir():
        raise LsvitError(f"output={out}: the folder {out.parent} does not exist")
    t0 = time.time()
    # the inputs to check, before the export: a bad data_root is an error before minutes of work
    checks = {f"random inputs, batch {b}": contract.example(b, seed=b) for b in (1, 3)}
    if data_root is not None:
        real, kind = real_inputs(checkpoint, meta, data_root), f"real inputs from {data_root}"
    elif contract.sample is not None:
        real, kind = contract.sample(3), contract.sample_kind
    else:
        real, kind = None, "none (give data_root= to check real inputs)"
    if real is not None:
        checks[f"{kind.split(' (')[0]}, batch 1"] = real[:1]
        checks[f"{kind.split(' (')[0]}, batch {len(real)}"] = real
    graph_model = copy.deepcopy(model).half() if fp16 else model
    example = contract.example(2 if dynamic_batch else 1)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        exporter = export_graph(graph_model, example.half() if fp16 else example, tmp, opset, dynamic_batch, name)
        proto = onnx.load(str(tmp))
        dtype = "float16" if fp16 else "float32"
        batch: str | int = "batch" if dynamic_batch else 1
        props = {"format": FORMAT, "model": meta["model"], "class_names": list(meta["class_names"]),
                 "input": dict(contract.to_json(dtype), name=INPUT_NAME, shape=[batch, *contract.shape]),
                 "output": {"name": OUTPUT_NAME, "shape": [batch, len(meta["class_names"])], "dtype": dtype,
                            "values": "class logits (softmax gives the probabilities of class_names)"},
                 "weights_sha256": file_sha256(checkpoint / WEIGHTS), "exporter": exporter,
                 "lsvit_version": __version__, "commit": (meta.get("run") or {}).get("commit", "unknown")}
        set_metadata(proto, props)
        proto.doc_string = f"lsvit {name}: {contract.layout} {dtype} inputs -> class logits"
        try:
            onnx.checker.check_model(proto, full_check=True)
        except Exception as exc:  # onnx raises ValidationError / InferenceError
            raise LsvitError(f"{name}: the exported graph fails onnx.checker: {_first_lines(str(exc))}") from exc
        session = _session(onnxruntime, proto.SerializeToString(), name)
        diffs = verify_parity(model, session, checks, atol, name, None if dynamic_batch else 1, fp16)
        verified = {"max_abs_diff": diffs, "atol": atol if atol is not None else ("1e-2 x max(1, |logits|)" if fp16
                                                                                    else FP32_ATOL),
                    "real_inputs": kind, "runtime": f"onnxruntime {onnxruntime.__version__} CPU"}
        set_metadata(proto, {"verified": verified})
        onnx.save(proto, str(tmp))
        sha = file_sha256(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise LsvitError(f"could not write {out} ({exc.strerror or exc})") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    record = {"file": out.name, "path": str(out), "model": name, "opset": opset, "exporter": exporter,
              "dynamic_batch": dynamic_batch, "precision": dtype, "input": props["input"], "output": props["output"],
              "verified": verified, "sha256": sha, "bytes": out.stat().st_size,
              "seconds": round(time.time() - t0, 2), "exported_at": datetime.datetime.now().isoformat(timespec="seconds"),
              "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                           "lsvit": __version__}}
    if out.parent.resolve() == checkpoint.resolve():
        record_export(checkpoint, record)
    return record


def read_exports(folder: str | Path) -> dict[str, dict[str, Any]]:
    """``export.json`` of a checkpoint folder: file name -> export record (empty when there is none)."""
    path = Path(folder) / EXPORT_RECORD
    if not path.is_file():
        return {}
    data = read_json(path, "export record")
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise LsvitError(f"{path}: expected an object of export records")
    for fname, rec in data.items():  # the folder may come from someone else: numbers where numbers are shown
        diffs = (rec.get("verified") or {}).get("max_abs_diff", {})
        if not isinstance(diffs, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in diffs.values()):
            raise LsvitError(f"{path}: {fname}.verified.max_abs_diff must map labels to numbers")
    return data


def record_export(checkpoint: str | Path, record: Mapping[str, Any]) -> None:
    """Keep ``record`` in ``<checkpoint>/export.json`` (one per file name) and re-render the model card."""
    from lsvit.deploy.card import write_card

    exports = read_exports(checkpoint)
    exports[str(record["file"])] = {k: v for k, v in record.items() if k != "path"}  # the folder may move
    atomic_write_text(Path(checkpoint) / EXPORT_RECORD, json.dumps(exports, indent=2))
    write_card(checkpoint)


def describe(record: Mapping[str, Any]) -> str:
    """One paragraph for the console: where, what, and how close to PyTorch it is."""
    diffs = record["verified"]["max_abs_diff"]
    worst = max(diffs.values()) if diffs else float("nan")
    shape = "x".join(str(s) for s in record["input"]["shape"])
    return (f"wrote {record['path']} ({record['bytes'] / 1e6:.1f} MB, opset {record['opset']}, {record['precision']}, "
            f"input '{INPUT_NAME}' {shape} {record['input']['layout']}, {record['seconds']:.1f} s)\n"
            f"ONNX Runtime vs PyTorch, max |logits difference|: {worst:.2e} over "
            + ", ".join(f"{k}: {v:.1e}" for k, v in diffs.items()))


__all__ = ["DEFAULT_OPSET", "EXPORT_RECORD", "INPUT_NAME", "ONNX_FILE", "OUTPUT_NAME", "InputContract", "describe",
           "export_graph", "export_onnx", "file_sha256", "read_exports", "read_metadata", "real_inputs",
           "record_export", "require_onnx", "set_metadata", "verify_parity"]
