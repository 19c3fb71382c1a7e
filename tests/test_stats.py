"""Unit tests for helpers.analysis.stats: the exact McNemar test, paired comparisons and their wording."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers.analysis.stats import (mcnemar_exact, Paired, paired_comparison, per_class_recall, significant_changes)
from helpers.core.words import change_words
from helpers.core.words import pct_or_na, plural


def exact_two_sided(b: int, c: int) -> float:
    """The textbook exact McNemar p-value: 2 * P(X <= min(b, c)), X ~ Binomial(b + c, 1/2), capped at 1."""
    n = b + c
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n)


# --------------------------------------------------------------------------- mcnemar_exact


def test_mcnemar_exact_hand_computed():
    # b=1, c=9: 2 * (C(10,0) + C(10,1)) / 2^10 = 2 * 11 / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(0.021484375, rel=1e-12, abs=0)
    assert mcnemar_exact(9, 1) == pytest.approx(0.021484375, rel=1e-12, abs=0)
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625, rel=1e-12, abs=0)  # 2 / 32
    assert mcnemar_exact(3, 1) == pytest.approx(0.625, rel=1e-12, abs=0)  # 2 * 5 / 16


@pytest.mark.parametrize("b, c", [(0, 1), (2, 7), (4, 4), (3, 4), (10, 25), (0, 30), (17, 3)])
def test_mcnemar_exact_matches_binomial_formula(b, c):
    assert mcnemar_exact(b, c) == pytest.approx(exact_two_sided(b, c), rel=1e-12, abs=1e-15)


def test_mcnemar_exact_no_discordant_pairs_and_ties():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert isinstance(mcnemar_exact(1, 9), float)


@pytest.mark.parametrize("b, c", [(-1, 3), (2, -1), (1.5, 2)])
def test_mcnemar_exact_rejects_bad_counts(b, c):
    with pytest.raises(ValueError, match="non-negative integers"):
        mcnemar_exact(b, c)


# --------------------------------------------------------------------------- paired_comparison


def test_paired_comparison_from_probabilities():
    y = np.array([0, 1, 2, 0, 1, 2])
    before = np.eye(3)[[0, 0, 0, 0, 1, 1]]  # right on rows 0, 3, 4
    after = np.eye(3)[[0, 1, 2, 1, 1, 2]]   # right on rows 0, 1, 2, 4, 5
    result = paired_comparison(before, after, y)
    assert result == Paired(fixed=3, broken=1, p=pytest.approx(0.625))  # fixed 1, 2, 5; broken 3
    fixed, broken, p = result
    assert (fixed, broken) == (3, 1) and p == pytest.approx(0.625, rel=1e-12)
    # Swapping the models swaps fixed and broken; the two-sided p is the same.
    assert paired_comparison(after, before, y)[:2] == (1, 3)


def test_paired_comparison_from_labels_and_identical_models():
    y = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    before = np.array([0, 1, 0, 0, 0, 0, 0, 0, 0, 0])  # right on row 1 only
    after = np.array([1, 0, 1, 1, 1, 1, 1, 1, 1, 1])   # right everywhere but row 1
    assert paired_comparison(before, after, y) == (9, 1, pytest.approx(0.021484375, rel=1e-12))
    assert paired_comparison(before, before, y) == (0, 0, 1.0)


def test_paired_comparison_length_mismatch():
    with pytest.raises(ValueError, match="2 rows before, 3 after, 2 labels"):
        paired_comparison(np.array([0, 1]), np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="2 rows before, 2 after, 3 labels"):
        paired_comparison(np.array([0, 1]), np.array([0, 1]), np.array([0, 1, 1]))


# --------------------------------------------------------------------------- summaries


def test_significant_changes_counts():
    changes = [(0.02, 0.01), (-0.03, 0.04), (0.05, 0.2), (-0.01, 0.5), (0.0, 0.01), (0.01, 0.05)]
    assert significant_changes(changes) == (1, 1, 4)
    assert significant_changes(changes, alpha=0.3) == (3, 1, 2)
    assert significant_changes(iter([])) == (0, 0, 0)


def test_per_class_recall_exact_and_missing_class():
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 2, 1, 0, 2])
    recall = per_class_recall(predicted, y, num_classes=4)
    assert recall[:3] == [0.5, 0.5, 1.0]
    assert math.isnan(recall[3])  # no row of class 3
    assert per_class_recall(np.eye(4)[predicted], y, num_classes=4)[:3] == [0.5, 0.5, 1.0]


# --------------------------------------------------------------------------- words


def test_change_words_raise_significant():
    assert change_words(0.40, 0.42, 30, 10, 0.00221) == (
        "raises validation accuracy from 40.0% to 42.0% (+2.0 points; it fixes 30 and breaks 10 of the "
        "validation faces, exact McNemar test p = 0.0022, significant at the 5% level)")


def test_change_words_lower_not_significant_and_unchanged():
    assert change_words(0.5, 0.45, 3, 8, 0.2265625) == (
        "lowers validation accuracy from 50.0% to 45.0% (-5.0 points; it fixes 3 and breaks 8 of the "
        "validation faces, exact McNemar test p = 0.23, not significant at the 5% level)")
    assert change_words(0.5, 0.5, 4, 4, 1.0) == (
        "leaves validation accuracy at 50.0% (+0.0 points; it fixes 4 and breaks 4 of the "
        "validation faces, exact McNemar test p = 1, not significant at the 5% level)")
    # p exactly 0.05 is not below the 5% level.
    assert change_words(0.1, 0.2, 1, 0, 0.05).endswith("p = 0.05, not significant at the 5% level)")


def test_a_change_in_points_is_the_difference_of_the_printed_percentages():
    """The report once printed 67.7% -> 66.7% as "-0.9 points" (or -1.1): the change was
    computed from the unrounded shares. A reader subtracts the printed numbers."""
    import re

    from helpers.core.words import points

    assert points(0.6774, 0.6668) == -1.0  # unrounded: -1.06
    assert points(0.40, 0.42) == 2.0 and points(0.5, 0.5) == 0.0
    assert points(0.12341, 0.2, digits=2) == 7.66
    rng = np.random.default_rng(0)
    for before, after in rng.uniform(0.3, 0.8, size=(500, 2)):
        text = change_words(before, after, 1, 1, 0.5)
        shown_before, shown_after, delta = (float(v) for v in re.search(
            r"from ([\d.]+)% to ([\d.]+)% \(([+-][\d.]+) points", text).groups()) if "from" in text else (0, 0, 0)
        assert delta == pytest.approx(shown_after - shown_before, abs=1e-9), text


def test_words_follow_the_significance_level(monkeypatch):
    import helpers.core.words as words

    monkeypatch.setattr(words, "ALPHA", 0.01)
    assert words.change_words(0.1, 0.2, 10, 1, 0.02).endswith("not significant at the 1% level)")


def test_pct_or_na_and_plural():
    assert pct_or_na(None) == "n/a"
    assert pct_or_na(0.6734) == "67.3%"
    assert pct_or_na(0.0) == "0.0%"
    assert plural(1, "epoch") == "1 epoch"
    assert plural(0, "epoch") == "0 epochs"
    assert plural(3, "self-training round") == "3 self-training rounds"


# --------------------------------------------------------------------------- intervals and leaders


def test_wilson_interval_textbook_values():
    from helpers.analysis.stats import wilson_interval

    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    low99, high99 = wilson_interval(5, 10, confidence=0.99)
    assert low99 < 0.2366 and high99 > 0.7634


@pytest.mark.parametrize("successes, n, confidence", [(3, 2, 0.95), (-1, 5, 0.95), (1, 0, 0.95),
                                                      (1.5, 5, 0.95), (1, 5, 1.0)])
def test_wilson_interval_rejects_bad_arguments(successes, n, confidence):
    from helpers.analysis.stats import wilson_interval

    with pytest.raises(ValueError):
        wilson_interval(successes, n, confidence)


def test_paired_difference_interval_agresti_min():
    from helpers.analysis.stats import paired_difference_interval

    # Agresti's presidential-approval table (1,600 people, 86 and 150 discordant): Wald gives
    # -0.04 +- 1.96 * 0.0095; the adjusted interval, half a person added to each cell, is close.
    change, low, high = paired_difference_interval(86, 150, 1600)
    assert change == -0.04
    center, se = -64 / 1602, np.sqrt(237 - 64 ** 2 / 1602) / 1602
    assert (low, high) == pytest.approx((center - 1.959964 * se, center + 1.959964 * se), abs=1e-7)
    assert (low, high) == pytest.approx((-0.059, -0.021), abs=1e-3)
    # No face changes: the interval is symmetric around 0 and still has a width.
    change, low, high = paired_difference_interval(0, 0, 100)
    assert change == 0 and low == -high and high > 0.01
    # Mirrored counts mirror the interval; more faces narrow it.
    assert paired_difference_interval(30, 10, 500)[1:] == pytest.approx(
        tuple(-v for v in paired_difference_interval(10, 30, 500)[:0:-1]))
    assert np.diff(paired_difference_interval(60, 20, 2000)[1:]) < np.diff(paired_difference_interval(30, 10, 500)[1:])
    # Bounded by -1 and 1.
    assert paired_difference_interval(10, 0, 10)[2] <= 1.0


@pytest.mark.parametrize("fixed, broken, n", [(-1, 0, 5), (3, 3, 5), (1, 1, 0), (1.5, 0, 5)])
def test_paired_difference_interval_rejects_bad_counts(fixed, broken, n):
    from helpers.analysis.stats import paired_difference_interval

    with pytest.raises(ValueError):
        paired_difference_interval(fixed, broken, n)


def test_accuracy_with_interval_from_probabilities():
    from helpers.analysis.stats import accuracy_with_interval, wilson_interval

    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    predicted = np.array([0, 1, 2, 0, 1, 0, 0, 2, 2, 1])  # 7 right
    accuracy, low, high = accuracy_with_interval(np.eye(3)[predicted], y)
    assert accuracy == 0.7 and (low, high) == wilson_interval(7, 10)
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        accuracy_with_interval(np.array([0, 1, 2]), np.array([0, 1]))


def right_on(correct: np.ndarray) -> np.ndarray:
    """Labels that are right (class 0) where `correct`, wrong (class 1) elsewhere; truth is 0."""
    return np.where(correct, 0, 1)


def test_leaders_names_a_single_best_only_when_it_is_significantly_ahead():
    from helpers.analysis.stats import leaders

    y = np.zeros(200, dtype=int)
    a = np.arange(200) < 100                       # 100 right
    b = a.copy(); b[:4] = False; b[100:106] = True  # fixes 6, breaks 4: a tie with a
    c = b.copy(); c[106:146] = True; c[4:9] = False  # fixes 40, breaks 5 against b
    ranking = leaders({"a": right_on(a), "b": right_on(b), "c": right_on(c)}, y)
    assert ranking["leader"] == "c" and ranking["top"] == ["c"] and ranking["behind"] == ["a", "b"]
    assert ranking["p"]["b"] == paired_comparison(right_on(c), right_on(b), y).p < 0.05

    tied = leaders({"a": right_on(a), "b": right_on(b)}, y)
    assert tied["leader"] == "b" and tied["top"] == ["b", "a"] and tied["behind"] == []
    assert tied["p"]["a"] == pytest.approx(mcnemar_exact(6, 4))
    same = leaders({"x": right_on(a), "y": right_on(a)}, y)
    assert same["leader"] == "x" and same["top"] == ["x", "y"]  # equal: the first named leads
    with pytest.raises(ValueError):
        leaders({}, y)
