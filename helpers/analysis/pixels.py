"""Pixel statistics of faces: contrast."""

from __future__ import annotations

import numpy as np

LOW_CONTRAST = 10  # a face whose pixels vary less than this (standard deviation) is nearly flat


def face_contrast(images, dtype=np.float32) -> np.ndarray:
    """Each image's contrast: the standard deviation of its pixels, computed in `dtype`."""
    images = np.asarray(images, dtype=dtype)
    return images.reshape(len(images), -1).std(axis=1)


def contrast_examples(contrast, count: int = 6) -> np.ndarray:
    """Indices of `count` faces spread from low to high `contrast` (face_contrast), from the
    5th to the 95th percentile."""
    ranks = np.linspace(len(contrast) * 0.05, len(contrast) * 0.95, count).astype(int)
    return np.argsort(contrast)[ranks]


def median_contrast(images) -> float:
    """The median of face_contrast over `images`, in float64."""
    return float(np.median(face_contrast(images, np.float64)))
