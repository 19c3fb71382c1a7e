"""Unit tests for helpers/sections/answers.py: the answer sheet and the reference points, on
synthetic results dicts (the keys the notebooks write to results.json)."""

import copy
import json

import numpy as np
import pytest

from helpers.core.config import CLASS_NAMES
from helpers.sections import number
from helpers.sections.answers import (
    NOT_PRODUCED,
    QUESTIONS,
    questions,
    REFERENCES,
    UNREADABLE,
    anchor,
    answer_rows,
    answers_markdown,
    field_markdown,
    field_rows,
    field_sentence,
    where,
)
from helpers.sections.confusion import confusion_summary


def confusion_section():
    """A confusion summary as results.json holds it (lists, not arrays)."""
    rows = [("disgust", "disgust", 3), ("disgust", "angry", 5), ("disgust", "fear", 2), ("angry", "angry", 9),
            ("angry", "disgust", 1), ("fear", "fear", 10), ("sad", "sad", 6), ("sad", "neutral", 3),
            ("sad", "fear", 1), ("neutral", "neutral", 7), ("neutral", "sad", 2), ("neutral", "happy", 1),
            ("happy", "happy", 10), ("surprise", "surprise", 10)]
    y = [CLASS_NAMES.index(t) for t, _, n in rows for _ in range(n)]
    predicted = [CLASS_NAMES.index(p) for _, p, n in rows for _ in range(n)]
    s = confusion_summary(np.array(y), np.eye(7)[predicted] * 0.6 + 0.4 / 7)
    return json.loads(json.dumps(s, default=lambda a: a.tolist()))


def results():
    return {
        "run": {"profile": "full", "test_rows": 100},
        "data": {"train_rows": 900, "val_rows": 100, "test_rows": 100, "test_labeled": False,
                 "class_counts": [150, 20, 150, 300, 150, 100, 130]},
        "cnn": {"params": 1_439_527, "val_accuracy": 0.70, "val_accuracy_no_tta": 0.68, "tta": "ten-crop",
                "epochs": 30, "best_epoch": 28, "leaderboard": None},
        "dnn": {"params": 1_438_157, "val_accuracy": 0.45, "epochs": 30, "best_epoch": 12,
                "comparison": {"cnn_val": 0.70, "dnn_val": 0.45, "p": 1.2e-9,
                               "overfit": {"CNN": 0.05, "DNN": 0.30}},
                "speed": {"faster": "DNN", "factor": 3.04, "slower": "CNN"}},
        "ablation": {"none": {"val_accuracy": 0.60}, "normalization": {"val_accuracy": 0.61},
                     "normalization_augmentation": {"val_accuracy": 0.66},
                     "comparisons": [
                         {"before": "none", "after": "normalization", "change": 0.01, "p": 0.4},
                         {"before": "normalization", "after": "normalization_augmentation", "change": 0.05,
                          "p": 0.001},
                         {"before": "none", "after": "normalization_augmentation", "change": 0.06, "p": 1e-4}],
                     "ranking": {"leader": "normalization_augmentation", "top": ["normalization_augmentation"],
                                 "behind": ["none", "normalization"]}},
        "confusion": confusion_section(),
        "saliency": {"focus_regions": ["mouth", "eyes"], "answer_methods": ["gradcam", "saliency"],
                     "answer_trusted": True,
                     "methods": {"gradcam": {"density": {"eyes": {"mean": 1.31}, "mouth": {"mean": 1.62},
                                                         "rest": {"mean": 0.7}}}}},
        "filters": {"layers": {"block1_conv1": {"filters": 32, "total": 32, "agreeing": 30, "brightness_kernels": 6},
                               "block3_conv2": {"filters": 32, "total": 128, "oriented": 20,
                                                "common_orientation": "horizontal"}},
                    "feature_maps": {"block1_conv1": {"filters": 32, "edge_like": 10, "brightness_like": 12}}},
        "semi": {"fractions": [0.1, 0.3],
                 "overall": {"models": 4, "better": 1, "worse": 0, "unclear": 3,
                             "largest": {"change": 0.021, "change_low": 0.004, "change_high": 0.038,
                                         "fraction": 0.3, "pool": "train"}}},
        "weak_saliency": {"val_accuracy": 0.55, "main_val_accuracy": 0.70, "epochs": 10,
                          "prediction_agreement": 0.7, "top10_mass": {"saliency": {"main": 0.4, "weak": 0.35},
                                         "gradcam": {"main": 0.28, "weak": 0.34}}},
        "adversarial": {"attempted": 4, "flipped": 3, "max_steps": 100, "step_size": 1.0,
                        "median_steps_flipped": 3.0, "largest_mean_abs_change": 2.5,
                        "mean_abs_difference_between_faces": 73.6},
        "class_maximization": {"hits": 6, "classes": CLASS_NAMES, "steps": 200,
                               "lowest": {"class": "happy", "probability": 0.41},
                               "highest": {"class": "fear", "probability": 0.99}},
        "hist_eq": {"val_accuracy_hist_eq": 0.69, "val_accuracy_raw": 0.70, "mcnemar_p": 0.3},
        "ensemble": {"val_accuracy": 0.72, "best_single_val_accuracy": 0.70, "size": 3,
                     "mcnemar_p_vs_best": 0.01, "leaderboard": None},
    }


