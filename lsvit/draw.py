"""Drawing on frames for the realtime loop and the frame adapters: labels on a band, right/wrong colours."""

from __future__ import annotations

import cv2
import numpy as np

GREEN, RED, WHITE = (0, 200, 0), (0, 0, 255), (255, 255, 255)  # BGR


def label_color(label: str | None) -> tuple[int, int, int]:
    """Green for ``*_R`` (done right), red for ``*_W`` (done wrong), white otherwise."""
    if label and label.endswith("_R"):
        return GREEN
    if label and label.endswith("_W"):
        return RED
    return WHITE


def draw_label(image_bgr: np.ndarray, text: str, color: tuple[int, int, int], line: int = 0) -> None:
    """Text on a dark band at the top-left (``line`` counts bands downwards)."""
    scale = max(0.4, image_bgr.shape[1] / 900)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    y0 = line * (th + base + 8)
    cv2.rectangle(image_bgr, (0, y0), (tw + 10, y0 + th + base + 8), (0, 0, 0), -1)
    cv2.putText(image_bgr, text, (5, y0 + th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)
