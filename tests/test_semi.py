"""Unit tests for helpers.analysis.semi (pseudo-label selection, the self-training loop), helpers.analysis.ensembles,
helpers.analysis.submissions and helpers.analysis.evaluation.accuracy."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

import helpers.analysis.ensembles as analysis_ensembles
from helpers.analysis import evaluation
import helpers.experiments.inputs as experiments_inputs
import helpers.sections.cnn as sections_cnn
import helpers.sections.ensemble as sections_ensemble
import helpers.sections.semi as sections_semi
from helpers.analysis.ensembles import average_probabilities, unanimous
from helpers.analysis.evaluation import accuracy
from helpers.analysis.semi import (class_thresholds, fraction_result, FractionRuns, labeled_split, most_over_represented, per_class_correct, POOL_KEYS, PoolPredictor, PoolRuns, pseudo_label_report, select_pseudo_labels, self_training, self_training_experiment, semi_steps, share_counts, UNKNOWN_LABEL)
from helpers.analysis.submissions import submission_agreement, write_submission

# --------------------------------------------------------------------------- labeled_split


def test_labeled_split_stratified_disjoint_covering():
    rng = np.random.default_rng(0)
    y = rng.permutation(np.repeat([0, 1, 2], [50, 30, 20]))
    lab, unlab = labeled_split(y, 0.1, seed=3)
    assert np.bincount(y[lab], minlength=3).tolist() == [5, 3, 2]
    assert np.bincount(y[unlab], minlength=3).tolist() == [45, 27, 18]
    assert np.all(np.diff(lab) > 0) and np.all(np.diff(unlab) > 0)
    assert len(np.intersect1d(lab, unlab)) == 0
    assert np.array_equal(np.sort(np.concatenate([lab, unlab])), np.arange(100))
    assert lab.dtype == np.int64 and unlab.dtype == np.int64


def test_labeled_split_deterministic_and_seeded():
    y = np.repeat(np.arange(7), 40)
    a = labeled_split(y, 0.25, seed=1)
    b = labeled_split(y, 0.25, seed=1)
    c = labeled_split(y, 0.25, seed=2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert np.bincount(y[c[0]]).tolist() == [10] * 7


def test_labeled_split_rounding_and_minimum_one_per_class():
    # 3.5, 3.5, 3 -> total round(10) = 10: the one extra label goes to the lower class.
    y = np.repeat([0, 1, 2], [7, 7, 6])
    lab, _ = labeled_split(y, 0.5, seed=0)
    assert np.bincount(y[lab]).tolist() == [4, 3, 3]
    # A class too small for its share still keeps one label.
    y = np.repeat([0, 1], [100, 2])
    lab, unlab = labeled_split(y, 0.1, seed=0)
    assert np.bincount(y[lab]).tolist() == [10, 1]
    assert np.bincount(y[unlab]).tolist() == [90, 1]


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_labeled_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        labeled_split(np.array([0, 1, 0, 1]), fraction, seed=0)


# --------------------------------------------------------------------------- select_pseudo_labels

PROBA = np.array([
    [0.90, 0.05, 0.05],    # 0: exactly at the threshold -> accepted, class 0
    [0.20, 0.70, 0.10],    # 1: rejected
    [0.01, 0.97, 0.02],    # 2: accepted, class 1
    [0.899, 0.10, 0.001],  # 3: just below -> rejected
    [0.00, 0.00, 1.00],    # 4: accepted, class 2
    [0.95, 0.03, 0.02],    # 5: accepted, class 0 (more confident than row 0)
])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_select_threshold_exact_rows_and_boundary(dtype):
    for threshold in (0.9, np.float64(0.9)):  # a numpy float64 threshold must not promote
        idx, labels = select_pseudo_labels(PROBA.astype(dtype), threshold)
        assert idx.tolist() == [0, 2, 4, 5]
        assert labels.tolist() == [0, 1, 2, 0]
        assert idx.dtype == np.int64 and labels.dtype == np.int64


def test_select_threshold_extremes():
    idx, _ = select_pseudo_labels(PROBA, 0.0)
    assert idx.tolist() == [0, 1, 2, 3, 4, 5]
    idx, labels = select_pseudo_labels(PROBA, 1.0)
    assert idx.tolist() == [4] and labels.tolist() == [2]
    idx, labels = select_pseudo_labels(np.zeros((0, 3)), 0.5)
    assert idx.tolist() == [] and labels.tolist() == []


def test_select_max_per_class_keeps_most_confident():
    idx, labels = select_pseudo_labels(PROBA, 0.9, max_per_class=1)
    assert idx.tolist() == [2, 4, 5]
    assert labels.tolist() == [1, 2, 0]
    idx, _ = select_pseudo_labels(PROBA, 0.9, max_per_class=0)
    assert idx.tolist() == []


def test_select_ties_are_deterministic():
    proba = np.array([[0.5, 0.5, 0.0],     # argmax tie -> class 0
                      [0.95, 0.05, 0.0],
                      [0.95, 0.0, 0.05],   # same confidence as row 1 -> row 1 wins the cap
                      [0.95, 0.05, 0.0]])
    idx, labels = select_pseudo_labels(proba, 0.5)
    assert idx.tolist() == [0, 1, 2, 3] and labels.tolist() == [0, 0, 0, 0]
    idx, _ = select_pseudo_labels(proba, 0.9, max_per_class=2)
    assert idx.tolist() == [1, 2]


def _rows(spec, num_classes=4):
    """One probability row per (class, confidence), the rest spread evenly."""
    proba = np.zeros((len(spec), num_classes))
    for i, (c, conf) in enumerate(spec):
        proba[i] = (1 - conf) / (num_classes - 1)
        proba[i, c] = conf
    return proba


BALANCE = _rows([(0, 0.91), (0, 0.99), (0, 0.95), (0, 0.93), (0, 0.97),   # 5 of class 0
                 (1, 0.92), (1, 0.96),                                    # 2 of class 1
                 (2, 0.98),                                               # 1 of class 2
                 (3, 0.50)])                                              # rejected


def test_select_class_balance_caps_at_median():
    # Accepted per class: [5, 2, 1, 0]; median over classes with any = 2.
    idx, labels = select_pseudo_labels(BALANCE, 0.9, class_balance=True)
    assert idx.tolist() == [1, 4, 5, 6, 7]
    assert labels.tolist() == [0, 0, 1, 1, 2]
    # Without balancing every accepted row is kept.
    idx, _ = select_pseudo_labels(BALANCE, 0.9)
    assert idx.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


def test_select_class_balance_even_median_and_combined_cap():
    # Accepted per class [6, 3, 2, 1]: median 2.5 -> cap 2.
    proba = _rows([(0, 0.90 + i / 100) for i in range(6)]
                  + [(1, 0.95)] * 3 + [(2, 0.95)] * 2 + [(3, 0.95)])
    idx, labels = select_pseudo_labels(proba, 0.9, class_balance=True)
    assert idx.tolist() == [4, 5, 6, 7, 9, 10, 11]
    assert np.bincount(labels, minlength=4).tolist() == [2, 2, 2, 1]
    # With max_per_class too, the smaller cap wins.
    idx, _ = select_pseudo_labels(BALANCE, 0.9, max_per_class=1, class_balance=True)
    assert idx.tolist() == [1, 6, 7]


def test_share_counts_split_a_total_by_largest_remainder():
    assert share_counts(8, [1, 1, 1, 1]).tolist() == [2, 2, 2, 2]
    assert share_counts(10, [1, 1, 1]).tolist() == [4, 3, 3]      # the remainder to the lower class
    assert share_counts(7, [3, 0, 1]).tolist() == [5, 0, 2]       # 5.25 and 1.75: 1.75 rounds up
    assert share_counts(0, [2, 5]).tolist() == [0, 0]
    for total, shares in [(100, [436, 47, 451, 805, 546, 358, 557]), (13, [0.1, 0.7, 0.2])]:
        assert share_counts(total, shares).sum() == total
    with pytest.raises(ValueError, match="not all zero"):
        share_counts(5, [0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        share_counts(5, [1, -1])


def test_select_by_class_shares_gives_each_class_its_share_and_its_own_threshold():
    # The threshold accepts 8 rows (all but the last); equal shares: 2 per class. Class 0 takes its
    # two most confident, class 2 has only one, and class 3 takes its row below the threshold.
    idx, labels = select_pseudo_labels(BALANCE, 0.9, class_shares=[1, 1, 1, 1])
    assert idx.tolist() == [1, 4, 5, 6, 7, 8] and labels.tolist() == [0, 0, 1, 1, 2, 3]
    assert class_thresholds(BALANCE, idx, labels, 4) == [0.97, 0.92, 0.98, 0.5]
    # Shares like the labels' (6:1:1:0): class 0 takes all 5 of its rows, class 3 none.
    idx, labels = select_pseudo_labels(BALANCE, 0.9, class_shares=[6, 1, 1, 0])
    assert idx.tolist() == [0, 1, 2, 3, 4, 6, 7]
    assert class_thresholds(BALANCE, idx, labels, 4) == [0.91, 0.96, 0.98, None]
    # Nothing reaches the threshold: nothing is taken, whatever the shares.
    assert select_pseudo_labels(BALANCE, 0.999, class_shares=[1, 1, 1, 1])[0].tolist() == []
    # Confidence ties go to the lower row.
    tied = _rows([(0, 0.95), (0, 0.95), (1, 0.95)])
    assert select_pseudo_labels(tied, 0.9, class_shares=[1, 0, 0, 0])[0].tolist() == [0, 1]
    assert select_pseudo_labels(tied, 0.96, class_shares=[1, 0, 0, 0])[0].tolist() == []
    with pytest.raises(ValueError, match="3 class shares for 4 classes"):
        select_pseudo_labels(BALANCE, 0.9, class_shares=[1, 1, 1])


def test_per_class_correct_counts_right_pseudo_labels_with_known_truth():
    truth = np.array([0, 1, 1, UNKNOWN_LABEL, 2])
    assert per_class_correct([0, 1, 2, 3, 4], [0, 0, 1, 1, 1], truth, 3) == [1, 1, 0]
    assert per_class_correct([], [], truth, 3) == [0, 0, 0]


def test_semi_steps_are_epochs_of_the_labeled_part():
    assert semi_steps(40, 2584, 64) == 40 * 41
    assert semi_steps(40, 7751, 64) == 40 * 122
    assert semi_steps(0.5, 10, 4) == 2          # 3 steps an epoch, rounded
    assert semi_steps(0.01, 10, 4) == 1         # at least one
    with pytest.raises(ValueError):
        semi_steps(0, 10, 4)
    with pytest.raises(ValueError):
        semi_steps(4, 0, 4)


def test_select_validation():
    with pytest.raises(ValueError, match="threshold"):
        select_pseudo_labels(PROBA, 1.5)
    with pytest.raises(ValueError, match="max_per_class"):
        select_pseudo_labels(PROBA, 0.9, max_per_class=-1)
    with pytest.raises(ValueError, match="2-D"):
        select_pseudo_labels(np.array([0.1, 0.9]), 0.5)


# --------------------------------------------------------------------------- pseudo_label_report


def test_pseudo_label_report_exact():
    true = np.array([0, 1, 1, 0, 1, 2, UNKNOWN_LABEL, 1])
    report = pseudo_label_report([0, 2, 4, 5, 6], [0, 1, 2, 0, 3], true, n_unlabeled=8)
    assert report == {
        "accepted": 5,
        "accepted_fraction": 0.625,
        "scored": 4,               # row 6 has no known truth
        "correct": 2,              # rows 0 and 2
        "pseudo_label_accuracy": 0.5,
        "per_class": [2, 1, 1, 1, 0, 0, 0],
        "n_unlabeled": 8,
    }


def test_pseudo_label_report_without_truth_and_empty():
    report = pseudo_label_report([1, 3], [6, 6], None, n_unlabeled=4)
    assert report["pseudo_label_accuracy"] is None and report["scored"] == 0
    assert report["per_class"] == [0, 0, 0, 0, 0, 0, 2]
    empty = pseudo_label_report([], [], np.zeros(5), n_unlabeled=5, num_classes=3)
    assert empty["accepted"] == 0 and empty["accepted_fraction"] == 0.0
    assert empty["pseudo_label_accuracy"] is None and empty["per_class"] == [0, 0, 0]


def test_pseudo_label_report_validation():
    with pytest.raises(ValueError, match="labels"):
        pseudo_label_report([0, 1], [0], None, n_unlabeled=3)
    with pytest.raises(ValueError, match="true labels"):
        pseudo_label_report([0], [0], np.zeros(2), n_unlabeled=3)
    with pytest.raises(ValueError, match="indices"):
        pseudo_label_report([3], [0], None, n_unlabeled=3)


# --------------------------------------------------------------------------- self_training

CENTERS = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])


class NearestCentroid:
    """Tiny numpy classifier: softmax over minus half the squared distance to class means."""

    def __init__(self, x, y, num_classes=3):
        self.centroids = np.stack([x[y == c].mean(axis=0) for c in range(num_classes)])

    def predict_proba(self, x):
        d2 = ((x[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        logits = -0.5 * d2
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


def _toy(seed=0, per_class=20):
    rng = np.random.default_rng(seed)
    offsets = np.array([[0.5, 0], [-0.5, 0], [0, 0.5], [0, -0.5]])
    x_lab = np.concatenate([c + offsets for c in CENTERS])  # centroids exactly at the centers
    y_lab = np.repeat(np.arange(3), 4)
    x_blobs = np.concatenate([rng.normal(c, 0.5, size=(per_class, 2)) for c in CENTERS])
    y_blobs = np.repeat(np.arange(3), per_class)
    # Two ambiguous points, exactly between two centers: confidence ~0.5, never accepted.
    x_unlab = np.concatenate([x_blobs, [[5.0, 0.0], [0.0, 5.0]]])
    y_unlab = np.concatenate([y_blobs, [0, 0]])
    return x_lab, y_lab, x_unlab, y_unlab


class Recorder:
    def __init__(self):
        self.calls = []

    def train(self, x, y, round_index):
        self.calls.append((x.copy(), y.copy(), round_index))
        return NearestCentroid(x, y)

    @staticmethod
    def predict(model, x):
        return model.predict_proba(x)


def test_self_training_one_round_adds_pseudo_labels():
    x_lab, y_lab, x_unlab, y_unlab = _toy()
    rec = Recorder()
    model, reports = self_training(rec.train, rec.predict, x_lab, y_lab, x_unlab, threshold=0.9,
                                   rounds=1, y_unlabeled_true=y_unlab, num_classes=3)
    assert isinstance(model, NearestCentroid)
    assert [r for _, _, r in rec.calls] == [0, 1]
    assert len(rec.calls[0][1]) == 12 and len(rec.calls[1][1]) == 12 + 60
    # Labeled rows first, then the pseudo-labeled ones (all blob points, in pool order).
    x1, y1, _ = rec.calls[1]
    assert np.array_equal(x1[:12], x_lab) and np.array_equal(y1[:12], y_lab)
    assert np.array_equal(x1[12:], x_unlab[:60]) and np.array_equal(y1[12:], y_unlab[:60])
    assert [r["round"] for r in reports] == [0, 1]
    r0, r1 = reports
    assert r0["accepted"] == 0 and r0["pseudo_rows"] == 0 and r0["train_rows"] == 12
    assert r0["pseudo_label_accuracy"] is None
    assert r1["accepted"] == 60 and r1["accepted_unlabeled"] == 60 and r1["accepted_extra"] == 0
    assert r1["pseudo_rows"] == 60 and r1["train_rows"] == 72 and r1["labeled_rows"] == 12
    assert r1["accepted_fraction"] == 60 / 62 and r1["n_unlabeled"] == 62
    assert r1["per_class"] == [20, 20, 20]
    assert r1["scored"] == 60 and r1["pseudo_label_accuracy"] == 1.0
    assert r1["threshold"] == 0.9


def test_self_training_extra_unlabeled_used_but_not_scored():
    x_lab, y_lab, x_unlab, y_unlab = _toy()
    truth = y_unlab.copy()
    truth[:6] = 1  # six class-0 points "truly" labeled 1: accuracy must be exactly 54/60
    extra = np.random.default_rng(1).normal(CENTERS[2], 0.5, size=(15, 2))
    rec = Recorder()
    _, reports = self_training(rec.train, rec.predict, x_lab, y_lab, x_unlab, threshold=0.9,
                               rounds=1, y_unlabeled_true=truth, extra_unlabeled=extra,
                               num_classes=3)
    r1 = reports[1]
    assert r1["accepted"] == 75 and r1["accepted_unlabeled"] == 60 and r1["accepted_extra"] == 15
    assert r1["scored"] == 60 and r1["correct"] == 54 and r1["pseudo_label_accuracy"] == 0.9
    assert r1["per_class"] == [20, 20, 35] and r1["n_unlabeled"] == 77
    x1, y1, _ = rec.calls[1]
    assert len(y1) == 12 + 75
    assert np.array_equal(x1[-15:], extra) and y1[-15:].tolist() == [2] * 15


def test_self_training_rounds_recompute_and_caps():
    x_lab, y_lab, x_unlab, y_unlab = _toy()
    rec = Recorder()
    evaluated = []

    def evaluate(model, round_index):
        evaluated.append(round_index)
        return {"val_accuracy": accuracy(model.predict_proba(x_unlab[:60]), y_unlab[:60])}

    _, reports = self_training(rec.train, rec.predict, x_lab, y_lab, x_unlab, threshold=0.9,
                               rounds=2, y_unlabeled_true=y_unlab, max_per_class=5,
                               num_classes=3, evaluate_fn=evaluate)
    assert [r for _, _, r in rec.calls] == [0, 1, 2] and evaluated == [0, 1, 2]
    assert [r["round"] for r in reports] == [0, 1, 2]
    for report, (_, y, _) in zip(reports[1:], rec.calls[1:]):
        assert report["per_class"] == [5, 5, 5] and report["pseudo_rows"] == 15
        assert len(y) == 12 + 15  # pseudo-labels are recomputed, not accumulated
    assert all(r["val_accuracy"] == 1.0 for r in reports)


def test_self_training_zero_rounds_and_validation():
    x_lab, y_lab, x_unlab, _ = _toy()
    rec = Recorder()
    _, reports = self_training(rec.train, rec.predict, x_lab, y_lab, x_unlab, 0.9, rounds=0,
                               num_classes=3)
    assert len(rec.calls) == 1 and len(reports) == 1
    with pytest.raises(ValueError, match="true labels"):
        self_training(rec.train, rec.predict, x_lab, y_lab, x_unlab, 0.9,
                      y_unlabeled_true=np.zeros(3))
    with pytest.raises(ValueError, match="rows"):
        self_training(rec.train, lambda m, x: m.predict_proba(x[:-1]), x_lab, y_lab, x_unlab,
                      0.9, num_classes=3)


def test_self_training_with_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    x_lab, y_lab, x_unlab, y_unlab = _toy(seed=2)
    _, reports = self_training(
        lambda x, y, r: LogisticRegression(max_iter=1000).fit(x, y),
        lambda m, x: m.predict_proba(x),
        x_lab, y_lab, x_unlab, threshold=0.8, rounds=2, y_unlabeled_true=y_unlab, num_classes=3)
    assert len(reports) == 3
    for report in reports[1:]:
        assert report["accepted"] >= 50
        assert report["pseudo_label_accuracy"] == 1.0
        assert report["train_rows"] == 12 + report["accepted"]


# --------------------------------------------------------------------------- ensembles


def test_average_probabilities_math():
    p1 = np.array([[1.0, 0.0], [0.5, 0.5]])
    p2 = np.array([[0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_allclose(average_probabilities([p1, p2]), [[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(average_probabilities([p1, p2], [3, 1]), [[0.75, 0.25], [0.5, 0.5]])
    np.testing.assert_allclose(average_probabilities([p1, p2], [2, 0]), p1)
    single = average_probabilities([p1.astype(np.float16)])
    assert single.dtype == np.float64
    np.testing.assert_allclose(single, p1)


@pytest.mark.parametrize("probas, weights, message", [
    ([], None, "at least one"),
    ([np.ones((2, 3)), np.ones((3, 3))], None, "shape"),
    ([np.ones(3)], None, "2-D"),
    ([np.ones((2, 3)), np.ones((2, 3))], [1.0], "weights"),
    ([np.ones((2, 3)), np.ones((2, 3))], [1.0, -0.5], "non-negative"),
    ([np.ones((2, 3)), np.ones((2, 3))], [1.0, np.nan], "non-negative"),
    ([np.ones((2, 3)), np.ones((2, 3))], [0, 0], "zero"),
])
def test_average_probabilities_validation(probas, weights, message):
    with pytest.raises(ValueError, match=message):
        average_probabilities(probas, weights)


def test_accuracy():
    y = np.array([0, 1, 2, 1])
    assert accuracy([0, 1, 1, 1], y) == 0.75
    assert accuracy(np.eye(3)[[0, 2, 2, 0]], y) == 0.5
    with pytest.raises(ValueError, match="predictions"):
        accuracy([0, 1], y)
    with pytest.raises(ValueError, match="integers"):
        accuracy([0.5, 1, 2, 1], y)


# --------------------------------------------------------------------------- write_submission


def test_write_submission_from_probabilities(tmp_path):
    proba = np.zeros((3, 7))
    proba[[0, 1, 2], [1, 0, 6]] = 1.0
    path = write_submission(tmp_path / "sub" / "submission.csv", np.array([3, 1, 2]), proba)
    assert path == tmp_path / "sub" / "submission.csv"
    assert path.read_text() == "id,label\n3,1\n1,0\n2,6\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["submission.csv"]  # no temp file


def test_write_submission_from_labels_overwrites(tmp_path):
    path = tmp_path / "submission.csv"
    path.write_text("old contents\n")
    write_submission(path, [0, 1, 2, 3], np.array([5, 4, 3, 0]))
    assert path.read_text() == "id,label\n0,5\n1,4\n2,3\n3,0\n"
    write_submission(path, np.array([10.0, 11.0]), [1, 2])  # integral float ids are fine
    assert path.read_text() == "id,label\n10,1\n11,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission.csv"]


@pytest.mark.parametrize("ids, predictions, message", [
    ([0, 1, 2], [1, 2], "3 ids but 2 predictions"),
    ([0, 0], [1, 2], "unique"),
    ([0.5, 1], [1, 2], "integers"),
    ([0, 1], [1, 7], "0..6"),
    ([0, 1], [-1, 2], "0..6"),
])
def test_write_submission_validation(tmp_path, ids, predictions, message):
    path = tmp_path / "submission.csv"
    with pytest.raises(ValueError, match=message):
        write_submission(path, ids, predictions)
    assert not path.exists() and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the report's experiment


@dataclass
class FakeRun:
    """Stands in for helpers.modeling.store.Run: a name, metrics and saved validation probabilities."""

    name: str
    metrics: dict = field(default_factory=dict)
    val_proba: np.ndarray | None = None
    test_proba: np.ndarray | None = None
    model: object = None
    trained_on: tuple = ()


def _confident(labels, num_classes=7, confidence=0.9):
    """Probabilities whose argmax is `labels`, each with the given confidence."""
    labels = np.asarray(labels, dtype=np.int64)
    proba = np.full((len(labels), num_classes), (1 - confidence) / (num_classes - 1))
    proba[np.arange(len(labels)), labels] = confidence
    return proba


class FakeTrainer:
    """train(name, x_train=, y_train=, labeled_rows=) as notebook 07's train is called; its
    "models" read the class off the first feature, so every pseudo-label is right."""

    def __init__(self):
        self.names, self.predicted, self.labeled_rows = [], [], []

    def train(self, name, x_train, y_train, labeled_rows):
        self.names.append(name)
        self.labeled_rows.append(labeled_rows)
        metrics = {"val_accuracy": len(y_train) / 100, "epochs_run": 2, "seconds_per_epoch": 0.5}
        return FakeRun(name, metrics, trained_on=(x_train.copy(), y_train.copy()))

    def predict(self, run, x):
        self.predicted.append((run.name, len(x)))
        return _confident(x[:, 0])


def test_pool_predictor_predicts_each_run_once_and_serves_prefixes():
    calls = []

    def predict(run, x):
        calls.append((run.name, len(x)))
        return 10 * np.asarray(x, dtype=np.float64)

    pool = PoolPredictor(predict)
    a, b = FakeRun("a"), FakeRun("b")
    x = np.arange(5.0)
    assert pool(a, x).tolist() == [0, 10, 20, 30, 40]
    assert pool(a, x[:3]).tolist() == [0, 10, 20]      # the first rows of the cached prediction
    assert pool(FakeRun("a"), x[:2]).tolist() == [0, 10]  # runs are told apart by name
    assert calls == [("a", 5)]
    assert pool(a, np.arange(7.0)).tolist() == [0, 10, 20, 30, 40, 50, 60]  # a longer pool: predicted again
    assert pool(b, x[:2]).tolist() == [0, 10]
    assert calls == [("a", 5), ("a", 7), ("b", 2)]


def test_self_training_experiment_runs_names_and_reports():
    y_train = np.repeat([0, 1, 2, 3], 5)
    x_train = y_train[:, None].astype(np.float32)
    x_test = np.array([[5.0], [6.0], [5.0]], dtype=np.float32)
    fake = FakeTrainer()
    experiment = self_training_experiment(fake.train, PoolPredictor(fake.predict), x_train, y_train, [0.5, 0.25],
                                          seed=3, threshold=0.5, rounds=1, extra_pool=x_test)
    # The larger pool first; both pools share one baseline per fraction.
    assert fake.names == ["semi_50_round0", "semi_50_test_round1", "semi_50_round1",
                          "semi_25_round0", "semi_25_test_round1", "semi_25_round1"]
    # Each baseline predicts its largest pool once (10 + 3 and 15 + 3 rows); the rest is cached.
    assert fake.predicted == [("semi_50_round0", 13), ("semi_25_round0", 18)]
    assert list(experiment) == [0.5, 0.25]

    e = experiment[0.5]
    labeled, unlabeled = labeled_split(y_train, 0.5, 3)
    assert (e.fraction, e.tag, e.labeled, e.unlabeled) == (0.5, 50, 10, 10)
    assert np.array_equal(e.y_unlabeled, y_train[unlabeled])
    assert e.baseline.name == "semi_50_round0"
    assert np.array_equal(e.baseline.trained_on[1], y_train[labeled])
    assert np.array_equal(e.baseline_proba, _confident(y_train[unlabeled]))
    assert list(e.pools) == ["train+test", "train"] and e.pool_order == ["train", "train+test"]
    assert e.pools["train"].runs[0] is e.baseline and e.pools["train+test"].runs[0] is e.baseline

    train, both = e.pools["train"], e.pools["train+test"]
    assert [r["run"] for r in train.reports] == ["semi_50_round0", "semi_50_round1"]
    assert [r["run"] for r in both.reports] == ["semi_50_round0", "semi_50_test_round1"]
    assert train.last is train.reports[-1] and train.runs[1].name == "semi_50_round1"
    last = train.last
    assert (last["accepted"], last["accepted_unlabeled"], last["accepted_extra"]) == (10, 10, 0)
    assert (last["train_rows"], last["pseudo_label_accuracy"], last["val_accuracy"]) == (20, 1.0, 0.2)
    assert (last["epochs"], last["seconds_per_epoch"]) == (2, 0.5)
    last = both.last
    assert (last["accepted"], last["accepted_unlabeled"], last["accepted_extra"]) == (13, 10, 3)
    assert (last["train_rows"], last["pseudo_label_accuracy"], last["val_accuracy"]) == (23, 1.0, 0.23)
    # Labeled rows first, then the accepted pool rows in pool order (test images pseudo-labeled 5, 6, 5).
    assert both.runs[1].trained_on[1].tolist() == [*y_train[labeled], *y_train[unlabeled], 5, 6, 5]

    e = experiment[0.25]
    assert (e.tag, e.labeled, e.unlabeled) == (25, 5, 15)
    assert np.bincount(y_train[labeled_split(y_train, 0.25, 3)[0]]).tolist() == [2, 1, 1, 1]
    assert e.pools["train"].last["train_rows"] == 20 and e.pools["train+test"].last["train_rows"] == 23


def test_self_training_experiment_shares_pseudo_labels_as_the_labels_are():
    # 6 rows of class 0, 2 each of 1 and 2, 2 of class 3; half labeled. The fake model reads the
    # class off the image, so every unlabeled row reaches the threshold.
    y_train = np.array([0] * 12 + [1] * 4 + [2] * 4)
    x_train = y_train[:, None].astype(np.float32)
    fake = FakeTrainer()
    experiment = self_training_experiment(fake.train, fake.predict, x_train, y_train, [0.5], seed=0,
                                          threshold=0.5, rounds=1, selection="class_shares")
    e = experiment[0.5]
    assert fake.labeled_rows == [10, 10]  # every run of the fraction gets the labeled part's budget
    last = e.pools["train"].last
    assert last["per_class"][:3] == [6, 2, 2] and last["accepted"] == 10
    assert last["class_thresholds"][:3] == [0.9, 0.9, 0.9] and last["class_thresholds"][3] is None
    assert last["per_class_correct"][:3] == [6, 2, 2]
    with pytest.raises(ValueError, match="selection must be one of threshold, class_shares"):
        self_training_experiment(fake.train, fake.predict, x_train, y_train, [0.5], seed=0,
                                 threshold=0.5, rounds=1, selection="top")


def test_self_training_experiment_without_extra_pool_and_zero_rounds():
    y_train = np.repeat([0, 1], 4)
    x_train = y_train[:, None].astype(np.float32)
    fake = FakeTrainer()
    experiment = self_training_experiment(fake.train, PoolPredictor(fake.predict), x_train, y_train, [0.5],
                                          seed=0, threshold=0.95, rounds=1)
    assert fake.names == ["semi_50_round0", "semi_50_round1"]
    e = experiment[0.5]
    assert list(e.pools) == ["train"] and e.pool_order == ["train"]
    assert e.pools["train"].last["accepted"] == 0  # confidence 0.9 < 0.95: nothing accepted
    assert fake.predicted == [("semi_50_round0", 4)]

    fake = FakeTrainer()
    experiment = self_training_experiment(fake.train, fake.predict, x_train, y_train, [0.5], seed=0,
                                          threshold=0.5, rounds=0)
    assert fake.names == ["semi_50_round0"]
    assert len(experiment[0.5].pools["train"].reports) == 1


def _fraction(pools):
    base = FakeRun("base", {"val_accuracy": 0.4, "epochs_run": 3}, val_proba=np.eye(3)[[0, 0, 0, 0, 0]])
    entry_pools = {}
    for pool, (run, accuracy_, extra) in pools.items():
        last = {"round": 1, "run": run.name, "val_accuracy": accuracy_, "pseudo_label_accuracy": 0.75,
                "accepted": 4 + extra, "accepted_unlabeled": 4, "accepted_extra": extra}
        entry_pools[pool] = PoolRuns([{"round": 0, "run": "base"}, last], {0: base, 1: run})
    return FractionRuns(0.3, 30, 6, 4, np.array([0, 1, 2, 2]), base, np.eye(3)[[0, 1, 1, 2]], entry_pools)


def test_fraction_result_exact():
    y_val = np.array([0, 1, 2, 0, 1])
    better = FakeRun("better", val_proba=np.eye(3)[[0, 1, 2, 1, 1]])  # fixes rows 1, 2, 4; breaks row 3
    same = FakeRun("same", val_proba=np.eye(3)[[0, 0, 0, 0, 0]])
    entry = _fraction({"train+test": (same, 0.4, 2), "train": (better, 0.8, 0)})
    result = fraction_result(entry, y_val)
    reports = entry.pools["train"].reports
    assert result["self_training"] == {
        "val_accuracy": 0.8, "run": "better", "pool": "train", "pseudo_label_accuracy": 0.75, "accepted": 4,
        "accepted_unlabeled": 4, "accepted_extra": 0, "fixed": 3, "broken": 1,
        "mcnemar_p": pytest.approx(0.625, rel=1e-12), "rounds": reports,
        # Agresti-Min: (3.5 - 1.5) / 7 -/+ 1.96 * sqrt(5 - 2 ** 2 / 7) / 7
        "change_low": pytest.approx(2 / 7 - 1.959964 * np.sqrt(5 - 4 / 7) / 7, abs=1e-6),
        "change_high": pytest.approx(2 / 7 + 1.959964 * np.sqrt(5 - 4 / 7) / 7, abs=1e-6)}
    with_test = result["self_training_with_test"]
    assert (with_test["run"], with_test["pool"]) == ("same", "train+test")
    assert (with_test["accepted"], with_test["accepted_extra"]) == (6, 2)
    assert (with_test["fixed"], with_test["broken"], with_test["mcnemar_p"]) == (0, 0, 1.0)
    assert result["labeled_rows"] == 6 and result["unlabeled_rows"] == 4
    assert result["baseline"] == {"val_accuracy": 0.4, "run": "base", "epochs": 3}
    assert result["baseline_accuracy_on_unlabeled"] == 0.75
    assert result["pseudo_label_accuracy"] == 0.75 and result["rounds"] is reports
    assert set(result) == {"labeled_rows", "unlabeled_rows", "baseline", "baseline_accuracy_on_unlabeled",
                           "self_training", "self_training_with_test", "pseudo_label_accuracy", "rounds"}
    assert POOL_KEYS == {"train": "self_training", "train+test": "self_training_with_test"}


def test_fraction_result_with_only_the_test_pool():
    entry = _fraction({"train+test": (FakeRun("t", val_proba=np.eye(3)[[0, 1, 1, 1, 1]]), 0.6, 1)})
    result = fraction_result(entry, np.array([0, 1, 2, 0, 1]))
    assert result["self_training"] is result["self_training_with_test"]
    assert (result["self_training"]["fixed"], result["self_training"]["broken"]) == (2, 1)
    assert result["self_training"]["mcnemar_p"] == pytest.approx(1.0)


def _inputs(n=6):
    from helpers.experiments.inputs import Inputs

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 48, 48, 1)).astype(np.float32)
    y = np.arange(n) % 7
    return Inputs(x, y, x[:2], y[:2], x[:3], np.arange(3), None, "checksum-1", "course CSV",
                  {"mean": 120.5, "std": 60.25},
                  {"val_fraction": 0.1, "seed": 42, "max_train_rows": None, "hist_eq": False},
                  train_digest="digest-1", test_digest="test-1")


def test_train_cnn_fingerprint_covers_config_and_training_data(monkeypatch):
    """A saved run is reused only when its fingerprint matches: any change of architecture,
    training, augmentation, normalization or training rows and labels gives another one."""
    import dataclasses


    from helpers.modeling.store import fingerprint

    seen = []
    monkeypatch.setattr(experiments_inputs, "fit_or_load", lambda name, build, config, data, models_dir, **_:
                        seen.append(fingerprint(config, data.train_digest)))
    inputs = _inputs()
    cnn = {"filters": [8, 16], "convs_per_block": 1, "dense_units": [32]}
    training = {"epochs": 2, "batch_size": 64, "seed": 42, "tta_flip": True}
    augmentation = {"flip": True, "shift": 0.1}

    def print_of(inputs=inputs, cnn=cnn, training=training, augmentation=augmentation, **rows):
        experiments_inputs.train_cnn("run", inputs, cnn, training, "models", augmentation, **rows)
        return seen[-1]

    reference = print_of()
    assert print_of(cnn=dict(cnn), training=dict(training), augmentation=dict(augmentation)) == reference
    others = [print_of(training=dict(training, epochs=3)), print_of(cnn=dict(cnn, dense_units=[64])),
              print_of(augmentation=None),
              print_of(inputs=dataclasses.replace(inputs, train_digest="digest-2")),
              print_of(inputs=dataclasses.replace(inputs, y_train=inputs.y_train[::-1].copy())),
              print_of(inputs=dataclasses.replace(inputs, normalization={"mean": 0.0, "std": 1.0})),
              print_of(x_train=inputs.x_train[:4], y_train=inputs.y_train[:4])]
    assert reference not in others and len(set(others)) == len(others)


def test_most_over_represented():
    y_true = np.array([0, 1, 1, 2, 2, 3, 3, 3, 3, 0])  # true shares 0.2, 0.2, 0.2, 0.4
    k, accepted_share, true_share = most_over_represented([6, 2, 2, 0, 0, 0, 0], y_true)
    assert (k, accepted_share, true_share) == (0, pytest.approx(0.6), pytest.approx(0.2))
    assert most_over_represented([0, 1, 0, 9, 0, 0, 0], y_true)[0] == 3  # 0.9 vs 0.4
    # The most accepted class (3: 0.55 vs 0.4) is not the most over-represented one (1: 0.45 vs 0.2).
    assert most_over_represented([0, 9, 0, 11, 0, 0, 0], y_true)[:2] == (1, pytest.approx(0.45))
    assert most_over_represented([0] * 7, y_true) is None


# --------------------------------------------------------------------------- ensemble helpers


def test_unanimous():
    votes = [np.eye(3)[[0, 1, 2]], np.eye(3)[[0, 1, 1]], np.array([0, 2, 2])]
    assert unanimous(votes).tolist() == [True, False, False]
    assert unanimous(votes[:1]).tolist() == [True, True, True]


def test_submission_agreement(tmp_path):
    path = tmp_path / "submission.csv"
    assert submission_agreement(path, [0, 1], [1, 2]) is None
    path.write_text("id,label\n0,1\n1,2\n2,3\n")
    # id 2 and id 0 agree, id 1 does not, id 5 is not in the file.
    assert submission_agreement(path, [2, 0, 1, 5], [3, 1, 0, 4]) == 0.5
    assert submission_agreement(path, np.array([0, 1, 2]), np.eye(4)[[1, 2, 3]]) == 1.0


def test_self_training_experiment_with_an_empty_extra_pool_has_no_test_pool():
    """A data folder without test images gives an empty test array: no "train+test" pool (its
    runs would duplicate the "train" ones under other names)."""
    y_train = np.repeat([0, 1], 4)
    x_train = y_train[:, None].astype(np.float32)
    fake = FakeTrainer()
    experiment = self_training_experiment(fake.train, PoolPredictor(fake.predict), x_train, y_train, [0.5],
                                          seed=0, threshold=0.5, rounds=1, extra_pool=np.zeros((0, 1), np.float32))
    assert fake.names == ["semi_50_round0", "semi_50_round1"]
    e = experiment[0.5]
    assert list(e.pools) == ["train"] and e.pool_order == ["train"]
    assert fake.predicted == [("semi_50_round0", 4)]


def test_subset_accuracies_scores_every_subset_best_first():
    y = np.array([0, 1, 2, 0])
    a = np.eye(3)[[0, 1, 1, 0]]      # 3 of 4
    b = np.eye(3)[[0, 2, 2, 1]]      # 2 of 4
    c = np.eye(3)[[0, 1, 2, 2]] * 0.9 + 0.1 / 3  # 3 of 4
    table = analysis_ensembles.subset_accuracies(["a", "b", "c"], [a, b, c], y)
    assert len(table) == 7
    assert table["accuracy"].is_monotonic_decreasing
    by_members = dict(zip(table["members"], table["accuracy"]))
    assert by_members["a"] == 0.75 and by_members["b"] == 0.5
    assert by_members["a + b + c"] == evaluation.accuracy(analysis_ensembles.average_probabilities([a, b, c]), y)
    best = table[table["accuracy"] == table["accuracy"].max()]
    assert table.loc[0, "size"] == best["size"].min()  # ties: the smaller ensemble first


def test_load_members_names_the_notebook_that_trains_a_missing_run(tmp_path):
    from helpers.core.results import write_json

    write_json(tmp_path / "cnn" / "metrics.json", {"val_rows": 10, "fingerprint": "f"})
    (runs,) = [sections_ensemble.load_members(tmp_path, ["cnn"], 10)]
    assert [r.name for r in runs] == ["cnn"]
    with pytest.raises(FileNotFoundError, match="08_histogram_equalization"):
        sections_ensemble.load_members(tmp_path, ["cnn", "hist_eq"], 10)
    with pytest.raises(FileNotFoundError, match="02_cnn"):
        sections_ensemble.load_members(tmp_path, ["ablation_none"], 10)
    with pytest.raises(ValueError, match="10 validation faces, this split has 12"):
        sections_ensemble.load_members(tmp_path, ["cnn"], 12)


def test_pool_predictions_kept_on_disk_serve_a_run_without_its_model(tmp_path):
    calls = []

    def predict(run, x):
        calls.append(len(x))
        return np.tile(np.linspace(0.1, 0.2, 7), (len(x), 1)) * (1 + np.arange(len(x))[:, None])

    run = SimpleNamespace(name="base", run_dir=tmp_path)
    x = np.arange(5 * 4, dtype=np.float32).reshape(5, 2, 2, 1)
    first = PoolPredictor(predict, on_disk=True)(run, x)
    assert calls == [5] and len(list(tmp_path.glob("pool_*.npy"))) == 1
    again = PoolPredictor(lambda r, x: pytest.fail("predicted again"), on_disk=True)
    np.testing.assert_array_equal(again(run, x), first)
    np.testing.assert_array_equal(again(run, x[:3]), first[:3])  # a prefix pool from memory
    other = x + 1  # another pool: predicted, stored beside the first
    PoolPredictor(predict, on_disk=True)(run, other)
    assert calls == [5, 5] and len(list(tmp_path.glob("pool_*.npy"))) == 2


def test_ensemble_summary_and_sentences():
    y = np.array([0, 1, 2, 3])
    a = np.eye(7)[[0, 1, 2, 0]] * 0.9 + 0.01   # 3 of 4 right
    b = np.eye(7)[[0, 1, 0, 3]] * 0.6 + 0.01   # 3 of 4 right, less sure
    s = sections_ensemble.ensemble_summary(["cnn", "hist_eq"], [a, b], y)
    assert s["member_acc"] == [0.75, 0.75] and s["best"] == 0
    assert s["accuracy"] == 0.75  # where they disagree (faces 2, 3) the surer member (a) wins
    assert s["agree"] == 0.5 and s["acc_agree"] == 1.0 and s["acc_disagree"] == 0.5
    text = sections_ensemble.ensemble_sentences(s, ("cnn + hist_eq", 0.75), 3)
    assert text.startswith("- Compared with the best single run (cnn), the average of 2 CNNs ")
    assert "the members' mean is 75.0%" in text
    assert ("the members' mean is 75.0%. As the best of 3 subsets on these same validation faces, its "
            "score is slightly optimistic.") in text
    other = sections_ensemble.ensemble_sentences(s, ("cnn", 0.8), 3)
    assert (" The best of 3 subsets on validation is cnn (80.0%); the ensemble averages the runs "
            "the settings name (cnn + hist_eq).") in other
    assert "All members agree on 50.0% of the validation faces; there the ensemble is 100.0% accurate" in text
    assert text.endswith("- The data has no test images, so this run writes no ensemble submission.")
    withheld = sections_ensemble.ensemble_sentences(s, ("cnn", 0.75), 3, 7178, "submission_ensemble.csv", None, 0.9)
    assert withheld.endswith("- The ensemble's predictions for all 7,178 test faces are in "
                             "`submission_ensemble.csv` (beside this PDF); the test labels are withheld, so the "
                             "leaderboard scores it; they agree with the main CNN's "
                             "`submission.csv` on 90.0% of the faces.")
    scored = sections_ensemble.ensemble_sentences(s, ("cnn", 0.75), 3, 10, "e.csv",
                                          {"test": 0.7, "public": 0.69, "private": None}, None)
    assert scored.endswith("(test accuracy 70.0%: public half 69.0%, private half n/a).")
    stale = sections_ensemble.ensemble_sentences(s, ("cnn", 0.75), 3, 10, None, None, None, ["hist_eq"])
    assert stale.endswith("- No ensemble submission: the stored test predictions of hist_eq are of other "
                          "test images than these 10, and those runs were shipped without the weights "
                          "that would predict them (retrain them with RETRAIN=1).")


def test_an_ensemble_uses_only_test_predictions_made_for_these_test_images():
    """A member shipped without weights keeps the test predictions of its own test file: for
    another test file of the same length they would be another face's, line by line."""
    proba = np.eye(7)[[0, 1]]
    same = FakeRun("cnn", {"test_digest": "abc"}, test_proba=proba)
    other = FakeRun("hist_eq", {"test_digest": "old"}, test_proba=proba)
    test, stale = sections_ensemble.member_test_predictions([same, same], "abc")
    assert stale == [] and len(test) == 2 and np.array_equal(test[0], proba)
    assert sections_ensemble.member_test_predictions([same, other], "abc") == (None, ["hist_eq"])
    missing = FakeRun("dnn", {"test_digest": "abc"}, test_proba=None)
    assert sections_ensemble.member_test_predictions([missing], "abc") == (None, ["dnn"])