HOMEWORK = {slug for slug, *_ in QUESTIONS}
"""The homework's rows (a section added later gets a row of its own, which these tests skip)."""


def homework_rows(r, latex=False):
    return [row for row in answer_rows(r, latex) if row["section"] in HOMEWORK]


def answers(r, latex=False):
    return [row["answer"] for row in homework_rows(r, latex)]


# --------------------------------------------------------------------------- the answer sheet


def test_one_row_per_homework_question_with_its_section():
    rows = homework_rows(results())
    assert [row["question"].split(".")[0] for row in rows] == (
        ["Data"] + [str(number(s)) for s in ("cnn", "dnn", "curves", "ablation", "confusion",
                                             "saliency", "filters", "semi")]
        + [str(number("further"))] * 5)
    assert rows[0]["question"] == "Data" and rows[0]["where"] == "Data"
    assert rows[5]["question"] == f"{number('confusion')}. Confusion matrix: most confused classes"
    assert rows[5]["where"] == f"section {number('confusion')}"
    assert rows[3]["question"] == f"{number('curves')}. Training curves"
    assert rows[-1]["question"] == f"{number('further')}. Further analysis: ensemble of CNNs"
    assert rows[-1]["where"] == f"section {number('further')}"


def test_every_answer_of_a_complete_run_is_one_sentence_with_its_number():
    expected = [
        "**1,000 labeled faces** (900 training, 100 validation) and 100 unlabeled test faces; rarest class "
        "disgust (20, 2.0%), most common happy (300).",
        "**70.0% validation accuracy** (68.0% without test-time averaging) with 1,439,527 parameters, trained 30 "
        "epochs (checkpoint of epoch 28, chosen on these validation faces); its public/private scores are not known here (the test labels are withheld: the "
        "course leaderboard scores its submission).",
        "**45.0%** with 1,438,157 parameters against the CNN's 70.0% (-25.0 points, McNemar p = 1.2e-09: a "
        "significant loss); the DNN trains 3.0x faster per epoch.",
        "Validation accuracy peaks at epoch 28 of 30 (CNN) and 12 of 30 (DNN); last-epoch train - validation "
        "gap **+5.0 points (CNN)** and +30.0 (DNN).",
        "(a) neither **60.0%**; (b) normalization **61.0%**; (c) both **66.0%**: normalization alone: no significant difference "
        "(+1.0 points, p = 0.4) and adding augmentation: a significant gain (+5.0 points, p = 0.001); best: "
        "(c) both.",
        "Most often confused: **disgust taken for angry** (50.0% of disgust faces), sad for neutral (30.0%) and disgust for fear (20.0%); "
        "a predicted disgust is right 75.0% of the time (3 of 4), but only 30.0% of disgust faces are found "
        "(3 of 10).",
        "The maps weigh **the mouth and the eyes** above their area: more mass per pixel than an even spread "
        "(mouth 1.62x, eyes 1.31x by Grad-CAM).",
        "(a) Patterns: in block 1, convolution 1 (all 32 filters), 30 of 32 patterns reproduce their own "
        "kernel (6 brightness kernels, the others edges, lines and spots); in block 3, convolution 2 (a "
        "sample: filters 0-31 of its 128), 20 of 32 patterns are oriented (beyond white "
        "noise), most often horizontal. (b) Feature maps of one face: in block 1, "
        "convolution 1, 10 of 32 follow its edges and 12 its brightness.",
        "Of 4 self-trained models (10% and 30% of the labels kept), **1 significantly better and 0 "
        "significantly worse** than the supervised baseline, the others not significantly different; largest change +2.1 points (95% "
        "interval +0.4 to +3.8; 30% labeled).",
        "The weak model (55.0% after 10 epochs, against 70.0%) predicts the main CNN's class on 70.0% of faces; "
        "the top 10% of pixels of its maps hold less of the mass than the main CNN's by saliency (35.0% "
        "against 40.0%) and more of the mass by Grad-CAM (34.0% against 28.0%).",
        "**3 of 4** correctly classified faces change class after a median of 3 steps of 1 gray level (mean "
        "change per pixel at most 2.5 gray levels, against 74 between two faces).",
        "**6 of 7** images optimized from noise are classified as their class after 200 steps (class "
        "probability 41.0% to 99.0%).",
        "Histogram equalization: **69.0%** against 70.0% without it (section 4's variant (c)) (-1.0 points, McNemar p = 0.3: no significant difference).",
        "Averaging 3 CNNs: **72.0%** against 70.0% for the best single run (+2.0 points, McNemar p = 0.01: a "
        "significant gain).",
    ]
    assert answers(results()) == expected


