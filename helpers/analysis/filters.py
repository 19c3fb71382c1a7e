"""Filter visualization measures: ascent patterns' spectra and orientations, feature maps against the face: numbers only."""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from helpers.analysis.ascent import feature_maps, filter_patterns
from helpers.analysis.gradients import (
    conv_layer_names,
    layer_named,
    predict_logits,
    sub_model,
)
from helpers.analysis.saliency import map_correlation
from helpers.modeling.backend import keras

ORIENTATIONS = ["horizontal", "diagonal /", "vertical", "diagonal \\"]


BORDER = 4  # pixels along the edges left out of the pattern measures (zero padding distorts them)


UNIFORM_STD = 5.0  # a pattern whose centre varies less than this (display grey levels) is uniform


R_MIN = 0.5  # |correlation| needed to call a feature map brightness-like or edge-like


def spectral_stats(images):
    """Per image (N, H, W): the power-weighted mean spatial frequency (cycles per pixel) and the
    share of spectral power in the four orientations of ORIENTATIONS, shape (N, 4).

    The mean is removed and a Hann window applied first. Orientation is that of the stripes or
    edges (perpendicular to the frequency vector), binned to the nearest multiple of 45 degrees;
    only frequencies in the disk of radius 0.5 count, so that the four bins cover equal areas
    and their shares add up to 1. A constant image has frequency 0 and no share anywhere."""
    x = np.asarray(images, dtype=np.float64)
    _, h, w = x.shape
    x = (x - x.mean(axis=(1, 2), keepdims=True)) * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(x)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    radius = np.hypot(fy, fx)
    # The frequency vector points across the stripes (rows grow downwards): turn it by 90 degrees.
    stripes = (np.degrees(np.arctan2(-fy, fx)) + 90.0) % 180.0
    bins = np.round(stripes / 45.0).astype(int) % 4
    keep = (radius > 0) & (radius <= 0.5)  # a disk, so that the four orientations cover equal areas
    total = np.maximum(power[:, keep].sum(axis=1), 1e-12)
    frequency = (power[:, keep] * radius[keep]).sum(axis=1) / total
    shares = np.stack([power[:, keep & (bins == b)].sum(axis=1) / total for b in range(4)], axis=1)
    return frequency, shares


def noise_orientation_baseline(image_shape, seed: int, samples: int = 500,
                               quantile: float = 0.95, border: int = BORDER):
    """What orientation-free patterns score: the strongest orientation's share of power
    (spectral_stats) for `samples` white-noise images of the measured size (image_shape less
    `border` on each side), drawn with `seed`; and its `quantile`, above which a pattern is
    called oriented. Returns (shares (samples,), threshold)."""
    core = (image_shape[0] - 2 * border, image_shape[1] - 2 * border)
    top = spectral_stats(np.random.default_rng(seed).normal(size=(samples, *core)))[1].max(axis=1)
    return top, float(np.quantile(top, quantile))


def face_activations(model: keras.Model, layer: str, chosen, images,
                     batch: int = 128) -> np.ndarray:
    """Mean activation of each chosen filter of `layer` over its feature map, for every image
    (inference mode, `batch` images at a time): shape (images, filters)."""
    sub = sub_model(model, layer_named(model, layer).output)
    out = [np.asarray(sub(images[i:i + batch], training=False), dtype=np.float32)[..., chosen]
           .mean(axis=(1, 2)) for i in range(0, len(images), batch)]
    return np.concatenate(out)


def kernel_dc_share(model: keras.Model, layer: str, chosen):
    """For the first convolution layer (the one that sees the image), per chosen filter:
    |sum of the kernel's weights| / (sqrt(kernel size) x the weights' norm): 1 for a pure
    averaging (brightness) kernel, 0 for a zero-sum (edge or contrast) kernel. None for any
    other layer, whose inputs are not pixels."""
    if layer != conv_layer_names(model)[0]:
        return None
    w = model.get_layer(layer).get_weights()[0][..., chosen]
    w = w.reshape(-1, w.shape[-1])
    return np.abs(w.sum(axis=0)) / (np.sqrt(len(w)) * np.maximum(np.linalg.norm(w, axis=0), 1e-12))


def pattern_summary(images, start, final, faces, oriented_threshold: float, dc=None,
                    border: int = BORDER, uniform_std: float = UNIFORM_STD) -> dict:
    """Measures of one layer's filter patterns (uint8 (F, H, W), as from filter_patterns) with
    their activations on the starting noise and after the ascent (F,) and on reference faces
    (faces, F): how many rose and beat every face; how many are uniform (dark or bright) or
    textured; for the textured ones the median period (pixels), how many have each orientation
    as their strongest, its mean share of power ("mean_selectivity") and how many exceed
    `oriented_threshold`. `dc` (kernel_dc_share) adds the median DC share."""
    h, w = images.shape[1:3]
    core = images[:, border:h - border, border:w - border].astype(np.float64)
    uniform = core.std(axis=(1, 2)) < uniform_std
    dark = uniform & (core.mean(axis=(1, 2)) < 127.5)
    face_z = (final - faces.mean(axis=0)) / np.maximum(faces.std(axis=0), 1e-12)
    summary = {
        "filters": len(images), "median_start": float(np.median(start)),
        "median_final": float(np.median(final)), "rose": float(np.mean(final > start)),
        "beats_all_faces": float(np.mean(final > faces.max(axis=0))),
        "median_face_z": float(np.median(face_z)),
        "uniform": int(uniform.sum()), "uniform_dark": int(dark.sum()),
        "uniform_bright": int((uniform & ~dark).sum()), "textured": int((~uniform).sum()),
        "median_dc_share": None if dc is None else float(np.median(dc)),
        "median_period_px": None, "period_px": [],
        "orientation_counts": dict.fromkeys(ORIENTATIONS, 0), "common_orientation": None,
        "common_orientation_filters": 0, "mean_selectivity": None, "oriented": 0,
    }
    if (~uniform).any():
        frequency, shares = spectral_stats(core[~uniform])
        counts = np.bincount(shares.argmax(axis=1), minlength=4)
        common = int(counts.argmax())
        summary.update({
            "median_period_px": float(np.median(1 / frequency)), "period_px": 1 / frequency,
            "orientation_counts": dict(zip(ORIENTATIONS, counts.tolist())),
            "common_orientation": ORIENTATIONS[common],
            "common_orientation_filters": int(counts[common]),
            "mean_selectivity": float(shares.max(axis=1).mean()),
            "oriented": int((shares.max(axis=1) > oriented_threshold).sum()),
        })
    return summary


