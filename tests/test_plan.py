"""helpers.pipeline.plan: the training plan printed before a report run (reused / resumed / trained runs
and a time estimate), on synthetic inputs and tiny models."""

import copy

import numpy as np
import pytest

import helpers.core.words as core_words
import helpers.experiments.inputs as experiments_inputs
from helpers.experiments import registry
from helpers.modeling import engine
import helpers.pipeline.plan as pipeline_plan

from helpers.core.config import load_profile
from helpers.experiments.inputs import Inputs, train_cnn

ROWS = 96
PARAMS = {
    **load_profile("full"),  # a setting the tests leave alone has its real value
    "models_dir": None,  # set per test
    "seed": 42,
    "cnn": {"filters": [4], "convs_per_block": 1, "dense_units": [8], "conv_dropout": 0.1,
            "dense_dropout": 0.1},
    "augmentation": {"flip": True},
    "training": {"epochs": 2, "batch_size": 32, "learning_rate": 0.01, "seed": 42},
    "ablation_epochs": 1,
    "dnn_depth": 2,
    "dnn_dropout": 0.1,
    "semi_epochs": 2,
    "semi_fractions": [0.5],
    "semi_rounds": 1,
    "semi_use_test": True,
}


def make_inputs() -> Inputs:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(ROWS + 32 + 16, 48, 48, 1)).astype(np.float32)
    y = np.arange(ROWS + 32) % 7
    return Inputs(x[:ROWS], y[:ROWS], x[ROWS:ROWS + 32], y[ROWS:], x[ROWS + 32:], np.arange(16),
                  None, "checksum", "course CSV", {"mean": 127.0, "std": 70.0},
                  {"val_fraction": 0.1, "seed": 42, "max_train_rows": None, "hist_eq": False},
                  train_digest="train-digest", test_digest="test-digest")


@pytest.fixture
def params(tmp_path):
    return {**copy.deepcopy(PARAMS), "models_dir": str(tmp_path / "models")}


def by_name(plan):
    return {run.name: run for run in plan}


def test_a_fresh_plan_trains_every_run(params):
    plan = by_name(registry.report_plan(params, make_inputs()))
    report_runs = ["cnn", "ablation_none", "ablation_normalization",
                   "ablation_normalization_augmentation", "dnn", "semi_50_round0",
                   "semi_50_round1", "semi_50_test_round1"]
    assert [name for name in plan if name in report_runs] == report_runs  # and any added later
    assert plan["cnn"].status == "train" and plan["cnn"].images == 2 * ROWS
    assert plan["ablation_none"].images == ROWS and plan["dnn"].kind == "dnn"
    # semi_epochs 2: 2 epochs of the 48 labeled rows (2 x 2 steps of 32 images)
    assert plan["semi_50_round0"].images == 2 * ROWS // 2 and plan["semi_50_round0"].epochs == 2
    # a student's rows depend on its teacher; estimated with half the pool accepted
    assert plan["semi_50_round1"].status == "after semi_50_round0"
    assert plan["semi_50_round1"].images == 72 and plan["semi_50_round1"].epochs == 1