def test_ensemble_subsets_table_choice_and_record():
    y = np.array([0, 1, 2, 3])
    a = np.eye(7)[[0, 1, 2, 0]] * 0.9 + 0.01   # 3 of 4
    b = np.eye(7)[[0, 1, 0, 0]] * 0.6 + 0.01   # 2 of 4
    c = np.eye(7)[[0, 1, 2, 3]] * 0.3 + 0.01   # 4 of 4, unsure: outvoted in every average
    subsets = analysis_ensembles.subset_accuracies(["cnn", "hist_eq", "dnn"], [a, b, c], y)
    table = sections_ensemble.subsets_table(subsets, ["cnn", "hist_eq"])
    assert table.columns.tolist() == ["runs averaged", "validation accuracy", "vs best single run", "submitted"]
    assert table.iloc[0].tolist() == ["dnn", "100.0%", "+0.0 pts", ""]
    row = table.set_index("runs averaged").loc["cnn + hist_eq"]
    assert row.tolist() == ["75.0%", "-25.0 pts", "yes"] and (table["submitted"] == "yes").sum() == 1
    assert sections_ensemble.best_subset(subsets) == ["dnn"]
    reordered = sections_ensemble.subsets_table(subsets, ["hist_eq", "cnn"])   # members in any order
    assert reordered["submitted"].tolist() == table["submitted"].tolist()
    assert sections_ensemble.same_runs("cnn + hist_eq", ["hist_eq", "cnn"])
    tie = analysis_ensembles.subset_accuracies(["cnn", "hist_eq"], [a, a], y)
    assert sections_ensemble.best_subset(tie) == ["cnn"]     # the fewest runs among equals
    runs = [FakeRun("cnn", {"epochs_run": 116}), FakeRun("ablation_none", {"epochs_run": 58}),
            FakeRun("hist_eq", {"epochs_run": 1}), FakeRun("dnn", {"epochs_run": 2})]
    labels = sections_ensemble.run_labels(runs)
    assert labels == {"cnn": "main CNN, 116 epochs", "ablation_none": "(a), 58 epochs",
                      "hist_eq": "histogram-equalized CNN, 1 epoch", "dnn": "dnn, 2 epochs"}
    assert sections_ensemble.variant_legend(["cnn", "ablation_normalization_augmentation", "ablation_none"]) == (
        "Runs (a) and (c) are section 4's variants: (a) no normalization or augmentation; (c) normalization "
        "and augmentation.")
    assert sections_ensemble.variant_legend(["cnn", "ablation_none"]) == (
        "Run (a) is section 4's variant: (a) no normalization or augmentation.")
    assert sections_ensemble.variant_legend(["cnn", "hist_eq"]) == ""
    # pandoc (which builds the PDF) sets it as a paragraph, not as a list item "(a)"
    legend = sections_ensemble.variant_legend(["cnn", "ablation_normalization_augmentation", "ablation_none"])
    latex = subprocess.run(["pandoc", "-f", "markdown", "-t", "latex"], input=legend, text=True,
                           capture_output=True, check=True).stdout
    assert "enumerate" not in latex and latex.startswith("Runs (a) and (c)")
    latex = subprocess.run(["pandoc", "-f", "markdown", "-t", "latex"], input="(a) and (c) are",
                           text=True, capture_output=True, check=True).stdout
    assert "enumerate" in latex  # what the old wording did

    named = sections_ensemble.subsets_table(subsets, ["cnn", "hist_eq"], labels)
    assert named.iloc[0]["runs averaged"] == "dnn, 2 epochs"
    assert (named["runs averaged"] == "main CNN, 116 epochs + histogram-equalized CNN, 1 epoch").sum() == 1
    assert named["submitted"].tolist() == table["submitted"].tolist()
    s = sections_ensemble.ensemble_summary(["cnn", "hist_eq"], [a, b], y)
    text = sections_ensemble.ensemble_sentences(s, ("dnn", 1.0), 7, labels=labels)
    assert "Compared with the best single run (main CNN, 116 epochs)" in text
    versus = sections_ensemble.ensemble_summary(["cnn", "hist_eq"], [a, b], y, single=("dnn", c))
    assert (versus["single"], versus["single_acc"], versus["accuracy"]) == ("dnn", 1.0, 0.75)
    assert "Compared with the best single run (dnn, 2 epochs), the average of 2 CNNs lowers" in (
        sections_ensemble.ensemble_sentences(versus, ("dnn", 1.0), 7, labels=labels))
    assert ("The best of 7 subsets on validation is dnn, 2 epochs (100.0%); the ensemble averages "
            "the runs the settings name (main CNN, 116 epochs + histogram-equalized CNN, 1 epoch).") in text
    sections_ensemble.check_members(["cnn"], ["cnn", "dnn"])
    with pytest.raises(ValueError, match=r"ensemble_members \['hist_eq'\] are not in ensemble_candidates"):
        sections_ensemble.check_members(["cnn", "hist_eq"], ["cnn", "dnn"])
    subsets = analysis_ensembles.subset_accuracies(["cnn", "hist_eq"], [a, b], y)
    s = sections_ensemble.ensemble_summary(["cnn", "hist_eq"], [a, b], y)
    record = sections_ensemble.ensemble_record(s, subsets, None, "submission_ensemble.csv")
    assert record["members"] == [{"run": "cnn", "val_accuracy": 0.75}, {"run": "hist_eq", "val_accuracy": 0.5}]
    assert record["mean_member_val_accuracy"] == 0.625 and record["size"] == 2
    assert record["subsets"][0]["members"] == "cnn" and record["submission"] == "submission_ensemble.csv"
    json.dumps(record)


