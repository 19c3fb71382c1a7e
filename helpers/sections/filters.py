"""What convolution filters respond to: measures of the patterns that gradient ascent finds for
them (helpers.analysis.ascent.filter_patterns: the response after batch normalization at the
center unit of each filter's map) and of their feature maps on one face.

Patterns are measured on the center unit's receptive field, the only pixels that can change its
response. A first-layer pattern is compared with its own 3x3 kernel (kernel agreement: the
cosine between the kernel and the pattern's patch, pixels measured from mid-gray); patterns whose
receptive field is at least MIN_SPECTRAL_SIDE pixels wide get spectral measures instead: their
typical spatial frequency and how their spectral power splits between four stripe orientations,
against white noise of the same size (noise_orientation_baseline).

Feature maps are compared with the face's brightness and its horizontal and vertical Sobel
gradients, cut to the pixels the map covers (the model's center crop) and averaged down to the
map's size (map_summary): a map is brightness-like or edge-like when its |Pearson r| with one of
them reaches R_MIN.

Pattern and map summaries are plain dicts (the notebooks print them and write them to
results.json); figures are matplotlib Figure objects made without pyplot.
"""

from __future__ import annotations


import numpy as np
from matplotlib.figure import Figure

from helpers.analysis.ascent import JITTER_SHARE, AscentSettings, to_display
from helpers.analysis.filters import (
    AGREE_MIN,
    BRIGHTNESS_DC,
    MIN_SPECTRAL_SIDE,
    R_MIN,
)
from helpers.core.config import CLASS_NAMES, KEPT_START
from helpers.core.plotting import plot_grid
from helpers.core.words import capital, filter_share, fmt, layer_words, pct, plural, scale_words, verb


def settings_sentence(settings: AscentSettings) -> str:
    """The objective and the ascent schedule in words, for the paragraph above the patterns."""
    return (
        "**Objective**: each filter's response at the center unit of its feature map, after batch "
        "normalization (its ReLU's input). "
        f"**Settings**: {settings.steps} ascent steps from mid-gray plus Gaussian noise (standard "
        f"deviation {settings.noise:g} gray levels); each step moves the image by "
        f"{settings.step_size:g} gray levels (root mean square) along the normalized gradient, "
        f"computed on a copy shifted by up to {plural(settings.jitter, 'pixel')} but at most "
        f"1/{JITTER_SHARE} of the unit's receptive field; pixels stay in 0..255 and every "
        f"{settings.blur_every} steps a Gaussian blur of {settings.blur_sigma:g} pixel damps high "
        "frequencies. Only the unit's receptive field is shown: first-layer patterns in gray levels "
        "0..255 under their kernels, deeper ones contrast-stretched.")


def cosine(value: float | None) -> str:
    """A cosine to two decimals, with no '-0.00' for a value that rounds to zero."""
    return fmt(None if value is None else round(value, 2) + 0.0, ".2f")


def kernel_words(p: dict) -> str:
    """What the kernel agreement of a first layer's patterns says, from its counts."""
    if p["agreeing"] == p["filters"]:
        return "every pattern reproduces its own kernel"
    if 2 * p["agreeing"] > p["filters"]:
        return "most patterns reproduce their own kernel"
    return "most patterns do not reproduce their own kernel"


def shown_words(p: dict) -> str:
    """Which of a layer's filters the measures cover (helpers.core.words.filter_share)."""
    return filter_share(p["filters"], p["total"])


