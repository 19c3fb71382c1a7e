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
from scipy.stats import binomtest, norm

from helpers.analysis.evaluation import as_labels
from helpers.core.config import ALPHA, CONFIDENCE, NUM_CLASSES  # noqa: F401 (ALPHA, CONFIDENCE: used here and re-exported)



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


def significant_changes(changes: Iterable[tuple[float, float]], alpha: float = ALPHA) -> tuple[int, int, int]:
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


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion: `successes` out of `n` at level `confidence`.

    Unlike the normal approximation it stays inside [0, 1] and is sound near 0 and 1.
    """
    if int(successes) != successes or int(n) != n or not 0 <= successes <= n or n < 1:
        raise ValueError(f"need integers 0 <= successes <= n and n >= 1, got {successes}, {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    z = float(norm.ppf(0.5 + confidence / 2))
    share = successes / n
    center = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    # At 0 and n the bounds are exactly 0 and 1; rounding would leave 1e-17 off.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return float(low), float(high)


def paired_difference_interval(fixed: int, broken: int, n: int,
                               confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(change, low, high): the change of accuracy between two models scored on the same `n`
    rows, (fixed - broken) / n, and its interval.

    The interval is Agresti and Min's (2005) adjusted Wald interval for a difference of paired
    proportions: half a row added to each of the four cells of the paired table (so `fixed`,
    `broken` and the two concordant cells each gain 0.5, and n gains 2) before the Wald formula.
    It stays sound when few rows change, where the plain Wald interval collapses to a point.
    """
    if any(int(v) != v for v in (fixed, broken, n)) or fixed < 0 or broken < 0 or fixed + broken > n or n < 1:
        raise ValueError(f"need integers fixed, broken >= 0 with fixed + broken <= n >= 1, got {fixed}, {broken}, {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    z = float(norm.ppf(0.5 + confidence / 2))
    f, b, m = fixed + 0.5, broken + 0.5, n + 2
    center = (f - b) / m
    half = z * np.sqrt((f + b) - (f - b) ** 2 / m) / m
    return (fixed - broken) / n, float(max(-1.0, center - half)), float(min(1.0, center + half))


def accuracy_with_interval(proba_or_labels, y, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(accuracy, low, high): the share of rows predicted right and its Wilson interval."""
    predicted, y = as_labels(proba_or_labels), np.asarray(y).reshape(-1)
    if len(predicted) != len(y) or not len(y):
        raise ValueError(f"{len(predicted)} predictions for {len(y)} labels")
    right = int((predicted == y).sum())
    return (right / len(y), *wilson_interval(right, len(y), confidence))


def leaders(predictions: dict, y, alpha: float = ALPHA) -> dict:
    """Which of several models on the same rows are best, as far as the paired test can tell.

    `predictions` maps a name to (N, C) probabilities or N labels. The leader is the most
    accurate (the first named on a tie); `top` lists it and every model whose McNemar test
    against it gives p >= alpha (not significantly behind it), `behind` the others, and `p`
    each model's p-value against the leader. A single best model is one whose `top` is itself.
    """
    if not predictions:
        raise ValueError("no predictions to compare")
    y = np.asarray(y).reshape(-1)
    right = {name: float(np.mean(as_labels(p) == y)) for name, p in predictions.items()}
    leader = max(right, key=right.get)
    p = {name: paired_comparison(predictions[leader], proba, y).p
         for name, proba in predictions.items() if name != leader}
    return {"leader": leader, "top": [leader] + [n for n in p if p[n] >= alpha],
            "behind": [n for n in p if p[n] < alpha], "p": p}