# --------------------------------------------------------------------------- what notebook 07 shows

Y_VAL = np.array([0, 1, 2, 3] * 2)


class ValTrainer(FakeTrainer):
    """FakeTrainer whose baselines predict class 0 for every validation face (25% right) and
    whose self-trained students get every face right."""

    def train(self, name, x_train, y_train, labeled_rows):
        run = super().train(name, x_train, y_train, labeled_rows)
        student = not name.endswith("round0")
        run.val_proba = _confident(Y_VAL if student else np.zeros(len(Y_VAL), np.int64))
        run.metrics["val_accuracy"] = 1.0 if student else 0.25
        return run


def _semi_settings(**changes):
    return sections_semi.settings_summary(**{
        "fractions": [0.5], "threshold": 0.5, "rounds": 1, "epochs": 4,
        "training": {"batch_size": 4, "label_smoothing": 0.1, "tta_flip": True},
        "train_images": 20, "test_images": 3, "use_test": True, "seed": 3} | changes)


def _semi_summary():
    y_train = np.repeat([0, 1, 2, 3], 5)
    x_test = np.array([[5.0], [6.0], [5.0]], dtype=np.float32)
    fake = ValTrainer()
    experiment = self_training_experiment(fake.train, PoolPredictor(fake.predict),
                                          y_train[:, None].astype(np.float32), y_train, [0.5],
                                          seed=3, threshold=0.5, rounds=1, extra_pool=x_test)
    reference = FakeRun("cnn", {"val_accuracy": 0.9, "epochs_run": 5})
    return experiment, sections_semi.experiment_summary(experiment, Y_VAL, _semi_settings(), reference)


