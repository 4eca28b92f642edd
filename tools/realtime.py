"""Realtime / stream prediction with any checkpoint (window on a display, or annotated video + CSV).

`python tools/realtime.py checkpoint=outputs/<run>/best source=0` (webcam; q quits)
`python tools/realtime.py checkpoint=... source=clip.mp4 headless=true output=out.mp4` (annotated video + out.csv)
`python tools/realtime.py checkpoint=... source=clip.mp4 whole_video=true output=frames/` (one prediction, images)
`... runtime=onnx`: the checkpoint's exported graphs on ONNX Runtime (python tools/export.py checkpoint=... first)
"""

import sys

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.realtime import annotate_video, run_realtime

    if cfg.whole_video:
        r = annotate_video(cfg.checkpoint, str(cfg.source), cfg.output or "outputs/realtime/annotated.mp4",
                           cfg.device, cfg.max_frames, cfg.runtime)
        print(f"{r['label']} ({r['probability']:.3f}) over {r['frames']} frames -> {r['output']}")
        return
    r = run_realtime(cfg.checkpoint, cfg.source, int(cfg.stride), float(cfg.threshold), int(cfg.smooth), cfg.headless,
                     cfg.output, cfg.csv, cfg.max_frames, cfg.device, cfg.skip_empty, runtime=cfg.runtime,
                     mirror=bool(cfg.mirror))
    print(f"{r['frames']} frames, {r['predictions']} predictions, {r['fps']:.1f} fps; last shown: {r['last_label']}"
          + (f"; wrote {r['output']}" if r["output"] else "") + f" and {r['csv']}")
    if r["note"]:
        print(r["note"], file=sys.stderr)


if __name__ == "__main__":
    run_tool(main, "realtime")
