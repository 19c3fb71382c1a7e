"""Semi-supervised learning (self-training with pseudo-labels) and ensembles: numpy only.

Nothing here imports Keras. The self-training loop takes two callables, so the same code runs
the report's CNN experiment and the unit tests' toy classifiers::

    def train_fn(x, y, round_index):           # -> any handle, e.g. a training.Run
        return train_cnn(f"semi_round{round_index}", inputs, cnn, training, models_dir,
                         augmentation, x_train=x, y_train=y)

    def predict_fn(run, x):                    # -> class probabilities (N, C)
        return predict_proba(run.model, x)

    run, reports = self_training(train_fn, predict_fn, x_lab, y_lab, x_unlab, threshold=0.9,
                                 rounds=2, y_unlabeled_true=y_unlab,
                                 extra_unlabeled=inputs.x_test)

Conventions: labels are integers 0..C-1; probabilities are (N, C) arrays; argmax ties go to the
lowest class index and confidence ties to the lowest row index, so every selection is
deterministic.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from helpers.config import NUM_CLASSES

UNKNOWN_LABEL = -1
"""True-label value meaning "not known" (e.g. test images): such rows are never scored."""


# --------------------------------------------------------------------------- labeled subset


def labeled_split(y, fraction: float, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of rows into (labeled indices, unlabeled indices), both sorted.

    Class c with n_c rows keeps round(fraction * n_c) labels, the rounding done by largest
    remainder so that the total is round(fraction * N) (remainder ties go to the lower class);
    then every class with at least one row keeps at least one label, so the first model can
    predict every class. Which rows of a class are kept is a seeded random permutation. The
    two index arrays are disjoint and together cover every row.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1 (exclusive), got {fraction}")
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    target = int(round(fraction * len(y)))
    exact = fraction * counts
    keep = np.floor(exact).astype(np.int64)
    short = target - int(keep.sum())
    if short > 0:
        # Largest remainders first; stable sort keeps the lower class first on ties.
        order = np.argsort(-(exact - keep), kind="stable")
        keep[order[:short]] += 1
    keep = np.minimum(np.maximum(keep, 1), counts)
    rng = np.random.default_rng(seed)
    labeled = []
    for c in range(len(classes)):
        rows = np.flatnonzero(inverse == c)
        labeled.append(rows[rng.permutation(len(rows))[: keep[c]]])
    labeled_idx = np.sort(np.concatenate(labeled)) if labeled else np.zeros(0, np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[labeled_idx] = False
    return labeled_idx.astype(np.int64), np.flatnonzero(mask).astype(np.int64)


# --------------------------------------------------------------------------- pseudo-labels


def _as_proba(proba) -> np.ndarray:
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape[1] == 0:
        raise ValueError(f"probabilities must be a 2-D array (rows, classes), got shape {proba.shape}")
    if not np.issubdtype(proba.dtype, np.floating):
        proba = proba.astype(np.float64)
    return proba


def select_pseudo_labels(proba, threshold: float, max_per_class: int | None = None,
                         class_balance: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Confident rows and their pseudo-labels: (indices sorted ascending, labels), int64.

    A row is accepted when its largest probability is >= threshold (the comparison is done in
    the dtype of `proba`, so a float32/float16 value equal to the threshold is accepted); its
    pseudo-label is the argmax (lowest class on ties).

    Caps, applied per class to the accepted rows ranked by confidence (highest first, lower row
    index first on ties), keep the most confident rows of each class:

    * ``max_per_class``: at most that many rows per class;
    * ``class_balance``: at most floor(median) rows per class, the median taken over the
      accepted counts of the classes that have any accepted row (and at least 1). Easy,
      frequent classes (FER2013's "happy") then cannot swamp the pseudo-labels, while rare
      classes keep all they have. With both, the smaller cap applies.
    """
    proba = _as_proba(proba)
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    if max_per_class is not None and (int(max_per_class) != max_per_class or max_per_class < 0):
        raise ValueError(f"max_per_class must be a non-negative integer or None, got {max_per_class}")
    confidence = proba.max(axis=1)
    labels = proba.argmax(axis=1).astype(np.int64)
    accepted = np.flatnonzero(confidence >= np.asarray(threshold, dtype=proba.dtype))
    if max_per_class is None and not class_balance:
        return accepted.astype(np.int64), labels[accepted]

    num_classes = proba.shape[1]
    counts = np.bincount(labels[accepted], minlength=num_classes)
    cap = np.full(num_classes, np.iinfo(np.int64).max, dtype=np.int64)
    if max_per_class is not None:
        cap[:] = int(max_per_class)
    if class_balance and counts.any():
        median = int(np.floor(np.median(counts[counts > 0])))
        cap = np.minimum(cap, max(median, 1))
    # Rank accepted rows by confidence (descending), then row index (ascending).
    ranked = accepted[np.lexsort((accepted, -confidence[accepted].astype(np.float64)))]
    rank_in_class = np.zeros(len(ranked), dtype=np.int64)
    seen = np.zeros(num_classes, dtype=np.int64)
    for position, row in enumerate(ranked):
        c = labels[row]
        rank_in_class[position] = seen[c]
        seen[c] += 1
    kept = np.sort(ranked[rank_in_class < cap[labels[ranked]]])
    return kept.astype(np.int64), labels[kept]