def test_settings_summary_and_sentences():
    s = _semi_settings()
    assert (s["epochs"], s["batch_size"], s["pools"], s["use_test"]) == (4, 4, ["train", "train+test"], True)
    assert s["selection"] == "threshold"
    assert s["confidence_ceiling"] == pytest.approx(1 - 0.1 * 6 / 7)
    text = sections_semi.settings_sentences(s)
    assert text.startswith("**Settings of this run.** Labeled: 50% of the 20 training "
                           "images (stratified, seed 3). Every model")
    assert "the optimizer steps of 4 epochs of the fraction's labeled images" in text
    assert ("every unlabeled image whose flip-averaged softmax confidence reaches **0.5** is "
            "pseudo-labeled; 1 self-training round. ") in text
    assert "as a variant unlabeled training + 3 test images. With label smoothing 0.1" in text
    assert "the true class's training target is 0.914" in text
    no_test = _semi_settings(test_images=0)
    assert no_test["pools"] == ["train"] and not no_test["use_test"]
    assert "the train + test variant is skipped" in sections_semi.settings_sentences(no_test)
    plain = sections_semi.settings_sentences(_semi_settings(use_test=False, training={"batch_size": 4}))
    assert "whose softmax confidence reaches **0.5** is pseudo-labeled; 1 self-training round. " in plain
    assert plain.endswith("(adding the test images, a common variant, would cost two more trainings). ")
    shares = sections_semi.settings_sentences(_semi_settings(selection="class_shares"))
    assert ("the number of pseudo-labels is the number of unlabeled images whose flip-averaged softmax "
            "confidence reaches **0.5**; they are split among the classes in the labels' proportions") in shares
    with pytest.raises(ValueError, match="semi_selection must be one of threshold, class_shares"):
        _semi_settings(selection="top")