def pattern_sentences(layer: str, p: dict, reference_faces: int) -> list[str]:
    """The report's bullet on one layer's patterns (layer_patterns dict `p`), as Markdown
    lines: the response's gain, then the kernel agreement (first layer) or the orientation
    against white noise of the same size (deeper layers)."""
    out = [f"- **{capital(layer_words(layer))}** ({shown_words(p)}; each unit sees {p['field']}x{p['field']} pixels): gradient ascent raised "
           f"the center unit's response for {pct(p['rose'], 0)} of these filters (median "
           f"{p['median_start']:.3g} -> {p['median_final']:.3g}); for {pct(p['beats_all_faces'], 0)} "
           f"the pattern excites the unit more than any of {reference_faces} validation faces does "
           f"(median: {p['median_face_z']:.1f} standard deviations above the unit's mean response "
           "on those faces)."]
    if p["agreeing"] is not None:
        other = p["other_kernel_agreement"]
        out.append(f"  {p['agreeing']} of {p['filters']} patterns agree with their own kernel "
                   f"(cosine >= {AGREE_MIN:g}; median {cosine(p['median_agreement'])}"
                   + (f", against {cosine(other)} with the other filters' kernels" if other is not None
                      else "")
                   + f"): {kernel_words(p)}, bright where the weights are positive and dark where "
                   "they are negative, so each filter detects that arrangement of light and dark.")
    if p["brightness_kernels"] is not None:
        rest = p["filters"] - p["brightness_kernels"]
        out.append(f"  {p['brightness_kernels']} of the {p['filters']} kernels respond mostly to "
                   f"brightness (DC share >= {BRIGHTNESS_DC:g}); the other {rest} mostly to local "
                   f"contrast (edges, lines, spots) whatever the brightness (median DC share of all "
                   f"{p['filters']}: {p['median_dc_share']:.2f}).")
    if p["oriented"] is not None:
        which = (f"{p['oriented']} of the {p['filters']} patterns {verb(p['oriented'], 'is', 'are')} oriented, most often "
                 f"{p['common_orientation']} ({p['common_orientation_filters']} of them)"
                 if p["common_orientation"] else f"none of the {p['filters']} patterns is oriented")
        out.append(f"  {which}; the strongest orientation holds {pct(p['mean_selectivity'], 0)} "
                   "of a pattern's power on average (white noise of the same size: "
                   f"{pct(p['noise_selectivity'], 0)}); the patterns repeat every "
                   f"{p['median_period_px']:.1f} pixels (median).")
    return out


RECORD_KEYS = ["filters", "total", "field", "jitter", "window", "median_start", "median_final", "rose",
               "beats_all_faces", "median_face_z", "kernel_agreement", "median_agreement",
               "agreeing", "other_kernel_agreement", "median_dc_share", "brightness_kernels",
               "median_period_px", "period_px", "orientation_counts", "common_orientation",
               "mean_selectivity", "oriented", "noise_selectivity", "oriented_threshold", "seconds"]


def pattern_record(p: dict) -> dict:
    """A layer_patterns dict for results.json: responses, summary measures and seconds,
    without the images and kernels."""
    return {"total_filters": p["total"], "start_response": p["start"],
            "final_response": p["final"], **{k: p[k] for k in RECORD_KEYS}}


def pattern_windows(p: dict) -> np.ndarray:
    """A layer_patterns dict's raw patterns cut to the center unit's receptive field."""
    top, bottom, left, right = p["window"]
    return np.asarray(p["images"])[:, top:bottom, left:right]


def response_titles(p: dict) -> list[str]:
    """Each filter's number above its response on the starting noise -> after the ascent."""
    def one(v: float) -> str:  # a response that rounds to zero prints without a minus sign
        return f"{round(float(v), 1) or 0:.1f}"

    return [f"{i}\n{one(s)}\u2192{one(f)}" for i, s, f in zip(p["chosen"], p["start"], p["final"])]


def shown_count(measured: int, shown: int | None) -> int:
    """How many of the `measured` filters a figure draws: `shown` (None: all), at most
    `measured`."""
    if shown is not None and shown < 1:
        raise ValueError(f"filters_shown must be positive, got {shown}")
    return measured if shown is None else min(shown, measured)


def drawn_words(p: dict, n: int) -> str:
    """'filters 0-31 of 128 (the measures below: all 128)' or 'all 32 filters'."""
    if n >= p["total"]:
        return f"all {p['total']} filters"
    measured = len(p["chosen"])
    return (f"filters 0-{n - 1} of {p['total']}"
            + (f" (the measures below: {'all ' if measured >= p['total'] else ''}{measured})"
               if measured > n else ""))