def test_a_missing_section_is_not_produced_and_never_breaks_the_sheet():
    assert answers({}) == [NOT_PRODUCED] * len(QUESTIONS)
    r = results()
    for section in ("ablation", "saliency", "weak_saliency", "ensemble"):
        del r[section]
    got = answers(r)
    assert got[4] == got[6] == got[-1] == NOT_PRODUCED
    assert got[9] == NOT_PRODUCED  # neither weak_saliency nor weak_filters
    assert got[:4] == answers(results())[:4]


def test_a_section_whose_numbers_changed_points_to_the_section():
    r = results()
    r["cnn"] = {"params": 5}                              # a renamed key
    r["confusion"] = {"top_pairs": "not a list of pairs"}  # an unexpected type
    r["saliency"] = {"answer_methods": [], "focus_regions": []}
    r["filters"] = {"layers": {"block1_conv1": {"filters": 32}}}  # nothing this sheet reads
    got = answers(r)
    assert got[1] == got[3] == got[5] == got[6] == got[7] == UNREADABLE
    text = answers_markdown(r)
    assert text.count(UNREADABLE) == 5


def test_ties_are_called_ties():
    r = results()
    for c in r["ablation"]["comparisons"]:
        c["p"] = 0.2
    r["ablation"]["ranking"]["top"] = ["normalization_augmentation", "normalization", "none"]
    r["dnn"]["comparison"]["p"] = 0.06
    r["dnn"]["speed"] = {"faster": None, "factor": 1.02, "slower": "CNN"}
    r["ensemble"]["mcnemar_p_vs_best"] = 0.5
    r["semi"]["overall"].update(better=0, worse=0, unclear=4)
    got = answers(r)
    assert "adding augmentation: no significant difference (+5.0 points, p = 0.2); no variant is significantly best." in got[4]
    assert got[2].endswith("(-25.0 points, McNemar p = 0.06: no significant difference); both train at about the same speed per epoch.")
    assert got[-1].endswith("(+2.0 points, McNemar p = 0.5: no significant difference).")
    assert got[8].startswith("**No gain**: none of the 4 self-trained models (10% and 30% of the labels kept) "
                             "differs significantly from its supervised baseline;")


