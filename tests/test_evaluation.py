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
        "Predictions for all 7,178 test faces are in `submission.csv` (beside this PDF); the test labels are withheld, so "
        "its public/private accuracy is scored by the course leaderboard and is not known to this run.")
    assert "scored above against the labels" in submission_sentence("s.csv", 3, scored=True)
    assert "no leaderboard submission" in submission_sentence("s.csv", None, scored=False)


def test_confusion_summary_tables_sentences_and_figures():
    from matplotlib.figure import Figure

    from helpers.sections.confusion import (confusion_figure, confusion_sentences, confusion_summary, misclassified_figure)

    y = np.array([0, 0, 1, 2, 3, 3, 4, 5, 6, 6])
    proba = np.eye(7)[[0, 1, 1, 2, 3, 0, 4, 5, 6, 0]] * 0.6 + 0.4 / 7
    s = confusion_summary(y, proba)
    assert s["val_accuracy"] == 0.7 and s["faces"] == 10
    assert [(t["true"], t["predicted"]) for t in s["top_pairs"]] == [
        (CLASS_NAMES[0], CLASS_NAMES[1]), (CLASS_NAMES[3], CLASS_NAMES[0]), (CLASS_NAMES[6], CLASS_NAMES[0])]
    text = confusion_sentences(s, shown=2)
    assert text.count("- **") == 2
    assert f"- **{CLASS_NAMES[0]}** is predicted as **{CLASS_NAMES[1]}** for 50.0% of {CLASS_NAMES[0]} faces (1 face)." in text
    assert text.endswith(f"The best recognized class is *{CLASS_NAMES[1]}* (recall 100.0%), the worst "
                         f"*{CLASS_NAMES[0]}* (recall 50.0%, 2 validation faces).")
    fig = confusion_figure(s)
    assert isinstance(fig, Figure) and fig._suptitle.get_text() == "CNN on the 10 validation faces (accuracy 70.0%)"
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8))
    fig = misclassified_figure(images, y, proba, s["top_pairs"][:2], per_pair=3)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_ylabel() == f"{CLASS_NAMES[0]}\nas {CLASS_NAMES[1]}"  # the pair, once a row
    assert fig.axes[0].get_title() == "66%"
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


# --------------------------------------------------------------------------- what past reports noted

def _faces(rows):
    """Labels and probabilities from (true class, predicted class, top probability, count) rows."""
    y, proba = [], []
    for true, predicted, top, count in rows:
        for _ in range(count):
            p = np.full(7, (1 - top) / 6)
            p[CLASS_NAMES.index(predicted)] = top
            y.append(CLASS_NAMES.index(true))
            proba.append(p)
    return np.array(y), np.array(proba)


NOTED = [  # disgust: 3 of 10 found, 3 of 4 predictions right; sad and neutral taken for each other
    ("disgust", "disgust", 0.6, 3), ("disgust", "angry", 0.6, 5), ("disgust", "fear", 0.6, 2),
    ("angry", "angry", 0.6, 9), ("angry", "disgust", 0.6, 1), ("fear", "fear", 0.6, 10),
    ("sad", "sad", 0.5, 6), ("sad", "neutral", 0.5, 3), ("sad", "fear", 0.5, 1),
    ("neutral", "neutral", 0.55, 7), ("neutral", "sad", 0.55, 2), ("neutral", "happy", 0.55, 1),
    ("happy", "happy", 0.9, 10), ("surprise", "surprise", 0.8, 10),
]


def test_confusion_summary_keeps_each_class_confidence():
    from helpers.sections.confusion import confusion_summary

    s = confusion_summary(*_faces(NOTED))
    assert s["confidence"]["happy"] == pytest.approx(0.9)
    assert s["confidence"]["sad"] == pytest.approx(0.5)
    assert s["confidence"]["neutral"] == pytest.approx(0.55)
    labels_only = confusion_summary(np.array([0, 1]), np.array([0, 0]))
    assert labels_only["confidence"] is None  # labels carry no probability
    absent = confusion_summary(*_faces([("happy", "happy", 0.9, 2)]))["confidence"]
    assert absent["sad"] is None and absent["happy"] == pytest.approx(0.9)


def test_class_counts_precision_recall_and_intervals():
    from helpers.analysis.stats import wilson_interval
    from helpers.sections.confusion import class_counts, confusion_rate, confusion_summary, confused_with, most_confused_with

    s = confusion_summary(*_faces(NOTED))
    c = class_counts(s, "disgust")
    assert (c["right"], c["predicted"], c["support"]) == (3, 4, 10)
    assert c["precision"] == 0.75 and c["recall"] == 0.3
    assert c["precision_interval"] == wilson_interval(3, 4)
    assert c["recall_interval"] == wilson_interval(3, 10)
    assert most_confused_with(s, "disgust") == "angry"
    assert most_confused_with(s, "happy") is None
    assert confused_with(s, "disgust") == ["angry", "fear"] and confused_with(s, "happy") == []
    assert confused_with(s, "sad") == ["neutral", "fear"]
    assert confusion_rate(s, "sad", "neutral") == (0.3, 3)
    assert confusion_rate(s, "neutral", "sad") == (0.2, 2)
    empty = class_counts(confusion_summary(*_faces([("happy", "happy", 0.9, 2)])), "disgust")
    assert empty["precision"] is None and empty["recall"] is None and empty["recall_interval"] is None


