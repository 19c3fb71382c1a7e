"""The sentences of question 2 (CNN against DNN) from two runs' metrics."""

from helpers.experiments import cnn_dnn_sentences, cnn_dnn_summary, run_card, same_hardware

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
