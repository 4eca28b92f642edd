"""ONNX export of a ``best/`` checkpoint, verified against PyTorch before it is kept.

:func:`export_onnx` rebuilds the checkpoint's model (a registered family only, as inference does),
exports it with a dynamic batch axis, writes the class names and the input contract
(:meth:`lsvit.contracts.InputType.contract`) into the ONNX metadata, checks the graph with ``onnx.checker`` and
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
from lsvit.checkpoint.card import record_export
from lsvit.checkpoint.exports import ONNX_FILE
from lsvit.checkpoint.folder import build_from_checkpoint
from lsvit.checkpoint.meta import WEIGHTS
from lsvit.contracts import InputContract
from lsvit.data.dataset import first_inputs
from lsvit.data.discovery import discover_unlabelled
from lsvit.io import file_sha256
from lsvit.registry import input_contract, type_of

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
                 dynamic_batch: bool = True, name: str = "model", input_name: str = INPUT_NAME,
                 output_name: str = OUTPUT_NAME) -> str:
    """Export ``model(example) -> logits`` (or any one output) to ``path``; returns the exporter used.

    Args:
        model: in eval mode, on the CPU.
        example: an input batch (batch >= 2 with ``dynamic_batch``: ``torch.export`` specialises 1).
        path: the ``.onnx`` file to write (weights inside: no external data).
        opset: the ``ai.onnx`` opset; >= 18 uses the ``torch.export`` exporter, older ones the
            TorchScript exporter (see the module docstring).
        dynamic_batch: make axis 0 of the input and the output symbolic (``batch``).
        name: the model's name, for messages.
        input_name: the graph's input name (``inputs``; the frame embedder's is ``views``).
        output_name: the graph's output name (``logits``; the frame embedder's is ``embeddings``).

    Raises:
        LsvitError: an opset out of range, or the exporter failed (naming the operator when it
            names one, e.g. an operator the opset is too old for).
    """
    if not MIN_OPSET <= opset <= max_opset():
        raise LsvitError(f"opset={opset}: choose {MIN_OPSET}..{max_opset()} (default {DEFAULT_OPSET})")
    dynamo = opset >= MIN_DYNAMO_OPSET
    kw: dict[str, Any] = dict(input_names=[input_name], output_names=[output_name], opset_version=opset, dynamo=dynamo)
    if dynamo:
        kw.update(external_data=False, verbose=False, optimize=True)
        if dynamic_batch:
            kw["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
    elif dynamic_batch:
        kw["dynamic_axes"] = {input_name: {0: "batch"}, output_name: {0: "batch"}}
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


def max_abs_diff(model: nn.Module, session: Any, x: torch.Tensor, input_dtype: Any = None,
                 input_name: str = INPUT_NAME, output_name: str = OUTPUT_NAME) -> float:
    """Largest absolute difference of the outputs of ``model`` (PyTorch, fp32) and ``session`` on ``x``.

    Args:
        input_dtype: the numpy dtype the graph takes (None: ``x``'s own, e.g. uint8 views).
    """
    with torch.no_grad():
        ref = model(x).float()
    arr = x.numpy() if input_dtype is None else x.numpy().astype(input_dtype)
    out = session.run([output_name], {input_name: arr})[0]
    got = torch.from_numpy(out).float()
    if got.shape != ref.shape:
        raise LsvitError(f"ONNX output shape {tuple(got.shape)} differs from PyTorch's {tuple(ref.shape)}")
    return float((got - ref).abs().max())


def verify_parity(model: nn.Module, session: Any, inputs: Mapping[str, torch.Tensor], atol: float | None,
                  name: str, fixed_batch: int | None = None, fp16: bool = False, relative: float | None = None,
                  input_name: str = INPUT_NAME, output_name: str = OUTPUT_NAME, what: str = "logits"
                  ) -> dict[str, float]:
    """Run every input batch through PyTorch and ONNX Runtime; the largest output difference of each.

    Args:
        inputs: label -> batch (float32; uint8 for the frame embedder's views) (e.g. ``"random, batch 3"``).
        atol: the tolerance; ``None``: 1e-4 (fp32), or ``1e-2 x max(1, |logits|)`` for an fp16 graph.
        fixed_batch: the graph's batch size when it has no dynamic batch axis (inputs are split).
        relative: a tolerance relative to the outputs' scale instead: ``relative x max(1, |output|)``
            (the frame embedder's embeddings are not logits of order 1).
        input_name: the graph's input.
        output_name: the graph's output.
        what: the output in words, for the message.

    Returns:
        label -> max |output difference|.

    Raises:
        LsvitError: naming the model, the largest difference, the input and the tolerance.
    """
    import numpy as np

    diffs, tols = {}, {}
    for label, x in inputs.items():
        dtype = np.float16 if fp16 else (None if x.dtype == torch.uint8 else np.float32)
        parts = list(x.split(fixed_batch)) if fixed_batch else [x]
        diffs[label] = max(max_abs_diff(model, session, p, dtype, input_name, output_name) for p in parts)
        if atol is not None:
            tols[label] = atol
        elif fp16 or relative is not None:
            with torch.no_grad():
                scale = max(1.0, float(model(x).float().abs().max()))
            tols[label] = (FP16_RTOL if fp16 else float(relative)) * scale  # type: ignore[arg-type]
        else:
            tols[label] = FP32_ATOL
    worst = max(diffs, key=lambda k: diffs[k] - tols[k])
    if diffs[worst] > tols[worst]:
        raise LsvitError(f"{name}: ONNX Runtime's {what} differ from PyTorch's by up to {diffs[worst]:.3g} "
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
    src = Path(data_root)
    if not src.exists():
        raise LsvitError(f"data_root={src}: no such file or folder")
    itype = type_of(meta)
    if src.is_file() and src.suffix.lower() in itype.file_suffixes:
        ds = itype.from_file(meta, src)
    else:
        items = discover_unlabelled(src)
        if not items:
            raise LsvitError(f"data_root={src}: no videos or frame folders found")
        # a few spare videos for unreadable ones: embeddings and keypoints are extracted for every video given
        ds = itype.from_videos(meta, items[:count * 3])
    return first_inputs(ds, count, f"data_root={src}")


def verified_graph(path: Path, reference: nn.Module, graph: nn.Module, example: torch.Tensor,
                   checks: Mapping[str, torch.Tensor], props: Mapping[str, Any], *, opset: int, dynamic_batch: bool,
                   name: str, doc: str, real_kind: str, fp16: bool = False, atol: float | None = None,
                   relative: float | None = None, input_name: str = INPUT_NAME, output_name: str = OUTPUT_NAME,
                   what: str = "logits") -> tuple[str, dict[str, Any]]:
    """Export ``graph`` to ``path`` with ``props`` as metadata, check it, and verify it against ``reference``.

    ``path`` is a temporary name: the caller renames it once every graph of the checkpoint passed.

    Returns:
        ``(exporter, verified)``: the exporter used and the parity record (also in the file's metadata).

    Raises:
        LsvitError: an exporter failure, a graph that fails ``onnx.checker``, that ONNX Runtime cannot
            load, or whose outputs differ beyond the tolerance (see :func:`verify_parity`).
    """
    onnx, onnxruntime = require_onnx(exporting=True)
    exporter = export_graph(graph, example, path, opset, dynamic_batch, name, input_name, output_name)
    proto = onnx.load(str(path))
    set_metadata(proto, dict(props, exporter=exporter))
    proto.doc_string = doc
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # onnx raises ValidationError / InferenceError
        raise LsvitError(f"{name}: the exported graph fails onnx.checker: {_first_lines(str(exc))}") from exc
    session = _session(onnxruntime, proto.SerializeToString(), name)
    diffs = verify_parity(reference, session, checks, atol, name, None if dynamic_batch else 1, fp16, relative,
                          input_name, output_name, what)
    if atol is not None:
        tol: Any = atol
    elif fp16:
        tol = f"{FP16_RTOL:g} x max(1, |{what}|)"
    elif relative is not None:
        tol = f"{relative:g} x max(1, |{what}|)"
    else:
        tol = FP32_ATOL
    verified = {"max_abs_diff": diffs, "atol": tol, "real_inputs": real_kind,
                "runtime": f"onnxruntime {onnxruntime.__version__} CPU"}
    set_metadata(proto, {"verified": verified})
    onnx.save(proto, str(path))
    return exporter, verified


def extra_graph_path(output: Path, file: str) -> Path:
    """Where an extra graph (``embedder.onnx``) goes beside ``output``: its own name beside ``model.onnx``, else
    ``<stem>_<name>`` (so ``model_b1.onnx`` does not replace the default pair's embedder)."""
    return output.with_name(file if output.name == ONNX_FILE else f"{output.stem}_{file}")


def export_onnx(checkpoint: str | Path, output: str | Path | None = None, opset: int | None = None,
                dynamic_batch: bool = True, fp16: bool = False, atol: float | None = None,
                data_root: str | Path | None = None, fmt: str = "onnx", extras: bool | None = None
                ) -> dict[str, Any]:
    """Export a ``best/`` checkpoint to ONNX, verified against PyTorch; the record of the export.

    Args:
        checkpoint: a run's ``best/`` folder.
        output: the ``.onnx`` file (default ``<checkpoint>/model.onnx``).
        opset: the ``ai.onnx`` opset (default 18).
        dynamic_batch: a symbolic batch axis (else the graph takes batch 1).
        fp16: a half-precision graph (inputs and logits float16); checked against the fp32 model
            with a tolerance of 1e-2 of the largest logit. (Extra graphs stay float32.)
        atol: the parity tolerance (default 1e-4 for fp32).
        data_root: videos (or a file of the checkpoint's input type) to check real inputs on, read as
            inference reads them; without it, the input type's own sample (rendered clips, rows of the
            checkpoint's own cache or keypoint file when it is on this machine), as well as random inputs.
        fmt: ``onnx`` (the only format).
        extras: also export the graphs the input type's raw-input reader needs beside ``model.onnx``
            (:meth:`~lsvit.contracts.InputType.extra_graphs`: the frame embedder of a frame-embedding
            checkpoint; ``None``: yes when the type has any), so that ``runtime=onnx`` reads raw videos
            without PyTorch too. (``tools/export.py`` calls it ``embedder=``.)

    Returns:
        The export record (also kept in ``<checkpoint>/export.json`` when the file is written into
        the checkpoint folder, and shown in its model card); each extra graph's record is under its key
        (``record["embedder"]``).

    Raises:
        LsvitError: a bad checkpoint, a data type without an input contract, an exporter failure
            (naming the operator, or the backbone of the frame embedder), an invalid graph, or a parity
            difference beyond the tolerance; nothing is left at ``output`` (nor at an extra graph's file) then.
    """
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
    checks, kind = parity_inputs(checkpoint, meta, contract, data_root)
    # extra graphs are built (backbones found, fingerprinted) and their checks read before any export too
    jobs = [] if extras is False else type_of(meta).extra_graphs(meta, data_root)
    if extras and not jobs:
        raise LsvitError(f"embedder=true: {name} takes '{contract.type}' inputs, which need no graph beside "
                         "model.onnx")
    commit = (meta.get("run") or {}).get("commit", "unknown")
    dtype = "float16" if fp16 else "float32"
    batch: str | int = "batch" if dynamic_batch else 1
    props = {"format": FORMAT, "model": meta["model"], "class_names": list(meta["class_names"]),
             "input": dict(contract.to_json(dtype), name=INPUT_NAME, shape=[batch, *contract.shape]),
             "output": {"name": OUTPUT_NAME, "shape": [batch, len(meta["class_names"])], "dtype": dtype,
                        "values": "class logits (softmax gives the probabilities of class_names)"},
             "weights_sha256": file_sha256(checkpoint / WEIGHTS), "lsvit_version": __version__, "commit": commit,
             **{job.key: extra_graph_path(out, job.file).name for job in jobs}}
    # every graph goes to a temporary name and is renamed only once all of them passed
    files = {path: path.with_name(f".{path.name}.tmp{os.getpid()}")
             for path in [*(extra_graph_path(out, job.file) for job in jobs), out]}
    records: dict[str, dict[str, Any]] = {}
    try:
        for job in jobs:  # first: the heavier graphs, and the ones a backbone may keep from exporting
            path = extra_graph_path(out, job.file)
            records[job.key] = dict(job.export(files[path], opset, dynamic_batch, name, commit), file=path.name,
                                    path=str(path), sha256=file_sha256(files[path]))
        graph_model = copy.deepcopy(model).half() if fp16 else model
        example = contract.example(2 if dynamic_batch else 1)
        exporter, verified = verified_graph(
            files[out], model, graph_model, example.half() if fp16 else example, checks, props, opset=opset,
            dynamic_batch=dynamic_batch, name=name, doc=f"lsvit {name}: {contract.layout} {dtype} inputs -> class logits",
            real_kind=kind, fp16=fp16, atol=atol)
        sha = file_sha256(files[out])
        for final, tmp in files.items():
            os.replace(tmp, final)
    except OSError as exc:
        raise LsvitError(f"could not write {out} ({exc.strerror or exc})") from exc
    finally:
        for tmp in files.values():
            if tmp.exists():
                tmp.unlink()
    now = datetime.datetime.now().isoformat(timespec="seconds")
    versions = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                "lsvit": __version__}
    record = {"file": out.name, "path": str(out), "model": name, "opset": opset, "exporter": exporter,
              "dynamic_batch": dynamic_batch, "precision": dtype, "input": props["input"], "output": props["output"],
              "verified": verified, "sha256": sha, "bytes": out.stat().st_size,
              "seconds": round(time.time() - t0, 2), "exported_at": now, "versions": versions,
              **{key: rec["file"] for key, rec in records.items()}}
    for rec in records.values():
        rec.update(bytes=Path(rec["path"]).stat().st_size, exported_at=now, versions=versions)
    if out.parent.resolve() == checkpoint.resolve():
        record_export(checkpoint, record, card=not records)
        for i, rec in enumerate(records.values()):
            record_export(checkpoint, rec, card=i == len(records) - 1)
    record.update(records)
    return record


def parity_inputs(checkpoint: Path, meta: Mapping[str, Any], contract: InputContract,
                  data_root: str | Path | None) -> tuple[dict[str, torch.Tensor], str]:
    """The inputs an exported graph is checked on: random ones at batch 1 and 3, and real or structured ones
    (``data_root``, else the contract's own sample) at batch 1 and 3; and what those are, in words."""
    name = str(meta["model"]["name"])
    checks = {f"random inputs, batch {b}": contract.example(b, seed=b) for b in (1, 3)}
    if data_root is not None:
        real, kind = real_inputs(checkpoint, meta, data_root), f"real inputs from {data_root}"
    elif contract.sample is not None:
        try:
            real, kind = contract.sample(3), contract.sample_kind
        except LsvitError as exc:  # the recorded file is an extra check, not an input: its damage stops nothing
            real, kind = None, f"none ({exc}; give data_root= to check real inputs)"
            warnings.warn(f"{exc}: {name} is checked on random inputs only (give data_root= to check real inputs)",
                          stacklevel=3)
    else:
        real, kind = None, "none (give data_root= to check real inputs)"
    if real is not None:
        checks[f"{kind.split(' (')[0]}, batch 1"] = real[:1]
        checks[f"{kind.split(' (')[0]}, batch {len(real)}"] = real
    return checks, kind


def describe(record: Mapping[str, Any]) -> str:
    """One paragraph for the console per graph: where, what, and how close to PyTorch it is."""
    diffs = record["verified"]["max_abs_diff"]
    worst = max(diffs.values()) if diffs else float("nan")
    inp, outp = record["input"], record["output"]
    shape = "x".join(str(s) for s in inp["shape"])
    text = (f"wrote {record['path']} ({record['bytes'] / 1e6:.1f} MB, opset {record['opset']}, "
            f"{record['precision']}, input '{inp.get('name', INPUT_NAME)}' {shape} {inp['layout']} {inp['dtype']}, "
            f"{record['seconds']:.1f} s)\n"
            f"ONNX Runtime vs PyTorch, max |{outp.get('name', OUTPUT_NAME)} difference|: {worst:.2e} "
            f"(tolerance {record['verified'].get('atol')}) over " + ", ".join(f"{k}: {v:.1e}" for k, v in diffs.items()))
    for extra in record.values():  # extra graphs (the frame embedder) under their keys
        if isinstance(extra, Mapping) and "verified" in extra:
            text += "\n" + describe(extra)
    return text


__all__ = ["DEFAULT_OPSET", "INPUT_NAME", "OUTPUT_NAME", "describe", "export_graph", "export_onnx",
           "extra_graph_path", "parity_inputs", "read_metadata", "real_inputs", "require_onnx", "set_metadata",
           "verified_graph", "verify_parity"]