def pattern_grid(p: dict, steps: int, shown: int | None = None) -> Figure:
    """One layer_patterns dict's patterns (the center unit's receptive field, contrast-stretched)
    for its first `shown` filters (None: all), 11 a row (32 filters in three rows across the
    page), each titled with its filter number and its response on the starting noise -> after
    `steps` ascent steps."""
    n = shown_count(len(p["chosen"]), shown)
    return plot_grid(to_display(pattern_windows(p)[:n]), titles=response_titles(p)[:n], ncols=11,
                     cell_size=0.58,
                     # three short lines: one long line made the image wider than the grid,
                     # and the PDF shrank the filters' titles below 8 points to fit it
                     suptitle=f"{capital(layer_words(p['layer']))}: {drawn_words(p, n)}\n"
                              f"{steps} ascent steps, {p['field']}x{p['field']} receptive field\n"
                              "(titles: filter, response on the starting noise \u2192 after)")


def kernel_cells(kernels) -> list[np.ndarray]:
    """Kernels (k, k, F) as gray images on the patterns' 0..255 scale, each on its own scale:
    mid-gray 0, white its largest positive weight's magnitude, black its negative."""
    k = np.moveaxis(np.asarray(kernels, dtype=np.float64), -1, 0)
    limit = np.maximum(np.abs(k).max(axis=(1, 2), keepdims=True), 1e-12)
    return list(127.5 + 127.5 * k / limit)


def kernel_pattern_figure(p: dict, steps: int, ncols: int = 16, fig=None, fontsize: float = 8):
    """A first layer's kernels (effective_kernels, as kernel_cells) above their patterns' patch
    under the center unit (gray levels 0..255), `ncols` filters a row pair; kernels titled with
    the filter number, patterns with their kernel agreement ("cos 0.95"; the number alone
    above 8 columns, where cells are too narrow for more). Drawn into `fig` (a Figure or
    SubFigure) when given, else a new Figure at most 5.6 inches wide (a 3x3 patch reads at a
    third of an inch, so 16 filters fit a row)."""
    kernels, patches = kernel_cells(p["kernels"]), list(pattern_windows(p))
    cells, titles, labels = [], [], []
    for first in range(0, len(patches), ncols):
        pad = [None] * (ncols - len(patches[first:first + ncols]))
        cells += kernels[first:first + ncols] + pad + patches[first:first + ncols] + pad
        titles += ([str(i) for i in p["chosen"][first:first + ncols]] + [""] * len(pad)
                   + [f"{'cos ' if ncols <= 8 else ''}{c:.2f}"
                      for c in p["kernel_agreement"][first:first + ncols]]
                   + [""] * len(pad))
        labels += ["kernel", "pattern"]
    title = (f"{capital(layer_words(p['layer']))}: kernels (times the batch-norm scale; white +, black -)\nabove their "
             f"patterns' {p['field']}x{p['field']} patch ({steps} ascent steps; title: cosine)")
    return plot_grid(cells, titles=titles, ncols=ncols, cmap="gray", vmin=0, vmax=255,
                     cell_size=min(0.56, 5.0 / ncols), row_labels=labels, fig=fig, fontsize=fontsize,
                     suptitle=None if fig is not None else title)


def pattern_figure(p: dict, steps: int, shown: int | None = None) -> Figure:
    """kernel_pattern_figure for a first layer (it has kernels; all its filters), else
    pattern_grid of the first `shown` filters."""
    return pattern_grid(p, steps, shown) if p["kernels"] is None else kernel_pattern_figure(p, steps)


