"""Further analysis, weak model against the main one: saliency and first-layer filters compared (summary, tables, figures, sentences)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.analysis.saliency import Maps, bootstrap_mean, rank_correlation, region_density, seen_pixels, top_share
from helpers.analysis.filters import AGREE_MIN, BRIGHTNESS_DC
from helpers.core.config import CLASS_NAMES, CONFIDENCE, KEPT_START
from helpers.core.plotting import plot_grid
from helpers.core.words import fmt, join_words, layer_words, more_or_less, pct, plural, points
from helpers.sections.filters import (
    cosine,
    kernel_cells,
    map_record,
)
from helpers.sections import number as number_of
from helpers.sections.saliency import METHODS, REGION_WORDS, draw_map, excluded_why, interval_words, number

SIDE_BY_SIDE_FACES = 3  # faces in the main-against-weak figure (the first of those shown per class)


def comparison_record(p: dict, maps: dict) -> dict:
    """The measures of a layer_patterns dict and its map_summary compared between the main
    and the weak model in results.json (no images, no per-filter values but the kernel
    agreement)."""
    keys = ["filters", "field", "median_start", "median_final", "rose", "beats_all_faces",
            "kernel_agreement", "median_agreement", "agreeing", "other_kernel_agreement",
            "median_dc_share", "brightness_kernels"]
    return {**{k: p[k] for k in keys}, "feature_maps": map_record(maps)}


def first_layer_comparison(main: dict, weak: dict, main_maps: dict, weak_maps: dict,
                           main_metrics: dict, weak_metrics: dict, *, reference_faces: int,
                           face: int) -> dict:
    """The weak model's first layer against the main CNN's (also its results.json section):
    their layer_patterns dicts and map_summary dicts on `face` reduced to comparison_record,
    with the runs' validation accuracy and epochs from their metrics."""
    return {"model": "ablation_none", "layer": main["layer"], "total_filters": main["total"],
            "val_accuracy": weak_metrics["val_accuracy"],
            "main_val_accuracy": main_metrics["val_accuracy"],
            "epochs": weak_metrics["epochs_run"], "main_epochs": main_metrics["epochs_run"],
            "reference_faces": reference_faces, "agree_min": AGREE_MIN,
            "brightness_dc": BRIGHTNESS_DC, "face": face,
            "main": comparison_record(main, main_maps),
            "weak": comparison_record(weak, weak_maps)}


def first_layer_figure(main: dict, weak: dict, s: dict, steps: int, columns: int = 16) -> Figure:
    """The two models' first-layer kernels (kernel_cells: white +, black -), the main CNN's rows
    above the weak model's, `columns` a row, each row labeled with its model and filter numbers
    (s is their first_layer_comparison; the suptitle gives each model's validation accuracy).
    Their patterns reproduce them (the kernel agreement, in first_layer_sentences), so the
    kernels stand for both."""
    ncols = min(columns, len(main["chosen"]))
    cells, labels = [], []
    for name, p in (("main", main), ("weak", weak)):
        kernels = kernel_cells(p["kernels"])
        for first in range(0, len(kernels), ncols):
            row = kernels[first:first + ncols]
            cells += row + [None] * (ncols - len(row))
            chosen = p["chosen"][first:first + ncols]
            labels.append(f"{name}\n{chosen[0]}-{chosen[-1]}")
    return plot_grid(cells, ncols=ncols, cmap="gray", vmin=0, vmax=255,
                     cell_size=min(0.32, 5.2 / ncols), row_labels=labels, fontsize=8,
                     suptitle=(f"First-layer kernels ({layer_words(s['layer'])}, filters "
                               f"0-{main['chosen'][-1]} of {s['total_filters']}; white +, black -):\n"
                               f"main CNN ({pct(s['main_val_accuracy'])} validation accuracy) above the "
                               f"weak model ({pct(s['val_accuracy'])})"))


