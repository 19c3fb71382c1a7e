"""What convolution filters respond to: measures of the patterns that gradient ascent finds for
them (helpers.ascent.filter_patterns) and of their feature maps on one face.

Patterns are measured on their centre (BORDER pixels along each edge are left out: the
convolutions' zero padding distorts them). A pattern whose centre varies less than UNIFORM_STD
display grey levels is *uniform* (the filter is best excited by an evenly dark or bright image);
the others are *textured*, and spectral_stats gives their typical spatial frequency and how their
spectral power splits between four stripe orientations. White noise of the same size tells how
large the strongest orientation's share is by chance (noise_orientation_baseline).

Feature maps are compared with the face's brightness and its horizontal and vertical Sobel
gradients (map_summary): a map is brightness-like or edge-like when its |Pearson r| with one of
them reaches R_MIN.

Pattern and map summaries are plain dicts (the notebooks print them and write them to
results.json); figures are matplotlib Figure objects made without pyplot.
"""

from __future__ import annotations

import time

from helpers.backend import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import ndimage

from helpers.ascent import feature_maps, filter_patterns
from helpers.gradients import _layer, _submodel, conv_layer_names
from helpers.notebook import fmt, pct
from helpers.plots import plot_grid
from helpers.saliency import map_correlation

ORIENTATIONS = ["horizontal", "diagonal /", "vertical", "diagonal \\"]
BORDER = 4  # pixels along the edges left out of the pattern measures (zero padding distorts them)
UNIFORM_STD = 5.0  # a pattern whose centre varies less than this (display grey levels) is uniform
R_MIN = 0.5  # |correlation| needed to call a feature map brightness-like or edge-like


# ----------------------------------------------------------------------------- spectra

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


# ----------------------------------------------------------------------------- patterns

def face_activations(model: keras.Model, layer: str, chosen, images,
                     batch: int = 128) -> np.ndarray:
    """Mean activation of each chosen filter of `layer` over its feature map, for every image
    (inference mode, `batch` images at a time): shape (images, filters)."""
    sub = _submodel(model, _layer(model, layer).output)
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


def pattern_table(items, reference_faces: int) -> pd.DataFrame:
    """One column per (label, layer_patterns dict) of `items`, one row per measure."""
    return pd.DataFrame([{
        "layer": label, "filters shown": f"{p['filters']} of {p['total']}",
        "median activation start -> final": f"{p['median_start']:.3g} -> {p['median_final']:.3g}",
        "activation rose": pct(p["rose"], 0),
        f"above every one of {reference_faces} faces": pct(p["beats_all_faces"], 0),
        "uniform patterns (dark / bright)": _uniform_counts(p),
        "kernel DC share (median)": fmt(p["median_dc_share"], ".2f", "(not the first layer)"),
        "median period of textured patterns (px)": fmt(p["median_period_px"]),
        "most common orientation": (f"{p['common_orientation']} ({p['common_orientation_filters']})"
                                    if p["textured"] else "n/a"),
        "power in the strongest orientation (mean)": _selectivity(p),
        "oriented patterns": f"{p['oriented']} of {p['textured']} textured",
        "seconds": f"{p['seconds']:.0f}",
    } for label, p in items]).set_index("layer").T.rename_axis("measure").reset_index()


def _uniform_counts(p: dict) -> str:
    return f"{p['uniform']} ({p['uniform_dark']} / {p['uniform_bright']})"


def _selectivity(p: dict) -> str:
    return pct(p["mean_selectivity"], 0) if p["textured"] else "n/a"


def pattern_sentences(layer: str, p: dict, reference_faces: int,
                      noise_selectivity: float) -> list[str]:
    """The report's bullet on one layer's patterns (layer_patterns dict `p`), as Markdown
    lines: activation gain, uniform patterns, textured ones' orientation against white noise's
    mean strongest-orientation share `noise_selectivity`."""
    out = [f"- `{layer}`: gradient ascent raised the mean activation of {pct(p['rose'], 0)} of "
           f"the shown filters (median {p['median_start']:.3g} -> {p['median_final']:.3g}); for "
           f"{pct(p['beats_all_faces'], 0)} the pattern excites the filter more than any of "
           f"{reference_faces} validation faces does (median: {p['median_face_z']:.1f} standard "
           "deviations above the filter's mean activation on those faces)."]
    if p["uniform"]:
        dc = p["median_dc_share"]
        out.append(f"  {p['uniform']} of {p['filters']} patterns are uniform "
                   f"({p['uniform_dark']} dark, {p['uniform_bright']} bright): under this "
                   "blurred, clipped ascent, these filters' mean activation grows most by "
                   "darkening or brightening the whole image (through the sum of their weights), "
                   "not through a spatial pattern"
                   + (f"; the layer's kernels have a median DC share of {dc:.2f}."
                      if dc is not None else "."))
    if p["textured"]:
        out.append(f"  {p['oriented']} of the {p['textured']} textured patterns are oriented; the "
                   f"most common orientation is {p['common_orientation']} "
                   f"({p['common_orientation_filters']} patterns), and the strongest orientation "
                   f"holds {pct(p['mean_selectivity'], 0)} of a pattern's power on average "
                   f"(white noise: {pct(noise_selectivity, 0)}).")
    return out


def pattern_record(p: dict) -> dict:
    """A layer_patterns dict for results.json: activations, summary measures and seconds,
    without the images."""
    keys = ["filters", "median_start", "median_final", "rose", "beats_all_faces", "median_face_z",
            "uniform", "uniform_dark", "uniform_bright", "textured", "median_dc_share",
            "median_period_px", "period_px", "orientation_counts", "common_orientation",
            "mean_selectivity", "oriented", "seconds"]
    return {"total_filters": p["total"], "start_activation": p["start"],
            "final_activation": p["final"], **{k: p[k] for k in keys}}


