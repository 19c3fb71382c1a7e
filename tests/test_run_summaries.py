"""helpers.sections: what the report says about trained runs (questions 1 to 4), from
made-up metrics and histories."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import helpers.sections.ablation as sections_ablation
import helpers.sections.cnn as sections_cnn
import helpers.sections.curves as sections_curves
import helpers.sections.dnn as sections_dnn
import helpers.sections.hist_eq as sections_hist_eq
from helpers.analysis.stats import mcnemar_exact
from helpers.sections.cnn import run_card
from helpers.sections.dnn import cnn_dnn_sentences, cnn_dnn_summary

CPU = {"backend": "tensorflow", "processor": "AMD EPYC (AVX-512-BF16)", "cpu_count": 2,
       "accelerator": "none"}
GPU = {"backend": "jax", "processor": "Intel Xeon", "cpu_count": 16, "accelerator": "NVIDIA H200"}


def metrics(val, train, seconds, runtime):
    return {"val_accuracy": val, "final_train_accuracy": train, "final_val_accuracy": val - 0.01,
            "seconds_per_epoch": seconds, "runtime": runtime, "epochs_run": 58, "best_epoch": 50,
            "finished": "2026-11-26 17:00:00 UTC", "params": {"total": 1_234_567}}


CNN_CONFIG = {"model": "cnn", "cnn": {"filters": [32, 64], "conv_dropout": 0.1, "dense_dropout": 0.5},
              "augmentation": {"flip": True, "crop": 44}}
DNN_CONFIG = {"model": "dnn", "width": 512, "depth": 3, "dropout": 0.0,
              "augmentation": {"flip": True, "crop": 44}}


def right_on(correct):
    """Probabilities that are right (class 0, the truth of every face) where `correct`."""
    return np.eye(7)[np.where(correct, 0, 1)]


def compared_runs(cnn_right, dnn_right, dnn_dropout=0.0, cnn_metrics=None, dnn_metrics=None):
    """A CNN and a DNN run with val_proba right on the given faces (all of true class 0)."""
    cnn = SimpleNamespace(metrics=cnn_metrics or metrics(0.677, 0.732, 80.0, CPU), config=CNN_CONFIG,
                          val_proba=right_on(cnn_right))
    dnn = SimpleNamespace(metrics=dnn_metrics or metrics(0.51, 0.626, 8.0, GPU),
                          config=DNN_CONFIG | {"dropout": dnn_dropout}, val_proba=right_on(dnn_right))
    return cnn, dnn


def test_cnn_dnn_comparison_tests_accuracy_and_reads_dropout_from_each_run():
    faces = np.arange(100)
    cnn, dnn = compared_runs(faces < 70, faces < 50)            # the CNN alone right on 20 faces
    s = cnn_dnn_summary(cnn, dnn, np.zeros(100, dtype=int))
    assert (s["cnn_only_right"], s["dnn_only_right"]) == (20, 0) and s["p"] < 0.05
    text = cnn_dnn_sentences(s)
    assert "**16.7 points more accurate** (67.7% against 51.0%;" in text
    assert "significant at the 5% level" in text
    assert "by +12.6 points for the DNN and +6.5 for the CNN: by this measure the DNN overfits more" in text
    assert ("Dropout is active while training accuracy is measured (CNN: dropout 0.1 after each "
            "convolution block and 0.5 after the dense layer), so the CNN gap understates") in text
    assert "the DNN has no dropout, so its gap is its own overfitting." in text
    assert "Both training accuracies are measured on equally augmented batches." in text
    assert "not comparable" not in text and "Speed" not in text

    with_dropout = cnn_dnn_summary(*compared_runs(faces < 70, faces < 50, dnn_dropout=0.5),
                                   np.zeros(100, dtype=int))
    text = cnn_dnn_sentences(with_dropout)
    assert ("(DNN: dropout 0.5 after each hidden layer; CNN: dropout 0.1 after each convolution block "
            "and 0.5 after the dense layer), so both gaps understate") in text
    assert "no dropout" not in text and text.count("understate") == 1  # said once, not per model


def test_a_worse_cnn_is_called_less_accurate():
    faces = np.arange(100)
    cnn, dnn = compared_runs(faces < 40, faces < 60, cnn_metrics=metrics(0.40, 0.5, 1, CPU),
                             dnn_metrics=metrics(0.60, 0.5, 1, CPU))
    text = cnn_dnn_sentences(cnn_dnn_summary(cnn, dnn, np.zeros(100, dtype=int)))
    assert "**20.0 points less accurate** (40.0% against 60.0%;" in text
    assert "Convolutions share" not in text


def test_a_small_accuracy_difference_is_a_tie():
    faces = np.arange(100)
    cnn, dnn = compared_runs(faces < 52, faces < 50, cnn_metrics=metrics(0.52, 0.6, 1, CPU),
                             dnn_metrics=metrics(0.50, 0.6, 1, CPU))
    s = cnn_dnn_summary(cnn, dnn, np.zeros(100, dtype=int))
    assert s["p"] == 0.5
    text = cnn_dnn_sentences(s)
    assert "the CNN and the DNN **do not differ significantly** (52.0% against 50.0%;" in text
    assert "more accurate" not in text


def speed(cnn_rate, dnn_rate):
    measured = {label: {"images_per_second": rate, "batch_size": 64, "precision": "mixed_bfloat16",
                        "batches": 30, "warmup_batches": 3}
                for label, rate in (("CNN", cnn_rate), ("DNN", dnn_rate))}
    return sections_dnn.speed_summary(measured, {"CNN": 94_300_000, "DNN": 1_430_000}, 25_000, CPU)


def test_speed_is_compared_as_measured_on_this_machine():
    s = speed(100.0, 2500.0)
    assert (s["faster"], s["slower"], s["factor"]) == ("DNN", "CNN", 25.0)
    assert s["models"]["CNN"]["seconds_per_epoch"] == 250.0
    text = sections_dnn.speed_sentence(s)
    assert text.startswith("**Speed** (30 timed training batches of each model after 3 warm-up ones, "
                           "in each run's batch size and precision, on AMD EPYC (AVX-512-BF16), 2 cores, "
                           "tensorflow): ")
    assert ("**The DNN is 25.0x faster per epoch** (one epoch of the 25,000 training faces takes "
            "250.0 s for the CNN against 10.0 s for the DNN)") in text
    assert "94.3 million multiply-adds against 1.43 million for the DNN (65.9x)" in text
    assert cnn_dnn_sentences(cnn_dnn_summary(*compared_runs(np.ones(4, bool), np.ones(4, bool)),
                                             np.zeros(4, dtype=int)), s).count("- **Speed**") == 1


def test_printed_factors_are_the_ratios_of_the_printed_numbers():
    """The report's own numbers: 134.672 s against 5.3753 s per epoch printed as 134.7 s and
    5.38 s (25.0x, not the unrounded 25.05x); 94,333,000 against 1,434,300 multiply-adds printed
    as 94.3 and 1.43 million (65.9x, not the unrounded 65.8x)."""
    measured = {label: {"images_per_second": 25_838 / seconds, "batch_size": 64,
                        "precision": "mixed_bfloat16", "batches": 30, "warmup_batches": 3}
                for label, seconds in (("CNN", 134.672), ("DNN", 5.3753))}
    s = sections_dnn.speed_summary(measured, {"CNN": 94_333_000, "DNN": 1_434_300}, 25_838, CPU)
    text = sections_dnn.speed_sentence(s)
    assert "**The DNN is 25.0x faster per epoch**" in text and "134.7 s for the CNN against 5.38 s" in text
    assert "94.3 million multiply-adds against 1.43 million for the DNN (65.9x)" in text


def test_nearly_equal_speeds_are_called_the_same():
    s = speed(100.0, 103.0)
    assert s["faster"] is None
    assert "**The two train at about the same speed**" in sections_dnn.speed_sentence(s)
    with pytest.raises(ValueError, match="two timed models"):
        sections_dnn.speed_summary({"CNN": {}}, {"CNN": 1}, 10, CPU)


def test_run_card_rows():
    card = run_card(metrics(0.51, 0.626, 0.7, GPU))
    assert "trained on" not in card            # said once, in each section's training sentence
    assert card["validation accuracy (kept checkpoint, test-time averaging)"] == "51.0%"
    # the gap is the difference of the two rows printed above it
    train, val = (float(card[f"last epoch: {k}"].rstrip("%")) for k in
                  ("train accuracy", "validation accuracy (single view)"))
    assert float(card["last epoch: train - validation gap"].removesuffix(" pts")) == pytest.approx(train - val)


def test_run_card_shows_the_kept_checkpoint_on_one_view_when_recorded():
    card = run_card({**metrics(0.537, 0.76, 0.7, GPU), "val_accuracy_no_tta": 0.504})
    rows = list(card)
    assert card["validation accuracy (kept checkpoint, single view)"] == "50.4%"
    assert rows.index("validation accuracy (kept checkpoint, single view)") == 2
    assert "validation accuracy (kept checkpoint, single view)" not in run_card(metrics(0.5, 0.6, 1, GPU))


def test_the_gain_from_test_time_averaging_is_compared():
    s = {"cnn_val": 0.6973, "dnn_val": 0.5374, "gap_points": 16.0, "cnn_only_right": 624,
         "dnn_only_right": 165, "p": 1.5e-63, "one_view": {"CNN": 0.6855, "DNN": 0.5040}}
    line = sections_dnn._accuracy_line(s)
    assert ("Test-time averaging adds +3.3 points to the DNN (50.4% on one view) and +1.2 to the "
            "CNN (68.5%): a face shifted") in line
    s["one_view"] = {"CNN": 0.6855, "DNN": None}
    assert "Test-time averaging" not in sections_dnn._accuracy_line(s)


def fake_run(metrics_, **config):
    flatten = SimpleNamespace(output=SimpleNamespace(shape=(None, 4608)))
    architecture = SimpleNamespace(layers=[SimpleNamespace(name="flatten")],
                                   get_layer=lambda name: flatten)
    return SimpleNamespace(metrics=metrics_, config=config, reused=True, architecture=architecture)


def cnn_metrics(**changes):
    return metrics(0.677, 0.732, 80.0, CPU) | {
        "val_accuracy_no_tta": 0.668, "tta_flip": True, "tta_crops": True,
        "params": {"total": 1_234_567, "trainable": 1_230_000}, "train_seconds_total": 4640.0} | changes


CNN = {"filters": [32, 64], "convs_per_block": 2, "dense_units": [256]}


def test_cnn_summary_and_sentences():
    run = fake_run(cnn_metrics(), training={"tta_flip": True, "tta_crops": True})
    s = sections_cnn.cnn_summary(run, CNN, leaderboard=None)
    assert (s["params"], s["flatten_features"], s["reused"]) == (1_234_567, "4608", True)
    assert s["tta"].endswith("(ten-crop)")
    assert sections_cnn.architecture_sentences(s) == (
        "**1,234,567 parameters** in total (1,230,000 trainable; the rest are batch-normalization "
        "statistics). 2 convolution stages of 2 conv layers with 32, 64 filters halve the image (rounding down), stage by "
        "stage, down to 4608 features before 1 dense layer of 256 units.")
    text = sections_cnn.training_sentence(s)
    assert "trained for 58 epochs on the CPU (2 cores) with the tensorflow backend. The weights kept" in text
    assert " s per epoch" not in text          # speed: the DNN section's timing, one machine for both
    assert text.endswith("(epoch 50, one view each epoch; the scores below are measured again on the saved "
                         "weights, so they can differ slightly from that epoch's). The same validation "
                         "faces chose it, so its score is slightly optimistic: the last epoch (58) scores "
                         "66.7% on one view, against 66.8% for the kept weights. It was trained before "
                         "this report was built and reloaded from its saved weights.")
    assert "arithmetic" not in text and "float32" not in text and "checkpoint" not in text
    assert text.startswith("Loss: cross-entropy on one-hot labels.")
    smoothed = sections_cnn.training_sentence(s | {"label_smoothing": 0.1})
    assert smoothed.startswith("Loss: cross-entropy with label smoothing 0.1 (the true class's target "
                               "is 0.914, every other class's 0.014). The model")
    last = sections_cnn.training_sentence(s | {"best_epoch": 58})
    assert "that epoch's). It was trained" in last and "optimistic" not in last
    table = sections_cnn.accuracy_table(s)
    assert table["accuracy"].tolist() == ["67.7%", "66.8%", "73.2%"]
    assert table["measure"][0].startswith("validation accuracy (test-time averaging: average over")
    board = {"test": 0.7, "public": 0.71, "private": None}
    rows = sections_cnn.accuracy_table(s | {"leaderboard": board})["measure"].tolist()
    assert rows[3:] == ["test, all faces", "test, public half"]
    plain = fake_run(cnn_metrics(tta_flip=False, tta_crops=False), training={})
    no_tta = sections_cnn.cnn_summary(plain, CNN, None)
    assert sections_cnn.accuracy_table(no_tta)["measure"][0] == "validation accuracy"


def test_curve_summary_and_sentences():
    history = pd.DataFrame({"epoch": [1, 2, 3], "accuracy": [0.3, 0.5, 0.7],
                            "val_accuracy": [0.35, 0.55, 0.5], "val_loss": [1.5, 1.2, 1.3]})
    s = sections_curves.curve_summary(history)
    assert (s["peak_epoch"], s["epochs"], s["min_val_loss"], s["min_val_loss_epoch"]) == (2, 3, 1.2, 2)
    # Without the run's config it claims nothing about augmentation or dropout.
    assert sections_curves.curve_sentences(s) == (
        "Validation accuracy (one view, as measured while training) peaks at 55.0% in epoch 2 of 3. At the last "
        "epoch the model is 70.0% accurate on its training batches and 50.0% on validation, a gap of +20.0 "
        "points; validation loss ends at 1.300 against 1.200 at its lowest (epoch 2).")
    # a loss that bottoms out 10 epochs or more before the accuracy peaks is explained
    late = s | {"peak_epoch": 89, "epochs": 116, "min_val_loss_epoch": 45}
    assert sections_curves.curve_sentences(late).endswith(
        "(epoch 45). The loss bottoms out 44 epochs before the accuracy peaks, the usual sign that the model grows "
        "more confident: its mistakes cost more loss while it still gets more faces right.")
    assert sections_curves.loss_before_peak(late | {"min_val_loss_epoch": 80}) == ""
    cnn = history.assign(val_loss=[1.0, 0.9, 0.95])
    assert sections_dnn.dnn_curve_sentence(s, sections_curves.curve_summary(cnn)) == (
        "**DNN.** Validation accuracy peaks at 55.0% in epoch 2 of 3. At the last epoch it is 70.0% "
        "accurate on its training batches and 50.0% on validation, a gap of +20.0 points; its "
        "validation loss ends at 1.300 against 1.200 at its lowest (epoch 2); the CNN's ends at 0.950.")
    lowest = sections_curves.curve_summary(history.assign(val_loss=[1.5, 1.3, 1.2]))
    assert sections_curves.curve_sentences(lowest).endswith("validation loss ends at its lowest, 1.200.")


def test_curve_sentences_say_how_the_runs_training_accuracy_was_measured():
    history = pd.DataFrame({"epoch": [1, 2], "accuracy": [0.3, 0.5], "val_accuracy": [0.35, 0.4],
                            "val_loss": [1.5, 1.2]})
    plain = sections_curves.curve_sentences(sections_curves.curve_summary(history, DNN_CONFIG | {
        "augmentation": None}))
    assert "accurate on its training batches (not augmented; no dropout) and 40.0%" in plain
    augmented = sections_curves.curve_sentences(sections_curves.curve_summary(history, CNN_CONFIG))
    assert ("training batches (augmented: random horizontal flips, random 44x44 crops; dropout 0.1 "
            "after each convolution block and 0.5 after the dense layer active)") in augmented


def test_dropout_is_read_from_the_runs_config():
    assert sections_curves.dropout_words(DNN_CONFIG) == "no dropout"
    assert sections_curves.dropout_words(DNN_CONFIG | {"dropout": 0.5}) == "dropout 0.5 after each hidden layer"
    no_conv = {"model": "cnn", "cnn": {"conv_dropout": 0, "dense_dropout": 0.3}}
    assert sections_curves.dropout_words(no_conv) == "dropout 0.3 after the dense layer"
    # A CNN config that leaves a rate out was built with build_cnn's default.
    assert sections_curves.dropout_rates({"model": "cnn", "cnn": {}}) == {
        "convolution block": 0.1, "dense layer": 0.5}
    with pytest.raises(ValueError, match="'cnn' or 'dnn'"):
        sections_curves.dropout_words({"model": "rnn"})
    assert sections_curves.augmentation_words({"flip": False, "crop": None}) == "none"
    assert sections_curves.augmentation_words({"flip": True, "rotation_degrees": 10}) == (
        "random horizontal flips, rotation degrees 10")


ABLATION_CNN = {"filters": [32, 64], "conv_dropout": 0.1, "dense_dropout": 0.5}
NORMALIZATION = {"mean": 129.5, "std": 65.0}
SWITCHES = {"none": (None, None), "normalization": (NORMALIZATION, None),
            "normalization_augmentation": (NORMALIZATION, {"flip": True, "crop": 44})}


def ablation_runs(right: dict, last_accuracy: dict, epochs: int = 58, training=None):
    """The three ablation runs, each right on the faces `right[variant]` marks (all faces are
    of class 0), with a history ending at last_accuracy[variant] = (train, validation)."""
    runs = {}
    for variant, correct in right.items():
        normalization, augmentation = SWITCHES[variant]
        train, val = last_accuracy[variant]
        history = pd.DataFrame({"epoch": range(1, epochs + 1), "accuracy": [0.3] * (epochs - 1) + [train],
                                "val_accuracy": [0.3] * (epochs - 1) + [val]})
        runs[variant] = SimpleNamespace(
            val_proba=right_on(correct), history=history,
            metrics={"best_epoch": epochs - 1, "seconds_per_epoch": 10.0, "tta_flip": True,
                     "tta_crops": augmentation is not None},
            config={"model": "cnn", "cnn": ABLATION_CNN, "training": training or {"epochs": epochs},
                    "normalization": normalization, "augmentation": augmentation})
    return runs


def faces_right():
    """(a) right on 100 of 200 faces; (b) fixes 6 and breaks 4 of them (a tie); (c) fixes 40
    more and breaks 5 of (b)'s (significant)."""
    a = np.arange(200) < 100
    b = a.copy()
    b[:4], b[100:106] = False, True
    c = b.copy()
    c[106:146], c[4:9] = True, False
    return {"none": a, "normalization": b, "normalization_augmentation": c}


