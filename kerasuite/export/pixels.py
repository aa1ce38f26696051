"""Parity images as whole pixels: what MediaPipe Tasks and cameras give a model is uint8.

MediaPipe's image classifier takes a uint8 image, so its runtime rounds each example to whole
pixels, while Keras and the other runtimes took the arrays as given: a MobileNetV3Small's float32
file failed on MediaPipe alone (max |diff| 0.008) for a difference in its inputs, not in the file.
Numpy only: the CLI checks the scale before TensorFlow starts, the export rounds.
"""

from __future__ import annotations

import numpy as np

# Rounding to whole pixels may move the images by at most this share of their spread (RMS):
# photos spread over tens of levels and rounding moves each by under half of one, while [0, 1]
# images declared at scale 1 would lose their whole content to it.
MAX_ROUNDING_SHARE = 0.05
WHOLE = 1e-3  # pixel levels within this of an integer already are whole


def scale_problem(values: np.ndarray, scale: float) -> str | None:
    """Why ``values`` are no 0-255 pixels times ``scale``, or None when they are."""
    levels = np.asarray(values, np.float64) / scale
    if not levels.size:
        return None
    if levels.min() < -0.5 or levels.max() > 255.5:
        return f"they span {levels.min():.4g} to {levels.max():.4g} pixel levels, outside 0-255"
    change = float(np.sqrt(np.mean((levels - np.round(levels)) ** 2)))
    spread = float(levels.std())
    if change > WHOLE and change > MAX_ROUNDING_SHARE * spread:
        return (f"they span {levels.min():.4g} to {levels.max():.4g} pixel levels, so rounding them to whole "
                f"pixels (what MediaPipe and cameras give) would change them by {change / max(spread, 1e-12):.0%} "
                "of their spread")
    return None


def whole_pixels(values: np.ndarray, scale: float) -> tuple[np.ndarray | None, float]:
    """``values`` rounded to whole pixels times ``scale`` (None when they already are, or are no
    pixels at this scale), and the share of values that moved."""
    if scale_problem(values, scale) is not None:
        return None, 0.0
    levels = np.asarray(values, np.float64) / scale
    off = np.abs(levels - np.round(levels)) > WHOLE
    if not off.any():
        return None, 0.0
    return (np.round(levels) * scale).astype(np.asarray(values).dtype), float(off.mean())
