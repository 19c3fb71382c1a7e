"""Paired comparisons of two classifiers on the same faces, and the words the report uses for them.

Two models scored on the same validation faces are compared face by face: the faces the second
model gets right and the first wrong are "fixed", the reverse "broken". Under the hypothesis that
both models are equally accurate, a discordant face is fixed or broken with probability 1/2, so
the exact McNemar test is a two-sided binomial test of `fixed` out of `fixed + broken`::

    comparison = paired_comparison(proba_before, proba_after, y_val)
    print("Self-training " + change_words(acc_before, acc_after, *comparison) + ".")

Numpy and scipy only; nothing here imports Keras.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

import numpy as np
from scipy.stats import binomtest

from helpers.analysis.evaluation import as_labels
from helpers.core.config import NUM_CLASSES


class Paired(NamedTuple):
    """A face-by-face comparison: faces fixed and broken by the second model, exact McNemar p."""

    fixed: int
    broken: int
    p: float


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Two-sided exact McNemar p-value for `fixed` and `broken` discordant pairs.

    It is scipy's two-sided binomial test of `fixed` successes in `fixed + broken` trials with
    p = 1/2, i.e. 2 * P(X <= min(fixed, broken)) for X ~ Binomial(fixed + broken, 1/2), capped
    at 1. With no discordant pair the two models cannot be told apart: p = 1.
    """
    if int(fixed) != fixed or int(broken) != broken or fixed < 0 or broken < 0:
        raise ValueError(f"fixed and broken must be non-negative integers, got {fixed}, {broken}")
    n = int(fixed) + int(broken)
    return float(binomtest(int(fixed), n, 0.5).pvalue) if n else 1.0


def paired_comparison(before, after, y) -> Paired:
    """Compare two models' predictions on the same rows.

    `before` and `after` are (N, C) probabilities (the argmax is the prediction) or N labels;
    `y` holds the N true labels. Returns Paired(fixed, broken, p): the rows `after` gets right
    and `before` wrong, the reverse, and the exact McNemar p-value (:func:`mcnemar_exact`).
    """
    y, predicted_before, predicted_after = np.asarray(y).reshape(-1), as_labels(before), as_labels(after)
    if not len(predicted_before) == len(predicted_after) == len(y):
        raise ValueError(f"{len(predicted_before)} rows before, {len(predicted_after)} after, {len(y)} labels")
    right_before, right_after = predicted_before == y, predicted_after == y
    fixed = int((right_after & ~right_before).sum())
    broken = int((right_before & ~right_after).sum())
    return Paired(fixed, broken, mcnemar_exact(fixed, broken))


def significant_changes(changes: Iterable[tuple[float, float]], alpha: float = 0.05) -> tuple[int, int, int]:
    """Count (change, p-value) pairs: (significantly better, significantly worse, the rest).

    A change is significant when p < alpha; better means change > 0, worse change < 0.
    """
    changes = list(changes)
    better = sum(1 for delta, p in changes if delta > 0 and p < alpha)
    worse = sum(1 for delta, p in changes if delta < 0 and p < alpha)
    return better, worse, len(changes) - better - worse


def per_class_recall(proba_or_labels, y, num_classes: int = NUM_CLASSES) -> list[float]:
    """Share of each true class's rows predicted as that class (NaN for a class with no rows)."""
    predicted, y = as_labels(proba_or_labels), np.asarray(y).reshape(-1)
    recall = []
    for k in range(num_classes):
        rows = y == k
        recall.append(float(np.mean(predicted[rows] == k)) if rows.any() else float("nan"))
    return recall
