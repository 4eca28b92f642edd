"""MediaPipe keypoints of a folder of videos -> one keypoint HDF5 file (resumable, parallel).

`python tools/extract_keypoints.py root=/path/to/videos out=datasets/kp.h5 mode=hands [num_workers=2] [roi=hog]`
"""

import hydra
from omegaconf import DictConfig

from lsvit.cli import guarded


@hydra.main(config_path="../configs", config_name="extract_keypoints", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from lsvit.features.keypoints import ExtractionSettings, extract_folder

    def run() -> None:
        settings = ExtractionSettings(
            mode=cfg.mode, face=bool(cfg.face), visibility=bool(cfg.visibility), roi=cfg.roi,
            roi_margin=float(cfg.roi_margin), yolo_weights=cfg.yolo_weights,
            min_detection_confidence=float(cfg.min_detection_confidence),
            min_tracking_confidence=float(cfg.min_tracking_confidence), model_complexity=int(cfg.model_complexity),
            swap_handedness=bool(cfg.swap_handedness), max_frames=cfg.max_frames)
        rep = extract_folder(cfg.root, cfg.out, settings, int(cfg.num_workers), bool(cfg.labelled), cfg.max_videos)
        rates = list(rep.detection_rates.values())
        mean = f", frames with detections {sum(rates) / len(rates):.1%} on average" if rates else ""
        print(f"{rep.done} video(s) extracted in this run{mean}; {len(rep.skipped)} skipped; "
              + (f"wrote {rep.output}" if rep.finished else "rerun the same command to continue"))

    guarded(run)


if __name__ == "__main__":
    main()
