"""Capture and label keypoint sequences from a webcam, a video or a stream, appended to seed 004's CSV layout.

`python tools/capture_keypoints.py source=0 label=wave out=datasets/my_keypoints/coordinates_1.csv mirror=true`
(r: record right, w: record wrong, s: stop, q: quit); headless: `... source=clip.mp4 keys=[r@10,s@40,w@55,s@90]`.
Then: `python tools/import_keypoints.py format=csv src=datasets/my_keypoints out=datasets/my_keypoints.h5`.
"""

from omegaconf import DictConfig

from lsvit.cli import run_tool


def main(cfg: DictConfig) -> None:
    from lsvit.families.keypoints.capture import capture_keypoints

    # cfg["keys"], not cfg.keys: DictConfig.keys is the mapping method
    r = capture_keypoints(cfg.source, str(cfg.label), cfg.out, cfg["keys"], bool(cfg.mirror), cfg.headless, cfg.preview,
                          cfg.max_frames, float(cfg.min_detection_confidence))
    seqs = ", ".join(f"#{n} {kind} ({rows} frames)" for n, kind, rows in r.sequences) or "none"
    print(f"{r.frames} frames; sequences written to {r.output}: {seqs}" + (f"; preview {r.preview}" if r.preview
                                                                            else ""))


if __name__ == "__main__":
    run_tool(main, "capture_keypoints")
