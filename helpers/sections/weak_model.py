"""Further analysis, weak model against the main one: saliency and first-layer filters compared (summary, tables, figures, sentences)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.analysis.saliency import Maps, map_correlation, region_share, top_share
from helpers.core.plotting import plot_grid
from helpers.core.words import fmt, pct, plural, scale_words
from helpers.sections.filters import selectivity_words, uniform_counts, map_record
from helpers.sections.saliency import top_region, correlation_strength


def comparison_record(p: dict, maps: dict) -> dict:
    """The measures of a layer_patterns dict and its map_summary compared between the main
    and the weak model in results.json (no images, no per-filter values)."""
    keys = ["filters", "median_start", "median_final", "rose", "beats_all_faces", "uniform",
            "uniform_dark", "uniform_bright", "median_dc_share", "textured", "median_period_px",
            "orientation_counts", "mean_selectivity", "oriented"]
    return {**{k: p[k] for k in keys}, "feature_maps": map_record(maps)}


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
        ("uniform patterns (dark / bright)", *(uniform_counts(p) for p in pair)),
        ("kernel DC share (median)", *(fmt(p["median_dc_share"], ".2f") for p in pair)),
        ("median period of textured patterns (px)", *(fmt(p["median_period_px"]) for p in pair)),
        ("power in the strongest orientation (mean)", *(selectivity_words(p) for p in pair)),
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
            f"({scale_words(ratio)}), and are {selective}: on average "
            f"{pct(weak['mean_selectivity'], 0)} of their power lies in one orientation, against "
            f"{pct(main['mean_selectivity'], 0)}.")
    lines.append(
        f"- On face {s['face']}, {weak_maps['edge_like']} of the weak model's {weak_maps['filters']} "
        f"feature maps are edge-like and {weak_maps['brightness_like']} brightness-like (main CNN: "
        f"{main_maps['edge_like']} and {main_maps['brightness_like']}); its ReLU zeroes "
        f"{pct(weak_maps['zero_after_relu'])} of the positions (main CNN "
        f"{pct(main_maps['zero_after_relu'])}).")
    return "\n".join(lines)


def model_comparison(main: Maps, weak: Maps, threshold: float, main_metrics: dict,
                     weak_metrics: dict, shown_true, weak_shown_predicted) -> dict:
    """The weak model's maps against the main CNN's on the same sample of faces: region shares,
    concentration, maps kept by the threshold, correlation and agreement of predictions. The
    metrics are the two runs' metrics.json; the last two arguments are the true classes of the
    faces in the figures and the weak model's predictions of them."""
    def both(measure):
        return {"main": float(measure(main)), "weak": float(measure(weak))}

    main_sal, weak_sal = region_share(main.saliency), region_share(weak.saliency)
    change = {r: weak_sal[r] - main_sal[r] for r in weak_sal}
    r_sal = map_correlation(main.saliency, weak.saliency)
    r_cam = map_correlation(main.gradcam, weak.gradcam)
    r_other = map_correlation(main.saliency, np.roll(main.saliency, 1, axis=0))  # another face
    return {
        "model": "ablation_none", "val_accuracy": weak_metrics["val_accuracy"],
        "main_val_accuracy": main_metrics["val_accuracy"], "epochs": weak_metrics["epochs_run"],
        "main_epochs": main_metrics["epochs_run"], "sample_size": len(main.saliency),
        "region_share": {"saliency_sample": weak_sal, "gradcam_sample": region_share(weak.gradcam)},
        "main_region_share": {"saliency_sample": main_sal, "gradcam_sample": region_share(main.gradcam)},
        "top10_mass": {"saliency": both(lambda m: top_share(m.saliency).mean()),
                       "gradcam": both(lambda m: top_share(m.gradcam).mean())},
        "threshold": threshold,
        "kept_fraction_sample": both(lambda m: (m.saliency >= threshold).mean()),
        "dominant_region": top_region(weak_sal), "main_dominant_region": top_region(main_sal),
        "saliency_share_change": change,
        "largest_change_region": max(change, key=lambda r: abs(change[r])),
        "correlation_with_main": {"saliency_mean": float(r_sal.mean()),
                                  "saliency_median": float(np.median(r_sal)),
                                  "gradcam_mean": float(r_cam.mean()),
                                  "baseline_other_faces": float(r_other.mean())},
        "prediction_agreement": float((main.predicted == weak.predicted).mean()),
        "shown_predicted": weak_shown_predicted,
        "shown_correct": int((np.asarray(weak_shown_predicted) == np.asarray(shown_true)).sum()),
    }