def test_noted_confusions_say_what_past_reports_said_with_the_numbers():
    from helpers.sections.confusion import confusion_summary, noted_confusions_sentences

    text = noted_confusions_sentences(confusion_summary(*_faces(NOTED)))
    disgust, sad = text.split("\n")
    assert disgust.startswith("- **Disgust: a predicted disgust is usually right, yet most disgust faces "
                              "are missed.** Precision 75.0% (3 of the 4 faces it calls disgust; 95% interval")
    assert "recall 30.0% (3 of the 10 disgust faces; 95% interval" in disgust
    assert disgust.endswith("the missed ones go most often to angry (5 faces, 50.0% of disgust faces), then fear "
                            "(2 faces, 20.0%).")
    assert "rarest" not in disgust  # 10 disgust faces, the same as every other class
    assert sad == ("- **Sad and neutral**: 30.0% of sad faces are called neutral (3 faces) and 20.0% of "
                   "neutral faces sad (2 faces); each is the other's most frequent confusion. By the CNN's own "
                   "confidence both are harder than the expressive happy and surprise faces (mean top probability "
                   "50.0% on sad and 55.0% on neutral faces, against 90.0% on happy and 80.0% on surprise), as "
                   "faces with little expression would be.")
    # a class past reports noted but not among the two most frequent: named with its count
    sad_first = confusion_summary(*_faces(NOTED + [("disgust", "sad", 0.6, 3)]))
    assert noted_confusions_sentences(sad_first).split("\n")[0].endswith(
        "the missed ones go most often to angry (5 faces, 38.5% of disgust faces), then sad (3 faces, 23.1%); "
        "fear, which past reports also noted, takes 2 faces (15.4%).")


def test_noted_confusions_follow_the_numbers_when_they_say_otherwise():
    from helpers.sections.confusion import (confusion_summary, low_expression_sentence,
                                            precision_recall_sentence)

    rows = [("disgust", "disgust", 0.6, 4), ("disgust", "angry", 0.6, 1), ("angry", "disgust", 0.6, 6),
            ("angry", "angry", 0.6, 4), ("sad", "sad", 0.95, 8), ("sad", "angry", 0.95, 2),
            ("neutral", "neutral", 0.95, 9), ("neutral", "sad", 0.95, 1), ("happy", "happy", 0.9, 9),
            ("happy", "angry", 0.9, 1), ("surprise", "surprise", 0.8, 10), ("fear", "fear", 0.6, 10)]
    s = confusion_summary(*_faces(rows))
    disgust = precision_recall_sentence(s)
    assert disgust.startswith("- **Disgust: a predicted disgust is more often wrong than right, yet most "
                              "disgust faces are found.** Precision 40.0% (4 of the 10 faces")
    assert disgust.endswith("Disgust is the rarest class, so these shares rest on few faces.")
    # the report's case: trusted predictions, half the faces found: "yet only half"
    half = confusion_summary(*_faces([("disgust", "disgust", 0.6, 4), ("disgust", "angry", 0.6, 4),
                                      ("angry", "angry", 0.6, 8)]))
    assert precision_recall_sentence(half).startswith(
        "- **Disgust: a predicted disgust is usually right, yet only half the disgust faces are found.**")
    sad = low_expression_sentence(s)
    assert "; neutral is sad's most frequent confusion" not in sad
    assert "; sad is neutral's most frequent confusion, while sad's is angry" in sad
    assert sad.endswith("By the CNN's confidence they are not harder than the expressive happy and surprise "
                        "faces (mean top probability 95.0% on sad and 95.0% on neutral faces, against 90.0% "
                        "on happy and 80.0% on surprise).")
    never = confusion_summary(*_faces([("disgust", "angry", 0.6, 3), ("angry", "angry", 0.6, 3)]))
    assert precision_recall_sentence(never) == ("- **Disgust**: the CNN never predicts disgust, so it misses "
                                                "all 3 disgust faces; the largest share goes to angry (3 faces, 100.0%).")
    one = confusion_summary(*_faces([("disgust", "sad", 0.6, 1), ("angry", "angry", 0.6, 3)]))
    assert precision_recall_sentence(one) == ("- **Disgust**: the CNN never predicts disgust, so it misses "
                                              "the only disgust face, which it calls sad.")
    assert "no disgust faces" in precision_recall_sentence(confusion_summary(*_faces([("angry", "angry", 0.6, 3)])))
    labels = confusion_summary(np.array([4, 4, 6]), np.array([6, 4, 4]))  # labels: no confidence
    assert low_expression_sentence(labels) == (
        "- **Sad and neutral**: 50.0% of sad faces are called neutral (1 face) and 100.0% of neutral faces "
        "sad (1 face); each is the other's most frequent confusion.")