GAPS = {"none": (0.62, 0.58), "normalization": (0.64, 0.59), "normalization_augmentation": (0.66, 0.68)}


def test_ablation_reports_a_significant_difference_as_such_and_a_small_one_as_a_tie():
    y = np.zeros(200, dtype=int)
    s = sections_ablation.ablation_summary(ablation_runs(faces_right(), GAPS), y)
    assert s["none"]["val_accuracy"] == 0.5 and s["normalization_augmentation"]["val_accuracy"] == 0.685
    assert s["none"]["gap"] == pytest.approx(0.04)
    assert s["none"]["val_low"] < 0.5 < s["none"]["val_high"]
    norm, aug, both = s["comparisons"]
    assert (norm["fixed"], norm["broken"], norm["significant"]) == (6, 4, False)
    assert (aug["fixed"], aug["broken"], aug["significant"]) == (40, 5, True)
    assert both["significant"] and s["ranking"]["top"] == ["normalization_augmentation"]

    table = sections_ablation.ablation_table(s)
    assert table["variant"].tolist() == list(sections_ablation.ABLATION_LABELS.values())
    assert table["validation (test-time averaging)"].tolist() == ["50.0%", "51.0%", "68.5%"]
    assert table["95% interval"][0] == "43.1-56.9%"
    assert table["last epoch: train"].tolist() == ["62.0%", "64.0%", "66.0%"]
    assert table["train - validation gap"].tolist() == ["+4.0 pts", "+5.0 pts", "-2.0 pts"]
    comparisons = sections_ablation.comparison_table(s)
    assert comparisons["verdict"].tolist() == ["not significant", "significant gain", "significant gain"]
    assert comparisons["exact McNemar p"][0] == pytest.approx(mcnemar_exact(6, 4))

    lines = sections_ablation.ablation_sentences(s).split("\n")
    assert lines[0].startswith("- Normalization alone ((a) -> (b)): 50.0% -> 51.0% (+1.0 points; "
                               "6 faces right only after, 4 only before, exact McNemar p = 0.75): **no significant difference**.")
    assert "Batch normalization follows every convolution" in lines[0]
    assert lines[1].startswith("- Adding augmentation ((b) -> (c)): 51.0% -> 68.5% (+17.5 points; "
                               "40 faces right only after, 5 only before")
    assert "**a significant gain**" in lines[1]
    assert "gap goes from +5.0 to -2.0 points: less overfitting by this measure" in lines[1]
    assert lines[3].startswith("- **Best variant: (c) normalization + augmentation** (68.5%), "
                               "significantly ahead of (a) and (b) (McNemar p = ")
    assert "Best variant: (b)" not in "\n".join(lines)