def test_answers_from_older_or_partial_summaries():
    r = results()
    del r["dnn"]["comparison"], r["dnn"]["speed"]
    del r["ablation"]["comparisons"], r["ablation"]["ranking"]
    r["filters"] = {"layers": {"block1_conv1": {"filters": 32}},
                    "feature_maps": {"block1_conv1": {"filters": 32, "edge_like": 0, "brightness_like": 14}}}
    r["saliency"]["focus_regions"] = []
    r["saliency"]["answer_trusted"] = False
    r["weak_filters"] = {"val_accuracy": 0.55, "main_val_accuracy": 0.70, "epochs": 10,
                         "weak": {"feature_maps": {"edge_like": 11}}, "main": {"feature_maps": {"edge_like": 0}}}
    del r["weak_saliency"]
    got = answers(r)
    assert got[2] == "**45.0%** with 1,438,157 parameters against the CNN's 70.0%."
    assert got[3] == "Validation accuracy peaks at epoch 28 of 30 (CNN) and 12 of 30 (DNN)."
    assert got[4] == ("(a) neither **60.0%**; (b) normalization **61.0%**; (c) both **66.0%** (the paired tests "
                      "are not in this run's results).")
    assert got[6] == ("No face region stands out: none gets clearly more than an even spread by Grad-CAM; no "
                      "method passes the randomization check, so read with care.")
    assert got[7] == ("(b) Feature maps of one face: in block 1, convolution 1, 0 of 32 follow its "
                      "edges and 14 its brightness.")
    assert got[9] == ("The weak model (55.0% after 10 epochs, against 70.0%) has 11 first-layer feature maps "
                      "that follow the face's edges against 0 for the main CNN.")


def test_leaderboard_scores_when_the_data_has_test_labels():
    r = results()
    r["cnn"]["leaderboard"] = {"test": 0.7, "public": 0.695, "private": 0.705}
    r["ensemble"]["leaderboard"] = {"test": 0.71, "public": None, "private": None}
    got = answers(r)
    assert got[1].endswith("validation faces); leaderboard public 69.50%, private 70.50%.")
    assert got[-1].endswith("significant gain); leaderboard test 71.00%.")
    r["run"]["test_rows"] = r["data"]["test_rows"] = 0
    r["cnn"]["leaderboard"] = None
    assert answers(r)[1].endswith("validation faces).")  # no test faces: no leaderboard to speak of
    assert "validation) and no test faces;" in answers(r)[0]


def test_markdown_table_with_page_references_for_latex():
    text = answers_markdown(results())
    lines = text.split("\n")
    assert lines[0] == "\\newpage" and "# Answers at a glance" in lines
    table = [line for line in lines if line.startswith("| ")]
    assert table[0] == "| question | answer | evidence |" and len(table) == 1 + len(questions())
    assert all(line.count(" | ") == 2 for line in table)  # no stray pipe in a cell
    assert table[6].endswith(f"| section\\ {number('confusion')}, \\evidencepages{{confusion-matrix}}{{most-confused-classes}} |")
    # two headings: the template's \evidencepages prints one page when both are on it
    assert table[7].endswith("| section\\ 6, \\evidencepages{saliency-maps}{how-far-the-maps-can-be-trusted} |")
    assert table[1].endswith("| Data, \\evidencepages{data}{end-data} |")  # its figures run past its last heading
    assert "\\begingroup\\footnotesize\\renewcommand{\\arraystretch}{1.1}" in lines and lines[-1] == "\\endgroup"
    plain = answers_markdown(results(), latex=False)
    assert "\\" not in plain and plain.startswith("# Answers at a glance")
    assert "| section 5 |" in plain
    assert "smoke run" not in plain


def test_a_smoke_run_says_so_on_the_sheet():
    r = results()
    r["run"]["profile"] = "smoke"
    assert "**This is a smoke run on a subset: its numbers are not the real results.**" in answers_markdown(r)


