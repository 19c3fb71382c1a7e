"""helpers.pipeline.ship: what a trained run leaves in git, and the repository's size budget."""

import subprocess

import numpy as np
import pytest

from helpers.pipeline import ship
from helpers.core.config import PROJECT_ROOT
from helpers.modeling.models import build_cnn
from helpers.core.results import read_json
from helpers.modeling.engine import fit_or_load, TrainingData
from helpers.modeling.inference import predict_proba
from helpers.modeling.store import load_finished, SHIPPED_WEIGHTS


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (160, 48, 48, 1)).astype(np.float32)
    y = rng.integers(0, 7, 160)
    models = tmp_path_factory.mktemp("models")
    for name in ("cnn", "dnn"):
        fit_or_load(name, lambda: build_cnn(filters=[4], convs_per_block=1, dense_units=[8]),
                    {"training": {"epochs": 1, "batch_size": 32, "learning_rate": 0.01}},
                    TrainingData(x[:128], y[:128], x[128:], y[128:], "train-digest", x[:16],
                                 "test-digest"), models, verbose=0)
    return models, x[128:]


def test_ship_writes_weights_only_where_asked_and_a_manifest(models_dir):
    models, x_val = models_dir
    manifest = ship.ship(models, ["cnn", "dnn", "hist_eq"], with_weights=("cnn",))
    assert manifest["missing"] == ["hist_eq"]
    assert (models / "cnn" / SHIPPED_WEIGHTS).exists() and not (models / "dnn" / SHIPPED_WEIGHTS).exists()
    entry = manifest["runs"]["cnn"]
    assert entry["weights"] is True and manifest["runs"]["dnn"]["weights"] is False
    assert entry["data_checksum"] == "train-digest" and entry["test_digest"] == "test-digest"
    assert entry["fingerprint"] == read_json(models / "cnn" / "metrics.json")["fingerprint"]
    assert entry["precision"] == "float32" and entry["backend"] and entry["hardware"]
    assert set(entry["files"]) >= {"config.json", "metrics.json", "history.csv", "val_proba.npy",
                                   "test_proba.npy", "architecture.json", SHIPPED_WEIGHTS}
    assert "model.keras" not in entry["files"]
    assert read_json(models / "manifest.json") == manifest


def test_what_ships_is_what_git_keeps(models_dir, tmp_path):
    """The .gitignore keeps model.keras and unfinished runs out and the shipped files in."""
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "models/cnn/model.keras", "models/cnn.training/x",
         "models/cnn.replaced/x", "models/cnn/weights.f16.npz", "models/cnn/val_proba.npy",
         "models/manifest.json"],
        cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.split()
    assert ignored == ["models/cnn/model.keras", "models/cnn.training/x", "models/cnn.replaced/x"]


def test_a_clone_predicts_with_the_shipped_weights(models_dir):
    models, x_val = models_dir
    before = predict_proba(load_finished(models / "cnn").model, x_val)
    ship.ship(models, ["cnn"], with_weights=("cnn",))
    (models / "cnn" / "model.keras").rename(models / "cnn.model.keras.bak")
    try:
        np.testing.assert_array_equal(predict_proba(load_finished(models / "cnn").model, x_val), before)
    finally:
        (models / "cnn.model.keras.bak").rename(models / "cnn" / "model.keras")


def test_the_tracked_tree_stays_under_16_mb():
    """A lent GPU machine receives the tracked tree with the ~50 MB training data in one 64 MiB
    call: the tree stays under 16 MB (issue: the accuracy targets)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True,
                           check=True).stdout.split(b"\0")
    size = sum((PROJECT_ROOT / f.decode()).stat().st_size for f in files
               if f and (PROJECT_ROOT / f.decode()).exists())
    assert size < 16_000_000, f"tracked files take {size / 1e6:.1f} MB"


def test_a_damaged_or_edited_shipped_file_is_one_line_naming_it(models_dir, tmp_path):
    import shutil

    from helpers.modeling.store import DamagedRun

    models, _ = models_dir
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    ship.ship(copy, ["cnn", "dnn"], with_weights=("cnn",))
    assert load_finished(copy / "cnn") is not None  # as shipped: fine
    weights = copy / "cnn" / SHIPPED_WEIGHTS
    original = weights.read_bytes()
    weights.write_bytes(original[: len(original) // 2])  # truncated
    (copy / "cnn" / "model.keras").unlink()  # a clone has only the shipped weights
    with pytest.raises(DamagedRun) as info:
        load_finished(copy / "cnn")
    message = str(info.value)
    assert "\n" not in message and str(weights) in message and "git checkout -- " in message
    weights.write_bytes(original)
    config = copy / "cnn" / "config.json"
    config.write_text(config.read_text().replace('"epochs": 1', '"epochs": 9'))  # edited
    with pytest.raises(DamagedRun, match=r"config.json: .*(damaged or edited)"):
        load_finished(copy / "cnn")
    # a run trained here since it was shipped (another "finished") is not checked
    metrics = read_json(copy / "cnn" / "metrics.json")
    (copy / "cnn" / "metrics.json").write_text(
        __import__("json").dumps({**metrics, "finished": "later"}))
    assert load_finished(copy / "cnn") is not None


def test_a_shipped_run_that_predicts_new_test_images_is_not_called_damaged(models_dir, tmp_path):
    import shutil

    from helpers.modeling.engine import _refresh_test_proba

    models, _ = models_dir
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    ship.ship(copy, ["cnn"], with_weights=("cnn",))
    run = load_finished(copy / "cnn")
    x_new = np.random.default_rng(5).integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    _refresh_test_proba(run, x_new, "another-test-digest")
    assert load_finished(copy / "cnn") is not None  # rewritten here on purpose: not damage


def test_a_truncated_json_file_names_itself(tmp_path):
    from helpers.core.results import read_json

    (tmp_path / "metrics.json").write_text('{"val_accuracy": 0.6')
    with pytest.raises(ValueError, match=r"metrics.json: not valid JSON .*damaged or edited"):
        read_json(tmp_path / "metrics.json")