def weak_model_sentence(s: dict) -> str:
    """The two models' validation accuracies and the weak model's score on the faces shown."""
    gap = 100 * (s["main_val_accuracy"] - s["val_accuracy"])
    compared = f"{abs(gap):.1f} points {'lower' if gap > 0 else 'higher'}." if gap else "the same."
    return (f"Validation accuracy: weak model **{pct(s['val_accuracy'])}** "
            f"({plural(s['epochs'], 'epoch')}) against **{pct(s['main_val_accuracy'])}** for the main "
            f"CNN ({plural(s['main_epochs'], 'epoch')}), {compared} It predicts {s['shown_correct']} of "
            f"the {len(s['shown_predicted'])} faces below correctly.")


def comparison_table(s: dict) -> pd.DataFrame:
    """model_comparison as a table: one row per measure, a column per model."""
    main, weak = s["main_region_share"], s["region_share"]
    rows = [("validation accuracy", pct(s["main_val_accuracy"]), pct(s["val_accuracy"]))]
    rows += [(f"saliency share: {r}", pct(main["saliency_sample"][r]), pct(weak["saliency_sample"][r]))
             for r in weak["saliency_sample"]]
    rows += [(f"Grad-CAM share: {r}", pct(main["gradcam_sample"][r]), pct(weak["gradcam_sample"][r]))
             for r in weak["gradcam_sample"]]
    for name, values in [("saliency mass in the top 10% pixels", s["top10_mass"]["saliency"]),
                         ("Grad-CAM mass in the top 10% pixels", s["top10_mass"]["gradcam"]),
                         (f"pixels with saliency >= {s['threshold']:g}", s["kept_fraction_sample"])]:
        rows.append((name, pct(values["main"]), pct(values["weak"])))
    return pd.DataFrame(rows, columns=["measure", "main CNN", "weak model"])


def more_less(a: float, b: float) -> str:
    """'more', 'less' or 'as' (equal to a tenth of a percentage point)."""
    a, b = round(100 * a, 1), round(100 * b, 1)
    return "more" if a > b else "less" if a < b else "as"


def comparison_sentences(s: dict) -> str:
    """The bullets on model_comparison: concentration, regions, agreement."""
    top10 = s["top10_mass"]["saliency"]
    weak, main = s["region_share"]["saliency_sample"], s["main_region_share"]["saliency_sample"]
    top, main_top, moved = s["dominant_region"], s["main_dominant_region"], s["largest_change_region"]
    r = s["correlation_with_main"]
    return "\n".join([
        f"- **Concentration**: the 10% most salient pixels hold {pct(top10['weak'])} of the weak "
        f"model's saliency mass against {pct(top10['main'])} for the main CNN, so the weak model's "
        f"maps are {more_less(top10['weak'], top10['main'])} concentrated (a uniform map would "
        "give 10%).",
        f"- **Regions**: the weak model's largest share is in the {top} region ({pct(weak[top])}; "
        f"main CNN: {main_top}, {pct(main[main_top])}). The largest change is in the {moved} region, "
        f"{100 * s['saliency_share_change'][moved]:+.1f} points.",
        f"- **Agreement**: the two models' saliency maps of the same face correlate with "
        f"r = {r['saliency_mean']:.2f} on average ({correlation_strength(r['saliency_mean'])} "
        f"correlation; Grad-CAM: r = {r['gradcam_mean']:.2f}), against "
        f"r = {r['baseline_other_faces']:.2f} between the main CNN's maps of two different faces. "
        f"They predict the same class for {pct(s['prediction_agreement'])} of the faces."])