@pytest.mark.parametrize("title,label", [
    ("Data", "data"), ("CNN", "cnn"), ("Training curves", "training-curves"),
    ("Normalization and augmentation", "normalization-and-augmentation"),
    ("Semi-supervised learning", "semi-supervised-learning"), ("9. Further analysis", "further-analysis"),
    ("A (b), c!", "a-b-c"), ("42", "section"),
])
def test_anchor_is_pandocs_identifier(title, label):
    assert anchor(title) == label


def test_where_for_every_section():
    assert where("data") == "Data, p.\\ \\pageref{data}"  # "\\ ": a space no line breaks
    assert where("semi", latex=False) == f"section {number('semi')}"
    assert where("further") == f"section\\ {number('further')}, p.\\ \\pageref{{further-analysis}}"


# --------------------------------------------------------------------------- the field


def test_field_table_sorted_with_this_runs_rows_in_bold_and_its_source():
    text = field_markdown(results(), latex=False)
    assert text.startswith("# Where this stands in the field")
    assert field_markdown(results()).startswith("```{=latex}\n\\par\\ifdim\\dimexpr\\pagegoal-\\pagetotal<0.3"
                                                "\\textheight\\newpage\\fi\n```\n\n# Where this stands")
    rows = [line for line in text.split("\n") if line.startswith("| ") and "accuracy |" not in line]
    assert len(rows) == len(REFERENCES) + 2
    assert rows[0].startswith("| Ensemble of 8 CNNs | 75.2% | test |")
    assert rows[-1].startswith("| Past report D")  # no number: last
    ours = [row for row in rows if "This run" in row]
    assert ours == ["| **This run: ensemble of 3 CNNs** | **72.0%** | validation split (100 faces) |",
                    "| **This run: main CNN** | **70.0%** | validation split (100 faces) |"]
    order = [row["accuracy"] for row in field_rows(results()) if row["accuracy"] is not None]
    assert order == sorted(order, reverse=True)
    assert "as the course homework lists them" in text and "HOMEWORK.md" not in text and "this run's rows are in bold" in text
    assert "| Human accuracy (estimate) | 65 +/- 5% |" in text
    assert "| Kaggle 2013 challenge winner | 71.16% | private test half |" in text


def test_field_sentence_calls_overlaps_ties_and_says_the_split_differs():
    r = results()
    r["data"]["val_rows"] = 10_000  # a narrow interval: 69.1%-70.9%
    text = field_sentence(r)
    assert text.startswith("On validation faces this run's main CNN (70.0%, 95% interval 69.1%-70.9% over "
                           "10,000 faces) is above 4 reference points (the highest of them: report E, 67.21% / "
                           "67.34%); level with human accuracy (65 +/- 5%), the intervals overlapping; below "
                           "4 reference points (the lowest of them: the 2013 challenge winner, 71.16%).")
    assert "this run's are validation accuracies, a different split" in text
    wide = field_sentence(results())  # 100 faces: 60.4%-78.1%
    assert ("is above report B (~60%); level with report C (63.8%), human accuracy (65 +/- 5%), report A "
            "(66.70%), report E (67.21% / 67.34%), the 2013 challenge winner (71.16%), a 10-layer VGG (72.7%), "
            "a tuned VGG (73.28%) and an ensemble of 8 CNNs (75.2%), the intervals overlapping.") in wide
    assert "below" not in wide


def test_field_with_leaderboard_scores_and_without_a_cnn():
    r = results()
    r["cnn"]["leaderboard"] = {"test": 0.70, "public": 0.695, "private": 0.705}
    text = field_markdown(r)
    assert "| **This run: main CNN** | **69.50% / 70.50%** | public / private test halves |" in text
    assert "on the same test halves as the references" in text
    assert "a different split of the same kind" not in text
    empty = field_markdown({}, latex=False)
    assert "This run" not in empty.split("\n\n")[1]
    assert empty.endswith("This run has no validation accuracy of the main CNN to place among them.")


def test_the_sheet_reads_results_without_changing_them():
    r = results()
    before = copy.deepcopy(r)
    answers_markdown(r), field_markdown(r)
    assert r == before


