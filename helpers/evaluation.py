"""Confusion matrix, per-class scores and the most-confused pairs (question 5), with the
summary, sentences and pyplot-free figures notebook 04 shows; accuracy of labels or
probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import classification_report, confusion_matrix

from helpers.config import CLASS_NAMES, NUM_CLASSES
from helpers.notebook import pct, plural


def confusion(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """(counts, row-normalized) 7x7 confusion matrices: row = true class, column = predicted.
    A class absent from y_true has a row of zeros in both."""
    counts = confusion_matrix(y_true, y_pred, labels=np.arange(NUM_CLASSES))
    totals = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    return counts, normalized


def per_class_scores(y_true, y_pred) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class (scikit-learn's classification report)."""
    report = classification_report(y_true, y_pred, labels=np.arange(NUM_CLASSES),
                                   target_names=CLASS_NAMES, output_dict=True, zero_division=0)
    frame = pd.DataFrame({name: report[name] for name in CLASS_NAMES}).T
    frame["support"] = frame["support"].astype(int)
    return frame.rename_axis("class").reset_index()


def top_confusions(counts: np.ndarray, k: int = 5) -> list[dict]:
    """The k largest off-diagonal cells, ranked by the share of the true class they take."""
    totals = counts.sum(axis=1)
    cells = []
    for true in range(NUM_CLASSES):
        for pred in range(NUM_CLASSES):
            if true != pred and counts[true, pred] > 0:
                cells.append({"true": CLASS_NAMES[true], "predicted": CLASS_NAMES[pred],
                              "count": int(counts[true, pred]),
                              "share": float(counts[true, pred] / totals[true])})
    cells.sort(key=lambda c: (-c["share"], -c["count"], c["true"], c["predicted"]))
    return cells[:k]


def misclassified(y_true, y_pred, proba, true_class: int, predicted_class: int, limit: int):
    """Indices of faces of `true_class` predicted as `predicted_class`, most confident first."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rows = np.flatnonzero((y_true == true_class) & (y_pred == predicted_class))
    order = np.argsort(-np.asarray(proba)[rows, predicted_class], kind="stable")
    return rows[order][:limit]


def as_labels(proba_or_labels) -> np.ndarray:
    """Integer labels from labels (N,) or from the argmax of probabilities (N, C)."""
    values = np.asarray(proba_or_labels)
    if values.ndim == 2:
        return values.argmax(axis=1).astype(np.int64)
    if values.ndim != 1:
        raise ValueError(f"expected labels (N,) or probabilities (N, C), got shape {values.shape}")
    if values.size and not np.all(values == np.round(values)):
        raise ValueError("labels must be integers")
    return values.astype(np.int64)


def accuracy(proba_or_labels, y) -> float:
    """Fraction of rows whose label (or argmax of probabilities) equals y."""
    predicted = as_labels(proba_or_labels)
    y = np.asarray(y).reshape(-1)
    if len(predicted) != len(y):
        raise ValueError(f"{len(predicted)} predictions but {len(y)} labels")
    if len(y) == 0:
        raise ValueError("accuracy of zero rows is undefined")
    return float(np.mean(predicted == y))


def confusion_summary(y_true, proba, top: int = 5) -> dict:
    """Question 5 in numbers (results.json's "confusion" section): accuracy, both confusion
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
    from helpers.plots import plot_grid

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