def pseudo_label_report(indices, labels, true_labels, n_unlabeled: int,
                        num_classes: int = NUM_CLASSES) -> dict:
    """What a pseudo-labeling accepted, and how often it was right.

    `indices` index a pool of `n_unlabeled` rows and `labels` are their pseudo-labels.
    `true_labels` is None (accuracy unknown) or the pool's true labels, one per pool row, with
    UNKNOWN_LABEL (-1) for rows whose truth is unknown (test images): those count as accepted
    but are left out of the accuracy.

    Returns accepted, accepted_fraction (of the pool), scored (accepted rows with a known true
    label), correct, pseudo_label_accuracy (correct / scored, None when nothing is scored),
    per_class (accepted count per pseudo-label, a list of num_classes ints) and n_unlabeled.
    """
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(indices) != len(labels):
        raise ValueError(f"{len(indices)} indices but {len(labels)} labels")
    if len(np.unique(indices)) != len(indices):
        raise ValueError("indices must not repeat")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_unlabeled):
        raise ValueError(f"indices must lie in 0..{n_unlabeled - 1}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    scored = correct = 0
    if true_labels is not None:
        true_labels = np.asarray(true_labels, dtype=np.int64).reshape(-1)
        if len(true_labels) != n_unlabeled:
            raise ValueError(f"{len(true_labels)} true labels for a pool of {n_unlabeled} rows")
        truth = true_labels[indices]
        known = truth != UNKNOWN_LABEL
        scored = int(known.sum())
        correct = int((truth[known] == labels[known]).sum())
    return {
        "accepted": int(len(indices)),
        "accepted_fraction": float(len(indices) / n_unlabeled) if n_unlabeled else 0.0,
        "scored": scored,
        "correct": correct,
        "pseudo_label_accuracy": float(correct / scored) if scored else None,
        "per_class": np.bincount(labels, minlength=num_classes)[:num_classes].astype(int).tolist(),
        "n_unlabeled": int(n_unlabeled),
    }


# --------------------------------------------------------------------------- self-training


def self_training(train_fn: Callable[[np.ndarray, np.ndarray, int], Any],
                  predict_fn: Callable[[Any, np.ndarray], np.ndarray],
                  x_labeled, y_labeled, x_unlabeled, threshold: float, rounds: int = 1,
                  y_unlabeled_true=None, extra_unlabeled=None, max_per_class: int | None = None,
                  class_balance: bool = False, num_classes: int = NUM_CLASSES,
                  evaluate_fn: Callable[[Any, int], dict] | None = None) -> tuple[Any, list[dict]]:
    """Self-training: train on the labels, pseudo-label the pool, retrain, `rounds` times.

    Round 0 calls ``train_fn(x_labeled, y_labeled, 0)``. Each round r = 1..rounds predicts the
    pool (x_unlabeled followed by extra_unlabeled, e.g. the test images) with the previous
    round's model, selects pseudo-labels with :func:`select_pseudo_labels` (threshold,
    max_per_class, class_balance), and calls ``train_fn(labeled + pseudo-labeled rows, r)``.
    Pseudo-labels are recomputed from scratch every round (not accumulated), so a later, better
    model can revise or drop earlier ones. Labeled rows come first in every training set,
    pseudo-labeled rows follow in pool order.

    Returns (the last round's handle, one report per round 0..rounds). Each report has round,
    labeled_rows, pseudo_rows, train_rows, threshold, accepted_unlabeled, accepted_extra and the
    keys of :func:`pseudo_label_report` over the whole pool (accuracy scored only on
    x_unlabeled rows, and only when y_unlabeled_true is given; extra rows are never scored);
    round 0 has zero accepted rows. ``evaluate_fn(handle, round)`` may add keys (e.g. the
    validation accuracy) to each round's report.
    """
    x_labeled, y_labeled = np.asarray(x_labeled), np.asarray(y_labeled, dtype=np.int64)
    x_unlabeled = np.asarray(x_unlabeled)
    if len(x_labeled) != len(y_labeled):
        raise ValueError(f"{len(x_labeled)} labeled rows but {len(y_labeled)} labels")
    if int(rounds) != rounds or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer, got {rounds}")
    n_unlabeled = len(x_unlabeled)
    if extra_unlabeled is not None and len(extra_unlabeled):
        extra_unlabeled = np.asarray(extra_unlabeled)
        pool = np.concatenate([x_unlabeled, extra_unlabeled.astype(x_unlabeled.dtype, copy=False)])
    else:
        pool = x_unlabeled
    n_extra = len(pool) - n_unlabeled
    pool_truth = None
    if y_unlabeled_true is not None:
        y_unlabeled_true = np.asarray(y_unlabeled_true, dtype=np.int64).reshape(-1)
        if len(y_unlabeled_true) != n_unlabeled:
            raise ValueError(f"{len(y_unlabeled_true)} true labels for {n_unlabeled} unlabeled rows")
        pool_truth = np.concatenate([y_unlabeled_true, np.full(n_extra, UNKNOWN_LABEL, np.int64)])

    def finish(report: dict, handle, round_index: int) -> dict:
        if evaluate_fn is not None:
            report.update(evaluate_fn(handle, round_index) or {})
        return report

    handle = train_fn(x_labeled, y_labeled, 0)
    empty = np.zeros(0, np.int64)
    report = pseudo_label_report(empty, empty, pool_truth, len(pool), num_classes)
    reports = [finish({"round": 0, "labeled_rows": len(y_labeled), "pseudo_rows": 0,
                       "train_rows": len(y_labeled), "threshold": float(threshold),
                       "accepted_unlabeled": 0, "accepted_extra": 0, **report}, handle, 0)]
    for round_index in range(1, int(rounds) + 1):
        proba = _as_proba(predict_fn(handle, pool))
        if len(proba) != len(pool):
            raise ValueError(f"predict_fn returned {len(proba)} rows for {len(pool)} inputs")
        indices, labels = select_pseudo_labels(proba, threshold, max_per_class, class_balance)
        report = pseudo_label_report(indices, labels, pool_truth, len(pool), num_classes)
        x_train = np.concatenate([x_labeled, pool[indices].astype(x_labeled.dtype, copy=False)])
        y_train = np.concatenate([y_labeled, labels])
        handle = train_fn(x_train, y_train, round_index)
        from_unlabeled = int((indices < n_unlabeled).sum())
        reports.append(finish({
            "round": round_index, "labeled_rows": len(y_labeled), "pseudo_rows": len(indices),
            "train_rows": len(y_train), "threshold": float(threshold),
            "accepted_unlabeled": from_unlabeled, "accepted_extra": len(indices) - from_unlabeled,
            **report}, handle, round_index))
    return handle, reports


# --------------------------------------------------------------------------- ensembles


def average_probabilities(probas: Sequence, weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of class-probability arrays of equal shape (float64).

    Weights default to equal; they must be finite, non-negative, one per member, and not all
    zero. They are normalized, so rows of probabilities stay rows of probabilities.
    """
    probas = [np.asarray(p, dtype=np.float64) for p in probas]
    if not probas:
        raise ValueError("need at least one probability array")
    shape = probas[0].shape
    if len(shape) != 2:
        raise ValueError(f"probabilities must be 2-D (rows, classes), got shape {shape}")
    for i, p in enumerate(probas[1:], start=1):
        if p.shape != shape:
            raise ValueError(f"member {i} has shape {p.shape}, member 0 has {shape}")
    if weights is None:
        w = np.ones(len(probas))
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != len(probas):
            raise ValueError(f"{len(w)} weights for {len(probas)} members")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights must be finite and non-negative, got {w.tolist()}")
        if w.sum() == 0:
            raise ValueError("weights must not all be zero")
    w = w / w.sum()
    return np.tensordot(w, np.stack(probas), axes=1)


def _as_labels(proba_or_labels) -> np.ndarray:
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
    predicted = _as_labels(proba_or_labels)
    y = np.asarray(y).reshape(-1)
    if len(predicted) != len(y):
        raise ValueError(f"{len(predicted)} predictions but {len(y)} labels")
    if len(y) == 0:
        raise ValueError("accuracy of zero rows is undefined")
    return float(np.mean(predicted == y))


def ensemble_table(names: Sequence[str], probas: Sequence, y, weights=None):
    """A pandas DataFrame for the report: each member's accuracy, then the member mean, the
    best member and the averaged ensemble. Columns: model, kind (member / summary / ensemble),
    accuracy, vs_best (accuracy minus the best member's)."""
    import pandas as pd

    names = list(names)
    if len(names) != len(probas):
        raise ValueError(f"{len(names)} names for {len(probas)} members")
    ensemble = average_probabilities(probas, weights)
    scores = [accuracy(p, y) for p in probas]
    best = int(np.argmax(scores))
    rows = [(name, "member", score) for name, score in zip(names, scores)]
    rows.append(("mean of members", "summary", float(np.mean(scores))))
    rows.append((f"best member ({names[best]})", "summary", scores[best]))
    label = "weighted average" if weights is not None else "average"
    rows.append((f"ensemble: {label} of {len(names)}", "ensemble", accuracy(ensemble, y)))
    table = pd.DataFrame(rows, columns=["model", "kind", "accuracy"])
    table["vs_best"] = table["accuracy"] - scores[best]
    return table


# --------------------------------------------------------------------------- submission


def write_submission(path, ids, proba_or_labels, num_classes: int = NUM_CLASSES) -> Path:
    """Write the leaderboard CSV: header ``id,label``, one row per test id, in the given order.

    `proba_or_labels` is (N, C) probabilities (argmax is taken) or N integer labels. Raises
    ValueError when the lengths differ, ids repeat or are not integers, or a label is outside
    0..num_classes-1. Written atomically (a temporary file, then os.replace); returns the path.
    """
    path = Path(path)
    ids = np.asarray(ids).reshape(-1)
    labels = _as_labels(proba_or_labels)
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} ids but {len(labels)} predictions")
    if ids.size and not (np.issubdtype(ids.dtype, np.number) and np.all(ids == np.round(ids))):
        raise ValueError("ids must be integers")
    ids = ids.astype(np.int64)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("ids must be unique")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "id,label\n" + "".join(f"{i},{c}\n" for i, c in zip(ids.tolist(), labels.tolist()))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a submission is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