def first_layer_sentences(s: dict) -> str:
    """The bullets on first_layer_comparison: kernel agreement, brightness kernels and DC
    share, and the feature maps on the face."""
    main, weak = s["main"], s["weak"]
    main_maps, weak_maps = main["feature_maps"], weak["feature_maps"]
    weak_dc, main_dc = weak["median_dc_share"], main["median_dc_share"]
    part = ("a larger brightness (averaging) part." if weak_dc > main_dc + 0.02 else
            "a smaller brightness (averaging) part." if weak_dc < main_dc - 0.02 else
            "about as large a brightness (averaging) part.")
    return "\n".join([
        f"- Kernel agreement: {weak['agreeing']} of the weak model's {weak['filters']} first-layer "
        f"patterns agree with their own kernel (median cosine {cosine(weak['median_agreement'])}) "
        f"against {main['agreeing']} of {main['filters']} for the main CNN "
        f"({cosine(main['median_agreement'])})"
        + (": for both, gradient ascent recovers what the kernels weigh, so the comparison is "
           "between the kernels themselves."
           if min(weak["agreeing"], main["agreeing"]) * 2 > min(weak["filters"], main["filters"])
           else "."),
        f"- Brightness kernels (DC share >= {s['brightness_dc']:g}): {weak['brightness_kernels']} of "
        f"the weak model's {weak['filters']} against {main['brightness_kernels']} of the main CNN's "
        f"{main['filters']}; the median kernel DC share is {fmt(weak_dc, '.2f')} against "
        f"{fmt(main_dc, '.2f')}: the weak model's typical kernel has " + part,
        f"- On the validation face of the filters section's feature maps, {weak_maps['edge_like']} of the weak model's {weak_maps['filters']} "
        f"feature maps are edge-like and {weak_maps['brightness_like']} brightness-like (main CNN: "
        f"{main_maps['edge_like']} and {main_maps['brightness_like']}; each compared with the "
        "pixels its map covers); its ReLU zeroes "
        f"{pct(weak_maps['zero_after_relu'])} of the positions (main CNN "
        f"{pct(main_maps['zero_after_relu'])})."])


def left_out_methods(methods, answer_methods, passed, excluded: dict) -> dict:
    """{method: why} for the methods question 6 does not rest its answer on: those that fail
    the model-randomization test (not in `passed`) and those `excluded` (grid_excluded's)."""
    return {m: (excluded_why({"excluded": excluded}, m) if m in excluded
                else "it fails the model-randomization test")
            for m in methods if m not in answer_methods}


def common_pixels(main, weak) -> np.ndarray:
    """The pixels (H, W) both models' maps weigh (seen_pixels): the main CNN's 44x44 center crop
    when the weak model sees the whole face."""
    return seen_pixels(main) & seen_pixels(weak)


def outside_share(maps, pixels) -> float:
    """The mean share of each map's mass that lies outside `pixels` (maps without mass left out)."""
    maps = np.asarray(maps, dtype=np.float64)
    total = maps.sum(axis=(1, 2))
    outside = (maps * ~pixels).sum(axis=(1, 2))
    return float(np.mean(outside[total > 0] / total[total > 0])) if (total > 0).any() else 0.0


def _densities(main, weak, pixels, seed: int) -> dict:
    """Each model's mass per pixel of each region against an even map over `pixels` (those both
    see), its maps cut to them (bootstrap_mean over faces), and the weak model's minus the main
    CNN's, face by face."""
    a, b = (region_density(np.asarray(maps) * pixels, pixels) for maps in (main, weak))
    return {"main": {r: bootstrap_mean(v, seed) for r, v in a.items()},
            "weak": {r: bootstrap_mean(v, seed) for r, v in b.items()},
            "change": {r: bootstrap_mean(b[r] - a[r], seed) for r in a}}


def model_comparison(main: Maps, weak: Maps, main_metrics: dict, weak_metrics: dict, shown_true,
                     weak_shown_predicted, seed: int, methods=None, left_out: dict | None = None,
                     faces: int = SIDE_BY_SIDE_FACES) -> dict:
    """The weak model's maps against the main CNN's on the same sample of faces (each model's
    maps for its own predicted class), by `methods` (default all; question 6's answer methods in
    the report, `left_out` {method: why} the others): region densities and concentration on the
    pixels both models' maps weigh (common_pixels: the main CNN sees a 44x44 center crop, the weak
    model the whole 48x48 face; the share of each model's mass outside them is recorded), so that
    more per pixel is also more of the mass; agreement of the two models' maps and of their
    predictions. The
    metrics are the two runs' metrics.json; shown_true and weak_shown_predicted are the true
    classes of the faces shown and the weak model's predictions of them, of which the first
    `faces` are in side_by_side_figure and counted.

    Agreement per method is the rank correlation of the two models' maps of the same face,
    against a baseline of the main CNN's map of a face and the weak model's map of another one
    (the next face in the sample): the excess over it, with a bootstrap interval over faces, is
    what the two models share about a particular face."""
    main_maps, weak_maps = main.methods(), weak.methods()
    methods = list(methods or main_maps)
    shown_true, weak_shown_predicted = np.asarray(shown_true)[:faces], list(weak_shown_predicted)[:faces]
    agreement = {}
    for name in methods:
        a, b = main_maps[name], weak_maps[name]
        same = rank_correlation(a, b)
        other = rank_correlation(a, np.roll(b, 1, axis=0))
        agreement[name] = {"faces": len(a), "same_face": bootstrap_mean(same, seed),
                           "different_faces": bootstrap_mean(other, seed),
                           "excess": bootstrap_mean(same - other, seed)}
    common = {m: common_pixels(main_maps[m], weak_maps[m]) for m in methods}
    return {
        "model": "ablation_none", "val_accuracy": weak_metrics["val_accuracy"],
        "main_val_accuracy": main_metrics["val_accuracy"], "epochs": weak_metrics["epochs_run"],
        "main_epochs": main_metrics["epochs_run"], "sample_size": len(main.saliency),
        "methods": methods, "left_out": dict(left_out or {}),
        "common_pixels": {m: int(common[m].sum()) for m in methods},
        "outside_share": {m: {who: outside_share(maps[m], common[m])
                              for who, maps in (("main", main_maps), ("weak", weak_maps))} for m in methods},
        "region_density": {m: _densities(main_maps[m], weak_maps[m], common[m], seed) for m in methods},
        "top10_mass": {m: {who: float(top_share(maps[m], seen=common[m]).mean())
                           for who, maps in (("main", main_maps), ("weak", weak_maps))}
                       for m in methods},
        "agreement": agreement,
        "prediction_agreement": float((main.predicted == weak.predicted).mean()),
        "shown_predicted": weak_shown_predicted,
        "shown_correct": int((np.asarray(weak_shown_predicted) == np.asarray(shown_true)).sum()),
    }


