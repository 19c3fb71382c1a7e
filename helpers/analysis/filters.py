"""Filter visualization measures: ascent patterns against their kernels, their spectra and orientations, feature maps against the face: numbers only."""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from helpers.analysis.ascent import (
    AscentSettings,
    feature_maps,
    filter_patterns,
    response_output,
    unit_geometry,
    unit_jitter,
)
from helpers.analysis.gradients import (
    conv_layer_names,
    layer_named,
    predict_logits,
    sub_model,
)
from helpers.analysis.saliency import map_correlation
from helpers.modeling.backend import keras

ORIENTATIONS = ["horizontal", "diagonal /", "vertical", "diagonal \\"]


MID_GREY = 127.5  # pixel value taken as zero when a pattern is compared with a kernel


AGREE_MIN = 0.5  # kernel agreement (cosine) from which a pattern is said to agree with its kernel


BRIGHTNESS_DC = 0.5  # a first-layer kernel with this DC share or more is a brightness kernel


MIN_SPECTRAL_SIDE = 8  # receptive fields narrower than this (pixels) get no spectral measures


R_MIN = 0.5  # |correlation| needed to call a feature map brightness-like or edge-like
LOW_PASS = 3  # the local mean (pixels a side) whose share of a face's variance says how smooth it is


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


ORIENTED_QUANTILE = 0.95
"""A pattern is oriented when its orientation share beats this quantile of white noise's."""


def noise_orientation_baseline(shape, seed: int, samples: int = 500, quantile: float = ORIENTED_QUANTILE):
    """What orientation-free patterns score: the strongest orientation's share of power
    (spectral_stats) for `samples` white-noise images of the measured `shape` (h, w), drawn
    with `seed`; and its `quantile`, above which a pattern is called oriented. Returns
    (shares (samples,), threshold)."""
    noise = np.random.default_rng(seed).normal(size=(samples, *shape[:2]))
    top = spectral_stats(noise)[1].max(axis=1)
    return top, float(np.quantile(top, quantile))


