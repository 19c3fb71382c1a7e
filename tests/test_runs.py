"""helpers.runs: the report's runs by name, loaded with one error when missing or mismatched."""

import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from helpers import runs
from helpers.config import IMAGE_SIZE

DATA = {"val_fraction": 0.1, "seed": 42, "max_train_rows": None, "hist_eq": False}


def save_run(run_dir, val_rows, data=DATA):
    """A finished run as helpers.training writes it: model.keras, metrics.json, config.json."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1))
    logits = keras.layers.Dense(7, name="logits")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Softmax(name="probabilities")(logits))
    run_dir.mkdir(parents=True)
    model.save(run_dir / "model.keras")
    (run_dir / "metrics.json").write_text(json.dumps({"val_rows": val_rows, "val_accuracy": 0.5}))
    (run_dir / "config.json").write_text(json.dumps({"config": {"data": data}}))
    return model


def test_load_run_checks_the_split(tmp_path):
    inputs = SimpleNamespace(data_settings=DATA, y_val=np.zeros(3, int))
    model = save_run(tmp_path / "cnn", val_rows=3)
    run = runs.load_run(tmp_path, runs.MAIN_CNN, inputs)
    assert run.name == "cnn" and run.metrics["val_accuracy"] == 0.5
    np.testing.assert_array_equal(run.model.get_layer("logits").get_weights()[0],
                                  model.get_layer("logits").get_weights()[0])
    assert runs.load_run(tmp_path, "cnn", val_rows=3).name == "cnn"
    with pytest.raises(ValueError, match="main CNN .* another data split"):
        runs.load_run(tmp_path, runs.MAIN_CNN, SimpleNamespace(data_settings=DATA, y_val=np.zeros(4)))
    with pytest.raises(ValueError, match="another data split"):
        runs.load_run(tmp_path, runs.MAIN_CNN,
                      SimpleNamespace(data_settings=DATA | {"seed": 1}, y_val=np.zeros(3)))
    with pytest.raises(ValueError, match="3 validation faces, this split has 12"):
        runs.load_run(tmp_path, "cnn", val_rows=12)


@pytest.mark.parametrize("name, says", [
    (runs.WEAK_CNN, "no trained weak CNN (the ablation run without normalization and augmentation) "
                    "in {dir}/ablation_none: train it with `make train RUNS=ablation_none` or "
                    "notebooks/02_cnn.ipynb"),
    ("hist_eq", "no trained histogram-equalized CNN in {dir}/hist_eq: train it with "
                "`make train RUNS=hist_eq` or notebooks/08_histogram_equalization.ipynb"),
    ("semi_10_round1", "no trained self-training run semi_10_round1 in {dir}/semi_10_round1: "
                       "train it with notebooks/07_semi_supervised.ipynb"),
    ("mine", "no trained run 'mine' in {dir}/mine: train it first"),
])
def test_a_missing_run_says_how_to_train_it(tmp_path, name, says):
    with pytest.raises(FileNotFoundError) as error:
        runs.load_run(tmp_path, name)
    assert str(error.value) == says.format(dir=tmp_path)


def test_every_run_of_the_plan_is_named():
    from helpers.plan import ABLATION_VARIANTS

    assert runs.run_name("cnn") is runs.MAIN_CNN and runs.run_name(runs.DNN) is runs.DNN
    for variant in ABLATION_VARIANTS:
        assert runs.run_name(f"ablation_{variant}").notebook == "02_cnn"
    assert runs.WEAK_CNN.name == "ablation_none" and "none" in ABLATION_VARIANTS


def test_a_missing_run_of_another_profile_names_that_profile():
    from helpers.config import load_profile, resolve

    smoke_models = resolve(load_profile("smoke")["models_dir"])
    message = str(runs.missing_run_error(runs.MAIN_CNN, smoke_models))
    assert "`make train RUNS=cnn PROFILE=smoke` or notebooks/02_cnn.ipynb" in message