def test_trained_and_interrupted_runs_are_reused_and_resumed(params, monkeypatch):
    inputs = make_inputs()
    params["ablation_epochs"] = 2  # hist_eq trains for the ablation's epochs
    train_cnn("cnn", inputs, params["cnn"], params["training"], params["models_dir"],
              params["augmentation"], verbose=0)
    original = engine.save_checkpoint

    def interrupt(run_dir, model, done, *args, **kwargs):
        original(run_dir, model, done, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_cnn("hist_eq", inputs, params["cnn"], params["training"], params["models_dir"],
                  params["augmentation"], verbose=0)

    plan = by_name(registry.report_plan(params, inputs, eq_inputs=inputs))
    assert plan["cnn"].status == "reuse" and plan["cnn"].images == 0
    assert not plan["cnn"].trains
    assert plan["hist_eq"].status == "resume"
    assert plan["hist_eq"].images == ROWS  # one of two epochs left
    assert pipeline_plan.describe_status(plan["hist_eq"]) == "resumes at epoch 2/2"
    # another config for the main CNN: it trains again
    params["training"]["learning_rate"] = 0.02
    assert by_name(registry.report_plan(params, inputs))["cnn"].status == "train"


def test_plan_lines_give_each_run_and_the_total_time():
    plan = [registry.PlannedRun("cnn", "main", "cnn", 0, "reuse", 2, 2),
            registry.PlannedRun("dnn", "dnn", "dnn", 12_000, "train", 0, 2),
            registry.PlannedRun("semi", "s", "cnn", 3_000, "resume", 1, 3)]
    lines = pipeline_plan.plan_lines(plan, {"cnn": 10.0, "dnn": 120.0})
    assert lines[0].split() == ["cnn", "reused"]
    assert "12,000 images" in lines[1] and lines[1].endswith("~2 min")
    assert "resumes at epoch 2/3" in lines[2] and lines[2].endswith("~5 min")
    assert lines[3] == ("2 of 3 runs train, 15,000 images: about 7 min on this machine "
                        "(measured 10 CNN images/s).")
    assert "resumes" in lines[4]
    assert pipeline_plan.plan_lines(plan[:1], None)[-1] == "Every model is already trained: nothing to train."


@pytest.mark.parametrize("seconds, text", [(5, "5 s"), (89, "89 s"), (90, "2 min"),
                                           (3599, "60 min"), (5400, "1 h 30 min"),
                                           (26 * 3600 + 60, "26 h 01 min")])
def test_duration(seconds, text):
    assert core_words.duration(seconds) == text


def test_measured_speed_is_positive_for_both_kinds(params):
    inputs = make_inputs()
    assert pipeline_plan.measure_images_per_second(params, inputs, "cnn", batches=2) > 0
    assert pipeline_plan.measure_images_per_second(params, inputs, "dnn", batches=2) > 0


@pytest.mark.parametrize("only, trains", [(None, True), (["01"], False), (["04", "05"], False),
                                          (["02"], True), (["07_semi"], True), (["0"], True)])
def test_which_pipeline_runs_may_train(only, trains):
    assert registry.trains_models(only) is trains


def test_show_plan_prints_runs_and_an_estimate(params, monkeypatch, capsys):


    monkeypatch.setattr(experiments_inputs, "load_inputs", lambda *args, **kwargs: make_inputs())
    monkeypatch.setattr(pipeline_plan, "measure_images_per_second",
                        lambda params, inputs, kind: 100.0 if kind == "cnn" else 1200.0)
    params.update(data_dir="data", val_fraction=0.1, max_train_rows=None)
    plan = pipeline_plan.show_plan(params)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("==> training plan")
    assert len(out) == 1 + len(plan) + 2
    assert out[-2].startswith(f"{len(plan)} of {len(plan)} runs train")
    assert "(measured 100 CNN images/s)" in out[-2]


FULL_TRAIN_ROWS, FULL_TEST_ROWS = 25_838, 7_178  # the course data's split (90% of 28,709) and test


def test_the_full_profile_fits_the_compute_budget():
    """Issue budget (the accuracy targets): at most 10 million training images in all (DNN
    images at 1/12), none above 3 million."""
    from helpers.core.config import load_profile

    budget = registry.profile_budget(load_profile("full"), FULL_TRAIN_ROWS, FULL_TEST_ROWS)
    assert registry.budget_total(budget) <= 10_000_000
    assert max(images for _, images in budget.values()) <= 3_000_000
    assert budget["cnn"][1] == max(images for _, images in budget.values())  # the largest share
    assert {name for name in budget} >= {"cnn", "hist_eq", "dnn", "ablation_none",
                                         "semi_10_round0", "semi_30_round1"}


def test_profile_budget_counts_each_run():
    params = {**copy.deepcopy(PARAMS), "semi_epochs": 5}
    budget = registry.profile_budget(params, 100, 20)
    assert budget["cnn"] == ("cnn", 200) and budget["dnn"] == ("dnn", 200)
    assert budget["ablation_none"] == ("cnn", 100)
    # 5 epochs of the 50 labeled rows: 5 x 2 steps of 32 images, for the students too
    assert budget["semi_50_round0"] == budget["semi_50_test_round1"] == ("cnn", 320)
    assert registry.profile_budget({**params, "semi_fractions": [0.25]}, 100, 20)["semi_25_round0"] == ("cnn", 5 * 32)
    report_runs = {name: budget[name] for name in (
        "cnn", "ablation_none", "ablation_normalization", "ablation_normalization_augmentation",
        "dnn", "hist_eq", "semi_50_round0", "semi_50_round1", "semi_50_test_round1")}
    # the histogram-equalized CNN trains for the ablation's epochs, like the variant it is compared with
    assert budget["hist_eq"] == ("cnn", 100)
    assert registry.budget_total(report_runs) == pytest.approx(200 + 200 / 12 + 4 * 100 + 3 * 320)
    assert "semi_50_test_round1" not in registry.profile_budget(params, 100, 0)


@pytest.fixture
def fake_plan(monkeypatch):
    trained = []
    runs = [registry.PlannedRun("cnn", "main", "cnn", 10, "train", 0, 2, lambda: trained.append("cnn")),
            registry.PlannedRun("dnn", "dnn", "dnn", 0, "reuse", 2, 2, lambda: trained.append("dnn")),
            registry.PlannedRun("semi_10_round1", "s", "cnn", 5, "after semi_10_round0", 0, 1)]
    monkeypatch.setattr(pipeline_plan, "show_plan", lambda params, measure=True: runs)
    return trained


def test_train_command_trains_the_independent_runs_in_order(fake_plan, capsys):
    assert pipeline_plan.main(["--profile", "smoke", "--train"]) == 0
    assert fake_plan == ["cnn", "dnn"]  # the reused one is only loaded
    assert pipeline_plan.main(["--profile", "smoke", "--train", "dnn"]) == 0
    assert fake_plan == ["cnn", "dnn", "dnn"]
    assert pipeline_plan.main(["--profile", "smoke"]) == 0  # the plan only
    assert len(fake_plan) == 3


@pytest.mark.parametrize("names, message", [(["nope"], "unknown run(s) nope"),
                                            (["semi_10_round1"], "depends on semi_10_round0")])
def test_train_command_refuses_in_one_line(fake_plan, capsys, names, message):
    assert pipeline_plan.main(["--profile", "smoke", "--train", *names]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert fake_plan == []


def test_training_compute_sums_the_runs_metrics(params, tmp_path):
    from helpers.core.results import write_json

    models = tmp_path / "models"
    cpu = {"backend": "tensorflow", "accelerator": "none", "processor": "x86_64", "cpu_count": 2}
    write_json(models / "cnn" / "metrics.json", {
        "epochs_run": 2, "train_images": 200, "train_seconds_total": 3600.0,
        "images_per_second": 0.06, "precision": "mixed_bfloat16", "runtime": cpu})
    write_json(models / "dnn" / "metrics.json", {
        "epochs_run": 2, "train_images": 1200, "train_seconds_total": 1800.0,
        "images_per_second": 0.7, "runtime": {**cpu, "backend": "jax", "accelerator": "NVIDIA H100"}})
    compute = pipeline_plan.training_compute(params, 100, 20)
    assert set(compute["runs"]) == {"cnn", "dnn"}
    assert compute["images"] == 200 + 1200 / 12 and compute["hours"] == 1.5
    assert compute["hardware"] == ["NVIDIA H100", "x86_64 CPU, 2 cores"]
    assert compute["precision"] == ["float32", "mixed_bfloat16"]
    assert "hist_eq" in compute["missing"]
    words = pipeline_plan.compute_words(compute)
    assert words.startswith("300 face images seen in training (budget ")
    assert "; a DNN face counts as 1/12 of a CNN face, a fixed rate, not this run's speed), 60 min on" in words
    assert "; float32 arithmetic, arithmetic in bfloat16, weights in float32 while training" in words
    assert compute["seconds_by_hardware"] == {"x86_64 CPU, 2 cores (tensorflow)": 3600.0,
                                              "NVIDIA H100 (jax)": 1800.0}
    assert "60 min on x86_64 CPU, 2 cores with tensorflow; 30 min on NVIDIA H100 with jax (DNN)" in words
    assert "profile" not in words
    assert "not found: " in words and "hist_eq" in words
    assert pipeline_plan.compute_words({}) == "no trained run found"


def test_train_command_passes_retrain_to_the_runs(monkeypatch):
    seen = {}

    def show_plan(params, measure=True):
        seen["retrain"] = params.get("retrain")
        return []

    monkeypatch.setattr(pipeline_plan, "show_plan", show_plan)
    assert pipeline_plan.main(["--profile", "smoke", "--retrain", "--train"]) == 0
    assert seen["retrain"] is True
    # `make train RUNS=cnn RETRAIN=1`: only cnn starts over (the plan once said "8 of 10 runs train")
    pipeline_plan.main(["--profile", "smoke", "--retrain", "--train", "cnn"])
    assert seen["retrain"] == ["cnn"]


def test_retrain_applies_to_every_run_or_to_the_named_ones():
    assert registry.retrains({"retrain": True}, "dnn") and not registry.retrains({}, "dnn")
    assert registry.retrains({"retrain": ["cnn"]}, "cnn") and not registry.retrains({"retrain": ["cnn"]}, "dnn")


def test_a_new_experiment_in_the_list_is_planned_with_its_own_settings(params, tmp_path, monkeypatch):
    extra = registry.Experiment("no_dropout", "CNN without dropout", "further", "10_no_dropout",
                                epochs_key="no_dropout_epochs", cnn_changes={"conv_dropout": 0.0})
    original = registry.experiments
    monkeypatch.setattr(registry, "experiments",
                        lambda params, with_test=True: [*original(params, with_test), extra])
    params["no_dropout_epochs"] = 3
    inputs = make_inputs()
    plan = by_name(registry.report_plan(params, inputs))
    assert plan["no_dropout"].status == "train" and plan["no_dropout"].images == 3 * ROWS
    assert registry.profile_budget(params, ROWS, 16)["no_dropout"] == ("cnn", 3 * ROWS)
    # its CNN differs from the main one in the change only: another fingerprint than the main CNN
    run = registry.train_experiment(extra, inputs, {**params, "no_dropout_epochs": 1, "verbose": 0})
    assert run.config["cnn"] == {**params["cnn"], "conv_dropout": 0.0}
    assert run.config["training"]["epochs"] == 1


def test_runs_evaluated_or_kept_train_nothing_and_say_why():
    evaluate = registry.PlannedRun("cnn", "main", "cnn", 0, "evaluate", 58, 58)
    shipped = registry.PlannedRun("hist_eq", "eq", "cnn", 0, "shipped", 0, 58)
    assert not evaluate.trains and not shipped.trains
    assert "evaluated from its weights, not retrained" in pipeline_plan.describe_status(evaluate)
    assert "RETRAIN=1" in pipeline_plan.describe_status(shipped)
    lines = pipeline_plan.plan_lines([evaluate, shipped], None)
    assert lines[-1] == "Every model is already trained: nothing to train."


def test_with_retrain_the_plan_trains_every_run(params):
    inputs = make_inputs()
    params["retrain"] = True
    plan = registry.report_plan(params, inputs)
    assert {r.status for r in plan if r.train is not None} == {"train"}


def test_an_unknown_run_name_suggests_only_runs_make_train_can_train(fake_plan, capsys):
    assert pipeline_plan.main(["--profile", "smoke", "--train", "nonexistent"]) == 2
    err = capsys.readouterr().err.strip()
    assert "trains some of cnn, dnn (" in err and "semi_10_round1" not in err.split("(")[0]


def test_a_named_retrain_leaves_the_other_runs_reused(params, monkeypatch):
    """`make train RUNS=cnn RETRAIN=1`: cnn trains from scratch, every other saved run stays reused
    (the plan once showed all of them as training)."""
    import helpers.modeling.store as store

    monkeypatch.setattr(store, "run_status", lambda run_dir, fingerprint: ("reuse", 2))
    plan = by_name(registry.report_plan({**params, "retrain": ["cnn"]}, make_inputs()))
    assert plan["cnn"].status == "train"
    assert {r.status for name, r in plan.items() if name != "cnn" and r.train is not None} == {"reuse"}