def test_no_variant_is_named_best_when_the_leader_is_not_significantly_ahead():
    right = faces_right()
    right["normalization_augmentation"] = right["normalization"].copy()
    right["normalization_augmentation"][150:155] = True    # 5 more right than (b), 3 fewer
    right["normalization_augmentation"][100:103] = False
    s = sections_ablation.ablation_summary(ablation_runs(right, GAPS), np.zeros(200, dtype=int))
    assert [c["significant"] for c in s["comparisons"]] == [False, False, False]
    text = sections_ablation.ablation_sentences(s)
    assert text.count("**no significant difference**") == 3 and "significant gain" not in text
    assert "Best variant" not in text
    # Against (c), (a) fixes 4 and breaks 8 faces, (b) fixes 3 and breaks 5.
    assert text.split("\n")[3] == (
        "- **No variant is significantly best**: (c) normalization + augmentation is highest "
        f"(52.0%), but (a) and (b) are not significantly behind it (McNemar p = {mcnemar_exact(4, 8):.2g} and "
        f"{mcnemar_exact(3, 5):.2g}, at least 0.05) on these 200 validation faces.")


def test_ablation_settings_are_read_from_the_runs_configs():
    y = np.zeros(200, dtype=int)
    s = sections_ablation.ablation_summary(ablation_runs(faces_right(), GAPS, epochs=12), y)
    table = sections_ablation.ablation_settings_table(s)
    assert table["input normalization"].tolist() == [
        "none (raw pixels 0..255)", "subtract mean 129.5, divide by std 65.0",
        "subtract mean 129.5, divide by std 65.0"]
    assert table["training augmentation"].tolist() == [
        "none", "none", "random horizontal flips, random 44x44 crops"]
    assert table["epochs"].tolist() == [12, 12, 12]
    sentence = sections_ablation.ablation_settings_sentence(s)
    assert "configs are identical" in sentence and "12 epochs each" in sentence
    assert "crops are averaged only by a model that was trained on crops. Without crops, (a) and (b) see the whole 48x48 face." in sentence
    # with the runs' parameter counts: the larger dense layer of the uncropped input is said
    runs = ablation_runs(faces_right(), GAPS, epochs=12)
    for variant, total in zip(runs, (1_767_207, 1_767_207, 1_439_527)):
        runs[variant].metrics["params"] = {"total": total}
    counted = sections_ablation.ablation_settings_sentence(sections_ablation.ablation_summary(runs, y))
    assert ("Without crops, (a) and (b) see the whole 48x48 face, so their dense layer gets more inputs: 1,767,207 "
            "parameters against 1,439,527 for (c).") in counted
    assert "one view" not in sentence  # these runs lack their one-view scores

    one_view = ablation_runs(faces_right(), GAPS)
    for variant, score in zip(one_view, (0.49, 0.505, 0.672)):
        one_view[variant].metrics["val_accuracy_no_tta"] = score
    s = sections_ablation.ablation_summary(one_view, y)
    assert sections_ablation.ablation_settings_sentence(s).endswith(
        "Their kept checkpoints scored on one view (no averaging) get (a) 49.0%, (b) 50.5%, (c) 67.2%: "
        "the lead of (c) over (a) is +18.2 points on one view against +18.5 with each one's averaging, so "
        "the crops' averaging is not what makes it.")
    # trained in bfloat16: a kept checkpoint re-scored in float32 below its last epoch is explained
    for run in one_view.values():
        run.config["training"] = {"epochs": 58, "precision": "mixed_bfloat16"}
    assert sections_ablation.ablation_settings_sentence(sections_ablation.ablation_summary(one_view, y)).endswith(
        "the crops' averaging is not what makes it. (a)'s kept checkpoint (epoch 57) scored 58.0% while training, in "
        "bfloat16 arithmetic, as high as its last epoch; scored again here in float32 it gets 49.0%.")
    # a kept epoch that scored above the last one says by how much
    one_view["none"].history.loc[56, "val_accuracy"] = 0.6
    assert sections_ablation.ablation_settings_sentence(sections_ablation.ablation_summary(one_view, y)).endswith(
        "(a)'s kept checkpoint (epoch 57) scored 60.0% while training, in bfloat16 arithmetic, above its last "
        "epoch's 58.0%; scored again here in float32 it gets 49.0%.")
    for run in one_view.values():
        run.config["training"] = {"epochs": 58}
    one_view["normalization_augmentation"].metrics["val_accuracy_no_tta"] = 0.55
    assert sections_ablation.ablation_settings_sentence(
        sections_ablation.ablation_summary(one_view, y)).endswith("so part of it comes from the crops' averaging.")
    assert "200 validation faces, with a 95% Wilson interval" in sections_ablation.ablation_test_sentence(s)

    runs = ablation_runs(faces_right(), GAPS)
    runs["none"].config["training"] = {"epochs": 10}
    differing = sections_ablation.ablation_summary(runs, y)
    assert differing["differences"] == ["training: epochs"]
    assert "also differ in training: epochs, so" in sections_ablation.ablation_settings_sentence(differing)
    # a recipe setting at its default is the same as one a run trained before it existed lacks
    runs["none"].config["training"] = {"epochs": 58, "momentum": 0.9, "nesterov": True, "ema": 0.0}
    assert sections_ablation.ablation_summary(runs, y)["differences"] == []
    with pytest.raises(ValueError, match="expected the variants"):
        sections_ablation.ablation_summary({"none": runs["none"]}, y)


