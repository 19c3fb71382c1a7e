"""helpers.sections: what the report says about trained runs (questions 1 to 4), from
made-up metrics and histories."""

from types import SimpleNamespace

import pandas as pd
import pytest

import helpers.sections.ablation as sections_ablation
import helpers.sections.cnn as sections_cnn
import helpers.sections.curves as sections_curves
import helpers.sections.dnn as sections_dnn
import helpers.sections.hist_eq as sections_hist_eq
from helpers.sections.cnn import run_card, same_hardware
from helpers.sections.dnn import cnn_dnn_sentences, cnn_dnn_summary

CPU = {"backend": "tensorflow", "processor": "AMD EPYC (AVX-512-BF16)", "cpu_count": 2,
       "accelerator": "none"}
GPU = {"backend": "jax", "processor": "Intel Xeon", "cpu_count": 16, "accelerator": "NVIDIA H200"}


def metrics(val, train, seconds, runtime):
    return {"val_accuracy": val, "final_train_accuracy": train, "final_val_accuracy": val - 0.01,
            "seconds_per_epoch": seconds, "runtime": runtime, "epochs_run": 58, "best_epoch": 50,
            "finished": "2026-11-26 17:00:00 UTC", "params": {"total": 1_234_567}}


def test_epoch_times_are_compared_only_on_the_same_hardware():
    cnn, dnn = metrics(0.677, 0.732, 80.0, CPU), metrics(0.51, 0.626, 8.0, CPU)
    summary = cnn_dnn_summary(cnn, dnn)
    assert same_hardware(cnn, dnn) and summary["speed"] == 0.1
    text = cnn_dnn_sentences(summary)
    assert "**16.7 points more accurate** (67.7% against 51.0%)" in text
    assert "takes 8.0 s against 80.0 s for the CNN (0.10x)" in text
    assert "by +12.6 points for the DNN and +6.5 for the CNN" in text

    on_gpu = cnn_dnn_summary(cnn, metrics(0.51, 0.626, 0.7, GPU))
    assert on_gpu["speed"] is None
    text = cnn_dnn_sentences(on_gpu)
    assert "not comparable" in text and "NVIDIA H200 with the jax backend" in text
    assert "0.7 s against" not in text


def test_a_worse_cnn_is_called_less_accurate():
    text = cnn_dnn_sentences(cnn_dnn_summary(metrics(0.40, 0.5, 1, CPU), metrics(0.45, 0.5, 1, CPU)))
    assert "**5.0 points less accurate** (40.0% against 45.0%)" in text


def test_run_card_says_where_it_was_trained():
    assert run_card(metrics(0.677, 0.732, 80.0, CPU))["trained on"] == \
        "AMD EPYC (AVX-512-BF16), 2 cores (tensorflow)"
    card = run_card(metrics(0.51, 0.626, 0.7, GPU))
    assert card["trained on"] == "NVIDIA H200 (jax)" and card["validation accuracy"] == "51.00%"


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
        "statistics). 2 convolution stages of 2 conv layers with 32, 64 filters halve the 48x48 face "
        "down to 4608 features before the dense layer(s) of 256 units.")
    text = sections_cnn.training_sentence(s)
    assert "trained for 58 epochs on the CPU (2 cores) with the tensorflow backend, 80.0 s" in text
    assert text.endswith("(epoch 50). This run reused a saved model.")
    table = sections_cnn.accuracy_table(s)
    assert table["accuracy"].tolist() == ["67.70%", "66.80%", "73.20%"]
    assert table["measure"][0].startswith("validation accuracy (test-time augmentation: average over")
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
    assert (s["peak_epoch"], s["epochs"], s["min_val_loss"]) == (2, 3, 1.2)
    assert sections_curves.curve_sentences(s) == (
        "Validation accuracy peaks at 55.0% in epoch 2 of 3. At the last epoch the model is 70.0% "
        "accurate on its (augmented) training batches and 50.0% on validation, a gap of +20.0 "
        "points; validation loss ends at 1.300 against 1.200 at its lowest.")
    cnn = history.assign(val_loss=[1.0, 0.9, 0.95])
    assert sections_dnn.dnn_curve_sentence(s, sections_curves.curve_summary(cnn)) == (
        "The DNN's validation accuracy peaks at 55.0% (epoch 2); its validation loss ends at 1.300 "
        "against the CNN's 0.950.")