def comparison_record(p: dict, maps: dict) -> dict:
    """The measures of a layer_patterns dict and its map_summary compared between the main
    and the weak model in results.json (no images, no per-filter values)."""
    keys = ["median_start", "median_final", "rose", "beats_all_faces", "uniform", "uniform_dark",
            "uniform_bright", "median_dc_share", "textured", "median_period_px",
            "orientation_counts", "mean_selectivity", "oriented"]
    return {**{k: p[k] for k in keys}, "feature_maps": map_record(maps)}


def kernel_figure(model: keras.Model, layer: str, chosen) -> Figure:
    """The chosen filters' kernels of `layer` (first input channel) on a shared red-blue
    scale, titled with their kernel_dc_share."""
    kernels = model.get_layer(layer).get_weights()[0][:, :, 0, chosen]
    dc = kernel_dc_share(model, layer, chosen)
    limit = float(np.abs(kernels).max())
    return plot_grid(np.moveaxis(kernels, -1, 0),
                     titles=[f"{i}: DC {d:.2f}" for i, d in zip(chosen, dc)],
                     ncols=8, cell_size=1.05, cmap="RdBu_r", vmin=-limit, vmax=limit,
                     suptitle=f"{layer}: the 3x3 kernels (red: positive, blue: negative weights; "
                              "title: DC share)")


def side_by_side_patterns(left: dict, right: dict, left_title: str, right_title: str,
                          columns: int = 4) -> Figure:
    """Two layer_patterns dicts' patterns as two grids of up to `columns` columns side by side
    (each pattern titled with its filter number)."""
    ncols = min(columns, len(left["images"]))
    nrows = int(np.ceil(len(left["images"]) / ncols))
    fig = Figure(figsize=(2 * 1.05 * ncols + 0.6, 1.15 * nrows + 0.7), layout="constrained")
    subfigs = fig.subfigures(1, 2, wspace=0.06)
    for subfig, p, title in zip(subfigs, (left, right), (left_title, right_title)):
        _grid_into(subfig, p, title, columns)
    return fig


def _grid_into(subfig, p: dict, title: str, columns: int) -> None:
    ncols = min(columns, len(p["images"]))
    nrows = int(np.ceil(len(p["images"]) / ncols))
    for k, (pattern, i) in enumerate(zip(p["images"], p["chosen"])):
        ax = subfig.add_subplot(nrows, ncols, k + 1)
        ax.imshow(pattern, cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=7)
    subfig.suptitle(title, fontsize=10)


def first_layer_rows(main: dict, weak: dict, main_maps: dict, weak_maps: dict, reference_faces: int,
                     oriented_threshold: float, face: int) -> list[tuple]:
    """Rows (measure, main, weak) comparing two models' first-layer layer_patterns dicts and
    map_summary dicts, for the report's main-against-weak table."""
    pair, maps = (main, weak), (main_maps, weak_maps)
    return [
        ("patterns whose activation rose", *(pct(p["rose"], 0) for p in pair)),
        (f"patterns above every one of {reference_faces} faces",
         *(pct(p["beats_all_faces"], 0) for p in pair)),
        ("uniform patterns (dark / bright)", *(_uniform_counts(p) for p in pair)),
        ("kernel DC share (median)", *(fmt(p["median_dc_share"], ".2f") for p in pair)),
        ("median period of textured patterns (px)", *(fmt(p["median_period_px"]) for p in pair)),
        ("power in the strongest orientation (mean)", *(_selectivity(p) for p in pair)),
        (f"oriented patterns (above {pct(oriented_threshold, 0)})",
         *(f"{p['oriented']} of {p['textured']} textured" for p in pair)),
        (f"edge-like feature maps, face {face}",
         *(f"{s['edge_like']} of {s['filters']}" for s in maps)),
        (f"brightness-like feature maps, face {face}",
         *(f"{s['brightness_like']} of {s['filters']}" for s in maps)),
        ("zero after ReLU", *(pct(s["zero_after_relu"]) for s in maps)),
    ]


# ----------------------------------------------------------------------------- feature maps

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


def map_record(summary: dict) -> dict:
    """A map_summary for results.json: everything but the maps themselves."""
    return {k: v for k, v in summary.items() if k != "maps"}


def feature_map_table(maps: dict, r_min: float = R_MIN) -> pd.DataFrame:
    """One column per layer of `maps` ({layer: map_summary}), one row per measure."""
    return pd.DataFrame([{
        "layer": layer, "map size": s["size"], "filters": s["filters"],
        "zero after ReLU": pct(s["zero_after_relu"]),
        f"edge-like maps (r >= {r_min:g})": s["edge_like"],
        f"brightness-like maps (r >= {r_min:g})": s["brightness_like"],
        "neither": s["neither"], "mean r with brightness": f"{s['mean_r_brightness']:.2f}",
        "mean r with edges": f"{s['mean_r_edges']:.2f}",
    } for layer, s in maps.items()]).set_index("layer").T.rename_axis("measure").reset_index()


def face_figure(image, title: str) -> Figure:
    """One face (H, W, 1) in 0..255, small, titled."""
    fig = Figure(figsize=(1.9, 2.2))
    ax = fig.add_subplot()
    ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    ax.set(xticks=[], yticks=[], title=title)
    ax.title.set_fontsize(8)
    fig.tight_layout()
    return fig