def test_dnn_summary_and_sentence():
    dnn = fake_run(metrics(0.51, 0.626, 8.0, CPU) | {"params": {"total": 1_240_000},
                                                     "train_seconds_total": 400.0},
                   **DNN_CONFIG | {"normalization": NORMALIZATION, "training": {"epochs": 58}})
    cnn = fake_run(cnn_metrics(), **CNN_CONFIG | {"normalization": NORMALIZATION, "training": {"epochs": 58}})
    s = sections_dnn.dnn_summary(dnn, cnn)
    assert s["params_vs_cnn"] == pytest.approx((1_240_000 - 1_234_567) / 1_234_567)
    assert s["dropout"] == 0.0 and s["shared_with_cnn"] == {
        "same": ["training", "augmentation", "normalization"], "different": {}}
    text = sections_dnn.dnn_sentence(s)
    assert text.startswith(
        "3 hidden layers of **512 units** (dense, batch normalization, ReLU; no dropout) give the DNN "
        "1,240,000 parameters, 0.44% more than the CNN's 1,234,567. It trains with the CNN's "
        "training settings, augmentation (random horizontal flips, random 44x44 crops) and "
        "normalization. It was trained for 58 epochs on the CPU (2 cores)")
    batched = {"epochs": 58, "batch_size": 64}  # the batch size is said (the speed test names "each run's")
    dnn64 = fake_run(dnn.metrics, **dnn.config | {"training": batched})
    cnn64 = fake_run(cnn.metrics, **cnn.config | {"training": batched})
    assert "It trains with the CNN's training settings (batch size 64), augmentation" in sections_dnn.dnn_sentence(
        sections_dnn.dnn_summary(dnn64, cnn64))

    other = fake_run(dnn.metrics, **dnn.config | {"dropout": 0.5, "training": {"epochs": 30}})
    text = sections_dnn.dnn_sentence(sections_dnn.dnn_summary(other, cnn))
    assert "ReLU; dropout 0.5 after each hidden layer)" in text
    assert "It differs from the CNN in epochs (30 against the CNN's 58)." in text