def test_ablation_summary_table_and_sentences():
    runs = {name: fake_run(metrics(val, train, 10.0, CPU))
            for name, val, train in [("none", 0.586, 0.70), ("normalization", 0.589, 0.75),
                                     ("normalization_augmentation", 0.581, 0.60)]}
    s = sections_ablation.ablation_summary(runs)
    assert s["none"]["gap"] == pytest.approx(0.70 - 0.576)
    table = sections_ablation.ablation_table(s)
    assert table["variant"].tolist() == list(sections_ablation.ABLATION_LABELS.values())
    lines = sections_ablation.ablation_sentences(s).split("\n")
    assert lines[0].startswith("- Normalization alone raises validation accuracy by 0.3 points "
                               "(58.6% -> 58.9%).")
    assert lines[1].startswith("- Adding augmentation lowers validation accuracy by 0.8 points "
                               "(58.9% -> 58.1%); it shrinks the gap between training and "
                               "validation accuracy from +17.1 to +2.9 points")
    assert lines[2] == "- Best variant: (b) normalization."
    assert sections_ablation.ablation_settings({"flip": True, "crop": 44, "shift": 0}, 10) == (
        "Augmentation: flip True, crop 44; 10 epochs each.")


def test_dnn_summary_and_sentence():
    dnn = fake_run(metrics(0.51, 0.626, 8.0, CPU) | {"params": {"total": 1_240_000},
                                                     "train_seconds_total": 400.0}, width=512)
    s = sections_dnn.dnn_summary(dnn, cnn_metrics(), depth=3)
    assert s["params_vs_cnn"] == pytest.approx((1_240_000 - 1_234_567) / 1_234_567)
    assert sections_dnn.dnn_sentence(s).startswith(
        "3 hidden layers of **512 units** give the DNN 1,240,000 parameters, +0.44% from the CNN's "
        "1,234,567. It was trained for 58 epochs on the CPU (2 cores)")


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
    assert table["run"].tolist() == ["cnn", "hist_eq"]
    assert table["validation (with TTA)"].tolist() == ["66.7%", "83.3%"]
    assert len(sections_hist_eq.recall_figure(s).axes[0].patches) == 2 * 7
    lines = sections_hist_eq.hist_eq_sentences(s).split("\n")
    assert lines[0].startswith("- Histogram equalization raises validation accuracy from 66.7% to 83.3%")
    assert lines[0].endswith("both trained for 10 epochs with seed 42.")
    assert lines[1] == (f"- Per class, equalization raises the recall of {CLASS_NAMES[0]} most (+50.0 "
                        f"points) and lowers that of {CLASS_NAMES[1]} most (-50.0 points).")
    same = s | {"per_class_hist_eq": s["per_class_raw"]}
    assert sections_hist_eq.hist_eq_sentences(same).endswith("equalization changes no class's recall.")


def test_ties_are_said_as_ties():
    same = sections_dnn.cnn_dnn_sentences(cnn_dnn_summary(metrics(0.5, 0.6, 1, CPU), metrics(0.5, 0.6, 1, CPU)))
    assert "the CNN is **as accurate** (50.0% against 50.0%)" in same
    runs = {name: fake_run(metrics(0.586, 0.7, 10.0, CPU))
            for name in ("none", "normalization", "normalization_augmentation")}
    text = sections_ablation.ablation_sentences(sections_ablation.ablation_summary(runs))
    assert "Normalization alone leaves validation accuracy where it was (58.6% -> 58.6%)" in text
    assert "by 0.0 points" not in text