def unit_responses(model: keras.Model, layer: str, chosen, images, batch: int = 128) -> np.ndarray:
    """The quantity filter_patterns maximizes, on real images: each chosen filter's response
    after batch normalization (response_output) at the center unit of its map, for every image
    (inference mode, `batch` images at a time): shape (images, filters)."""
    sub = sub_model(model, response_output(model, layer))
    h, w = sub.output.shape[1:3]
    out = [np.asarray(sub(images[i:i + batch], training=False), dtype=np.float32)[:, h // 2, w // 2, chosen]
           for i in range(0, len(images), batch)]
    return np.concatenate(out)


def first_kernels(model: keras.Model, layer: str, chosen) -> np.ndarray | None:
    """For the first convolution layer (the one that sees the image), the chosen filters'
    kernels, shape (k, k, F), of a single-channel input. None for any other layer, whose inputs
    are not pixels."""
    if layer != conv_layer_names(model)[0]:
        return None
    w = layer_named(model, layer).get_weights()[0]
    if w.shape[2] != 1:
        raise ValueError(f"{layer!r} sees {w.shape[2]} input channels; expected one (gray images)")
    return w[:, :, 0, :][..., np.asarray(chosen)]


def effective_kernels(model: keras.Model, layer: str, chosen) -> np.ndarray | None:
    """first_kernels times each filter's batch-normalization scale (gamma / sqrt(variance +
    epsilon) of the layer named with "_bn" for "_conv", when there is one): the weights of the
    response that filter_patterns maximizes, with the sign batch normalization gives it. The
    input's normalization (one positive scale for all filters) is left out."""
    kernels = first_kernels(model, layer, chosen)
    if kernels is None:
        return None
    bn = layer.replace("_conv", "_bn")
    if bn == layer or bn not in [item.name for item in model.layers]:
        return kernels
    norm = model.get_layer(bn)
    gamma = norm.gamma.numpy() if norm.scale else np.ones(norm.moving_variance.shape)
    scale = gamma / np.sqrt(norm.moving_variance.numpy() + norm.epsilon)
    return kernels * scale[np.asarray(chosen)]


def kernel_dc_share(model: keras.Model, layer: str, chosen):
    """For the first convolution layer, per chosen filter: |sum of the kernel's weights| /
    (sqrt(kernel size) x the weights' norm): 1 for a pure averaging (brightness) kernel, 0 for a
    zero-sum (edge or contrast) kernel. None for any other layer."""
    w = first_kernels(model, layer, chosen)
    if w is None:
        return None
    w = w.reshape(-1, w.shape[-1])
    return np.abs(w.sum(axis=0)) / (np.sqrt(len(w)) * np.maximum(np.linalg.norm(w, axis=0), 1e-12))


def kernel_agreement(kernels, patches) -> np.ndarray:
    """Cosine similarity of every kernel (k, k, K) with every pattern patch (F, k, k) whose
    pixels are measured from MID_GREY: shape (F, K). 1 when the patch is bright exactly where
    the weights are positive and dark where they are negative (in proportion), -1 for the
    inverse, about 0 for an unrelated patch; 0 for an all-gray patch or a zero kernel."""
    k = np.moveaxis(np.asarray(kernels, dtype=np.float64), -1, 0).reshape(np.shape(kernels)[-1], -1)
    p = (np.asarray(patches, dtype=np.float64) - MID_GREY).reshape(len(patches), -1)
    if p.shape[1] != k.shape[1]:
        raise ValueError(f"patches of {np.shape(patches)[1:]} pixels for kernels of "
                         f"{np.shape(kernels)[:2]}")
    norms = np.outer(np.linalg.norm(p, axis=1), np.linalg.norm(k, axis=1))
    dots = p @ k.T
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def pattern_summary(windows, start, final, faces, kernels=None, dc=None,
                    oriented_threshold: float | None = None) -> dict:
    """Measures of one layer's filter patterns, cut to the center unit's receptive field
    (windows: raw pixels (F, h, w)), with the unit's response on the starting noise and after
    the ascent (F,) and on reference faces (faces, F): how many rose and beat every face.
    For a first layer (`kernels`: effective_kernels (h, w, F)): each pattern's kernel_agreement
    with its own kernel, how many reach AGREE_MIN, and the median agreement with the other
    filters' kernels (what agreement by chance looks like); `dc` (kernel_dc_share) adds the
    median DC share and the count of brightness kernels. With `oriented_threshold` (windows at
    least MIN_SPECTRAL_SIDE wide): the median period (pixels), how many patterns have each
    orientation as their strongest, its mean share of power ("mean_selectivity") and how many
    exceed the threshold."""
    windows = np.asarray(windows, dtype=np.float64)
    face_z = (final - faces.mean(axis=0)) / np.maximum(faces.std(axis=0), 1e-12)
    summary = {
        "filters": len(windows), "median_start": float(np.median(start)),
        "median_final": float(np.median(final)), "rose": float(np.mean(final > start)),
        "beats_all_faces": float(np.mean(final > faces.max(axis=0))),
        "median_face_z": float(np.median(face_z)),
        "kernel_agreement": None, "median_agreement": None, "agreeing": None,
        "other_kernel_agreement": None, "median_dc_share": None, "brightness_kernels": None,
        "median_period_px": None, "period_px": None, "orientation_counts": None,
        "common_orientation": None, "common_orientation_filters": None,
        "mean_selectivity": None, "oriented": None,
    }
    if kernels is not None:
        cosines = kernel_agreement(kernels, windows)
        own = np.diag(cosines)
        others = cosines[~np.eye(len(own), dtype=bool)]
        summary.update({
            "kernel_agreement": own, "median_agreement": float(np.median(own)),
            "agreeing": int((own >= AGREE_MIN).sum()),
            "other_kernel_agreement": float(np.median(others)) if others.size else None})
    if dc is not None:
        summary.update({"median_dc_share": float(np.median(dc)),
                        "brightness_kernels": int((np.asarray(dc) >= BRIGHTNESS_DC).sum())})
    if oriented_threshold is not None and min(windows.shape[1:]) >= MIN_SPECTRAL_SIDE:
        frequency, shares = spectral_stats(windows)
        oriented = shares.max(axis=1) > oriented_threshold
        # Orientations are counted among the oriented patterns: an orientation-free pattern's
        # strongest direction is noise.
        counts = np.bincount(shares[oriented].argmax(axis=1), minlength=4)
        common = int(counts.argmax()) if oriented.any() else None
        period = 1 / np.maximum(frequency, 1e-12)
        summary.update({
            "median_period_px": float(np.median(period)), "period_px": period,
            "orientation_counts": dict(zip(ORIENTATIONS, counts.tolist())),
            "common_orientation": None if common is None else ORIENTATIONS[common],
            "common_orientation_filters": None if common is None else int(counts[common]),
            "mean_selectivity": float(shares.max(axis=1).mean()),
            "oriented": int(oriented.sum()),
        })
    return summary


def layer_patterns(model: keras.Model, layer: str, filters: int, steps: int, seed: int,
                   faces) -> dict:
    """filter_patterns for the first `filters` filters of `layer` (timed, default AscentSettings
    otherwise), with their pattern_summary against the reference `faces` (N, H, W, 1) on the
    center unit's receptive field. Windows of at least MIN_SPECTRAL_SIDE pixels get the
    orientation measures, against white noise of the window's size (noise_orientation_baseline,
    seed + 1). A dict with "layer", "total" (the layer's filters), "chosen", "images" (raw
    patterns, whole images), "window" (top, bottom, left, right), "field" (the receptive field,
    pixels), "jitter" (pixels, as unit_jitter caps it), "kernels" (effective_kernels or None),
    "noise_selectivity" and "oriented_threshold" (None without spectra), "start", "final",
    "seconds" and the summary."""
    total = model.get_layer(layer).output.shape[-1]
    chosen = np.arange(min(filters, total))
    geometry = unit_geometry(model, layer)
    started = time.perf_counter()
    images, start, final = filter_patterns(model, layer, chosen, steps=steps, seed=seed)
    seconds = time.perf_counter() - started
    top, bottom, left, right = window = geometry.window(images.shape[1:])
    windows = images[:, top:bottom, left:right]
    noise_selectivity = threshold = None
    if min(windows.shape[1:]) >= MIN_SPECTRAL_SIDE:
        noise, threshold = noise_orientation_baseline(windows.shape[1:], seed + 1)
        noise_selectivity = float(noise.mean())
    kernels = effective_kernels(model, layer, chosen)
    return {"layer": layer, "total": total, "chosen": chosen, "images": images, "window": window,
            "field": geometry.field, "jitter": unit_jitter(AscentSettings.jitter, geometry),
            "kernels": kernels, "noise_selectivity": noise_selectivity,
            "oriented_threshold": threshold, "start": start, "final": final, "seconds": seconds,
            **pattern_summary(windows, start, final, unit_responses(model, layer, chosen, faces),
                              kernels, kernel_dc_share(model, layer, chosen), threshold)}


def align_to_map(a, offset: int, jump: int, shape) -> np.ndarray:
    """The part of an (H, W) image that a feature map of `shape` (h, w) covers, each unit's
    `jump` x `jump` pixels averaged: rows and columns offset .. offset + h * jump (see
    UnitGeometry.offset; for a map behind the model's center crop, the crop). ValueError
    when the map reaches past the image."""
    a = np.asarray(a, dtype=np.float64)
    h, w = shape
    if offset < 0 or offset + h * jump > a.shape[0] or offset + w * jump > a.shape[1]:
        raise ValueError(f"a {h}x{w} map with {jump}-pixel units from pixel {offset} does not "
                         f"fit an image of {a.shape}")
    part = a[offset:offset + h * jump, offset:offset + w * jump]
    return part.reshape(h, jump, w, jump).mean(axis=(1, 3))


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
    or neither (|r| >= r_min with the image's Sobel gradients or brightness, whichever is
    larger, each cut to the pixels the map covers and averaged down to its size by
    align_to_map: a model that center-crops its input is compared with the same crop), with
    the mean |r| of each. "face_pixels": the first and last row (and column) compared."""
    maps = feature_maps(model, layer, image)[..., chosen]
    relu = layer.replace("_conv", "_relu")
    if relu in [item.name for item in model.layers]:
        zero = float((feature_maps(model, relu, image)[..., chosen] <= 0).mean())
    else:  # no ReLU of that name: count the non-positive outputs
        zero = float((maps <= 0).mean())
    geometry = unit_geometry(model, layer)
    gray = image[..., 0].astype(np.float64)
    refs = [align_to_map(a, geometry.offset, geometry.jump, maps.shape[:2])
            for a in (gray, ndimage.sobel(gray, axis=1), ndimage.sobel(gray, axis=0))]
    r = abs_correlations(maps, refs)
    brightness, edges = r[:, 0], r[:, 1:].max(axis=1)
    edge_like = (edges >= r_min) & (edges > brightness)
    bright_like = (brightness >= r_min) & (brightness >= edges)
    covers = [geometry.offset, geometry.offset + maps.shape[0] * geometry.jump - 1]
    dc = kernel_dc_share(model, layer, chosen)  # first layer only: why brightness-like maps outnumber brightness kernels
    kernels = ({} if dc is None or not bright_like.any() else
               {"bright_map_dc": [float(np.min(dc[bright_like])), float(np.median(dc[bright_like])),
                                  float(np.max(dc[bright_like]))],
                "dc_r_correlation": _correlation(dc, brightness),
                "face_low_share": float(ndimage.uniform_filter(gray, LOW_PASS).var() / max(gray.var(), 1e-12)),
                "low_pass": LOW_PASS})
    return {**kernels, "maps": maps, "size": f"{maps.shape[0]}x{maps.shape[1]}", "face_pixels": covers,
            "zero_after_relu": zero, "edge_like": int(edge_like.sum()),
            "brightness_like": int(bright_like.sum()),
            "neither": int((~edge_like & ~bright_like).sum()), "filters": len(chosen), "r_min": r_min,
            "mean_r_brightness": float(brightness.mean()), "mean_r_edges": float(edges.mean()),
            "constant_maps": int((maps.reshape(-1, maps.shape[-1]).std(axis=0) == 0).sum())}


def _correlation(a, b) -> float | None:
    """Pearson's r of two vectors; None for fewer than three values or a constant one."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(map_correlation(a[None], b[None])[0])


def pick_face(model: keras.Model, images, labels, seed: int) -> dict:
    """One face of `images` drawn with `seed` and the model's prediction for it:
    {"face": index, "true", "predicted", "probability"} (classes as indices)."""
    face = int(np.random.default_rng(seed).integers(len(labels)))
    logits = predict_logits(model, images[face][None])[0].astype(np.float64)
    proba = np.exp(logits - logits.max())
    proba /= proba.sum()
    return {"face": face, "true": int(labels[face]), "predicted": int(proba.argmax()),
            "probability": float(proba.max())}


def training_seed(config: dict) -> int:
    """The global seed a run's `config` trained with (training.seed; 42 when unset, as
    helpers.modeling.engine)."""
    return config.get("training", {}).get("seed", 42)


def starting_model(config: dict) -> keras.Model:
    """The CNN of a run's `config` as its training began: the same architecture built after the
    same global seed (training.seed), as helpers.modeling.engine does before the first step.
    Sets Keras's global random seed."""
    from helpers.modeling.models import build_cnn

    if config.get("model", "cnn") != "cnn" or "cnn" not in config:
        raise ValueError("starting_model rebuilds CNN runs only")
    seed = training_seed(config)
    keras.utils.set_random_seed(seed)
    return build_cnn(**config["cnn"], normalization=config.get("normalization"),
                     augmentation=config.get("augmentation"), seed=seed)


def kernel_change(model: keras.Model, start: keras.Model, layers) -> dict:
    """How far training turned each convolution kernel from its starting value: per layer the
    cosine of every filter's trained kernel (all its input channels) with its kernel in `start`
    (starting_model's), as {"median", "min", "filters"}; 1 means unchanged in direction. For the
    first layer also the median kernel_dc_share trained and at the start ("dc_median",
    "dc_median_start"): a turn that is small overall can still take out a kernel's averaging part."""
    out = {}
    for layer in layers:
        trained = model.get_layer(layer).get_weights()[0]
        initial = start.get_layer(layer).get_weights()[0]
        if trained.shape != initial.shape:
            raise ValueError(f"layer {layer!r}: kernels {trained.shape} and {initial.shape} differ")
        a, b = trained.reshape(-1, trained.shape[-1]), initial.reshape(-1, initial.shape[-1])
        cosine = (a * b).sum(axis=0) / np.maximum(np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0), 1e-12)
        out[layer] = {"median": float(np.median(cosine)), "min": float(cosine.min()),
                      "filters": int(len(cosine))}
        every = range(trained.shape[-1])
        dc, dc_start = kernel_dc_share(model, layer, every), kernel_dc_share(start, layer, every)
        if dc is not None:
            out[layer] |= {"dc_median": float(np.median(dc)), "dc_median_start": float(np.median(dc_start))}
    return out