def test_hist_eq_summary_table_figure_and_sentences():
    import numpy as np

    from helpers.core.config import CLASS_NAMES

    y = np.array([0, 0, 1, 1, 2, 2])
    raw_pred, eq_pred = [0, 1, 1, 1, 0, 2], [0, 0, 1, 0, 2, 2]    # eq fixes 2, breaks 1
    runs = {}
    for name, pred in (("cnn", raw_pred), ("hist_eq", eq_pred)):
        runs[name] = SimpleNamespace(name=name, val_proba=np.eye(7)[pred], metrics={
            "val_accuracy_no_tta": 0.5, "best_epoch": 9, "final_train_accuracy": 0.8, "epochs_run": 10})
    s = sections_hist_eq.hist_eq_summary(runs["cnn"], runs["hist_eq"], y, seed=42)
    assert (s["val_accuracy_raw"], s["val_accuracy_hist_eq"]) == (pytest.approx(4 / 6), pytest.approx(5 / 6))
    assert (s["fixed"], s["broken"]) == (2, 1)
    assert s["per_class_raw"][:3] == [0.5, 1.0, 0.5] and s["per_class_hist_eq"][:3] == [1.0, 0.5, 1.0]
    table = sections_hist_eq.hist_eq_table(s)
    assert table["preprocessing"].tolist() == ["without equalization (variant (c))", "histogram equalization"]
    assert "run" not in table  # folder names say nothing to a reader
    assert table["validation (test-time averaging)"].tolist() == ["66.7%", "83.3%"]
    assert len(sections_hist_eq.recall_figure(s).axes[0].patches) == 2 * 7
    lines = sections_hist_eq.hist_eq_sentences(s).split("\n")
    assert lines[0].startswith("- Histogram equalization raises validation accuracy from 66.7% to 83.3%")
    assert lines[0].endswith("both trained for 10 epochs with seed 42.")
    assert lines[1] == (f"- Per class, equalization raises the recall of {CLASS_NAMES[0]} most (+50.0 "
                        f"points) and lowers that of {CLASS_NAMES[1]} most (-50.0 points).")
    same = s | {"per_class_hist_eq": s["per_class_raw"]}
    assert sections_hist_eq.hist_eq_sentences(same).endswith("equalization changes no class's recall.")
    cpu = {"accelerator": "none", "processor": "AMD EPYC", "cpu_count": 2, "backend": "tensorflow"}
    gpu = {"accelerator": "NVIDIA H200", "backend": "jax"}
    runs["cnn"].metrics["runtime"], runs["hist_eq"].metrics["runtime"] = cpu, gpu
    apart = sections_hist_eq.hist_eq_summary(runs["cnn"], runs["hist_eq"], y, seed=42)
    assert sections_hist_eq.hist_eq_sentences(apart).split("\n")[0].endswith(
        "with seed 42, but on different machines (equalized: NVIDIA H200, jax; without equalization: AMD EPYC, 2 cores, "
        "tensorflow), so part of a small difference may be the two set-ups' numerical noise.")
    runs["hist_eq"].metrics["runtime"] = cpu
    together = sections_hist_eq.hist_eq_summary(runs["cnn"], runs["hist_eq"], y, seed=42)
    assert "different machines" not in sections_hist_eq.hist_eq_sentences(together)