def test_a_section_without_a_row_of_its_own_answers_from_its_summary(monkeypatch):
    import helpers.sections as sections
    from helpers.sections import answers as module

    order = [s for s in sections.ORDER if s[0] != "further"] + [("extra_question", "Dropout"),
                                                                  ("further", "Further analysis")]
    monkeypatch.setattr(sections, "ORDER", order)
    monkeypatch.setattr(sections, "SLUGS", [slug for slug, _ in order])
    monkeypatch.setattr(module, "SLUGS", [slug for slug, _ in order])
    rows = answer_rows({"extra_question": {"answer": "Without dropout the CNN reaches **60.0%**."}},
                       latex=False)
    mine = next(r for r in rows if r["question"].endswith("Dropout"))
    assert mine["answer"] == "Without dropout the CNN reaches **60.0%**."
    assert mine["where"] == f"section {[slug for slug, _ in order].index('extra_question')}"
    assert rows.index(mine) == len(rows) - 6  # after semi, before the five further-analysis rows
    assert next(r for r in answer_rows({}, latex=False) if r["question"].endswith("Dropout"))["answer"] == NOT_PRODUCED


def test_rows_that_share_a_section_point_to_their_own_subsection():
    """Question 9's five rows pointed to the first page of section 9; each has its page."""
    import json as _json

    from helpers.core.config import NOTEBOOK_DIR
    from helpers.sections.answers import subsection_headings

    rows = {row["question"].split(": ", 1)[-1]: row["where"] for row in answer_rows({})}
    assert rows["adversarial images"].endswith("\\evidencepages{adversarial-examples}{what-the-attacks-show}")
    assert rows["ensemble of CNNs"].endswith("\\evidencepages{ensemble-of-cnns}{end-further-analysis}")
    headings = set()
    for path in NOTEBOOK_DIR.glob("*.ipynb"):
        for c in _json.loads(path.read_text())["cells"]:
            if c["cell_type"] == "markdown":
                headings |= {line.lstrip("#").strip() for line in "".join(c["source"]).splitlines()
                             if line.startswith("#")}
    assert subsection_headings() <= headings  # every heading named exists in a notebook
    from helpers.sections.answers import SECTION_END, SECTION_EVIDENCE, SECTION_START
    assert {h for value in SECTION_EVIDENCE.values() for h in value if h not in (SECTION_START, SECTION_END)} <= headings


def test_no_oriented_pattern_names_no_orientation():
    r = results()
    r["filters"]["layers"]["block3_conv2"].update(oriented=0, common_orientation=None)
    got = answers(r)[7]
    assert "none of the 32 patterns is oriented (beyond white noise)" in got and "most often" not in got


def test_a_missing_subsection_falls_back_to_its_section_page():
    """A report without the adversarial subsection (some notebooks not run) must not print
    "p. ??": the row points to section 9's page."""
    assert where("further", heading="Adversarial examples", anchors={"further-analysis"}).endswith(
        "\\pageref{further-analysis}")
    assert where("further", heading="Adversarial examples",
                 anchors={"further-analysis", "adversarial-examples"}).endswith("\\pageref{adversarial-examples}")


