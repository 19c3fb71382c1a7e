import numpy as np
import pytest

from helpers.core.config import CLASS_NAMES
from helpers.analysis.evaluation import confusion, misclassified, per_class_scores, top_confusions


def test_confusion_counts_and_row_normalization():
    y_true = np.array([0, 0, 0, 0, 2, 2, 3])
    y_pred = np.array([0, 0, 4, 4, 2, 4, 3])
    counts, normalized = confusion(y_true, y_pred)
    assert counts.shape == (7, 7)
    assert counts[0, 0] == 2 and counts[0, 4] == 2 and counts[2, 4] == 1 and counts[3, 3] == 1
    assert normalized[0, 4] == pytest.approx(0.5)
    assert normalized[2, 2] == pytest.approx(0.5)
    assert np.all(normalized[1] == 0)  # disgust absent: a zero row, not NaN
    np.testing.assert_allclose(normalized[[0, 2, 3]].sum(axis=1), 1.0)


def test_top_confusions_ranked_by_share_of_true_class():
    y_true = np.array([0] * 10 + [2] * 4)
    y_pred = np.array([0] * 7 + [4] * 3 + [2, 5, 5, 5])
    counts, _ = confusion(y_true, y_pred)
    top = top_confusions(counts, k=2)
    assert top[0] == {"true": "fear", "predicted": "surprise", "count": 3, "share": 0.75}
    assert top[1] == {"true": "angry", "predicted": "sad", "count": 3, "share": pytest.approx(0.3)}
    assert len(top_confusions(counts, k=10)) == 2  # only non-zero off-diagonal cells


def test_per_class_scores_match_hand_computation():
    y_true = np.array([0, 0, 3, 3])
    y_pred = np.array([0, 3, 3, 3])
    frame = per_class_scores(y_true, y_pred).set_index("class")
    assert list(frame.index) == CLASS_NAMES
    assert frame.loc["angry", "precision"] == 1.0 and frame.loc["angry", "recall"] == 0.5
    assert frame.loc["happy", "precision"] == pytest.approx(2 / 3)
    assert frame.loc["happy", "support"] == 2 and frame.loc["fear", "support"] == 0


def test_misclassified_most_confident_first():
    y_true = np.array([2, 2, 2, 0])
    y_pred = np.array([4, 2, 4, 4])
    proba = np.zeros((4, 7))
    proba[0, 4], proba[2, 4], proba[3, 4] = 0.6, 0.9, 0.99
    assert misclassified(y_true, y_pred, proba, 2, 4, limit=5).tolist() == [2, 0]
    assert misclassified(y_true, y_pred, proba, 2, 4, limit=1).tolist() == [2]


def test_leaderboard_scores_halves_only_for_csv_order():
    from helpers.analysis.submissions import leaderboard_scores

    ids = np.array([0, 1, 3588, 3589, 3590, 7177])
    y_test = np.array([1, 1, 1, 2, 2, 2])
    predicted = np.array([1, 0, 1, 2, 2, 0])
    kaggle = leaderboard_scores(ids, predicted, y_test, "Kaggle fer2013.csv")
    assert kaggle == {"test": pytest.approx(4 / 6), "public": pytest.approx(2 / 3),
                      "private": pytest.approx(2 / 3)}
    folders = leaderboard_scores(ids, predicted, y_test, "image folders")
    assert folders == {"test": pytest.approx(4 / 6), "public": None, "private": None}
    assert leaderboard_scores(ids, predicted, None, "course CSV (train.csv/test.csv)") is None


@pytest.mark.parametrize("training, words", [
    ({"tta_flip": True, "tta_crops": True}, "ten-crop"),
    ({"tta_crops": True}, "four corner crops"),
    ({"tta_flip": True}, "mirrored face"),
    ({}, "none"),
])
def test_tta_words(training, words):
    from helpers.sections.cnn import tta_words

    assert words in tta_words(training)


def test_submission_sentence():
    from helpers.sections.cnn import submission_sentence

    assert submission_sentence("report/submission.csv", 7178, scored=False) == (
        "Predictions for all 7,178 test faces are in `submission.csv`; its labels are withheld, so "
        "its public/private accuracy is scored by the course leaderboard and is not known to this run.")
    assert "scored above against the labels" in submission_sentence("s.csv", 3, scored=True)
    assert "no leaderboard submission" in submission_sentence("s.csv", None, scored=False)


def test_confusion_summary_tables_sentences_and_figures():
    from matplotlib.figure import Figure

    from helpers.sections.confusion import (confusion_figure, confusion_sentences, confusion_summary, misclassified_figure, pairs_table, scores_table)

    y = np.array([0, 0, 1, 2, 3, 3, 4, 5, 6, 6])
    proba = np.eye(7)[[0, 1, 1, 2, 3, 0, 4, 5, 6, 0]] * 0.6 + 0.4 / 7
    s = confusion_summary(y, proba)
    assert s["val_accuracy"] == 0.7 and s["faces"] == 10
    assert [(t["true"], t["predicted"]) for t in s["top_pairs"]] == [
        (CLASS_NAMES[0], CLASS_NAMES[1]), (CLASS_NAMES[3], CLASS_NAMES[0]), (CLASS_NAMES[6], CLASS_NAMES[0])]
    table = scores_table(s)
    assert table.columns[0] == "class" and table["support"].tolist() == [2, 1, 1, 2, 1, 1, 2]
    assert pairs_table(s)["share"].tolist() == ["50.0%"] * 3
    text = confusion_sentences(s, shown=2)
    assert text.count("- **") == 2
    assert f"- **{CLASS_NAMES[0]}** is predicted as **{CLASS_NAMES[1]}** for 50.0% of {CLASS_NAMES[0]} faces (1 face)." in text
    assert text.endswith(f"The best recognised class is *{CLASS_NAMES[1]}* (recall 100.0%), the worst "
                         f"*{CLASS_NAMES[0]}* (recall 50.0%, 2 validation faces).")
    fig = confusion_figure(s)
    assert isinstance(fig, Figure) and fig._suptitle.get_text() == "CNN on the 10 validation faces (accuracy 70.0%)"
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8))
    fig = misclassified_figure(images, y, proba, s["top_pairs"][:2], per_pair=3)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == f"{CLASS_NAMES[0]} -> {CLASS_NAMES[1]}\n66%"
    assert fig.axes[1].get_title() == ""            # only one such face: the rest stay empty


def test_confusion_edge_cases_read_right():
    from helpers.sections.confusion import (confusion_sentences, confusion_summary, misclassified_figure)

    y = np.array([0, 1, 2, 3, 4, 5, 6])
    perfect = confusion_summary(y, np.eye(7)[y])
    assert confusion_sentences(perfect) == ("The CNN confuses no pair of classes on these faces.\n\n"
                                            "Every class has the same recall, 100.0%.")
    fig = misclassified_figure(np.zeros((7, 8, 8)), y, np.eye(7)[y], perfect["top_pairs"], 6)
    assert fig.texts[0].get_text() == "No misclassified validation faces to show"
    one = confusion_summary(np.array([0, 0, 1]), np.eye(7)[[0, 1, 1]])
    assert "the worst *angry* (recall 50.0%, 2 validation faces)" in confusion_sentences(one)
    single = confusion_summary(np.array([0, 1]), np.eye(7)[[0, 0]])
    assert "(recall 0.0%, 1 validation face)." in confusion_sentences(single)