def test_ties_are_said_as_no_significant_difference():
    same = np.arange(10) < 5
    cnn, dnn = compared_runs(same, same, cnn_metrics=metrics(0.5, 0.6, 1, CPU),
                             dnn_metrics=metrics(0.5, 0.6, 1, CPU))
    text = sections_dnn.cnn_dnn_sentences(cnn_dnn_summary(cnn, dnn, np.zeros(10, dtype=int)))
    assert "the CNN and the DNN **do not differ significantly** (50.0% against 50.0%;" in text
    right = {variant: same for variant in sections_ablation.ABLATION_LABELS}
    s = sections_ablation.ablation_summary(ablation_runs(right, GAPS), np.zeros(10, dtype=int))
    text = sections_ablation.ablation_sentences(s)
    assert "- Normalization alone ((a) -> (b)): 50.0% -> 50.0% (+0.0 points; 0 faces right only " \
           "after, 0 only before, exact McNemar p = 1): **no significant difference**." in text
    assert not any(claim in text for claim in ("significant gain", "significant loss", "significantly ahead"))


def test_epoch_seconds_keep_two_digits_below_a_second():
    """9.0 s against 0.3 s read as 30x beside a printed 32.6x: below 1 s two decimals are kept."""
    assert sections_dnn._seconds(0.276) == "0.28 s"
    assert sections_dnn._seconds(9.04) == "9.04 s" and sections_dnn._seconds(12.04) == "12.0 s"
    assert sections_dnn._seconds(127.4) == "127.4 s" and sections_dnn._seconds(720) == "12 min"


