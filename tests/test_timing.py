"""helpers.analysis.timing: a run's network rebuilt from its config, timed on this machine, and
its multiply-adds per face; helpers.sections.dnn.measure_speed on top of them (tiny networks,
a few batches: seconds)."""

from types import SimpleNamespace

import pytest

from helpers.analysis.timing import build_from_config, multiply_adds, training_speed
from helpers.modeling.backend import keras

TRAINING = {"batch_size": 4, "learning_rate": 0.01, "epochs": 3, "precision": "float32"}
CNN_CONFIG = {"model": "cnn", "cnn": {"filters": [2], "convs_per_block": 1, "dense_units": [4],
                                      "conv_dropout": 0.0, "dense_dropout": 0.0},
              "normalization": {"mean": 128.0, "std": 64.0}, "augmentation": None,
              "training": TRAINING}
DNN_CONFIG = {"model": "dnn", "width": 3, "depth": 2, "dropout": 0.0, "normalization": None,
              "augmentation": {"flip": True, "crop": 44}, "training": TRAINING}


def test_build_from_config_builds_what_the_config_says():
    cnn = build_from_config(CNN_CONFIG)
    assert [layer.name for layer in cnn.layers if type(layer).__name__ == "Conv2D"] == ["block1_conv1"]
    assert "normalize" in [layer.name for layer in cnn.layers]
    dnn = build_from_config(DNN_CONFIG)
    assert [layer.units for layer in dnn.layers if type(layer).__name__ == "Dense"] == [3, 3, 7]
    assert "crop" in [layer.name for layer in dnn.layers]
    with pytest.raises(ValueError, match="'cnn' or 'dnn'"):
        build_from_config({"model": "rnn"})


def test_multiply_adds_counts_each_conv_weight_at_every_position():
    # conv 3x3, 1 -> 2 filters on 48x48 ("same"): 48*48*9*2; pool to 24x24x2 = 1152 features;
    # dense 1152 -> 4, then the 4 -> 7 classifier.
    cnn = build_from_config(CNN_CONFIG)
    assert multiply_adds(cnn) == 48 * 48 * 9 * 2 + 1152 * 4 + 4 * 7
    # The DNN sees the 44x44 center crop: 1936 -> 3 -> 3 -> 7.
    assert multiply_adds(build_from_config(DNN_CONFIG)) == 1936 * 3 + 3 * 3 + 3 * 7


def test_training_speed_uses_the_runs_batch_size_and_precision_and_restores_the_policy():
    before = keras.config.dtype_policy().name
    config = {**CNN_CONFIG, "training": {**TRAINING, "precision": "mixed_bfloat16"}}
    speed = training_speed(config, batches=2, warmup=1)
    assert speed["images_per_second"] > 0
    assert (speed["batch_size"], speed["precision"], speed["batches"], speed["warmup_batches"]) == (
        4, "mixed_bfloat16", 2, 1)
    assert keras.config.dtype_policy().name == before
    with pytest.raises(ValueError, match="at least 1 timed and 1 warm-up"):
        training_speed(CNN_CONFIG, batches=0)
    with pytest.raises(ValueError, match="at least 1 timed and 1 warm-up"):
        training_speed(CNN_CONFIG, warmup=0)


def test_measure_speed_times_both_runs_on_this_machine():
    from helpers.sections.dnn import measure_speed, speed_sentence

    runs = {label: SimpleNamespace(config=config, architecture=build_from_config(config))
            for label, config in (("CNN", CNN_CONFIG), ("DNN", DNN_CONFIG))}
    s = measure_speed(runs, train_rows=1000, batches=2, warmup=1)
    assert set(s["models"]) == {"CNN", "DNN"}
    cnn = s["models"]["CNN"]
    assert cnn["seconds_per_epoch"] == pytest.approx(1000 / cnn["images_per_second"])
    assert cnn["multiply_adds"] == multiply_adds(runs["CNN"].architecture)
    assert f"on {s['device']}, {s['backend']})" in speed_sentence(s)  # timed here: this machine named