def layers_sentences(patterns: dict, reference_faces: int) -> str:
    """pattern_sentences for every layer of `patterns` ({layer: layer_patterns dict}, in depth
    order), then how the receptive field and, where both layers have one, the patterns' scale
    change from the first layer to the last."""
    lines = [line for layer, p in patterns.items()
             for line in pattern_sentences(layer, p, reference_faces)]
    (first_layer, first), (last_layer, last) = list(patterns.items())[0], list(patterns.items())[-1]
    if len(patterns) > 1:
        line = (f"- From {layer_words(first_layer)} to {layer_words(last_layer)} the center unit's receptive field grows "
                f"from {first['field']}x{first['field']} to {last['field']}x{last['field']} pixels")
        if first["median_period_px"] and last["median_period_px"]:
            ratio = last["median_period_px"] / first["median_period_px"]
            line += (f"; the patterns repeat every {first['median_period_px']:.1f} and "
                     f"{last['median_period_px']:.1f} pixels (median): "
                     + (f"the deeper layer's patterns are {scale_words(ratio)} by a factor "
                        f"{max(ratio, 1 / ratio):.2f}" if abs(ratio - 1) >= 0.05
                        else "about the same scale"))
        lines.append(line + ".")
    return "\n".join(lines)


def filters_record(patterns: dict, maps: dict, face: dict, *, settings, filters_per_layer: int,
                   reference_faces: int, filters_shown: int | None = None) -> dict:
    """The "filters" section's results.json section: the objective and ascent settings (an
    AscentSettings), every layer's pattern_record and, for the `face` of pick_face, every
    layer's map_record; `filters_shown`: how many of each layer's filters its figures draw."""
    return {"objective": "center unit, after batch normalization (ReLU input)",
            "ascent_steps": settings.steps, "filters_per_layer": filters_per_layer, "filters_shown": filters_shown,
            "reference_faces": reference_faces, "agree_min": AGREE_MIN,
            "brightness_dc": BRIGHTNESS_DC, "min_spectral_side": MIN_SPECTRAL_SIDE,
            "ascent_settings": {"step_size": settings.step_size, "blur_every": settings.blur_every,
                                "blur_sigma": settings.blur_sigma, "jitter": settings.jitter,
                                "jitter_share": JITTER_SHARE, "noise": settings.noise},
            "layers": {layer: pattern_record(p) for layer, p in patterns.items()},
            "feature_maps": {**face, "r_min": R_MIN,
                             **{layer: map_record(s) for layer, s in maps.items()}}}


def map_record(summary: dict) -> dict:
    """A map_summary for results.json: everything but the maps themselves."""
    return {k: v for k, v in summary.items() if k != "maps"}


def feature_map_grid(layer: str, s: dict, chosen, face: int, image=None, record: dict | None = None,
                     ncols: int = 17, shown: int | None = None) -> Figure:
    """A map_summary's feature maps of the first `shown` filters of `chosen` (None: all),
    `ncols` a row (17: a face and 32 maps in two rows, a third of an inch each), titled with
    their filter numbers; with the face's `image` (H, W, 1) in 0..255, the face itself comes
    first (gray) and `record` (pick_face's) names its true and predicted class in the title."""
    n = shown_count(len(chosen), shown)
    chosen = list(chosen)[:n]
    cells = list(np.moveaxis(s["maps"], -1, 0))[:n]
    titles = [str(i) for i in chosen]
    if image is not None:
        cells, titles = [np.asarray(image, dtype=np.float32)[..., 0]] + cells, ["face"] + titles
    what = ""
    if record is not None:
        what = (f" (true {CLASS_NAMES[record['true']]}, predicted {CLASS_NAMES[record['predicted']]}"
                f" {pct(record['probability'], 0)})")
    fig = plot_grid(cells, titles=titles, ncols=ncols, cell_size=min(0.68, 6.2 / min(ncols, len(cells))),
                    cmap="viridis",
                    suptitle=f"{capital(layer_words(layer))}: feature maps ({s['size']}) of filters 0-{chosen[-1]}"
                             + (f" of the {s['filters']} measured" if s.get("filters", n) > n else "") + "\n"
                             f"for validation face {face}{what}")
    if image is not None:  # the face in gray, on its own 0..255 scale
        face_image = fig.axes[0].images[0]
        face_image.set_cmap("gray")
        face_image.set_clim(0, 255)
    return fig


