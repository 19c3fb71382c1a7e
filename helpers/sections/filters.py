"""What convolution filters respond to: measures of the patterns that gradient ascent finds for
them (helpers.analysis.ascent.filter_patterns) and of their feature maps on one face.

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

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.analysis.ascent import AscentSettings
from helpers.analysis.filters import BORDER, R_MIN, UNIFORM_STD, kernel_dc_share
from helpers.core.config import CLASS_NAMES
from helpers.core.plotting import plot_grid
from helpers.core.words import fmt, pct
from helpers.modeling.backend import keras
from helpers.core.words import scale_words


def settings_sentence(settings: AscentSettings) -> str:
    """The ascent schedule in words, for the paragraph above the filter patterns."""
    return (
        f"**Settings**: {settings.steps} ascent steps from mid-grey plus Gaussian noise (standard "
        f"deviation {settings.noise:g} grey levels); each step moves the image by "
        f"{settings.step_size:g} grey levels (root mean square) along the normalised gradient, "
        f"computed on a copy shifted by up to {settings.jitter} pixels; pixels stay in 0..255 and "
        f"every {settings.blur_every} steps a Gaussian blur of {settings.blur_sigma:g} pixel keeps the "
        "pattern smooth. Patterns are contrast-stretched for display. Title of each pattern: filter "
        "number, then its mean activation on the starting noise -> after the ascent.")


def pattern_table(items, reference_faces: int) -> pd.DataFrame:
    """One column per (label, layer_patterns dict) of `items`, one row per measure."""
    return pd.DataFrame([{
        "layer": label, "filters shown": f"{p['filters']} of {p['total']}",
        "median activation start -> final": f"{p['median_start']:.3g} -> {p['median_final']:.3g}",
        "activation rose": pct(p["rose"], 0),
        f"above every one of {reference_faces} faces": pct(p["beats_all_faces"], 0),
        "uniform patterns (dark / bright)": uniform_counts(p),
        "kernel DC share (median)": fmt(p["median_dc_share"], ".2f", "(not the first layer)"),
        "median period of textured patterns (px)": fmt(p["median_period_px"]),
        "most common orientation": (f"{p['common_orientation']} ({p['common_orientation_filters']})"
                                    if p["textured"] else "n/a"),
        "power in the strongest orientation (mean)": selectivity_words(p),
        "oriented patterns": f"{p['oriented']} of {p['textured']} textured",
        "seconds": f"{p['seconds']:.0f}",
    } for label, p in items]).set_index("layer").T.rename_axis("measure").reset_index()


def uniform_counts(p: dict) -> str:
    return f"{p['uniform']} ({p['uniform_dark']} / {p['uniform_bright']})"


def selectivity_words(p: dict) -> str:
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
            + (f"the deeper layer's patterns are {scale_words(ratio)} by a factor "
               f"{max(ratio, 1 / ratio):.2f}." if abs(ratio - 1) >= 0.05 else "about the same scale."))
    return "\n".join(lines)


def filters_record(patterns: dict, maps: dict, face: dict, *, settings, filters_per_layer: int,
                   reference_faces: int, noise_selectivity: float, oriented_threshold: float) -> dict:
    """The "filters" section's results.json section: the ascent settings (an AscentSettings), every layer's
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