def test_experiment_summary():
    experiment, s = _semi_summary()
    result = s["0.5"]
    assert (result["self_training"]["fixed"], result["self_training"]["broken"]) == (6, 0)
    assert result["unlabeled_class_counts"] == np.bincount(experiment[0.5].y_unlabeled, minlength=7).tolist()
    assert sum(result["unlabeled_class_counts"]) == 10
    assert s["overall"] == {"models": 2, "better": 2, "worse": 0, "unclear": 0,
                            "largest": {"fraction": 0.5, "pool": "train", "change": 0.75,
                                        "change_low": result["self_training"]["change_low"],
                                        "change_high": result["self_training"]["change_high"],
                                        "mcnemar_p": pytest.approx(2 * 0.5 ** 6)}}
    assert result["self_training"]["change_low"] < 0.75 < result["self_training"]["change_high"]
    # 4 epochs of the 10 labeled rows in batches of 4: 4 x 3 steps
    assert result["steps"] == 12 and s["epochs"] == 4 and s["selection"] == "threshold"
    assert s["all_labels_reference"] == {"val_accuracy": 0.9, "run": "cnn", "epochs": 5}
    # 5 epochs of all 20 training images against 4 epochs of the largest labeled part (10 rows)
    assert sections_semi.reference_sentence(s) == (
        "The reference row is the main CNN (all 20 labels, 5 epochs: about 2 times these models' optimizer steps or "
        "more): what every label and full training buy, not a like-for-like baseline.")
    assert sections_semi.reference_sentence(s | {"all_labels_reference": None}) == ""
    # every pseudo-label of the train pool is right: no class is over-represented
    assert s["over_represented"] == {}
    assert json.loads(json.dumps(s, default=float))["validation_faces"] == 8


