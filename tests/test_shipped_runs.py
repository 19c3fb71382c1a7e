"""The trained runs committed in models/ stay usable: the current code computes the same
fingerprint for them (so `make report` reuses them instead of retraining hours of CPU time),
and their shipped float16 weights reproduce their recorded validation predictions."""

import numpy as np
import pytest

from helpers.core.config import load_profile, PROJECT_ROOT
from helpers.core.results import read_json

MODELS = PROJECT_ROOT / "models"
SHIPPED = sorted(p.parent.name for p in MODELS.glob("*/metrics.json"))


@pytest.fixture(scope="module")
def full_inputs(fer2013_dir):
    from helpers.experiments.inputs import load_inputs

    params = load_profile("full")
    return params, load_inputs(fer2013_dir, params["val_fraction"], params["seed"],
                               params["max_train_rows"])


def test_the_full_profiles_main_cnn_is_shipped():
    assert "cnn" in SHIPPED
    assert (MODELS / "cnn" / "weights.f16.npz").exists()


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_run_is_reused_by_the_current_code(full_inputs, name):
    from helpers.experiments.registry import report_plan

    params, inputs = full_inputs
    plan = {run.name: run for run in report_plan({**params, "models_dir": str(MODELS)}, inputs)}
    if name in plan and not plan[name].status.startswith("after"):
        assert plan[name].status == "reuse", f"{name} would be retrained: its fingerprint changed"
    assert read_json(MODELS / name / "metrics.json")["data_checksum"] == inputs.train_digest


def test_the_shipped_weights_reproduce_the_recorded_predictions(full_inputs):
    from helpers.modeling.inference import predict_proba
    from helpers.modeling.store import load_finished

    _, inputs = full_inputs
    run = load_finished(MODELS / "cnn")
    training = run.config["training"]
    rows = slice(0, 256)  # a sample keeps the test fast
    proba = predict_proba(run.model, inputs.x_val[rows], training["tta_flip"],
                          tta_crops=training["tta_crops"])
    stored = run.val_proba[rows]
    # Bit-identical on the CPU that trained it (checked); another CPU's bfloat16/oneDNN kernels
    # round differently, so allow what mixed precision moves, far below what other weights would.
    assert np.abs(proba - stored).max() < 0.05
    assert np.mean(proba.argmax(1) == stored.argmax(1)) >= 0.98


def test_the_ensemble_is_the_best_subset_of_shipped_runs_with_weights(full_inputs):
    """make predict MODEL=ensemble runs every member, and the members are the subset of the
    candidates that notebook 09 shows best on validation."""
    from helpers.analysis.ensembles import subset_accuracies
    from helpers.sections.ensemble import best_subset

    params, inputs = full_inputs
    candidates = params["ensemble_candidates"]
    for name in candidates:
        assert (MODELS / name / "weights.f16.npz").exists(), f"{name} ships no weights"
    probas = [np.load(MODELS / name / "val_proba.npy") for name in candidates]
    subsets = subset_accuracies(candidates, probas, inputs.y_val)
    assert set(params["ensemble_members"]) == set(best_subset(subsets)), (
        subsets.head(3).to_string() + "\nset it with: python scripts/choose_ensemble.py --data-dir ... --write")
