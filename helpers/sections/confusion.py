"""The "confusion" section, the confusion matrix: summary, tables, figures and sentences."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from helpers.analysis.evaluation import (
    as_labels,
    confusion,
    misclassified,
    per_class_scores,
    top_confusions,
)
from helpers.analysis.stats import wilson_interval
from helpers.core.config import CLASS_NAMES, CONFIDENCE
from helpers.core.plotting import plot_grid, set_fonts
from helpers.core.words import pct, plural

# The classes past reports (../shared/HOMEWORK.md) found disgust confused with.
NOTED_DISGUST = ("angry", "fear")


def confusion_summary(y_true, proba, top: int = 5) -> dict:
    """The "confusion" section in numbers (results.json's "confusion" section): accuracy, both confusion
    matrices, the `top` most confused pairs and the per-class scores."""
    y_pred = as_labels(proba)
    counts, normalized = confusion(y_true, y_pred)
    scores = per_class_scores(y_true, y_pred)
    return {"val_accuracy": float(np.mean(np.asarray(y_true) == y_pred)), "faces": len(y_pred),
            "counts": counts, "normalized": normalized, "top_pairs": top_confusions(counts, k=top),
            "per_class": scores.set_index("class").to_dict(orient="index"),
            "confidence": class_confidence(y_true, proba)}


def class_confidence(y_true, proba) -> dict | None:
    """The CNN's mean top probability on the faces of each true class ({class: share}, None for a
    class without faces); None when `proba` holds labels rather than probabilities."""
    proba = np.asarray(proba)
    if proba.ndim != 2:
        return None
    y_true, top = np.asarray(y_true), proba.max(axis=1)
    return {name: float(top[y_true == k].mean()) if (y_true == k).any() else None
            for k, name in enumerate(CLASS_NAMES)}


def confusion_sentences(s: dict, shown: int = 3) -> str:
    """The `shown` most frequent confusions and the best and worst recognized classes (of those
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
        ranking = (f"The best recognized class is *{best}* (recall {pct(per_class[best]['recall'])}), "
                   f"the worst *{worst}* (recall {pct(per_class[worst]['recall'])}, "
                   f"{plural(int(per_class[worst]['support']), 'validation face')}).")
    return confusions + "\n\n" + ranking


def class_counts(s: dict, name: str) -> dict:
    """From confusion_summary's counts: a class's faces (`support`), the faces predicted as it
    (`predicted`), those right (`right`), its precision and recall (None when undefined) and
    their Wilson intervals ((low, high), None when undefined)."""
    counts, k = np.asarray(s["counts"]), CLASS_NAMES.index(name)
    right, predicted, support = int(counts[k, k]), int(counts[:, k].sum()), int(counts[k].sum())
    return {"right": right, "predicted": predicted, "support": support,
            "precision": right / predicted if predicted else None,
            "recall": right / support if support else None,
            "precision_interval": wilson_interval(right, predicted) if predicted else None,
            "recall_interval": wilson_interval(right, support) if support else None}


def confusion_rate(s: dict, true: str, predicted: str) -> tuple[float, int]:
    """(share of the `true` class's faces predicted as `predicted`, their count)."""
    counts = np.asarray(s["counts"])
    t, p = CLASS_NAMES.index(true), CLASS_NAMES.index(predicted)
    total = int(counts[t].sum())
    return (float(counts[t, p] / total) if total else 0.0), int(counts[t, p])


def confused_with(s: dict, name: str) -> list[str]:
    """The classes a class's faces are mistaken for, most often first (CLASS_NAMES order on a
    tie); only classes that take at least one of its faces."""
    row, k = np.asarray(s["counts"])[CLASS_NAMES.index(name)].copy(), CLASS_NAMES.index(name)
    row[k] = 0
    order = sorted(range(len(row)), key=lambda j: (-row[j], j))
    return [CLASS_NAMES[j] for j in order if row[j] > 0]


def most_confused_with(s: dict, name: str) -> str | None:
    """The class a class's faces are most often mistaken for (the first in CLASS_NAMES order
    on a tie), None when none of its faces is mistaken."""
    return next(iter(confused_with(s, name)), None)


def _share_words(share: float, high: str, half: str, low: str) -> str:
    return high if round(share, 3) > 0.5 else half if round(share, 3) == 0.5 else low


def _interval(bounds) -> str:
    return f"{CONFIDENCE:.0%} interval {pct(bounds[0])}-{pct(bounds[1])}"


def precision_recall_sentence(s: dict, name: str = "disgust", noted: Sequence[str] = ()) -> str:
    """Whether a prediction of class `name` can be trusted (precision) and how many of its faces
    are found (recall), with their counts and Wilson intervals, where the missed faces go,
    and whether it is the rarest class."""
    c, title = class_counts(s, name), name.capitalize()
    if not c["support"]:
        return f"- **{title}**: there are no {name} faces among these validation faces."
    if not c["predicted"]:
        other = most_confused_with(s, name)
        if c["support"] == 1:
            return (f"- **{title}**: the CNN never predicts {name}, so it misses the only {name} face"
                    + (f", which it calls {other}." if other is not None else "."))
        line = (f"- **{title}**: the CNN never predicts {name}, so it misses all "
                f"{plural(c['support'], name + ' face')}")
        if other is not None:
            share, count = confusion_rate(s, name, other)
            line += f"; the largest share goes to {other} ({plural(count, 'face')}, {pct(share)})"
        return line + "."
    precision, recall = c["precision"], c["recall"]
    trust = _share_words(precision, f"a predicted {name} is usually right",
                         f"a predicted {name} is right half the time",
                         f"a predicted {name} is more often wrong than right")
    found = _share_words(recall, f"most {name} faces are found",
                         f"{'only ' if round(precision, 3) > 0.5 else ''}half the {name} faces are found",
                         f"most {name} faces are missed")
    contrast = (round(precision, 3) > 0.5) != (round(recall, 3) > 0.5)
    line = (f"- **{title}: {trust}, {'yet' if contrast else 'and'} {found}.** Precision "
            f"{pct(precision)} ({c['right']} of the {plural(c['predicted'], 'face')} it calls {name}; "
            f"{_interval(c['precision_interval'])}), recall {pct(recall)} ({c['right']} of the "
            f"{plural(c['support'], name + ' face')}; {_interval(c['recall_interval'])})")
    others = confused_with(s, name)[:2]
    if others:
        share, count = confusion_rate(s, name, others[0])
        line += (f"; the missed ones go most often to {others[0]} ({plural(count, 'face')}, {pct(share)} of "
                 f"{name} faces)")
    if len(others) > 1:
        share, count = confusion_rate(s, name, others[1])
        line += f", then {others[1]} ({plural(count, 'face')}, {pct(share)})"
    for other in [n for n in noted if others and n not in others and n != name]:
        share, count = confusion_rate(s, name, other)
        line += f"; {other}, which past reports also noted, takes {plural(count, 'face')} ({pct(share)})"
    supports = {k: v["support"] for k, v in s["per_class"].items() if v["support"] > 0}
    if c["support"] == min(supports.values()) and list(supports.values()).count(c["support"]) == 1:
        line += f". {title} is the rarest class, so these shares rest on few faces"
    return line + "."


def low_expression_sentence(s: dict, pair=("sad", "neutral"), expressive=("happy", "surprise")) -> str:
    """How often the two classes of `pair` are taken for each other, in both directions, whether
    each is the other's most frequent confusion, and the CNN's mean top probability on both
    against the `expressive` classes (confusion_summary's "confidence"): the two are called
    less certain only when both are below every expressive class."""
    a, b = pair
    ab, ba = confusion_rate(s, a, b), confusion_rate(s, b, a)
    line = (f"- **{a.capitalize()} and {b}**: {pct(ab[0])} of {a} faces are called {b} "
            f"({plural(ab[1], 'face')}) and {pct(ba[0])} of {b} faces {a} ({plural(ba[1], 'face')})")
    top_a, top_b = most_confused_with(s, a), most_confused_with(s, b)
    if top_a == b and top_b == a:
        line += "; each is the other's most frequent confusion"
    elif top_a == b or top_b == a:
        first, second, other = (a, b, top_b) if top_a == b else (b, a, top_a)
        line += (f"; {second} is {first}'s most frequent confusion, while {second}'s is "
                 f"{other or 'none'}")
    else:
        line += f"; {a}'s most frequent confusion is {top_a or 'none'}, {b}'s {top_b or 'none'}"
    confidence = s.get("confidence") or {}
    classes = [*pair, *expressive]
    if any(confidence.get(k) is None for k in classes):
        return line + "."
    numbers = (f"mean top probability {pct(confidence[a])} on {a} and {pct(confidence[b])} on {b} "
               f"faces, against " + " and ".join(f"{pct(confidence[e])} on {e}" for e in expressive))
    if max(confidence[a], confidence[b]) < min(confidence[e] for e in expressive):
        return (line + f". By the CNN's own confidence both are harder than the expressive "
                f"{' and '.join(expressive)} faces ({numbers}), as faces with little expression would be.")
    return (line + f". By the CNN's confidence they are not harder than the expressive "
            f"{' and '.join(expressive)} faces ({numbers}).")


def noted_confusions_sentences(s: dict) -> str:
    """What past reports noted, checked on this run: disgust's precision against its recall,
    and sad and neutral taken for each other."""
    return precision_recall_sentence(s, "disgust", noted=NOTED_DISGUST) + "\n" + low_expression_sentence(s)


def confusion_figure(s: dict, model: str = "CNN") -> Figure:
    """Both confusion matrices as heat maps, each cell written out: normalized by true class (%)
    and counts."""
    import seaborn as sns  # only for this figure: `accuracy` is imported everywhere

    fig = Figure(figsize=(5.6, 3.3), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    # Every cell carries its number, so neither map needs a color bar.
    sns.heatmap(100 * s["normalized"], annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100,
                square=True, xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES, cbar=False,
                annot_kws={"fontsize": 8}, ax=left)
    left.set(title="Normalized by true class (%)", xlabel="predicted class", ylabel="true class")
    sns.heatmap(s["counts"], annot=True, fmt="d", cmap="Greys", square=True, xticklabels=CLASS_NAMES,
                yticklabels=CLASS_NAMES, cbar=False, annot_kws={"fontsize": 8}, ax=right)
    right.set(title="Counts (faces)", xlabel="predicted class", ylabel="")
    set_fonts(left, right, ticks=8)
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=90)
    fig.suptitle(f"{model} on the {s['faces']:,} validation faces (accuracy {pct(s['val_accuracy'])})",
                 fontsize=11)
    return fig


def misclassified_figure(images, y_true, proba, pairs: list[dict], per_pair: int) -> Figure:
    """For each confused pair of top_confusions, a row of the faces (N, H, W) of its true class
    predicted as its other class, the most confident first, titled with that probability; the
    row is labeled with the pair."""
    if not pairs or per_pair < 1:  # nothing confused, or nothing asked for: a figure that says so
        fig = Figure(figsize=(5, 0.6))
        fig.text(0.5, 0.5, "No misclassified validation faces to show", ha="center", va="center",
                 fontsize=10)
        return fig

    y_pred = as_labels(proba)
    cells, titles, labels = [], [], []
    for pair in pairs:
        t, p = CLASS_NAMES.index(pair["true"]), CLASS_NAMES.index(pair["predicted"])
        picks = list(misclassified(y_true, y_pred, proba, t, p, per_pair))
        cells += [images[i] for i in picks] + [None] * (per_pair - len(picks))
        titles += [pct(proba[i, p], 0) for i in picks] + [""] * (per_pair - len(picks))
        labels.append(f"{pair['true']}\nas {pair['predicted']}")
    return plot_grid(cells, titles=titles, ncols=per_pair, vmin=0, vmax=255, row_labels=labels,
                     cell_size=min(0.75, 4.6 / per_pair), fontsize=9,
                     suptitle="Confidently misclassified validation faces\n"
                              "(true class as predicted class; title: probability given to it)")