def test_training_table_in_words():
    """Settings as a reader says them: 'random 44x44 crops', 'SGD', not 'crop 44, flip True', 'sgd'."""
    config = {"training": {"learning_rate": 0.01, "epochs": 58, "batch_size": 64, "optimizer": "sgd",
                           "nesterov": True, "momentum": 0.9, "tta_flip": True, "tta_crops": True},
              "augmentation": {"flip": True, "crop": 44}, "normalization": {"mean": 129.4, "std": 65.0}}
    inputs = SimpleNamespace(y_train=np.zeros(900), y_val=np.zeros(100),
                             data_settings={"val_fraction": 0.1, "seed": 42, "hist_eq": False})
    table = sections_cnn.training_table(config, inputs).set_index("setting")["value"]
    assert table["augmentation"] == "random horizontal flips, random 44x44 crops"
    assert table["optimizer"] == "SGD (Nesterov momentum 0.9)"
    assert table["histogram equalization"] == "no" and "checkpoints" not in table.index
    assert table["learning rate"] == "0.01, cosine schedule, 0 warm-up epochs"
    config["training"]["warmup_epochs"] = 1
    assert sections_cnn.training_table(config, inputs).set_index("setting")["value"]["learning rate"] \
        == "0.01, cosine schedule, 1 warm-up epoch"


