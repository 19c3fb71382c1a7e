"""Confusion matrix, per-class scores and the most-confused pairs (the "confusion" section), with the
summary, sentences and pyplot-free figures notebook 04 shows; accuracy of labels or
probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix

from helpers.core.config import CLASS_NAMES, NUM_CLASSES


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