def test_the_saliency_answer_says_what_training_moved():
    """Random weights already favour the eyes: the answer says what training itself changed."""
    r = results()
    r["saliency"]["methods"]["gradcam"] |= {
        "random_density": {"eyes": {"mean": 1.56, "low": 1.5}, "mouth": {"mean": 1.16, "low": 1.1},
                           "rest": {"mean": 0.8, "low": 0.7}},
        "learned": {"eyes": {"mean": -0.25, "low": -0.3, "high": -0.2},
                    "mouth": {"mean": 0.46, "low": 0.4, "high": 0.5},
                    "rest": {"mean": -0.1, "low": -0.2, "high": 0.0}}}
    got = answer_rows(r)[6]["answer"]
    # the eyes' lead is the architecture's: the answer leads with that, then the numbers
    assert got.endswith("(mouth 1.62x, eyes 1.31x by Grad-CAM); the eyes mostly by the architecture "
                        "(random weights already give 1.56x), the mouth raised by training (+0.46x, 95% CI "
                        "+0.40 to +0.50).")
    # random weights that favour no region: all of it is training's
    r["saliency"]["methods"]["gradcam"]["random_density"]["eyes"] = {"mean": 1.0, "low": 0.9}
    r["saliency"]["methods"]["gradcam"]["learned"]["eyes"] = {"mean": 0.3, "low": 0.2, "high": 0.4}
    got = answer_rows(r)[6]["answer"]
    assert got.endswith("by Grad-CAM); the eyes and the mouth raised by training (+0.31x, 95% CI +0.20 to +0.40; "
                        "+0.46x, 95% CI +0.40 to +0.50).")
    assert "architecture" not in got
    # a method left out of the answer (Grad-CAM's weak grid edge) still shows its numbers
    r["saliency"]["excluded"] = {"gradcam": "grid"}
    r["saliency"]["methods"]["saliency"] = {"density": {"eyes": {"mean": 1.45}, "mouth": {"mean": 1.41}}}
    r["saliency"]["answer_methods"] = ["saliency", "gradcam"]
    assert answer_rows(r)[6]["answer"].endswith(
        ". Grad-CAM, left out for a grid whose edge cells are weak whatever the face: mouth 1.62x, eyes 1.31x.")


def test_the_weak_model_answer_gives_each_clause_its_subject():
    r = results()
    r["weak_filters"] = {"weak": {"feature_maps": {"edge_like": 9}}, "main": {"feature_maps": {"edge_like": 13}}}
    got = answers(r)[9]
    assert got.endswith("40.0%) and more of the mass by Grad-CAM (34.0% against 28.0%); it has 9 first-layer "
                        "feature maps that follow the face's edges against 13 for the main CNN.")


def test_rows_point_at_the_subsection_with_their_number():
    """The CNN's accuracy is in its Accuracy subsection, pages after the section starts; the
    self-training results in Results. A row spans its evidence from the section's start (its
    method, a diagram) to its numbers; without the section's label, its subsection alone."""
    sections = {"dnn", "normalization-and-augmentation", "semi-supervised-learning"}
    rows = answer_rows(results(), latex=True, anchors={"accuracy", "results", "what-the-comparison-shows",
                                                       "how-each-variant-scores"} | sections)
    assert rows[4]["where"].endswith("\\evidencepages{normalization-and-augmentation}{how-each-variant-scores}")
    assert rows[1]["where"].endswith("\\pageref{accuracy}")
    assert rows[2]["where"].endswith("\\evidencepages{dnn}{what-the-comparison-shows}")
    assert rows[8]["where"].endswith("\\evidencepages{semi-supervised-learning}{results}")
    alone = answer_rows(results(), latex=True, anchors={"results", "what-the-comparison-shows"})
    assert alone[2]["where"].endswith("\\pageref{what-the-comparison-shows}")
    assert alone[8]["where"].endswith("\\pageref{results}")
    both = answer_rows(results(), latex=True, anchors={"saliency-of-a-weak-model", "filters-of-a-weak-model"})
    assert both[9]["where"].endswith(", \\evidencepages{saliency-of-a-weak-model}{filters-of-a-weak-model}")
    one = answer_rows(results(), latex=True, anchors={"filters-of-a-weak-model"})
    assert one[9]["where"].endswith(", p.\\ \\pageref{filters-of-a-weak-model}")
    maps = anchor("(b) Feature maps of one validation face")
    sheet = answer_rows(results(), latex=True, anchors={"filter-visualization", maps})
    assert sheet[7]["where"].endswith(f"\\evidencepages{{filter-visualization}}{{{maps}}}")  # (a) and (b)