def test_experiment_tables_and_figures():
    experiment, s = _semi_summary()
    table = sections_semi.accuracy_table(s)
    assert list(table.columns) == ["labeled", "baseline", "self-trained (train pool)",
                                   "change, points (95% interval)", "self-trained (train + test pool)",
                                   "change, points (95% interval) "]
    row = table.iloc[0].tolist()
    assert row[:3] == ["50% (10)", "25.0%", "100.0%"] and row[3] == row[5]
    r = s["0.5"]["self_training"]
    assert row[3] == f"+75.0 ({100 * r['change_low']:+.1f} to {100 * r['change_high']:+.1f})"
    assert table.iloc[1].tolist()[:3] == ["all 20 (reference)", "90.0%", ""]
    assert sections_semi.results_caption(s) == (
        "**Validation accuracy** (8 faces) of the baseline and of the model after 1 self-training "
        "round (each with the main CNN's test-time averaging: average with the mirrored face). The *train* pool holds the unlabeled training images; the *train + test* pool adds "
        "the 3 test images. The change's interval is Agresti and Min's for paired proportions (never of zero "
        "width).")
    one_pool = s | {"pools": ["train"], "use_test": False}
    assert "pool" not in sections_semi.results_caption(one_pool)
    assert "(no test-time averaging)" in sections_semi.results_caption(s | {"tta": "none"})
    both = {"tta_crops": True, "tta_flip": True}
    ten = sections_semi.results_caption(s | both | {"tta": sections_cnn.tta_words(both)})
    assert "(each with the main CNN's ten-crop test-time averaging)." in ten
    crops = {"tta_crops": True, "tta_flip": False}  # five crops, no mirror: not ten-crop
    assert sections_semi.results_caption(s | crops | {"tta": sections_cnn.tta_words(crops)}).count(
        "(each with the main CNN's test-time averaging: average over the center and four corner crops)") == 1
    assert "self-trained" in sections_semi.accuracy_table(one_pool).columns