def test_gaps_are_the_differences_of_the_printed_accuracies():
    """12.4% train and 10.0% validation print a +2.4-point gap, not the unrounded +2.3."""
    v = {"last_train_accuracy": 0.1236, "last_val_accuracy": 0.1004, "gap": 0.1236 - 0.1004}
    w = {"last_train_accuracy": 0.2, "last_val_accuracy": 0.2, "gap": 0.0}
    assert sections_ablation._gap_words(v, w).startswith("The last epoch's train-validation gap goes "
                                                         "from +2.4 to +0.0 points")


def test_dropout_words_count_the_dense_layers():
    two = {"model": "cnn", "cnn": {"dense_units": [256, 128], "conv_dropout": 0, "dense_dropout": 0.5}}
    assert sections_curves.dropout_words(two) == "dropout 0.5 after each dense layer"
    assert sections_curves.dropout_words({**two, "cnn": {**two["cnn"], "dense_units": [256]}}) == (
        "dropout 0.5 after the dense layer")


def test_the_training_table_names_the_callbacks_the_homework_asks_for():
    """Question 1 asks for the callbacks: the loop keeps the best epoch, checkpoints, may stop early."""
    from helpers.sections.cnn import training_table

    class Inputs:
        y_train, y_val = np.zeros(9), np.zeros(1)
        data_settings = {"val_fraction": 0.1, "seed": 42, "hist_eq": False}

    config = {"training": {"learning_rate": 0.01, "epochs": 58, "batch_size": 64}, "augmentation": None,
              "normalization": None}
    rows = dict(training_table(config, Inputs()).values)
    assert rows["callbacks (in the training loop)"] == (
        "keep the weights of the best validation epoch; save a checkpoint every epoch (to resume); "
        "early stopping: none")
    config["training"]["early_stopping_patience"] = 10
    assert dict(training_table(config, Inputs()).values)["callbacks (in the training loop)"].endswith(
        "early stopping after 10 epochs without gain")
