"""Unit tests for helpers.semi: pseudo-label selection, self-training loop, ensembles, submission."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.semi import (
    UNKNOWN_LABEL,
    accuracy,
    average_probabilities,
    ensemble_table,
    labeled_split,
    pseudo_label_report,
    select_pseudo_labels,
    self_training,
    write_submission,
)

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


def test_ensemble_table():
    y = np.array([0, 1, 0, 1])
    a = np.array([[.45, .55], [.1, .9], [.9, .1], [.1, .9]])    # wrong on row 0: 0.75
    b = np.array([[.9, .1], [.55, .45], [.9, .1], [.1, .9]])    # wrong on row 1: 0.75
    c = np.array([[.9, .1], [.1, .9], [.45, .55], [.55, .45]])  # wrong on rows 2, 3: 0.5
    table = ensemble_table(["a", "b", "c"], [a, b, c], y)
    assert table.columns.tolist() == ["model", "kind", "accuracy", "vs_best"]
    assert table["model"].tolist() == ["a", "b", "c", "mean of members", "best member (a)",
                                       "ensemble: average of 3"]
    assert table["kind"].tolist() == ["member"] * 3 + ["summary", "summary", "ensemble"]
    np.testing.assert_allclose(table["accuracy"], [0.75, 0.75, 0.5, 2 / 3, 0.75, 1.0])
    np.testing.assert_allclose(table["vs_best"], [0, 0, -0.25, 2 / 3 - 0.75, 0, 0.25])
    weighted = ensemble_table(["a", "b", "c"], [a, b, c], y, weights=[1, 0, 0])
    assert weighted["model"].iloc[-1] == "ensemble: weighted average of 3"
    assert weighted["accuracy"].iloc[-1] == 0.75
    with pytest.raises(ValueError, match="names"):
        ensemble_table(["a"], [a, b], y)


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
