"""helpers.experiments.registry: the report's runs by name, loaded with one error when missing or mismatched."""

import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from helpers.experiments import registry
from helpers.core.config import IMAGE_SIZE

DATA = {"val_fraction": 0.1, "seed": 42, "max_train_rows": None, "hist_eq": False}


def save_run(run_dir, val_rows, data=DATA):
    """A finished run as helpers.modeling writes it: model.keras, metrics.json, config.json."""
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
    run = registry.load_run(tmp_path, registry.MAIN_CNN, inputs)
    assert run.name == "cnn" and run.metrics["val_accuracy"] == 0.5
    np.testing.assert_array_equal(run.model.get_layer("logits").get_weights()[0],
                                  model.get_layer("logits").get_weights()[0])
    assert registry.load_run(tmp_path, "cnn", val_rows=3).name == "cnn"
    with pytest.raises(ValueError, match="main CNN .* another data split"):
        registry.load_run(tmp_path, registry.MAIN_CNN, SimpleNamespace(data_settings=DATA, y_val=np.zeros(4)))
    with pytest.raises(ValueError, match="another data split"):
        registry.load_run(tmp_path, registry.MAIN_CNN,
                      SimpleNamespace(data_settings=DATA | {"seed": 1}, y_val=np.zeros(3)))
    with pytest.raises(ValueError, match="3 validation faces, this split has 12"):
        registry.load_run(tmp_path, "cnn", val_rows=12)


@pytest.mark.parametrize("name, says", [
    (registry.WEAK_CNN, "no trained weak CNN (the ablation run without normalization and augmentation) "
                    "in {dir}/ablation_none: train it with `make train RUNS=ablation_none` or "
                    "notebooks/02_cnn.ipynb"),
    ("hist_eq", "no trained histogram-equalized CNN in {dir}/hist_eq: train it with "
                "`make train RUNS=hist_eq` or notebooks/08_histogram_equalization.ipynb"),
    ("semi_10_round1", "no trained self-trained run (10% labels, pool train) in {dir}/semi_10_round1: "
                       "train it with notebooks/07_semi_supervised.ipynb"),
    ("mine", "no trained run 'mine' in {dir}/mine: train it first"),
])
def test_a_missing_run_says_how_to_train_it(tmp_path, name, says):
    with pytest.raises(FileNotFoundError) as error:
        registry.load_run(tmp_path, name)
    assert str(error.value) == says.format(dir=tmp_path)


def test_every_run_of_the_plan_is_named():
    from helpers.experiments.registry import ABLATION_VARIANTS

    assert registry.run_name("cnn") is registry.MAIN_CNN and registry.run_name(registry.DNN) is registry.DNN
    for variant in ABLATION_VARIANTS:
        assert registry.run_name(f"ablation_{variant}").notebook == "02_cnn"
    assert registry.WEAK_CNN.name == "ablation_none" and "none" in ABLATION_VARIANTS


def test_a_missing_run_of_another_profile_names_that_profile():
    from helpers.core.config import load_profile, resolve

    smoke_models = resolve(load_profile("smoke")["models_dir"])
    message = str(registry.missing_run_error(registry.MAIN_CNN, smoke_models))
    assert "`make train RUNS=cnn PROFILE=smoke` or notebooks/02_cnn.ipynb" in message


def test_the_planner_the_budget_and_ship_read_the_one_list_of_experiments():
    from helpers.core.config import load_profile
    from helpers.pipeline.ship import SHIP_WEIGHTS

    params = {**load_profile("full"), "semi_use_test": True}
    names = [e.name for e in registry.experiments(params)]
    assert len(set(names)) == len(names)
    assert list(registry.profile_budget(params, 100, 10)) == names
    assert SHIP_WEIGHTS == tuple(e.name for e in registry.experiments(params) if e.ship_weights)
    # a new experiment in the list is planned and budgeted without other changes
    extra = registry.Experiment("extra", "an extra CNN", "further", "10_extra")
    original = registry.experiments
    try:
        registry.experiments = lambda params, with_test=True: [*original(params, with_test), extra]
        assert "extra" in registry.profile_budget(params, 100, 10)
    finally:
        registry.experiments = original
    assert [e.name for e in registry.experiments(params, with_test=False)] == [
        n for n in names if "_test_" not in n]
    assert registry.run_name("semi_10_test_round1").teacher == "semi_10_round0"
    assert registry.training_settings(registry.ABLATION["none"], params)["epochs"] == params["ablation_epochs"]
    baseline = registry.run_name("semi_10_round0")
    with pytest.raises(ValueError, match="needs its labeled rows"):
        registry.training_settings(baseline, params)
    semi = registry.training_settings(baseline, params, labeled_rows=2584)
    assert "epochs" not in semi and semi["steps"] == params["semi_epochs"] * 41


def test_notebook_07_trains_its_runs_under_the_experiment_lists_names():
    from helpers.analysis.semi import default_run_name
    from helpers.core.config import load_profile

    params = {**load_profile("full"), "semi_use_test": True}
    listed = [e.name for e in registry.semi_experiments(params)]
    named = []
    for fraction in params["semi_fractions"]:
        named.append(registry.semi_run_name(fraction, "train", 0))
        for pool in ("train", "train+test"):
            for r in range(1, params["semi_rounds"] + 1):
                named.append(registry.semi_run_name(fraction, pool, r))
                assert registry.semi_run_name(fraction, pool, r) == default_run_name(fraction, pool, r)
    assert sorted(named) == sorted(listed)
    import json
    from helpers.core.config import NOTEBOOK_DIR
    source = "".join("".join(c["source"]) for c in json.loads(
        (NOTEBOOK_DIR / "07_semi_supervised.ipynb").read_text())["cells"])
    assert "run_name=semi_run_name" in source