def layer_patterns(model: keras.Model, layer: str, filters: int, steps: int, seed: int,
                   faces, oriented_threshold: float) -> dict:
    """filter_patterns for the first `filters` filters of `layer` (timed), with their
    pattern_summary against the reference `faces` (N, H, W, 1): a dict with "layer", "total"
    (the layer's filters), "chosen", "images", "start", "final", "seconds" and the summary."""
    total = model.get_layer(layer).output.shape[-1]
    chosen = np.arange(min(filters, total))
    started = time.perf_counter()
    images, start, final = filter_patterns(model, layer, chosen, steps=steps, seed=seed)
    seconds = time.perf_counter() - started
    return {"layer": layer, "total": total, "chosen": chosen, "images": images, "start": start,
            "final": final, "seconds": seconds,
            **pattern_summary(images, start, final, face_activations(model, layer, chosen, faces),
                              oriented_threshold, kernel_dc_share(model, layer, chosen))}


def downsample(a, shape) -> np.ndarray:
    """Average an (H, W) image down to `shape` by whole blocks (H // h by W // w pixels;
    trailing rows or columns that fill no block are dropped)."""
    a = np.asarray(a)
    fy, fx = a.shape[0] // shape[0], a.shape[1] // shape[1]
    return a[:fy * shape[0], :fx * shape[1]].reshape(shape[0], fy, shape[1], fx).mean(axis=(1, 3))


def abs_correlations(maps, references) -> np.ndarray:
    """|Pearson r| of each feature map of `maps` (h, w, F) with each reference image (h, w):
    shape (F, references); a constant map or reference gives 0."""
    per_filter = np.moveaxis(np.asarray(maps), -1, 0)
    return np.stack([np.abs(map_correlation(per_filter, np.broadcast_to(ref, per_filter.shape)))
                     for ref in references], axis=1)


def map_summary(model: keras.Model, layer: str, chosen, image, r_min: float = R_MIN) -> dict:
    """The chosen filters' feature maps of `layer` for one image (H, W, 1) and what they follow:
    the share of positions the layer's ReLU (the layer named with "_relu" for "_conv", else
    the non-positive outputs) sets to zero, and how many maps are edge-like, brightness-like
    or neither (|r| >= r_min with the image's Sobel gradients or brightness, averaged down to
    the map's size, whichever is larger), with the mean |r| of each."""
    maps = feature_maps(model, layer, image)[..., chosen]
    relu = layer.replace("_conv", "_relu")
    if relu in [item.name for item in model.layers]:
        zero = float((feature_maps(model, relu, image)[..., chosen] <= 0).mean())
    else:  # no ReLU of that name: count the non-positive outputs
        zero = float((maps <= 0).mean())
    grey = image[..., 0].astype(np.float64)
    refs = [downsample(a, maps.shape[:2])
            for a in (grey, ndimage.sobel(grey, axis=1), ndimage.sobel(grey, axis=0))]
    r = abs_correlations(maps, refs)
    brightness, edges = r[:, 0], r[:, 1:].max(axis=1)
    edge_like = (edges >= r_min) & (edges > brightness)
    bright_like = (brightness >= r_min) & (brightness >= edges)
    return {"maps": maps, "size": f"{maps.shape[0]}x{maps.shape[1]}", "zero_after_relu": zero,
            "edge_like": int(edge_like.sum()), "brightness_like": int(bright_like.sum()),
            "neither": int((~edge_like & ~bright_like).sum()), "filters": len(chosen),
            "mean_r_brightness": float(brightness.mean()), "mean_r_edges": float(edges.mean()),
            "constant_maps": int((maps.reshape(-1, maps.shape[-1]).std(axis=0) == 0).sum())}


def pick_face(model: keras.Model, images, labels, seed: int) -> dict:
    """One face of `images` drawn with `seed` and the model's prediction for it:
    {"face": index, "true", "predicted", "probability"} (classes as indices)."""
    face = int(np.random.default_rng(seed).integers(len(labels)))
    logits = predict_logits(model, images[face][None])[0].astype(np.float64)
    proba = np.exp(logits - logits.max())
    proba /= proba.sum()
    return {"face": face, "true": int(labels[face]), "predicted": int(proba.argmax()),
            "probability": float(proba.max())}
