"""Image preprocessing outside the model: histogram equalization and array shaping."""

from __future__ import annotations

import numpy as np


def equalize_histogram(images: np.ndarray) -> np.ndarray:
    """Per-image histogram equalization of uint8 images (N, H, W) -> uint8 (N, H, W).

    Each image's gray levels are remapped through its own cumulative histogram so that they
    spread over 0..255; a constant image stays constant.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"equalize_histogram expects uint8 images, got {images.dtype}")
    squeeze = images.ndim == 2
    batch = images[None] if squeeze else images
    n = len(batch)
    if n == 0:
        return images.copy()
    flat = batch.reshape(n, -1).astype(np.int64)
    # One bincount over all images at once: image i uses bins i*256 .. i*256+255.
    counts = np.bincount((flat + 256 * np.arange(n)[:, None]).ravel(), minlength=256 * n)
    cdf = counts.reshape(n, 256).cumsum(axis=1)
    cdf_min = np.where(counts.reshape(n, 256) > 0, cdf, cdf[:, -1:]).min(axis=1, keepdims=True)
    total = cdf[:, -1:]
    span = np.maximum(total - cdf_min, 1)
    lut = np.clip(np.round((cdf - cdf_min) * 255.0 / span), 0, 255).astype(np.uint8)
    constant = (total == cdf_min).ravel()
    lut[constant] = np.arange(256, dtype=np.uint8)  # nothing to spread: keep the image
    out = np.take_along_axis(lut, flat, axis=1).reshape(batch.shape)
    return out[0] if squeeze else out


def to_model_input(images: np.ndarray, hist_eq: bool = False) -> np.ndarray:
    """uint8 (N, 48, 48) -> float32 (N, 48, 48, 1) pixel values 0..255, optionally equalized.

    Scaling and standardization happen inside the models (a Normalization layer), so saved
    models take raw pixels and every notebook feeds them the same way.
    """
    if hist_eq:
        images = equalize_histogram(images)
    return np.asarray(images, dtype=np.float32)[..., None]


def pixel_stats(images: np.ndarray) -> dict:
    """Global mean and standard deviation of the pixel values (what normalization uses)."""
    values = np.asarray(images)
    return {"mean": float(values.mean(dtype=np.float64)), "std": float(values.std(dtype=np.float64))}