def test_experiment_sentences():
    _, s = _semi_summary()
    lines = sections_semi.experiment_sentences(s).split("\n")
    assert lines[0].startswith(
        "- **50% labeled (10 images).** Each of its models trains for 12 optimizer steps. The selection "
        "accepts 10 of the 10 unlabeled training images "
        "(100.0%); 100.0% of these pseudo-labels are right, against 100.0% for all of the baseline's "
        "predictions on those images. Self-training on the unlabeled training images raises "
        "validation accuracy from 25.0% to 100.0% (+75.0 points; it fixes 6 and breaks 0")
    assert "With the 3 test images added to the pool (3 of them accepted), self-training raises" in lines[0]
    # the change's interval and the all-labels reference are accuracy_table's, not repeated here
    assert "interval" not in lines[0] and "below the main CNN" not in lines[0]
    r = s["0.5"]["self_training"]
    table = sections_semi.accuracy_table(s)
    assert f"({100 * r['change_low']:+.1f} to {100 * r['change_high']:+.1f})" in table.iloc[0].tolist()[3]
    assert table.iloc[-1]["labeled"] == "all 20 (reference)"
    # every pseudo-label of the train pool is right: no class is over-represented, no bullet
    assert lines[1] == ("- **Overall**: of 2 self-trained models, 2 are significantly better and 0 "
                        "significantly worse than their baseline (exact McNemar test, 5% level); the "
                        "other 0 are not significantly different. The largest change is +75.0 points "
                        "(50% labeled, train pool).")
    assert lines[2].startswith("- **Scope**: one set-up (1 round, threshold 0.5, the steps of 4 epochs, one "
                               "seed, 8 validation faces); other thresholds")
    skewed = s | {"over_represented": {"0.5": {"class": "fear", "accepted_share": 0.3, "true_share": 0.1}}}
    text = sections_semi.experiment_sentences(skewed)
    assert ("- The class most over-represented among the accepted pseudo-labels: at 50% labeled, "
            "fear makes up 30.0% of them against 10.0% of the true labels. A skew like this pulls") in text
    assert "towards that class." in text and "cannot fill" not in text          # threshold selection
    shares = sections_semi.experiment_sentences(skewed | {"selection": "class_shares"})
    assert ("towards that class (each class may take its share of the labels, but classes the "
            "baseline rarely predicts cannot fill theirs).") in shares
    absent = s | {"over_represented": {"0.5": {"class": "fear", "accepted_share": 0.3, "true_share": 0.0}}}
    assert "A skew like this pulls" in sections_semi.experiment_sentences(absent)   # no division by zero
    mild = s | {"over_represented": {"0.5": {"class": "fear", "accepted_share": 0.12, "true_share": 0.1}}}
    assert "over-represented" not in sections_semi.experiment_sentences(mild)  # no skew: no bullet
    ties = s | {"overall": s["overall"] | {"better": 0, "worse": 0, "unclear": 2}}
    assert ("- **Overall**: neither of the 2 self-trained models differs significantly from its baseline "
            "(exact McNemar test, 5% level). The largest change is +75.0 points (50% labeled, train "
            "pool).") in sections_semi.experiment_sentences(ties)
    twice = sections_semi.experiment_sentences(s | {"fractions": [0.5, 0.5]})
    assert twice.count("- **50% labeled") == 1
    nothing = s | {"over_represented": {}, "all_labels_reference": None}
    text = sections_semi.experiment_sentences(nothing)
    assert "over-represented" not in text and "below the main CNN" not in text


