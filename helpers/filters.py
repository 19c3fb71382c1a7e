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
from helpers.config import CLASS_NAMES
from helpers.gradients import _layer, _submodel, conv_layer_names, predict_logits
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


def pattern_grid(p: dict, steps: int) -> Figure:
    """One layer_patterns dict's patterns, 8 a row, each titled with its filter number and its
    mean activation on the starting noise -> after `steps` ascent steps."""
    titles = [f"{i}: {s:.2g}\u2192{f:.2g}" for i, s, f in zip(p["chosen"], p["start"], p["final"])]
    return plot_grid(p["images"], titles=titles, ncols=8, cell_size=1.25,
                     suptitle=f"{p['layer']}: filters 0-{p['chosen'][-1]} of {p['total']}, "
                              f"{steps} ascent steps")


def measures_sentence(steps: int, noise_selectivity: float, oriented_threshold: float) -> str:
    """What pattern_table measures and the white-noise baseline that calls a pattern oriented."""
    return (
        f"**What the patterns measure** ({steps} ascent steps; the {BORDER} pixels along each edge, "
        "distorted by the convolutions' zero padding, are left out). A pattern whose centre varies by "
        f"less than {UNIFORM_STD:g} grey levels on the display scale is *uniform*: the filter is best "
        "excited by an evenly dark or bright image. For the first layer, the kernel DC share is "
        "|sum of the 3x3 weights| / (3 x their norm): 1 for a pure averaging (brightness) kernel, 0 "
        "for a zero-sum edge or contrast kernel. The other patterns are *textured*; for them, the "
        "period is the inverse of the power-weighted mean spatial frequency, and the orientation "
        "measure is the share of spectral power in the strongest of four orientations; white noise "
        f"averages {pct(noise_selectivity, 0)} and stays below {pct(oriented_threshold, 0)} in 95% "
        "of cases, so a pattern above that is counted as *oriented*.")


def layers_sentences(patterns: dict, reference_faces: int, noise_selectivity: float) -> str:
    """pattern_sentences for every layer of `patterns` ({layer: layer_patterns dict}, in depth
    order), then how the textured patterns' scale changes from the first layer to the last."""
    lines = [line for layer, p in patterns.items()
             for line in pattern_sentences(layer, p, reference_faces, noise_selectivity)]
    (first_layer, first), (last_layer, last) = list(patterns.items())[0], list(patterns.items())[-1]
    if len(patterns) > 1 and first["median_period_px"] and last["median_period_px"]:
        ratio = last["median_period_px"] / first["median_period_px"]
        lines.append(
            f"- Textured `{last_layer}` patterns repeat every {last['median_period_px']:.1f} pixels "
            f"(median), `{first_layer}` ones every {first['median_period_px']:.1f}: "
            + (f"the deeper layer's patterns are {_scale_words(ratio)} by a factor "
               f"{max(ratio, 1 / ratio):.2f}." if abs(ratio - 1) >= 0.05 else "about the same scale."))
    return "\n".join(lines)


def filters_record(patterns: dict, maps: dict, face: dict, *, settings, filters_per_layer: int,
                   reference_faces: int, noise_selectivity: float, oriented_threshold: float) -> dict:
    """Question 7's results.json section: the ascent settings (an AscentSettings), every layer's
    pattern_record and, for the `face` of pick_face, every layer's map_record."""
    return {"ascent_steps": settings.steps, "filters_per_layer": filters_per_layer,
            "reference_faces": reference_faces, "noise_selectivity_mean": noise_selectivity,
            "oriented_threshold": oriented_threshold, "border_px": BORDER, "uniform_std": UNIFORM_STD,
            "ascent_settings": {"step_size": settings.step_size, "blur_every": settings.blur_every,
                                "blur_sigma": settings.blur_sigma, "jitter": settings.jitter,
                                "noise": settings.noise},
            "layers": {layer: pattern_record(p) for layer, p in patterns.items()},
            "feature_maps": {**face, "r_min": R_MIN,
                             **{layer: map_record(s) for layer, s in maps.items()}}}