def weak_model_sentence(s: dict) -> str:
    """The two models' validation accuracies and the weak model's score on the faces shown."""
    gap = points(s["val_accuracy"], s["main_val_accuracy"])
    compared = f"{abs(gap):.1f} points {'lower' if gap > 0 else 'higher'}." if gap else "the same."
    return (f"Validation accuracy: weak model **{pct(s['val_accuracy'])}** "
            f"({plural(s['epochs'], 'epoch')}) against **{pct(s['main_val_accuracy'])}** for the main "
            f"CNN ({plural(s['main_epochs'], 'epoch')}), {compared} The weak model predicts {s['shown_correct']} of "
            f"the {len(s['shown_predicted'])} faces below correctly.")


def comparison_table(s: dict) -> pd.DataFrame:
    """model_comparison as one compact table: a row per method, each model's region densities
    (eyes / mouth / rest, mass per pixel against an even map over the pixels both models see)
    and its maps' mass in their top 10% of those pixels, and how much more alike the two
    models' maps of the same face are than of different faces."""
    rows = []
    for method in s["methods"]:
        density = s["region_density"][method]
        regions = " / ".join(density["main"])
        rows.append({"method": METHODS[method],
                     f"main: {regions}": " / ".join(f"{number(v['mean'])}x" for v in density["main"].values()),
                     f"weak: {regions}": " / ".join(f"{number(v['mean'])}x" for v in density["weak"].values()),
                     "top 10% mass, main / weak": (f"{pct(s['top10_mass'][method]['main'], 0)}"
                                                   f" / {pct(s['top10_mass'][method]['weak'], 0)}"),
                     "same minus different faces": interval_words(
                         s["agreement"][method]["excess"], sign=True, label=False)})
    return pd.DataFrame(rows)


