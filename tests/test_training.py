"""Unit tests for helpers/store.py: run folders, reuse, retraining, resuming after an
interruption, seeding, test-time augmentation and the optimizer factory.

Every run trains a tiny CNN (one conv block of 4 filters, 8 dense units) for 2-3 epochs on 192
random 48x48 images, in a tmp_path models folder.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import copy
import json
import math
import shutil

import keras
import numpy as np
import pandas as pd
import pytest

import helpers.modeling.engine as modeling_engine
from conftest import lock_held_elsewhere
from helpers.modeling import inference
from helpers.modeling import recipe
from helpers.modeling import store
from helpers.modeling.models import build_cnn, build_dnn, count_params
from helpers.modeling.engine import fit_or_load, TrainingData
from helpers.modeling.inference import predict_proba
from helpers.modeling.recipe import make_optimizer, one_hot

# Whole batches only (192 = 6 x 32): a smaller last batch would make TensorFlow trace the
# training step twice, which costs more than the training itself.
N_TRAIN, N_VAL, N_TEST = 192, 64, 64
BATCH = 32
STEPS = math.ceil(N_TRAIN / BATCH)  # 6 optimizer steps per epoch
LR = 0.01
CHECKSUM = "0123456789abcdef" * 4
CONFIG = {
    "model": {"kind": "tiny_cnn", "filters": [4], "dense_units": [8]},
    "training": {"epochs": 2, "batch_size": BATCH, "learning_rate": LR, "seed": 7},
}
HISTORY_COLUMNS = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                   "seconds"}
RUN_FILES = {"config.json", "model.keras", "architecture.json", "history.csv", "metrics.json",
             "val_proba.npy"}


def build():
    return build_cnn(filters=[4], convs_per_block=1, dense_units=[8],
                     normalization={"mean": 128.0, "std": 64.0}, name="tiny")


def cosine_lr(step, total, lr=LR, alpha=0.01):
    """keras CosineDecay without warm-up, as make_optimizer configures it by default."""
    step = min(step, total)
    return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * step / total)) + alpha)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(N_TRAIN + N_VAL + N_TEST, 48, 48, 1)).astype(np.float32)
    y = rng.integers(0, 7, size=N_TRAIN + N_VAL)
    return {"x_train": x[:N_TRAIN], "y_train": y[:N_TRAIN],
            "x_val": x[N_TRAIN:N_TRAIN + N_VAL], "y_val": y[N_TRAIN:],
            "x_test": x[N_TRAIN + N_VAL:]}


def training_data(data, checksum=CHECKSUM, with_test=True, test_digest=None):
    return TrainingData(data["x_train"], data["y_train"], data["x_val"], data["y_val"], checksum,
                        data["x_test"] if with_test else None, test_digest)


def fit(models_dir, data, config=CONFIG, checksum=CHECKSUM, with_test=True, test_digest=None,
        **kwargs):
    return fit_or_load("run", build, config, training_data(data, checksum, with_test, test_digest),
                       models_dir, verbose=0, **kwargs)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data):
    """One finished 2-epoch run (trained once for the module; tests that change it copy it)."""
    models_dir = tmp_path_factory.mktemp("models")
    run = fit(models_dir, data)
    return run, models_dir


@pytest.fixture
def copied(finished, tmp_path):
    """A private copy of the finished run's models folder."""
    _, models_dir = finished
    shutil.copytree(models_dir, tmp_path / "models")
    return tmp_path / "models"


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if anything calls Model.fit."""
    def fit(*args, **kwargs):
        raise AssertionError("Model.fit was called")

    monkeypatch.setattr(keras.Model, "fit", fit)


@pytest.fixture
def fit_calls(monkeypatch):
    """The epochs trained from now on (0-based, one entry per epoch; the engine calls Model.fit
    once per epoch)."""
    calls = []
    original = keras.Model.fit

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("initial_epoch", 0))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    return calls


def interrupt_after(monkeypatch, epochs_done: int):
    """Raise KeyboardInterrupt right after the checkpoint of epoch `epochs_done` is complete."""
    original = modeling_engine.save_checkpoint

    def save_then_interrupt(run_dir, model, done, *args, **kwargs):
        original(run_dir, model, done, *args, **kwargs)
        if done == epochs_done:
            raise KeyboardInterrupt

    monkeypatch.setattr(modeling_engine, "save_checkpoint", save_then_interrupt)


# --------------------------------------------------------------------------- a finished run


def test_fit_writes_the_run_folder(finished):
    run, models_dir = finished
    run_dir = models_dir / "run"
    assert run.reused is False
    assert run.name == "run" and run.run_dir == run_dir
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES | {"test_proba.npy"}
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved == {"name": "run", "fingerprint": store.fingerprint(CONFIG, CHECKSUM),
                     "data_checksum": CHECKSUM, "config": CONFIG}
    assert run.config == CONFIG


def test_history_has_one_row_per_epoch(finished):
    run, _ = finished
    history = pd.read_csv(run.run_dir / "history.csv")
    assert HISTORY_COLUMNS <= set(history.columns)
    assert history["epoch"].tolist() == [0, 1]
    assert (history["seconds"] > 0).all()
    assert history[["loss", "val_loss"]].gt(0).all().all()
    assert history[["accuracy", "val_accuracy"]].apply(lambda c: c.between(0, 1)).all().all()
    # learning rate logged at each epoch's end: the cosine schedule after 6 and 12 steps
    np.testing.assert_allclose(history["learning_rate"],
                               [cosine_lr(STEPS, 2 * STEPS), cosine_lr(2 * STEPS, 2 * STEPS)],
                               rtol=1e-5)
    assert run.history["epoch"].tolist() == [1, 2]  # read_history numbers epochs from 1


def test_metrics_match_the_saved_predictions(finished, data):
    run, _ = finished
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    assert metrics == run.metrics
    val_proba = np.load(run.run_dir / "val_proba.npy")
    assert val_proba.shape == (N_VAL, 7)
    np.testing.assert_allclose(val_proba.astype(np.float32).sum(axis=1), 1.0, atol=1e-2)
    assert metrics["val_accuracy"] == float(np.mean(val_proba.argmax(1) == data["y_val"]))
    assert metrics["epochs_run"] == 2
    assert metrics["params"] == count_params(build())
    assert metrics["fingerprint"] == store.fingerprint(CONFIG, CHECKSUM)
    assert metrics["data_checksum"] == CHECKSUM
    assert (metrics["train_rows"], metrics["val_rows"]) == (N_TRAIN, N_VAL)
    assert metrics["tta_flip"] is False
    assert metrics["val_accuracy_no_tta"] == metrics["val_accuracy"]
    history = pd.read_csv(run.run_dir / "history.csv")
    assert metrics["best_epoch"] == int(history["val_accuracy"].idxmax()) + 1
    assert metrics["final_val_accuracy"] == pytest.approx(history["val_accuracy"].iloc[-1])


def test_saved_model_reproduces_the_saved_predictions(finished, data):
    run, _ = finished
    model = keras.models.load_model(run.run_dir / "model.keras")
    np.testing.assert_allclose(predict_proba(model, data["x_val"]), run.val_proba, atol=2e-3)
    test_proba = np.load(run.run_dir / "test_proba.npy")
    assert test_proba.shape == (N_TEST, 7)
    np.testing.assert_allclose(predict_proba(model, data["x_test"]), test_proba, atol=2e-3)
    np.testing.assert_array_equal(run.test_proba, test_proba.astype(np.float32))


def test_saved_weights_are_exact_in_float16(finished):
    """Shipping the weights as float16 must not change the model the metrics came from."""
    run, models_dir = finished
    saved = keras.models.load_model(models_dir / "run" / "model.keras")
    floats = [w for w in saved.get_weights() if w.dtype.kind == "f"]
    assert floats and any(np.any(w != 0) for w in floats)
    for weights in floats:
        np.testing.assert_array_equal(weights.astype(np.float16).astype(weights.dtype), weights)


def test_round_to_float16_rounds_only_float_weights():
    model = build()
    model.set_weights([np.full(w.shape, 0.1, w.dtype) if w.dtype.kind == "f" else w
                       for w in model.get_weights()])
    inference.round_to_float16(model)
    for weights in model.get_weights():
        if weights.dtype.kind == "f":
            assert weights.dtype == np.float32
            np.testing.assert_array_equal(weights, np.float32(np.float16(0.1)))


def test_nothing_but_the_run_is_left_after_success(finished):
    run, models_dir = finished
    assert {p.name for p in models_dir.iterdir()} == {"run"}  # no run.training / run.replaced
    assert not (run.run_dir / store.CHECKPOINTS).exists()


# --------------------------------------------------------------------------- reuse and retraining


def test_second_call_reuses_the_finished_run(finished, copied, data, no_training):
    run, _ = finished
    again = fit(copied, data)
    assert again.reused is True
    assert again.metrics == run.metrics
    assert again.run_dir == copied / "run"
    np.testing.assert_allclose(predict_proba(again.model, data["x_val"]), run.val_proba, atol=2e-3)


def test_reuse_ignores_the_key_order_of_the_config(copied, data, no_training):
    reordered = {"training": dict(reversed(list(CONFIG["training"].items()))),
                 "model": CONFIG["model"]}
    assert fit(copied, data, config=reordered).reused is True


def test_changed_config_retrains(copied, data, fit_calls):
    config = copy.deepcopy(CONFIG)
    config["training"].update(epochs=1, learning_rate=0.02, tta_flip=True)
    run = fit(copied, data, config=config)
    assert run.reused is False
    assert fit_calls == [0]
    assert run.config == config
    assert run.metrics["fingerprint"] == store.fingerprint(config, CHECKSUM)
    assert pd.read_csv(run.run_dir / "history.csv")["epoch"].tolist() == [0]  # old rows gone
    assert run.metrics["epochs_run"] == 1
    # tta_flip: the saved validation predictions average the image and its mirror image
    assert run.metrics["tta_flip"] is True
    np.testing.assert_allclose(run.val_proba,
                               predict_proba(run.model, data["x_val"], tta_flip=True), atol=2e-3)
    assert run.metrics["val_accuracy_no_tta"] == float(
        np.mean(predict_proba(run.model, data["x_val"]).argmax(1) == data["y_val"]))


def test_changed_data_checksum_retrains(copied, data, fit_calls):
    run = fit(copied, data, checksum="f" * 64, with_test=False)
    assert run.reused is False
    assert fit_calls == [0, 1]
    assert run.metrics["data_checksum"] == "f" * 64
    assert json.loads((run.run_dir / "config.json").read_text())["data_checksum"] == "f" * 64
    # the folder was replaced: no test predictions left from the previous run
    assert {p.name for p in run.run_dir.iterdir()} == RUN_FILES
    assert run.test_proba is None


def test_a_finished_run_survives_an_interrupted_replacement(finished, copied, data, monkeypatch):
    """Retraining for a changed config happens beside the finished run: interrupted, the old
    run is still there and still reused for its own config; finished, it replaces the old."""
    old, _ = finished
    config = copy.deepcopy(RESUME_CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        interrupt_after(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            fit(copied, data, config=config)
    assert store.load_finished(copied / "run", old.metrics["fingerprint"]) is not None
    assert store.run_status(copied / "run", store.fingerprint(config, CHECKSUM)) == ("resume", 1)
    run = fit(copied, data, config=config)
    assert run.metrics["epochs_run"] == 3 and run.config == config
    assert {p.name for p in copied.iterdir()} == {"run"}


@pytest.mark.parametrize("staged_finished", [True, False])
def test_a_swap_interrupted_between_its_renames_is_completed_or_undone(finished, copied, data,
                                                                        staged_finished):
    run_dir = copied / "run"
    staged, retired = store.staging_dir(run_dir), run_dir.with_name("run.replaced")
    shutil.copytree(run_dir, staged)
    if not staged_finished:
        (staged / "metrics.json").unlink()
    os.replace(run_dir, retired)  # killed after the first rename of the swap
    found = store.load_finished(run_dir)
    assert found is not None and found.metrics == finished[0].metrics
    assert not retired.exists()
    assert staged.exists() is (not staged_finished)


def test_retrain_true_retrains(retrained):
    run, fit_calls = retrained
    assert run.reused is False
    assert fit_calls == [0, 1]
    assert pd.read_csv(run.run_dir / "history.csv")["epoch"].tolist() == [0, 1]
    assert run.metrics["epochs_run"] == 2
    assert not store.staging_dir(run.run_dir).exists()


@pytest.fixture(scope="module")
def retrained(finished, tmp_path_factory, data):
    """retrain=True on a copy of the finished run: a second fresh training, same seed."""
    _, models_dir = finished
    copy_dir = tmp_path_factory.mktemp("retrained") / "models"
    shutil.copytree(models_dir, copy_dir)
    calls = []
    original = keras.Model.fit

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("initial_epoch", 0))
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "fit", spy)
        run = fit(copy_dir, data, retrain=True)
    return run, calls


def test_new_test_images_are_predicted_without_retraining(copied, data, no_training):
    """The run's identity is its training data: other test images only redo test_proba."""
    before = fit(copied, data, test_digest="t1").test_proba
    changed = {**data, "x_test": data["x_test"][::-1].copy()}
    again = fit(copied, changed, test_digest="t2")
    assert again.reused is True and again.metrics["test_digest"] == "t2"
    np.testing.assert_allclose(again.test_proba,
                               predict_proba(again.model, changed["x_test"]), atol=2e-3)
    assert not np.allclose(again.test_proba, before, atol=1e-3)


