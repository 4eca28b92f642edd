"""Performance figures side by side: loading, train steps (LS-ViT / frame-average / TimeSformer), FLOPs, inference.

`python tools/benchmark.py [--size default|smoke|gpu] [--compile] [--only deploy ...]
[--json outputs/benchmark/benchmark.json]`
Prints a table with PASS/FAIL against the performance targets and writes the same figures as JSON.
"""

import argparse

import lsvit
from lsvit.cli import guarded

if __name__ == "__main__":
    lsvit.setup()  # the families' sections and deployment cases come from the registered input types
    import torch

    from lsvit.bench import run_benchmark, section_names

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("default", "smoke", "gpu"), default="default")
    ap.add_argument("--json", default="outputs/benchmark/benchmark.json")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--peak-tflops", type=float, default=790.0 if torch.cuda.is_available() else None,
                    help="dense bf16 peak of the GPU, for MFU (H100/H200: ~790 measured)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd train steps (minutes on CPU)")
    ap.add_argument("--workers", type=int, default=None, help="loader workers for the data-path section")
    ap.add_argument("--only", nargs="+", choices=section_names(), help="run just these sections (default: all)")
    a = ap.parse_args()
    report = guarded(run_benchmark, a.size, a.json, a.device, a.peak_tflops, a.compile, a.workers, a.only)
    print(report.text())
    print(f"wrote {a.json}")