def side_by_side_figure(images, main_maps: dict, weak_maps: dict, labels,
                        faces: int = SIDE_BY_SIDE_FACES, cell_size: float = 0.62,
                        methods=("saliency", "gradcam")) -> Figure:
    """The main CNN's and the weak model's maps by `methods` (those compared; saliency and
    Grad-CAM at most) of the same faces side by side (explanation_maps of each, each for its
    own predicted class), one row per face for the first `faces` faces; rows titled with the
    true class and both models' predictions."""
    x = np.asarray(images, dtype=np.float32)[:faces, ..., 0]
    labels = np.asarray(labels)[:faces]
    columns = [("face", None, None)]
    # short column titles ("weak model" overlapped at 8 points); the row labels say main/weak
    for who, maps in (("main", main_maps), ("weak", weak_maps)):
        columns += [(f"{who}\n{METHODS[key]}", key, maps) for key in ("saliency", "gradcam")
                    if key in methods and key in maps]
    fig = Figure(figsize=(cell_size * len(columns) + 1.35, cell_size * len(x) + 0.75),
                 layout="constrained")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    axes = fig.subplots(len(x), len(columns), squeeze=False)
    for row, ax_row in enumerate(axes):
        for ax, (name, key, maps) in zip(ax_row, columns):
            kind = "original" if key is None else "Grad-CAM" if key == "gradcam" else "map"
            draw_map(ax, x[row], kind, None if key is None else maps[key][row])
            if row == 0:
                ax.set_title(name, fontsize=8)
        ax_row[0].set_ylabel(
            f"true {CLASS_NAMES[labels[row]]}\nmain: {CLASS_NAMES[main_maps['predicted'][row]]} "
            f"({main_maps['probability'][row]:.0%})\nweak: {CLASS_NAMES[weak_maps['predicted'][row]]} "
            f"({weak_maps['probability'][row]:.0%})", fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("Main CNN and weak model on the same faces (each for its own predicted class)",
                 fontsize=9)
    return fig


def more_less(a: float, b: float) -> str:
    """'more', 'less' or 'as' (equal to a tenth of a percentage point)."""
    a, b = round(100 * a, 1), round(100 * b, 1)
    return "more" if a > b else "less" if a < b else "as"


def agreement_verdict(a: dict) -> str:
    """A method's same-face agreement against different faces' maps, by its interval."""
    return f"{more_or_less(a['excess'], 'no more')} alike than two different faces' maps"


def agreement_words(agreement: dict) -> str:
    """The methods grouped by agreement_verdict: "more alike ... by saliency and SmoothGrad; no
    more alike ... by Grad-CAM"."""
    verdicts: dict[str, list[str]] = {}
    for name, a in agreement.items():
        verdicts.setdefault(agreement_verdict(a), []).append(METHODS[name])
    return "; ".join(f"{verdict} by {join_words(methods)}" for verdict, methods in verdicts.items())


def region_change_words(s: dict) -> str:
    """How the weak model's region densities differ from the main CNN's by the first compared
    method: each region's two densities, their difference as printed and its interval (face
    by face), and the verdict ('less on the eyes, about as much on the mouth')."""
    method = s["methods"][0]
    density = s["region_density"][method]
    parts, verdicts = [], []
    for region in ("eyes", "mouth"):
        weak, main = (float(number(density[who][region]["mean"])) for who in ("weak", "main"))
        change = density["change"][region] | {"mean": weak - main}  # adds up on the page
        parts.append(f"{REGION_WORDS[region]} {number(weak)}x against {number(main)}x (difference "
                     f"{interval_words(change, 'x', sign=True, brackets=False)})")
        verdicts.append(f"{more_or_less(change)} on {REGION_WORDS[region]}")
    outside = s["outside_share"][method]["weak"]
    border = (f"; the {pct(outside)} of the weak model's mass outside them, on the border only it sees, "
              "left out" if round(100 * outside, 1) else "")
    return (f"- **Regions** ({METHODS[method]}, on the {s['common_pixels'][method]:,} pixels both models "
            f"see{border}; mass per pixel against an even map over those pixels): the weak model gives "
            f"{' and '.join(parts)}: {join_words(verdicts)}.")


def comparison_sentences(s: dict) -> str:
    """The bullets on model_comparison: the regions, agreement of the maps against the
    baseline, concentration, agreement of the predictions, and the methods left out."""
    method = s["methods"][0]
    top10 = s["top10_mass"][method]
    lines = [
        region_change_words(s),
        "- **Same face, two models** (the table's last column: the rank correlation of the two "
        "models' maps of the same face minus that of two different faces' maps, with its "
        f"{pct(CONFIDENCE, 0)} interval): the maps of a face are {agreement_words(s['agreement'])}.",
        f"- **Concentration**: the 10% most salient of the pixels both see hold {pct(top10['weak'])} of the "
        f"weak model's {METHODS[method]} mass against {pct(top10['main'])} for the main CNN, so the "
        f"weak model's maps are {more_less(top10['weak'], top10['main'])} concentrated (a uniform map "
        "would give 10%).",
        f"- **Predictions**: the two models predict the same class for "
        f"{pct(s['prediction_agreement'])} of the faces."]
    if s.get("left_out"):
        lines.append(f"- **Left out**, as in section {number_of('saliency')}: " + "; ".join(
            f"{METHODS[m]} ({why})" for m, why in s["left_out"].items()) + ".")
    return "\n".join(lines)


def shared_start_sentence(main: dict, weak: dict, seed: int) -> str:
    """Why the two first layers look alike: both CNNs start from the same random kernels (the
    same seed); `main` and `weak` are each model's kernel_change entry of that layer."""
    text = (f"- **A shared start**: both models begin from the same random kernels (seed {seed}); the "
            f"cosine of each trained kernel with its start has median {main['median']:.2f} for the "
            f"main CNN and {weak['median']:.2f} for the weak model")
    if min(main["median"], weak["median"]) >= KEPT_START:
        return text + (": neither moved far, which is why their kernels look alike above, and why "
                       "the differences measured here are small.")
    return text + "."
