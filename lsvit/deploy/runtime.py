"""Running an exported ``model.onnx`` with ONNX Runtime inside lsvit's own inference path.

:class:`OnnxModel` is called like the PyTorch model (a float torch batch in, logits out), so
:func:`lsvit.engine.evaluation.score` — and with it the readers, the transforms, multi-view
averaging and ``submission.csv`` — is the same for both runtimes; only the forward pass differs.
:func:`load_model` picks the runtime for :func:`lsvit.inference.score_checkpoint` and the realtime
tool. Where a data type reads raw inputs through a model of its own (the frame embedder of the
BiLSTM family), its input type runs that model's exported graph too with ``runtime=onnx``
(``embedder.onnx``, :mod:`lsvit.families.embeddings.graph`), with :class:`OnnxModel`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from lsvit import LsvitError
from lsvit.checkpoint.exports import ONNX_FILE
from lsvit.checkpoint.folder import build_from_checkpoint
from lsvit.checkpoint.meta import WEIGHTS, read_meta
from lsvit.deploy.export import read_metadata, require_onnx
from lsvit.io import file_sha256
from lsvit.registry import canonical_type, input_contract

RUNTIMES = ("pytorch", "onnx")
# operator sets a graph from elsewhere may use: ONNX's own; anything else is a custom operator, i.e. code
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")


def check_graph(data: bytes, path: str | Path) -> None:
    """Refuse an ``.onnx`` graph that asks for more than ONNX's standard operators on its own weights.

    A graph is data for a fixed interpreter only while it sticks to the standard operator sets and keeps its
    weights inside the file: a custom-domain operator names code to run, and external data names other files
    to read. lsvit's exports have neither, so a file that does came from elsewhere and is refused, by name.

    Args:
        data: the file's bytes, exactly those ONNX Runtime is then given (the file is read once: it cannot
            change between the check and the load).
        path: where they came from, for messages.

    Raises:
        LsvitError: an unreadable graph, a node (also inside a model-local function) outside
            :data:`STANDARD_DOMAINS`, or a tensor stored outside the file.
    """
    import onnx
    from onnx.external_data_helper import uses_external_data

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's decode errors: not an ONNX file
        raise LsvitError(f"{path}: not a readable ONNX file ({str(exc).splitlines()[0][:200]})") from exc
    local = {(f.domain, f.name) for f in model.functions}
    nodes = [*model.graph.node, *(n for f in model.functions for n in f.node)]
    custom = sorted({f"{n.domain}::{n.op_type}" for n in nodes
                     if n.domain not in STANDARD_DOMAINS and (n.domain, n.op_type) not in local})
    if custom:
        raise LsvitError(f"{path}: the graph uses operators outside ONNX's standard sets ({', '.join(custom[:5])}): "
                         "custom operators are code, and lsvit runs only standard ONNX graphs")
    tensors = [*model.graph.initializer, *(a.t for n in nodes for a in n.attribute if a.HasField("t"))]
    external = [t.name or "(a constant)" for t in tensors if uses_external_data(t)]
    if external:
        raise LsvitError(f"{path}: tensors {external[:3]} are stored in other files; lsvit reads only graphs that "
                         "hold their weights (its exports do)")


class OnnxModel(nn.Module):
    """An ONNX graph behind the model interface the scoring loop uses (an ``nn.Module``: ``model(x) -> logits``).

    The file is data: its bytes are read once, checked (:func:`check_graph`) and handed to ONNX Runtime.

    The graph's one input takes float32, float16 or uint8 (the frame embedder's views): the wrapper
    casts the torch input to it; the one output comes back as float32.

    Args:
        path: the ``.onnx`` file.
        providers: ONNX Runtime execution providers, in order of preference (default: CPU).
        threads: intra-op threads (0: ONNX Runtime's default, one per physical core).
    """

    def __init__(self, path: str | Path, providers: list[str] | None = None, threads: int = 0) -> None:
        super().__init__()
        _, ort = require_onnx()
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise LsvitError(f"{path}: not a readable ONNX file ({exc.strerror or exc})") from exc
        check_graph(data, path)  # before ONNX Runtime parses it: standard operators and the file's own weights only
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(data, opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # ORT's own error types: a corrupt file, an unsupported opset, ...
            raise LsvitError(f"{path}: ONNX Runtime cannot load it ({str(exc).splitlines()[0][:300]})") from exc
        self.path = Path(path)
        inp, outp = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input_name, self.output_name = inp.name, outp.name
        self.input_dtype = {"tensor(float16)": torch.float16, "tensor(uint8)": torch.uint8}.get(inp.type,
                                                                                               torch.float32)
        # a graph exported with dynamic_batch=false takes exactly this many samples per call
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self.metadata = read_metadata(self.session.get_modelmeta().custom_metadata_map)

    @property
    def providers(self) -> list[str]:
        """The execution providers the session runs on."""
        return list(self.session.get_providers())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, ...)`` model input (any device) -> float32 output (logits ``(B, K)``) on the input's device."""
        arr = x.detach().to("cpu", self.input_dtype).contiguous()
        parts = list(arr.split(self.fixed_batch)) if self.fixed_batch else [arr]
        outs = []
        for p in parts:
            n = p.shape[0]
            if self.fixed_batch and n < self.fixed_batch:  # the last, short part: pad, then drop the padding
                p = torch.cat([p, p.new_zeros(self.fixed_batch - n, *p.shape[1:])])
            out = self.session.run([self.output_name], {self.input_name: p.numpy()})[0]
            outs.append(torch.from_numpy(out)[:n])
        return torch.cat(outs).float().to(x.device)


def onnx_providers(device: torch.device | str) -> list[str]:
    """ONNX Runtime providers for the inference device: CUDA where both torch and ONNX Runtime have it, else CPU."""
    import onnxruntime as ort

    if torch.device(device).type == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        print("runtime=onnx: this onnxruntime has no CUDA provider (install onnxruntime-gpu); the graph runs on "
              "the CPU, preprocessing on the GPU", file=sys.stderr)
    return ["CPUExecutionProvider"]


def load_onnx(checkpoint: str | Path, device: torch.device | str = "cpu", path: str | Path | None = None,
              threads: int = 0) -> tuple[OnnxModel, dict[str, Any]]:
    """The exported graph of a ``best/`` folder, checked against it, and the checkpoint's ``meta``.

    Args:
        checkpoint: the ``best/`` folder (its ``meta.json`` drives the readers and transforms).
        device: the inference device (chooses the provider).
        path: the ``.onnx`` file (default ``<checkpoint>/model.onnx``).

    Raises:
        LsvitError: no such file (with the export command), or a graph exported from other weights,
            classes or input settings than the checkpoint holds.
    """
    require_onnx()
    meta = read_meta(checkpoint)
    path = Path(path) if path else Path(checkpoint) / ONNX_FILE
    if not path.is_file():
        raise LsvitError(f"runtime=onnx: {path} does not exist; export it first: "
                         f"python tools/export.py checkpoint={checkpoint}")
    model = OnnxModel(path, onnx_providers(device), threads)
    md = model.metadata
    if md.get("class_names") != list(meta["class_names"]):
        raise LsvitError(f"{path} was exported for other classes than {checkpoint} holds; export it again")
    want = input_contract(meta).to_json(md.get("input", {}).get("dtype", "float32"))
    got = {k: v for k, v in md.get("input", {}).items() if k != "name"}
    if isinstance(got.get("type"), str):  # a graph exported under a type's earlier name ("video" for clips)
        got["type"] = canonical_type(got["type"])
    if isinstance(got.get("shape"), list) and got["shape"]:  # a fixed batch size is the graph's, not the contract's
        got["shape"] = ["batch", *got["shape"][1:]]
    if got != want:
        diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        raise LsvitError(f"{path}: its input contract differs from {checkpoint}'s in {diff}; export it again")
    if md.get("weights_sha256") != file_sha256(Path(checkpoint) / WEIGHTS):
        raise LsvitError(f"{path} was exported from other weights than {Path(checkpoint) / WEIGHTS}; export it "
                         f"again: python tools/export.py checkpoint={checkpoint}")
    return model, meta


def load_model(checkpoint: str | Path, device: torch.device | str, runtime: str = "pytorch", threads: int = 0
               ) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint's model for inference on ``runtime`` (``pytorch`` or ``onnx``) and its ``meta``.

    Args:
        threads: ONNX Runtime intra-op threads (0: its default); PyTorch's are the caller's.
    """
    if runtime not in RUNTIMES:
        raise LsvitError(f"runtime={runtime}: choose one of {RUNTIMES}")
    if runtime == "onnx":
        return load_onnx(checkpoint, device, threads=threads)
    return build_from_checkpoint(checkpoint, device)


def runtime_precision(runtime: str, mixed_precision: str) -> str:
    """The accelerator precision for ``runtime``: an ONNX graph runs in the precision it was exported in.

    Raises:
        LsvitError: ``mixed_precision=bf16|fp16`` with ``runtime=onnx`` (it would have no effect).
    """
    if runtime != "onnx":
        return mixed_precision
    if mixed_precision not in ("auto", "no"):
        raise LsvitError(f"mixed_precision={mixed_precision} does not apply to runtime=onnx: the graph runs in the "
                         "precision it was exported in (tools/export.py fp16=true for a half-precision graph)")
    return "no"