def comparison_record(p: dict, maps: dict) -> dict:
    """The measures of a layer_patterns dict and its map_summary compared between the main
    and the weak model in results.json (no images, no per-filter values)."""
    keys = ["filters", "median_start", "median_final", "rose", "beats_all_faces", "uniform",
            "uniform_dark", "uniform_bright", "median_dc_share", "textured", "median_period_px",
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
        plot_grid(p["images"], titles=[str(i) for i in p["chosen"]], ncols=columns, fig=subfig,
                  fontsize=7)
        subfig.suptitle(title, fontsize=10)
    return fig


def first_layer_comparison(main: dict, weak: dict, main_maps: dict, weak_maps: dict,
                           main_metrics: dict, weak_metrics: dict, *, reference_faces: int,
                           oriented_threshold: float, face: int) -> dict:
    """The weak model's first layer against the main CNN's (also its results.json section):
    their layer_patterns dicts and map_summary dicts on `face` reduced to comparison_record,
    with the runs' validation accuracy and epochs from their metrics."""
    return {"model": "ablation_none", "layer": main["layer"], "total_filters": main["total"],
            "val_accuracy": weak_metrics["val_accuracy"],
            "main_val_accuracy": main_metrics["val_accuracy"],
            "epochs": weak_metrics["epochs_run"], "main_epochs": main_metrics["epochs_run"],
            "reference_faces": reference_faces, "oriented_threshold": oriented_threshold,
            "face": face, "main": comparison_record(main, main_maps),
            "weak": comparison_record(weak, weak_maps)}


def first_layer_table(s: dict) -> pd.DataFrame:
    """first_layer_comparison as a table: one row per measure, a column per model."""
    pair = (s["main"], s["weak"])
    maps = tuple(p["feature_maps"] for p in pair)
    rows = [
        ("validation accuracy", pct(s["main_val_accuracy"]), pct(s["val_accuracy"])),
        ("epochs trained", s["main_epochs"], s["epochs"]),
        ("patterns whose activation rose", *(pct(p["rose"], 0) for p in pair)),
        (f"patterns above every one of {s['reference_faces']} faces",
         *(pct(p["beats_all_faces"], 0) for p in pair)),
        ("uniform patterns (dark / bright)", *(_uniform_counts(p) for p in pair)),
        ("kernel DC share (median)", *(fmt(p["median_dc_share"], ".2f") for p in pair)),
        ("median period of textured patterns (px)", *(fmt(p["median_period_px"]) for p in pair)),
        ("power in the strongest orientation (mean)", *(_selectivity(p) for p in pair)),
        (f"oriented patterns (above {pct(s['oriented_threshold'], 0)})",
         *(f"{p['oriented']} of {p['textured']} textured" for p in pair)),
        (f"edge-like feature maps, face {s['face']}",
         *(f"{m['edge_like']} of {m['filters']}" for m in maps)),
        (f"brightness-like feature maps, face {s['face']}",
         *(f"{m['brightness_like']} of {m['filters']}" for m in maps)),
        ("zero after ReLU", *(pct(m["zero_after_relu"]) for m in maps)),
    ]
    return pd.DataFrame(rows, columns=["measure", "main CNN", "weak model"])


def first_layer_figure(main: dict, weak: dict, s: dict, steps: int) -> Figure:
    """side_by_side_patterns of the two models' first-layer patterns, titled with their
    validation accuracy (s is their first_layer_comparison)."""
    what = f"{s['layer']}, filters 0-{main['chosen'][-1]} of {s['total_filters']}, {steps} steps"
    return side_by_side_patterns(main, weak,
                                 f"main CNN ({pct(s['main_val_accuracy'])} validation accuracy)\n{what}",
                                 f"weak model ({pct(s['val_accuracy'])} validation accuracy)\n{what}")


def _scale_words(ratio: float) -> str:
    return ("coarser" if ratio > 1 else "finer") if abs(ratio - 1) >= 0.05 else "about the same scale"


def first_layer_sentences(s: dict) -> str:
    """The bullets on first_layer_comparison: uniform patterns and DC share, the textured
    patterns' scale and orientation, and the feature maps on the face."""
    main, weak = s["main"], s["weak"]
    main_maps, weak_maps = main["feature_maps"], weak["feature_maps"]
    weak_dc, main_dc = weak["median_dc_share"], main["median_dc_share"]
    closer = ("closer to plain brightness detectors." if weak_dc > main_dc + 0.02 else
              "further from plain brightness detectors." if weak_dc < main_dc - 0.02 else
              "about as close to plain brightness detectors.")
    lines = [f"- Uniform patterns: {weak['uniform']} of the weak model's {weak['filters']} first-layer "
             f"filters against {main['uniform']} for the main CNN; median kernel DC share "
             f"{fmt(weak_dc, '.2f')} against {fmt(main_dc, '.2f')}: the weak model's kernels are "
             + closer]
    if weak["textured"] and main["textured"]:
        ratio = weak["median_period_px"] / main["median_period_px"]
        gap = weak["mean_selectivity"] - main["mean_selectivity"]
        selective = (f"{'more' if gap > 0 else 'less'} orientation-selective" if abs(gap) >= 0.01
                     else "about as orientation-selective")
        lines.append(
            f"- Textured patterns repeat every {weak['median_period_px']:.1f} pixels (median) for the "
            f"weak model against {main['median_period_px']:.1f} for the main CNN "
            f"({_scale_words(ratio)}), and are {selective}: on average "
            f"{pct(weak['mean_selectivity'], 0)} of their power lies in one orientation, against "
            f"{pct(main['mean_selectivity'], 0)}.")
    lines.append(
        f"- On face {s['face']}, {weak_maps['edge_like']} of the weak model's {weak_maps['filters']} "
        f"feature maps are edge-like and {weak_maps['brightness_like']} brightness-like (main CNN: "
        f"{main_maps['edge_like']} and {main_maps['brightness_like']}); its ReLU zeroes "
        f"{pct(weak_maps['zero_after_relu'])} of the positions (main CNN "
        f"{pct(main_maps['zero_after_relu'])}).")
    return "\n".join(lines)


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


def feature_map_grid(layer: str, s: dict, chosen, face: int) -> Figure:
    """A map_summary's feature maps, 8 a row, titled with their filter numbers."""
    return plot_grid(np.moveaxis(s["maps"], -1, 0), titles=[str(i) for i in chosen], ncols=8,
                     cell_size=1.1, cmap="viridis",
                     suptitle=f"{layer}: feature maps ({s['size']}) of filters 0-{chosen[-1]} for face {face}")


def map_sentences(maps: dict) -> str:
    """The bullets on each layer's map_summary ({layer: summary}, in depth order) and, for two
    layers or more, how the first and the last differ."""
    lines = [f"- `{layer}`: {s['edge_like']} of {s['filters']} maps follow the face's intensity "
             f"edges, {s['brightness_like']} its brightness (a smoothed or inverted copy of the "
             f"face) and {s['neither']} neither; the ReLU after the layer zeroes "
             f"{pct(s['zero_after_relu'])} of the positions." for layer, s in maps.items()]
    if len(maps) > 1:
        (first_layer, a), (last_layer, b) = list(maps.items())[0], list(maps.items())[-1]
        less = (max(b["mean_r_brightness"], b["mean_r_edges"])
                < max(a["mean_r_brightness"], a["mean_r_edges"]))
        lines.append(
            f"- From `{first_layer}` to `{last_layer}` the mean correlation with brightness goes "
            f"from {a['mean_r_brightness']:.2f} to {b['mean_r_brightness']:.2f} and with edges from "
            f"{a['mean_r_edges']:.2f} to {b['mean_r_edges']:.2f}: "
            + ("the deeper maps follow the raw image less closely" if less
               else "the deeper maps still follow the raw image at least as closely")
            + f", and the share of zeros after the ReLU goes from {pct(a['zero_after_relu'])} to "
            f"{pct(b['zero_after_relu'])}.")
    return "\n".join(lines)


def pick_face(model: keras.Model, images, labels, seed: int) -> dict:
    """One face of `images` drawn with `seed` and the model's prediction for it:
    {"face": index, "true", "predicted", "probability"} (classes as indices)."""
    face = int(np.random.default_rng(seed).integers(len(labels)))
    logits = predict_logits(model, images[face][None])[0].astype(np.float64)
    proba = np.exp(logits - logits.max())
    proba /= proba.sum()
    return {"face": face, "true": int(labels[face]), "predicted": int(proba.argmax()),
            "probability": float(proba.max())}


def face_figure(image, face: dict) -> Figure:
    """One face (H, W, 1) in 0..255, small, titled with pick_face's record of it."""
    fig = Figure(figsize=(1.9, 2.2))
    ax = fig.add_subplot()
    ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    ax.set(xticks=[], yticks=[],
           title=f"validation face {face['face']}\ntrue {CLASS_NAMES[face['true']]}, predicted\n"
                 f"{CLASS_NAMES[face['predicted']]} ({pct(face['probability'], 0)})")
    ax.title.set_fontsize(8)
    fig.tight_layout()
    return fig