def map_sentences(maps: dict) -> str:
    """The bullets on each layer's map_summary ({layer: summary}, in depth order) and, for two
    layers or more, how the first and the last differ; first, the threshold that sorts the maps."""
    r_min = next(iter(maps.values()), {}).get("r_min")
    lead = ([f"A map is edge-like when its |r| with the gradient is at least {r_min:g} and above its |r| with "
             "the brightness, brightness-like in the opposite case, else neither.", ""] if r_min is not None else [])
    lines = [f"- {capital(layer_words(layer))}: {s['edge_like']} of {s['filters']} maps follow the face's intensity "
             f"edges, {s['brightness_like']} its brightness"
             + (" (a smoothed or inverted copy of the face)" if i == 0 else "")
             + f" and {s['neither']} neither; the ReLU after the layer zeroes "
             f"{pct(s['zero_after_relu'])} of the positions." for i, (layer, s) in enumerate(maps.items())]
    if len(maps) > 1:
        (first_layer, a), (last_layer, b) = list(maps.items())[0], list(maps.items())[-1]
        less = (max(b["mean_r_brightness"], b["mean_r_edges"])
                < max(a["mean_r_brightness"], a["mean_r_edges"]))
        lines.append(
            f"- From {layer_words(first_layer)} to {layer_words(last_layer)} the mean correlation with brightness goes "
            f"from {a['mean_r_brightness']:.2f} to {b['mean_r_brightness']:.2f} and with edges from "
            f"{a['mean_r_edges']:.2f} to {b['mean_r_edges']:.2f}: "
            + ("the deeper maps follow the raw image less closely" if less
               else "the deeper maps still follow the raw image at least as closely")
            + f", and the share of zeros after the ReLU goes from {pct(a['zero_after_relu'])} to "
            f"{pct(b['zero_after_relu'])}.")
    first = next(iter(maps.values()), {})
    if first.get("bright_map_dc") and first.get("dc_r_correlation") is not None:
        low, mid, high = first["bright_map_dc"]
        lines.append(
            f"- More maps than kernels are brightness-like because this face keeps "
            f"{pct(first['face_low_share'], 0)} of its pixel variance under a {first['low_pass']}x{first['low_pass']} "
            f"mean: a kernel with a modest averaging part still passes mostly brightness (the brightness-like maps' "
            f"kernels have DC shares {low:.2f}-{high:.2f}, median {mid:.2f}; DC share and |r| with the brightness "
            f"correlate {first['dc_r_correlation']:.2f} over the {first['filters']} filters).")
    return "\n".join(lead + lines)




def kernel_change_sentence(change: dict, seed: int) -> str:
    """What training did to the kernels (analysis.filters.kernel_change of the chosen layers)."""
    parts = [f"{layer_words(layer)} median {c['median']:.2f} (lowest {c['min']:.2f})"
             for layer, c in change.items()]
    text = ("- **What training changed in the kernels**: the cosine of each trained kernel with its "
            f"random starting value (seed {seed}; 1 = unchanged): " + "; ".join(parts) + ".")
    first_layer, first = next(iter(change.items()))
    dc, dc_start = first.get("dc_median"), first.get("dc_median_start")
    lost_dc = dc is not None and dc_start is not None and dc < dc_start / 2
    if first["median"] >= KEPT_START and lost_dc:
        text += (f" The kernels of {layer_words(first_layer)} stayed close to their random start in direction, "
                 f"but training took out most of their averaging part (median DC share {dc_start:.2f} at the start, "
                 f"{dc:.2f} trained): the patterns they detect come from the initialization, their indifference "
                 "to brightness from training.")
    elif first["median"] >= KEPT_START:
        text += (f" The kernels of {layer_words(first_layer)} stayed close to their random start: "
                 "what they detect was set mostly by the initialization, and training adapted the "
                 "layers after them.")
    return text