def test_rows_name_a_subset_and_its_pool_whatever_their_pixels(tmp_path):
    """A subset's identity and its pool's stored predictions follow its dataset rows, so another
    copy of the same faces (pixels a gray level apart) finds the shipped run and its pool file."""
    from types import SimpleNamespace

    from helpers.analysis.semi import RowsArray, rows_of, with_rows

    x = np.arange(24, dtype=np.float32).reshape(6, 2, 2)
    tagged = with_rows(x[[1, 4]], [1, 4])
    assert isinstance(tagged, RowsArray) and rows_of(tagged).tolist() == [1, 4]
    assert rows_of(tagged[:1]) is None and rows_of(x) is None           # slicing drops the rows
    with pytest.raises(ValueError, match="2 row indices for 3 rows"):
        with_rows(x[:3], [0, 1])
    inputs = SimpleNamespace(train_digest="abc", test_digest="t", y_train=np.zeros(6))
    from helpers.experiments.inputs import Inputs
    sha = Inputs.rows_sha(inputs, [1, 4], [0, 3])
    assert sha == Inputs.rows_sha(inputs, np.array([1, 4]), np.array([0, 3]))
    assert sha != Inputs.rows_sha(inputs, [1, 5], [0, 3]) and sha != Inputs.rows_sha(inputs, [1, 4], [0, 2])
    assert sha != Inputs.rows_sha(SimpleNamespace(**{**vars(inputs), "train_digest": "abd"}), [1, 4], [0, 3])
    # the pool file of a run: one key for the same rows, whatever the pixels
    calls = []
    run = SimpleNamespace(name="base", run_dir=tmp_path)

    def predict(run, pool):
        calls.append(len(pool))
        return np.full((len(pool), 7), 1 / 7)

    PoolPredictor(predict, on_disk=True)(run, with_rows(x[[2, 3]], [2, 3]))
    PoolPredictor(predict, on_disk=True)(run, with_rows(x[[2, 3]] + 1, [2, 3]))   # another copy
    assert calls == [2] and len(list(tmp_path.glob("pool_*.npy"))) == 1


def test_self_training_passes_the_rows_of_every_training_set():
    """The baseline trains on the labeled rows, a student on them and its pseudo-labeled pool
    rows (the test rows after the training rows), each tagged with those dataset rows."""
    from helpers.analysis.semi import rows_of

    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    y = np.array([0, 1] * 5)
    seen = []

    def train(name, x_train, y_train, labeled_rows):
        seen.append((name, rows_of(x_train).tolist()))
        return SimpleNamespace(name=name, metrics={"val_accuracy": 0.5, "epochs_run": 1, "seconds_per_epoch": 1.0})

    def predict(run, pool):
        return np.eye(7)[np.zeros(len(pool), dtype=int)]              # all class 0, fully sure

    extra = np.full((2, 1, 1, 1), 99.0, dtype=np.float32)
    self_training_experiment(train, predict, x, y, [0.4], seed=0, threshold=0.5, rounds=1, extra_pool=extra)
    base = dict(seen)["semi_40_round0"]
    labeled, unlabeled = labeled_split(y, 0.4, 0)
    assert base == labeled.tolist()
    student = dict(seen)["semi_40_test_round1"]
    assert student[:len(labeled)] == labeled.tolist() and set(student[len(labeled):]) <= set(unlabeled.tolist()) | {10, 11}
    assert {10, 11} & set(student)                                     # test rows follow the training rows


def test_runs_of_the_same_architecture_left_out_of_the_ensemble_say_why(tmp_path):
    def finished(name, accuracy, weights):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({"val_accuracy": accuracy, "epochs_run": 58}))
        if weights:
            (folder / "weights.f16.npz").write_bytes(b"")
    finished("cnn", 0.7, True)
    finished("ablation_normalization", 0.6, False)
    finished("hist_eq", 0.666, False)
    finished("dnn", 0.5, False)                           # another architecture: never a candidate
    runs = sections_ensemble.left_out_runs(tmp_path, ["cnn", "ablation_none"])   # (a) never trained here
    assert [run.name for run in runs] == ["ablation_normalization", "hist_eq"]
    labels = sections_ensemble.run_labels(runs)
    assert sections_ensemble.left_out_sentence(runs, labels) == (
        "Not candidates: variant (b) (58 epochs, validation 60.0%) and the histogram-equalized CNN (58 epochs, 66.6%): "
        "only their predictions are kept with the report, not the weights, and the ensemble must also run on new "
        "faces (`make predict MODEL=ensemble`).")
    # one with its weights, left out by the profile's list
    finished("ablation_normalization_augmentation", 0.67, True)
    runs = sections_ensemble.left_out_runs(tmp_path, ["cnn", "hist_eq", "ablation_normalization"])
    assert sections_ensemble.left_out_sentence(runs, sections_ensemble.run_labels(runs)) == (
        "Left out by the profile's list of candidates: variant (c) (58 epochs, validation 67.0%).")
    assert sections_ensemble.left_out_sentence([], {}) == ""


def test_the_ensembles_possible_members_are_the_cnns_trained_on_every_label():
    """Derived from the experiment list, not kept by hand: every CNN run without a labeled
    fraction, in training order; the DNN and the self-training runs are never members."""
    from helpers.core.config import load_profile
    from helpers.experiments.registry import every_label_cnns, experiments

    names = every_label_cnns()
    assert names[0] == "cnn" and "hist_eq" in names and "ablation_none" in names
    assert "dnn" not in names and not any(name.startswith("semi_") for name in names)
    assert names == [e.name for e in experiments(load_profile("full")) if e.kind == "cnn" and e.fraction is None]
