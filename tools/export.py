"""Export a trained checkpoint to ONNX, verified against PyTorch with ONNX Runtime.

`python tools/export.py checkpoint=outputs/<run>/best [format=onnx] [opset=18] [dynamic_batch=true] [fp16=false]
 [output=model.onnx] [atol=1e-4] [data_root=/path/to/videos] [embedder=null]`
Frame-embedding (BiLSTM) checkpoints also get their frame embedder as embedder.onnx (embedder=false: model only).
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.deploy.export import describe, export_onnx

    print(describe(export_onnx(cfg.checkpoint, cfg.output, cfg.opset, bool(cfg.dynamic_batch), bool(cfg.fp16),
                               cfg.atol, cfg.data_root, cfg.format, cfg.embedder)))


if __name__ == "__main__":
    run_tool(main, "export")
