"""The "confusion" section, the confusion matrix: summary, tables, figures and sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.analysis.evaluation import (
    as_labels,
    confusion,
    misclassified,
    per_class_scores,
    top_confusions,
)
from helpers.core.config import CLASS_NAMES
from helpers.core.words import pct, plural


def confusion_summary(y_true, proba, top: int = 5) -> dict:
    """The "confusion" section in numbers (results.json's "confusion" section): accuracy, both confusion
    matrices, the `top` most confused pairs and the per-class scores."""
    y_pred = as_labels(proba)
    counts, normalized = confusion(y_true, y_pred)
    scores = per_class_scores(y_true, y_pred)
    return {"val_accuracy": float(np.mean(np.asarray(y_true) == y_pred)), "faces": len(y_pred),
            "counts": counts, "normalized": normalized, "top_pairs": top_confusions(counts, k=top),
            "per_class": scores.set_index("class").to_dict(orient="index")}


def scores_table(s: dict) -> pd.DataFrame:
    """confusion_summary's per-class scores as a table, a row per class."""
    frame = pd.DataFrame(s["per_class"]).T.rename_axis("class").reset_index()
    return frame.astype({"support": int})


def pairs_table(s: dict) -> pd.DataFrame:
    """The most confused pairs, their count and their share of the true class."""
    return pd.DataFrame(s["top_pairs"]).assign(share=lambda f: f.share.map(pct))


def confusion_sentences(s: dict, shown: int = 3) -> str:
    """The `shown` most frequent confusions and the best and worst recognised classes (of those
    with validation faces)."""
    per_class = {c: v for c, v in s["per_class"].items() if v["support"] > 0}
    best = max(per_class, key=lambda c: per_class[c]["recall"])
    worst = min(per_class, key=lambda c: per_class[c]["recall"])
    lines = [f"- **{t['true']}** is predicted as **{t['predicted']}** for {pct(t['share'])} of "
             f"{t['true']} faces ({plural(t['count'], 'face')})." for t in s["top_pairs"][:shown]]
    confusions = ("The most frequent confusions, as a share of the true class:\n\n" + "\n".join(lines)
                  if lines else "The CNN confuses no pair of classes on these faces.")
    if per_class[best]["recall"] == per_class[worst]["recall"]:
        ranking = f"Every class has the same recall, {pct(per_class[best]['recall'])}."
    else:
        ranking = (f"The best recognised class is *{best}* (recall {pct(per_class[best]['recall'])}), "
                   f"the worst *{worst}* (recall {pct(per_class[worst]['recall'])}, "
                   f"{plural(int(per_class[worst]['support']), 'validation face')}).")
    return confusions + "\n\n" + ranking


def confusion_figure(s: dict, model: str = "CNN") -> Figure:
    """Both confusion matrices as heat maps: normalized by true class (%) and counts."""
    import seaborn as sns  # only for this figure: `accuracy` is imported everywhere

    fig = Figure(figsize=(13, 5.2))
    left, right = fig.subplots(1, 2)
    sns.heatmap(100 * s["normalized"], annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100,
                square=True, xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES,
                cbar_kws={"label": "% of the true class"}, ax=left)
    left.set(title="Normalized by true class (%)", xlabel="predicted class", ylabel="true class")
    sns.heatmap(s["counts"], annot=True, fmt="d", cmap="Greys", square=True, xticklabels=CLASS_NAMES,
                yticklabels=CLASS_NAMES, cbar_kws={"label": "faces"}, ax=right)
    right.set(title="Counts", xlabel="predicted class", ylabel="true class")
    fig.suptitle(f"{model} on the {s['faces']:,} validation faces (accuracy {pct(s['val_accuracy'])})")
    fig.tight_layout()
    return fig


def misclassified_figure(images, y_true, proba, pairs: list[dict], per_pair: int) -> Figure:
    """For each confused pair of top_confusions, a row of the faces (N, H, W) of its true class
    predicted as its other class, the most confident first, titled with that probability."""
    from helpers.core.plotting import plot_grid

    if not pairs or per_pair < 1:  # nothing confused, or nothing asked for: a figure that says so
        fig = Figure(figsize=(6, 0.8))
        fig.text(0.5, 0.5, "No misclassified validation faces to show", ha="center", va="center")
        return fig

    y_pred = as_labels(proba)
    cells, titles = [], []
    for pair in pairs:
        t, p = CLASS_NAMES.index(pair["true"]), CLASS_NAMES.index(pair["predicted"])
        picks = list(misclassified(y_true, y_pred, proba, t, p, per_pair))
        cells += [images[i] for i in picks] + [None] * (per_pair - len(picks))
        titles += [f"{pair['true']} -> {pair['predicted']}\n{pct(proba[i, p], 0)}" for i in picks]
        titles += [""] * (per_pair - len(picks))
    fig = Figure(figsize=(per_pair * 1.7, len(pairs) * 2.2 + 0.4))
    plot_grid(cells, titles=titles, ncols=per_pair, vmin=0, vmax=255, fig=fig,
              suptitle="Confidently misclassified validation faces")
    fig.tight_layout()
    return fig