def test_the_filters_answer_says_whether_training_moved_the_first_kernels():
    r = results()
    r["filters"]["kernel_change"] = {"block1_conv1": {"median": 0.974, "min": 0.9, "filters": 32}}
    assert ("(6 brightness kernels, the others edges, lines and spots), kernels that training left near "
            "their random start (median cosine 0.97);") in answers(r)[7]
    r["filters"]["kernel_change"]["block1_conv1"] |= {"dc_median": 0.02, "dc_median_start": 0.24}
    assert ("kernels that training left near their random start (median cosine 0.97) but stripped of most of "
            "their averaging part (median DC share from 0.24 to 0.02);") in answers(r)[7]
    r["filters"]["kernel_change"]["block1_conv1"]["median"] = 0.4
    assert "kernels that training turned from their random start (median cosine 0.40)" in answers(r)[7]


def test_the_weak_model_answer_leaves_out_methods_that_fail_the_randomization_check():
    r = results()
    r["weak_saliency"]["top10_mass"]["smoothgrad"] = {"main": 0.2, "weak": 0.16}
    assert "SmoothGrad" in answers(r)[9]
    r["saliency"]["sanity"] = {"passed": ["saliency", "gradcam"]}
    assert "SmoothGrad" not in answers(r)[9] and "Grad-CAM (34.0% against 28.0%)" in answers(r)[9]


def test_the_ablation_and_hist_eq_answers_say_how_their_runs_differ_from_the_main_one():
    r = results()
    for key in ("none", "normalization", "normalization_augmentation"):
        r["ablation"][key]["epochs"] = 58
    r["cnn"]["epochs"] = 116
    assert "(c) both **66.0%** (58 epochs each; the main CNN trained 116)" in answers(r)[4]
    r["hist_eq"]["trained_on"] = {"raw": "AMD EPYC, 2 cores, tensorflow", "hist_eq": "NVIDIA H200, jax"}
    assert answers(r)[12].endswith("; the two trained on different machines and backends).")


def test_the_filters_answer_says_how_many_filters_the_figures_draw():
    r = results()
    r["filters"]["layers"]["block3_conv2"] |= {"filters": 128}
    r["filters"]["filters_shown"] = 32
    text = answers(r)[7]
    assert "in block 1, convolution 1 (all 32 filters), 30 of 32" in text           # all drawn: nothing added
    assert "in block 3, convolution 2 (all 128 filters; 0-31 drawn), 20 of 128 patterns are oriented" in text


def test_the_weak_model_answer_says_where_its_saliency_differs_per_pixel():
    """The regions by the compared method, each model against the pixels it sees: more or less
    only when the face-by-face difference's interval leaves out 0."""
    r = results()
    d = lambda mean: {"mean": mean, "low": mean - 0.01, "high": mean + 0.01}  # noqa: E731
    r["weak_saliency"] |= {"methods": ["saliency"], "region_density": {"saliency": {
        "main": {"eyes": d(1.22), "mouth": d(1.18), "rest": d(0.8)},
        "weak": {"eyes": d(1.24), "mouth": d(1.36), "rest": d(0.8)},
        "change": {"eyes": {"mean": 0.02, "low": -0.01, "high": 0.05},
                   "mouth": {"mean": 0.18, "low": 0.15, "high": 0.21}, "rest": d(0.0)}}}}
    assert ("predicts the main CNN's class on 70.0% of faces; its saliency gives the mouth more mass "
            "per pixel (1.36x against 1.18x) and the eyes about as much (1.24x against 1.22x); ") in answers(r)[9]


def test_a_row_that_ends_at_its_sections_end_needs_its_first_heading():
    """The ensemble's evidence runs from its heading to the report's end; without that heading
    (the notebook not run) the row points to its section, not to the end alone."""
    rows = {r["question"].split(": ", 1)[-1]: r["where"]
            for r in answer_rows(results(), latex=True, anchors={"ensemble-of-cnns"})}
    assert rows["ensemble of CNNs"].endswith("\\evidencepages{ensemble-of-cnns}{end-further-analysis}")
    rows = {r["question"].split(": ", 1)[-1]: r["where"] for r in answer_rows(results(), latex=True, anchors=set())}
    assert rows["ensemble of CNNs"].endswith(", p.\\ \\pageref{further-analysis}")