def test_a_run_shipped_without_weights_is_reused_for_its_predictions(copied, data, no_training):
    (copied / "run" / "model.keras").unlink()
    run = fit(copied, data)
    assert run.reused is True and run.val_proba.shape == (N_VAL, 7)
    with pytest.raises(FileNotFoundError, match="without its weights"):
        run.model


def test_a_damaged_model_file_is_one_line(copied, data):
    (copied / "run" / "model.keras").write_bytes(b"not a zip file")
    run = store.load_finished(copied / "run")
    with pytest.raises(ValueError, match=r"model.keras: cannot be loaded as a Keras model") as info:
        run.model
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- resuming


RESUME_CONFIG = copy.deepcopy(CONFIG)
RESUME_CONFIG["training"]["epochs"] = 3


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, data):
    """A 3-epoch run stopped by Ctrl-C right after epoch 2's checkpoint (index 1)."""
    models_dir = tmp_path_factory.mktemp("interrupted")
    with pytest.MonkeyPatch.context() as patch:
        interrupt_after(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            fit(models_dir, data, config=RESUME_CONFIG)
    return models_dir


def test_interruption_after_training_finishes_without_retraining(tmp_path, data, fit_calls):
    """Ctrl-C after the last epoch, while the final model is saved or evaluated: the next call
    evaluates the best weights instead of training again."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(modeling_engine, "_finish", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            fit(tmp_path, data)
    staged = store.staging_dir(tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (staged / "metrics.json").exists()
    saved = keras.models.load_model(staged / "model.keras").get_weights()
    assert fit_calls == [0, 1]
    assert store.run_status(tmp_path / "run", store.fingerprint(CONFIG, CHECKSUM))[0] == "finish"

    run = fit(tmp_path, data)

    assert fit_calls == [0, 1]  # no second training
    assert (tmp_path / "run" / "metrics.json").exists()
    assert run.metrics["epochs_run"] == CONFIG["training"]["epochs"]
    for before, after in zip(saved, run.model.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert {p.name for p in tmp_path.iterdir()} == {"run"}


def test_interrupted_run_leaves_complete_checkpoints_and_no_finished_run(interrupted):
    staged = store.staging_dir(interrupted / "run")
    assert not (interrupted / "run").exists()
    done, meta, folder = store.latest_checkpoint(staged)
    assert done == 2 and meta["epochs_done"] == 2 and folder.name == "epoch-0002"
    assert {p.name for p in folder.iterdir()} == {"weights.npz", "optimizer.npz", "best.npz",
                                                   "history.csv", "meta.json"}
    assert (staged / "config.json").exists()
    assert not (staged / "metrics.json").exists() and not (staged / "model.keras").exists()
    rows = store.read_history_rows(staged / "history.csv")
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert store.load_finished(interrupted / "run") is None


def test_resume_after_interruption(interrupted, tmp_path, data, fit_calls):
    shutil.copytree(interrupted, tmp_path / "models")
    staged = store.staging_dir(tmp_path / "models" / "run")
    before = store.read_history_rows(staged / "history.csv")

    run = fit(tmp_path / "models", data, config=RESUME_CONFIG)

    assert run.reused is False
    assert fit_calls == [2]  # only the remaining epoch was trained
    after = store.read_history_rows(run.run_dir / "history.csv")
    assert [row["epoch"] for row in after] == ["0", "1", "2"]
    assert after[:2] == before  # the epochs before the interruption are kept as they were
    # the optimizer's step count was restored: the schedule ends where a full run ends
    np.testing.assert_allclose([float(r["learning_rate"]) for r in after],
                               [cosine_lr(k * STEPS, 3 * STEPS) for k in (1, 2, 3)], rtol=1e-5)
    assert run.metrics["epochs_run"] == 3
    assert {p.name for p in (tmp_path / "models").iterdir()} == {"run"}
    assert {p.name for p in run.run_dir.iterdir()} == RUN_FILES | {"test_proba.npy"}


def test_a_checkpoint_half_written_when_killed_is_ignored(interrupted, tmp_path, data, fit_calls):
    """Killed while writing epoch 3's checkpoint: a partial folder, and one whose files are
    there but not its meta.json (written last). Both are ignored; training resumes at epoch 3."""
    shutil.copytree(interrupted, tmp_path / "models")
    folder = store.staging_dir(tmp_path / "models" / "run") / store.CHECKPOINTS
    shutil.copytree(folder / "epoch-0002", folder / ".epoch-0003.partial")
    shutil.copytree(folder / "epoch-0002", folder / "epoch-0003")
    (folder / "epoch-0003" / "meta.json").unlink()
    (folder / "epoch-0003" / "weights.npz").write_bytes(b"truncated")
    run = fit(tmp_path / "models", data, config=RESUME_CONFIG)
    assert fit_calls == [2] and run.metrics["epochs_run"] == 3


def test_unfinished_run_of_another_config_is_not_resumed(interrupted, tmp_path, data, fit_calls):
    shutil.copytree(interrupted, tmp_path / "models")
    config = copy.deepcopy(RESUME_CONFIG)
    config["training"]["epochs"] = 1
    run = fit(tmp_path / "models", data, config=config, with_test=False)
    assert fit_calls == [0]  # trained from scratch (a resumed run would start at epoch 2)
    assert run.metrics["epochs_run"] == 1
    assert {p.name for p in run.run_dir.iterdir()} == RUN_FILES


AUGMENTED = {"flip": True, "crop": 44}


def build_augmented():
    return build_cnn(filters=[4], convs_per_block=1, dense_units=[8], conv_dropout=0.3,
                     dense_dropout=0.3, normalization={"mean": 128.0, "std": 64.0},
                     augmentation=AUGMENTED, seed=3, name="tiny_augmented")


def fit_augmented(models_dir, data, name="run"):
    return fit_or_load(name, build_augmented, {**RESUME_CONFIG, "augmentation": AUGMENTED},
                       training_data(data, with_test=False), models_dir, verbose=0)


def test_an_interrupted_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, data,
                                                                         monkeypatch):
    """Augmentation, dropout and shuffling continue the random stream a run would have had:
    resumed after epoch 1, the run ends bit for bit where the uninterrupted run ends."""
    whole = fit_augmented(tmp_path / "a", data)
    with pytest.MonkeyPatch.context() as patch:
        interrupt_after(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            fit_augmented(tmp_path / "b", data)
    resumed = fit_augmented(tmp_path / "b", data)
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(whole.history.drop(columns="seconds"),
                                  resumed.history.drop(columns="seconds"))


def test_each_epoch_draws_fresh_seed_determined_randomness():
    model = build_augmented()
    x = np.random.default_rng(1).uniform(0, 255, (8, 48, 48, 1)).astype(np.float32)

    def draws(epoch):
        modeling_engine.reseed_for_epoch(model, 5, epoch)
        return keras.ops.convert_to_numpy(model(x, training=True))

    assert len(modeling_engine.seed_generators(model)) >= 4  # crop, flip and two dropouts
    first, second = draws(0), draws(1)
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(draws(0), first)
    order = modeling_engine.epoch_order(100, 5, 0)
    assert sorted(order) == list(range(100))
    assert not np.array_equal(order, modeling_engine.epoch_order(100, 5, 1))
    np.testing.assert_array_equal(order, modeling_engine.epoch_order(100, 5, 0))


def test_mixed_precision_is_trained_and_recorded(tmp_path, data):
    config = copy.deepcopy(CONFIG)
    config["training"].update(epochs=1, precision="mixed_bfloat16")
    run = fit(tmp_path, data, config=config)
    assert run.metrics["precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert run.val_proba.shape == (N_VAL, 7)


def test_progress_line_per_epoch_with_an_eta(tmp_path, data, capsys):
    fit_or_load("run", build, RESUME_CONFIG, training_data(data, with_test=False), tmp_path,
                verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("==> run: trains 3 epochs")
    assert lines[1].startswith("run: epoch 1/3") and "ETA" in lines[1]
    assert lines[3].startswith("run: epoch 3/3") and "ETA" not in lines[3]


def test_interactive_training_shows_progress_within_each_epoch(tmp_path, data, capsys):
    fit_or_load("run", build, CONFIG, training_data(data, with_test=False), tmp_path, verbose="auto")
    out = capsys.readouterr().out
    assert "6/6" in out  # Keras' bar: batches of the epoch
    assert "run: epoch 2/2" in out


# --------------------------------------------------------------------------- seeding


def test_same_seed_gives_the_same_training(finished, retrained):
    """With TensorFlow's op determinism on (seed_everything) a CPU run is exactly repeatable:
    the retrained copy (a fresh model in another folder) repeats the first run bit for bit."""
    run, _ = finished
    again, _ = retrained
    assert again.run_dir != run.run_dir
    first = pd.read_csv(run.run_dir / "history.csv")
    second = pd.read_csv(again.run_dir / "history.csv")
    columns = ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
    np.testing.assert_array_equal(second[columns].to_numpy(), first[columns].to_numpy())
    np.testing.assert_array_equal(again.val_proba, run.val_proba)
    assert again.metrics["val_accuracy"] == run.metrics["val_accuracy"]


@pytest.fixture(scope="module")
def flat_model():
    keras.utils.set_random_seed(3)
    return build_dnn([], normalization={"mean": 128.0, "std": 64.0})


def test_predict_proba_without_tta_is_predict(flat_model, data):
    x = data["x_val"][:10]
    np.testing.assert_allclose(predict_proba(flat_model, x), flat_model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-7)


def test_predict_proba_tta_averages_the_mirror_image(flat_model, data):
    x = data["x_val"][:10]
    plain = flat_model.predict(x, verbose=0)
    mirrored = flat_model.predict(x[:, :, ::-1], verbose=0)
    assert not np.allclose(plain, mirrored, atol=1e-4)
    tta = predict_proba(flat_model, x, tta_flip=True)
    np.testing.assert_allclose(tta, (plain + mirrored) / 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tta.sum(axis=1), 1.0, atol=1e-5)
    # a mirror-symmetric face gets the same answer with and without tta
    symmetric = (x + x[:, :, ::-1]) / 2
    np.testing.assert_allclose(predict_proba(flat_model, symmetric, tta_flip=True),
                               flat_model.predict(symmetric, verbose=0), rtol=1e-5, atol=1e-7)


def schedule_at(optimizer, step):
    optimizer.iterations.assign(step)
    return float(optimizer.learning_rate)


def test_make_optimizer_sgd_with_warmup_and_cosine_decay():
    opt = make_optimizer({"epochs": 5, "learning_rate": 0.1, "warmup_epochs": 1,
                          "final_lr_fraction": 0.05}, steps_per_epoch=10)
    assert type(opt) is keras.optimizers.SGD
    assert opt.nesterov is True and opt.momentum == pytest.approx(0.9)
    assert opt.weight_decay is None
    assert schedule_at(opt, 0) == pytest.approx(0.01)  # warm-up starts at lr / 10
    assert schedule_at(opt, 10) == pytest.approx(0.1)  # ... and reaches lr after one epoch
    assert schedule_at(opt, 30) == pytest.approx(0.1 * (0.05 + 0.95 * 0.5))  # half way down
    assert schedule_at(opt, 50) == pytest.approx(0.1 * 0.05)  # ends at final_lr_fraction


def test_make_optimizer_weight_decay_and_constant_schedule():
    opt = make_optimizer({"epochs": 3, "learning_rate": 0.05, "schedule": "constant",
                          "weight_decay": 5e-4}, steps_per_epoch=4)
    assert type(opt) is keras.optimizers.SGD
    assert opt.weight_decay == pytest.approx(5e-4)
    assert schedule_at(opt, 0) == pytest.approx(0.05)
    assert schedule_at(opt, 12) == pytest.approx(0.05)


def test_make_optimizer_adamw_and_adam():
    adamw = make_optimizer({"epochs": 2, "learning_rate": 1e-3, "optimizer": "adamw"}, 5)
    assert type(adamw) is keras.optimizers.AdamW
    assert adamw.weight_decay == pytest.approx(0.004)  # the default decay
    adamw = make_optimizer({"epochs": 2, "learning_rate": 1e-3, "optimizer": "adamw",
                            "weight_decay": 0.01}, 5)
    assert adamw.weight_decay == pytest.approx(0.01)
    adam = make_optimizer({"epochs": 2, "learning_rate": 1e-3, "optimizer": "adam"}, 5)
    assert type(adam) is keras.optimizers.Adam
    assert schedule_at(adam, 0) == pytest.approx(1e-3)


@pytest.mark.parametrize("name", ["rmsprop", "SGD", ""])
def test_make_optimizer_rejects_unknown_optimizers(name):
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer({"epochs": 2, "learning_rate": 0.1, "optimizer": name}, 5)


def test_one_hot():
    encoded = one_hot(np.array([0, 6, 3, 3]))
    assert encoded.dtype == np.float32 and encoded.shape == (4, 7)
    np.testing.assert_array_equal(encoded.argmax(axis=1), [0, 6, 3, 3])
    np.testing.assert_array_equal(encoded.sum(axis=1), 1.0)
    np.testing.assert_array_equal(one_hot([2])[0], [0, 0, 1, 0, 0, 0, 0])


def test_fingerprint_depends_on_config_and_data():
    fp = store.fingerprint(CONFIG, CHECKSUM)
    assert len(fp) == 16
    assert store.fingerprint(json.loads(json.dumps(CONFIG)), CHECKSUM) == fp
    assert store.fingerprint(CONFIG, CHECKSUM[::-1]) != fp
    changed = copy.deepcopy(CONFIG)
    changed["training"]["seed"] = 8
    assert store.fingerprint(changed, CHECKSUM) != fp


def test_crop_views_are_the_corner_and_centre_crops():
    x = np.arange(2 * 48 * 48, dtype=np.float32).reshape(2, 48, 48, 1)
    views = inference.crop_views(x, 4)
    center = [v[:, 2:46, 2:46] for v in views]  # what a model with a 44 px crop sees
    expected = [x[:, 2:46, 2:46], x[:, 0:44, 0:44], x[:, 0:44, 4:48], x[:, 4:48, 0:44],
                x[:, 4:48, 4:48]]
    for seen, wanted in zip(center, expected):
        np.testing.assert_array_equal(seen, wanted)
    assert inference.crop_views(x, 0) == [x]


def test_ten_crop_tta_averages_ten_views():
    model = build_cnn(filters=[4], convs_per_block=1, dense_units=[8],
                      normalization={"mean": 128.0, "std": 64.0}, augmentation={"crop": 44})
    assert inference.crop_margin(model) == 4 and inference.crop_margin(build()) == 0
    x = np.random.default_rng(2).uniform(0, 255, (5, 48, 48, 1)).astype(np.float32)
    views = inference.crop_views(x, 4)
    views += [v[:, :, ::-1] for v in views]
    expected = np.mean([model.predict(v, verbose=0) for v in views], axis=0)
    np.testing.assert_allclose(predict_proba(model, x, tta_flip=True, tta_crops=True), expected,
                               rtol=1e-5, atol=1e-7)
    assert not np.allclose(predict_proba(model, x, tta_crops=True), predict_proba(model, x),
                           atol=1e-4)


@pytest.mark.parametrize("training_settings, rows, epochs", [
    ({"epochs": 3, "batch_size": 32}, 192, 3),
    ({"epochs": 3, "steps": 12, "batch_size": 32}, 192, 2),     # 6 steps per epoch
    ({"epochs": 3, "steps": 12, "batch_size": 32}, 384, 1),     # twice the rows: half the epochs
    ({"epochs": 3, "steps": 12, "batch_size": 32}, 2000, 1),    # at least one epoch
    ({"epochs": 3, "steps": 100, "batch_size": 64}, 1000, 6),   # 16 steps per epoch: 6.25
])
def test_a_budget_in_steps_becomes_whole_epochs(training_settings, rows, epochs):
    assert recipe.epochs_for(training_settings, rows) == epochs


def test_a_run_budgeted_in_steps_trains_that_many_epochs(tmp_path, data, fit_calls):
    config = copy.deepcopy(CONFIG)
    config["training"].update(epochs=5, steps=12)
    run = fit(tmp_path, data, config=config, with_test=False)
    assert fit_calls == [0, 1] and run.metrics["epochs_run"] == 2
    assert run.metrics["train_images"] == 2 * N_TRAIN


def test_cpu_model_names_the_cpu_and_its_training_features(monkeypatch):
    from pathlib import Path

    cpuinfo = "processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fpu avx512_bf16 amx_tile sse\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: cpuinfo)
    assert store.cpu_model() == "Intel Xeon (AVX-512-BF16, AMX)"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "model name : Old CPU\nflags : sse\n")
    assert store.cpu_model() == "Old CPU"


def test_the_saved_model_has_no_optimizer_state(finished):
    import zipfile

    run, _ = finished
    loaded = keras.models.load_model(run.run_dir / "model.keras")
    assert not loaded.compiled  # only the weights that predict
    with zipfile.ZipFile(run.run_dir / "model.keras") as z:
        size = z.getinfo("model.weights.h5").file_size
    assert size < 4 * count_params(build())["total"] + 60_000  # float32 weights + h5 overhead


def test_a_run_shipped_with_float16_weights_predicts_exactly_as_trained(copied, data):
    run = store.load_finished(copied / "run")
    before = predict_proba(run.model, data["x_val"])
    path = store.ship_weights(run)
    assert path.name == store.SHIPPED_WEIGHTS
    assert path.stat().st_size < 0.6 * (copied / "run" / "model.keras").stat().st_size
    (copied / "run" / "model.keras").unlink()  # what a clone of the repository has
    shipped = store.load_finished(copied / "run")
    np.testing.assert_array_equal(predict_proba(shipped.model, data["x_val"]), before)
    assert float(np.mean(shipped.val_proba.argmax(1) == data["y_val"])) == run.metrics["val_accuracy"]


def test_a_run_without_weights_still_has_its_architecture(copied):
    (copied / "run" / "model.keras").unlink()
    run = store.load_finished(copied / "run")
    assert [layer.name for layer in run.architecture.layers] == [layer.name for layer in build().layers]
    with pytest.raises(FileNotFoundError, match="without its weights"):
        run.model


def test_recipe_settings_at_their_defaults_keep_a_runs_fingerprint():
    from helpers.modeling.recipe import RECIPE_DEFAULTS, make_optimizer

    config = {"model": "cnn", "training": {"epochs": 2, "batch_size": 8, "learning_rate": 0.01}}
    before = store.fingerprint(config, "data")
    with_defaults = {**config, "training": {**config["training"], **RECIPE_DEFAULTS}}
    assert store.fingerprint(with_defaults, "data") == before
    changed = {**config, "training": {**config["training"], "momentum": 0.95}}
    assert store.fingerprint(changed, "data") != before
    optimizer = make_optimizer(changed["training"], steps_per_epoch=3)
    assert float(optimizer.momentum) == pytest.approx(0.95) and optimizer.nesterov
    plain = make_optimizer({**changed["training"], "nesterov": False}, steps_per_epoch=3)
    assert not plain.nesterov


def test_the_profiles_write_the_recipe_settings_at_their_defaults():
    from helpers.core.config import load_profile
    from helpers.modeling.recipe import RECIPE_DEFAULTS

    for profile in ("full", "smoke"):
        training = load_profile(profile)["training"]
        assert {k: training[k] for k in RECIPE_DEFAULTS} == RECIPE_DEFAULTS


# --------------------------------------------------------------------------- float32 inference


def mixed_model():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(3)
        return build()
    finally:
        keras.config.set_dtype_policy(previous)


def test_inference_runs_on_a_float32_copy_of_a_mixed_precision_model(data):
    model = mixed_model()
    assert not inference.is_float32(model)
    copy32 = inference.float32_copy(model)
    assert inference.is_float32(copy32) and inference.float32_copy(copy32) is copy32
    assert [layer.name for layer in copy32.layers] == [layer.name for layer in model.layers]
    for a, b in zip(copy32.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the same weights on the architecture built in float32 give the same probabilities
    reference = build()
    reference.set_weights(model.get_weights())
    x = data["x_val"][:16]
    expected = reference.predict(x, verbose=0)
    np.testing.assert_allclose(predict_proba(model, x), expected, rtol=1e-5, atol=1e-6)
    bfloat16 = model.predict(x, verbose=0).astype(np.float32)
    assert not np.allclose(bfloat16, expected, rtol=1e-5, atol=1e-6)  # what it replaces
    # new weights: a new copy
    model.set_weights([w * 0.5 for w in model.get_weights()])
    np.testing.assert_array_equal(inference.float32_copy(model).get_weights()[0],
                                  model.get_weights()[0])


def test_a_float64_copy_computes_the_same_model_in_float64(data):
    model = mixed_model()
    copy64 = inference.float64_copy(model)
    assert inference.computes_in(copy64, "float64") and not inference.is_float32(copy64)
    assert inference.float64_copy(model) is copy64 and inference.float64_copy(copy64) is copy64
    assert [layer.name for layer in copy64.layers] == [layer.name for layer in model.layers]
    for a, b in zip(copy64.get_weights(), model.get_weights()):
        assert a.dtype == (np.float64 if b.dtype.kind == "f" else b.dtype)
        np.testing.assert_array_equal(a, b)
    x = data["x_val"][:16]
    np.testing.assert_allclose(copy64.predict(x.astype(np.float64), verbose=0),
                               predict_proba(model, x), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="float16"):
        inference.dtype_copy(model, "float16")


def test_a_reused_run_evaluated_in_bfloat16_is_evaluated_again_in_float32(finished, copied, data):
    metrics_path = copied / "run" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    assert metrics["inference"] == "float32"
    stale = {k: v for k, v in metrics.items() if k != "inference"}
    stale["val_accuracy"] = -1.0
    metrics_path.write_text(json.dumps(stale))
    np.save(copied / "run" / "val_proba.npy", np.zeros((N_VAL, 7), np.float16))
    run = fit(copied, data)
    assert run.reused is True
    assert run.metrics["inference"] == "float32"
    assert json.loads(metrics_path.read_text())["val_accuracy"] == run.metrics["val_accuracy"] >= 0
    np.testing.assert_allclose(run.val_proba, predict_proba(run.model, data["x_val"]), atol=2e-3)
    assert inference.is_float32(run.model)


# --------------------------------------------------------------------------- never retrain by surprise


def test_a_run_with_weights_but_no_metrics_is_evaluated_not_retrained(finished, copied, data,
                                                                        no_training):
    (copied / "run" / "metrics.json").unlink()
    assert store.run_status(copied / "run", finished[0].metrics["fingerprint"])[0] == "evaluate"
    run = fit(copied, data)  # no_training: any fit() call fails the test
    assert run.reused is True and run.metrics["inference"] == "float32"
    assert run.metrics["epochs_run"] == finished[0].metrics["epochs_run"]
    assert run.metrics["val_accuracy"] == pytest.approx(finished[0].metrics["val_accuracy"], abs=0.02)


def test_a_shipped_run_for_other_settings_is_kept_without_retrain(finished, copied, data,
                                                                  no_training):
    (copied / "manifest.json").write_text(json.dumps({"runs": {"run": {}}}))
    changed = copy.deepcopy(CONFIG)
    changed["training"]["learning_rate"] = 0.05
    fp = store.fingerprint(changed, CHECKSUM)
    assert store.run_status(copied / "run", fp) == ("shipped", 0)
    before = (copied / "run" / "metrics.json").read_text()
    with pytest.raises(ValueError, match=r"run is the repository's trained run for other settings.*RETRAIN=1"):
        fit(copied, data, config=changed)
    assert (copied / "run" / "metrics.json").read_text() == before
    assert not (copied / "run.training").exists()


def test_one_process_trains_a_run_at_a_time(copied, data, no_training):
    import time

    from helpers.core.locks import Busy

    with lock_held_elsewhere(modeling_engine.lock_path(copied / "run")) as pid:
        with pytest.raises(Busy, match=rf"training of run 'run' is already running \(pid {pid}, since "):
            fit(copied, data)
    time.sleep(0.1)
    assert fit(copied, data).reused is True  # the lock died with its process


def test_checkpoints_are_written_under_a_name_of_their_own(tmp_path):
    model = build()
    model.compile(optimizer=make_optimizer(CONFIG["training"], STEPS), loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    stale = tmp_path / store.CHECKPOINTS / ".epoch-0001.partial"
    stale.mkdir(parents=True)
    (stale / "junk").write_text("left by a killed process")
    modeling_engine.save_checkpoint(tmp_path, model, 1, {"epochs_done": 1}, [], True)
    folder = tmp_path / store.CHECKPOINTS
    assert sorted(p.name for p in folder.iterdir()) == ["epoch-0001"]


def test_training_says_what_it_trains_why_how_long_and_how_to_stop_first(tmp_path, data, capsys):
    fit_or_load("run", build, CONFIG, training_data(data), tmp_path, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("==> run: trains 2 epochs of 192 images: no saved run matches these settings; ")
    assert "Kernel > Interrupt (Ctrl-C) stops it" in lines[0] and "resumes at the last finished epoch" in lines[0]
    assert lines[1].startswith("run: epoch 1/2")
    # the run just trained here gives the next estimate on this machine
    config = copy.deepcopy(CONFIG)
    config["training"]["epochs"] = 4
    line = modeling_engine.training_announcement("next", config, 192, None, tmp_path)
    assert "about" in line and "on this machine (measured" in line


def test_without_a_run_trained_here_the_estimate_waits_for_the_first_epoch(tmp_path):
    line = modeling_engine.training_announcement("x", CONFIG, 192, (1, {}, None), tmp_path)
    assert line.startswith("==> x: resumes at epoch 2/2") and "shown after the first epoch" in line


def test_retrain_resumes_an_interrupted_training_of_the_same_settings(tmp_path, data, fit_calls):
    """RETRAIN=1 replaces the finished run, but never throws away epochs of the same training."""
    with pytest.MonkeyPatch.context() as patch:
        interrupt_after(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            fit(tmp_path, data, config=RESUME_CONFIG)
    assert fit_calls == [0, 1]
    run = fit(tmp_path, data, config=RESUME_CONFIG, retrain=True)
    assert fit_calls == [0, 1, 2]  # only the last epoch
    assert run.metrics["epochs_run"] == 3


# --------------------------------------------------------------------------- weight averaging, mixup


def test_mixup_mixes_rows_and_labels_alike_and_repeats_per_epoch():
    x = np.random.default_rng(0).uniform(0, 255, (6, 2, 2, 1)).astype(np.float32)
    y = one_hot(np.arange(6) % 7)
    mx, my = recipe.mixup(x, y, 0.4, seed=3, epoch=5)
    assert mx.shape == x.shape and my.shape == y.shape
    np.testing.assert_allclose(my.sum(axis=1), 1.0, rtol=1e-6)
    # each mixed row is one combination of two rows, the same for the pixels and the labels
    for i in range(6):
        if np.allclose(mx[i], x[i]) and np.allclose(my[i], y[i]):
            continue  # mixed with itself (or a weight of 1)
        partners = [j for j in range(6) if j != i]
        fits = []
        for j in partners:
            w = (mx[i, 0, 0, 0] - x[j, 0, 0, 0]) / (x[i, 0, 0, 0] - x[j, 0, 0, 0])
            if np.allclose(mx[i], w * x[i] + (1 - w) * x[j], atol=1e-4):
                fits.append(np.allclose(my[i], w * y[i] + (1 - w) * y[j], atol=1e-5))
        assert fits and all(fits)
    again_x, again_y = recipe.mixup(x, y, 0.4, seed=3, epoch=5)
    np.testing.assert_array_equal(mx, again_x)
    assert not np.array_equal(recipe.mixup(x, y, 0.4, seed=3, epoch=6)[0], mx)
    assert recipe.mixup(x, y, 0.0, 3, 5)[0] is x


def test_a_run_with_weight_averaging_and_mixup_keeps_the_average_and_resumes_exactly(tmp_path, data):
    config = copy.deepcopy(RESUME_CONFIG)
    config["training"].update(ema=0.5, mixup=0.4)
    straight = fit_or_load("run", build, config, training_data(data), tmp_path / "a", verbose=0)
    history = straight.history
    assert {"val_accuracy_raw", "val_loss_raw"} <= set(history.columns)
    with pytest.MonkeyPatch.context() as patch:
        interrupt_after(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            fit_or_load("run", build, config, training_data(data), tmp_path / "b", verbose=0)
    resumed = fit_or_load("run", build, config, training_data(data), tmp_path / "b", verbose=0)
    for a, b in zip(straight.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the kept weights are the average, validated as such: the stored accuracy is theirs
    best = int(history["val_accuracy"].idxmax())
    assert straight.metrics["val_accuracy_no_tta"] == pytest.approx(history["val_accuracy"][best], abs=1e-6)


def test_weight_averaging_trains_on_the_raw_weights_and_keeps_the_average(tmp_path, data):
    """Keras copies the average into the model at the end of every fit(); the engine (one fit
    per epoch) must not train on from the average."""
    config = copy.deepcopy(RESUME_CONFIG)
    config["training"].update(ema=0.5)
    with pytest.MonkeyPatch.context() as patch:
        interrupt_after(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            fit_or_load("run", build, config, training_data(data), tmp_path, verbose=0)
    checkpoint = modeling_engine.latest_checkpoint(tmp_path / "run.training")[2]
    raw = store.load_arrays(checkpoint / "weights.npz")
    average = store.load_arrays(checkpoint / "best.npz")
    assert any(not np.allclose(a, b) for a, b in zip(raw, average))


def test_plan_statuses_that_train_nothing_include_a_stopped_run():
    from helpers.experiments.registry import NOT_TRAINED, PlannedRun

    assert "finish" in NOT_TRAINED
    assert not PlannedRun("run", "r", "cnn", 3000, "finish", 30, 60).trains


def test_a_reader_leaves_a_swap_in_progress_to_the_process_training_the_run(tmp_path):
    run_dir = tmp_path / "run"
    for folder in (store.retired_dir(run_dir), store.staging_dir(run_dir)):
        folder.mkdir()
        (folder / "metrics.json").write_text('{"fingerprint": "f"}')
    with lock_held_elsewhere(store.lock_path(run_dir)):
        assert store.load_finished(run_dir) is None  # mid-swap: the trainer completes it
        assert store.retired_dir(run_dir).exists() and store.staging_dir(run_dir).exists()
    assert store.load_finished(run_dir) is not None  # nobody training: the reader completes it
    assert not store.retired_dir(run_dir).exists() and not store.staging_dir(run_dir).exists()
