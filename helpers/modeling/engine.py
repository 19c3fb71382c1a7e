"""Training engine: seeded, resumable, checkpointed training of one run (see helpers.modeling.store for the run folders)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from helpers.core.locks import exclusive
from helpers.core.results import read_json, write_json
from helpers.core.words import duration
from helpers.modeling.backend import keras, native_stderr_silenced
from helpers.modeling.inference import crop_margin, predict_proba, round_to_float16
from helpers.modeling.recipe import (
    compile_model,
    epochs_for,
    mixup,
    one_hot,
    recipe_setting,
    seed_everything,
)
from helpers.modeling.store import (
    CHECKPOINTS,
    Run,
    cpu_model,
    fingerprint,
    has_weights,
    latest_checkpoint,
    load_arrays,
    load_finished,
    lock_path,
    read_history,
    read_history_rows,
    recover,
    run_status,
    runtime_info,
    save_arrays,
    save_model,
    save_npy,
    shipped_run_error,
    staging_dir,
    swap_in,
    write_history_rows,
)


def _averaged_weights(model: keras.Model) -> list[np.ndarray]:
    """The model's weights with the trainable ones replaced by the optimizer's moving average
    (the non-trainable ones, e.g. batch-norm statistics, as they are)."""
    optimizer = model.optimizer
    averages = {id(v): a for v, a in zip(optimizer._trainable_variables,
                                         optimizer._model_variables_moving_average)}
    return [keras.ops.convert_to_numpy(averages.get(id(v), v)) for v in model.weights]


def save_checkpoint(run_dir: Path, model: keras.Model, epochs_done: int, meta: dict,
                    rows: list[dict], improved: bool, best: list[np.ndarray] | None = None) -> None:
    """One complete checkpoint after an epoch; `best` replaces the model's weights as the
    epoch's candidate best weights (the moving average, when the recipe keeps one)."""
    folder = Path(run_dir) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"epoch-{epochs_done:04d}"
    for stale in folder.glob(".epoch-*.partial"):  # left by a killed process (we hold the run's lock)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".epoch-{epochs_done:04d}.", suffix=".partial", dir=folder))
    save_arrays(tmp / "weights.npz", model.get_weights())
    save_arrays(tmp / "optimizer.npz",
                 [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables])
    previous = latest_checkpoint(run_dir)
    if improved or previous is None:
        save_arrays(tmp / "best.npz", model.get_weights() if best is None else best)
    else:
        os.link(previous[2] / "best.npz", tmp / "best.npz")  # unchanged: no copy needed
    write_history_rows(tmp / "history.csv", rows)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")  # last: the 'complete' mark
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in sorted(folder.glob("epoch-[0-9]*"))[:-2]:
        shutil.rmtree(old)
    write_history_rows(Path(run_dir) / "history.csv", rows)  # a readable copy for the user


def restore_checkpoint(model: keras.Model, checkpoint: Path) -> None:
    model.set_weights(load_arrays(checkpoint / "weights.npz"))
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    values = load_arrays(checkpoint / "optimizer.npz")
    if len(values) != len(optimizer.variables):
        raise ValueError(f"{checkpoint}: optimizer state does not match the model; delete "
                         f"{checkpoint.parent.parent} to train the run from scratch")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def seed_generators(model: keras.Model) -> list:
    found = []
    for layer in model._flatten_layers(include_self=True):
        found.extend(getattr(layer, "_seed_generators", []))
    return found


def reseed_for_epoch(model: keras.Model, seed: int, epoch: int) -> None:
    for index, generator in enumerate(seed_generators(model)):
        state = generator.state
        dtype = keras.backend.standardize_dtype(state.dtype)
        value = np.array([(seed * 1009 + index) % 2**31, (epoch + 1) << 24], dtype=dtype)
        state.assign(value)


@dataclass
class TrainingData:
    """What a run trains on and is scored with: float32 arrays (N, 48, 48, 1) of raw pixels,
    int labels 0..6. `train_digest` identifies the training data (its decoded content, part of
    the run's fingerprint); `test_digest` the test images, whose predictions are redone when
    they change (x_test None or empty: no test predictions)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    train_digest: str
    x_test: np.ndarray | None = None
    test_digest: str | None = None


def fit_or_load(name: str, build: Callable[[], keras.Model], config: dict, data: TrainingData,
                models_dir, retrain: bool = False, verbose="auto") -> Run:
    """Train `build()` as configured on `data`, or reuse / resume the run saved under
    models_dir/name.

    `config` must hold everything that defines the run (model and training settings); its
    "training" entry needs epochs (or steps), batch_size, learning_rate and optionally optimizer,
    schedule, warmup_epochs, weight_decay, label_smoothing, early_stopping_patience, seed,
    tta_flip, precision ("float32" or "mixed_bfloat16").

    A run trains in models_dir/<name>.training/ and replaces models_dir/<name> only once it has
    finished, so an older finished run stays usable until then.
    """
    run_dir = Path(models_dir) / name
    fp = fingerprint(config, data.train_digest)
    with exclusive(lock_path(run_dir), f"the training of run {name!r}"):
        return _fit_or_load(name, build, config, data, run_dir, fp, retrain, verbose)


def _fit_or_load(name, build, config, data, run_dir: Path, fp: str, retrain: bool, verbose) -> Run:
    if not retrain:
        finished = load_finished(run_dir, fp, holding_lock=True)
        if finished is not None:
            return _refresh_predictions(finished, data)
        status, _ = run_status(run_dir, fp)
        if status == "evaluate":
            return _evaluate_unscored(name, run_dir, fp, config, data)
        if status == "shipped":
            raise shipped_run_error(run_dir)
    else:
        recover(run_dir)
    staged = staging_dir(run_dir)
    saved = read_json(staged / "config.json")
    # A retrain still resumes an interrupted training of the same settings: its remaining epochs
    # make the same run a fresh start would (the draws are per epoch), hours sooner.
    if saved.get("fingerprint") != fp:
        if staged.exists():
            shutil.rmtree(staged)
        staged.mkdir(parents=True)
        write_json(staged / "config.json", {"name": name, "fingerprint": fp,
                                            "data_checksum": data.train_digest, "config": config})
    if verbose:
        print(training_announcement(name, config, len(data.y_train), latest_checkpoint(staged),
                                    run_dir.parent), flush=True)
    model, wall = _train(name, build, config, staged, data, verbose)
    _finish(name, staged, model, fp, config, data, wall)
    swap_in(staged, run_dir)  # first: until then the checkpoints can still finish the run
    shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    return Run(name, run_dir, read_json(run_dir / "metrics.json"), reused=False, _model=model)


def measured_rate(models_dir: Path, config: dict) -> float | None:
    """Training images/s of finished runs of the same kind and precision on this CPU (their
    metrics.json), or None when none was trained here."""
    training = config.get("training", {})
    rates = []
    for metrics_path in Path(models_dir).glob("*/metrics.json"):
        metrics = read_json(metrics_path)
        runtime = metrics.get("runtime", {})
        if (runtime.get("processor") == cpu_model() and runtime.get("accelerator", "none") == "none"
                and metrics.get("precision", "float32") == training.get("precision", "float32")
                and read_json(metrics_path.parent / "config.json").get("config", {}).get("model")
                == config.get("model") and metrics.get("images_per_second")):
            rates.append(float(metrics["images_per_second"]))
    return float(np.median(rates)) if rates else None


def training_announcement(name: str, config: dict, rows: int, checkpoint, models_dir: Path) -> str:
    """The line printed before a run trains: which run, why, how long here, how to stop it."""
    epochs = epochs_for(config["training"], rows)
    done = checkpoint[0] if checkpoint else 0
    left = max(epochs - done, 0)
    what = (f"resumes at epoch {done + 1}/{epochs}" if done else
            f"trains {epochs} epoch{'s' * (epochs != 1)} of {rows:,} images")
    rate = measured_rate(models_dir, config)
    how_long = (f"about {duration(left * rows / rate)} on this machine (measured {rate:.0f} images/s)"
                if rate else "the time per epoch is shown after the first epoch")
    return (f"==> {name}: {what}: no saved run matches these settings; {how_long}. "
            "Kernel > Interrupt (Ctrl-C) stops it; running it again resumes at the last finished "
            f"epoch (kept in {name}.training/ beside the runs; delete that folder to start over).")


def _train(name, build, config, run_dir: Path, data: TrainingData, verbose):
    """Train epoch by epoch from the newest checkpoint; return (best model, seconds spent)."""
    x_train, y_train, x_val, y_val = data.x_train, data.y_train, data.x_val, data.y_val
    training = {**config["training"], "epochs": epochs_for(config["training"], len(x_train))}
    seed, epochs, batch = training.get("seed", 42), training["epochs"], training["batch_size"]
    precision = training.get("precision", "float32")
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        seed_everything(seed)
        model = build()
    finally:
        keras.config.set_dtype_policy(previous_policy)
    steps = int(np.ceil(len(x_train) / batch))
    compile_model(model, training, steps)
    if recipe_setting(training, "ema"):
        # Keras copies the moving average into the model at the end of every fit(); the engine
        # calls fit() once per epoch and must go on training the raw weights: the average is
        # read explicitly (_averaged_weights) and kept as the best weights.
        model.optimizer.finalize_variable_values = lambda variables: None
    checkpoint = latest_checkpoint(run_dir)
    rows: list[dict] = []
    meta = {"epochs_done": 0, "best_epoch": None, "best_val_accuracy": None, "stopped": False}
    if checkpoint is not None:
        restore_checkpoint(model, checkpoint[2])
        meta = checkpoint[1]
        rows = read_history_rows(checkpoint[2] / "history.csv")
    patience = training.get("early_stopping_patience")
    y_train_hot, y_val_hot = one_hot(y_train), one_hot(y_val)
    started, session_epochs = time.perf_counter(), []
    for epoch in range(meta["epochs_done"], epochs):
        if meta["stopped"]:
            break
        order = epoch_order(len(x_train), seed, epoch)
        reseed_for_epoch(model, seed, epoch)
        epoch_start = time.perf_counter()
        # TensorFlow's C++ layer logs a harmless tf.data graph warning ("NodeDef mentions
        # attribute use_unbounded_threadpool"); real failures still raise Python exceptions.
        x_epoch, y_epoch = mixup(x_train[order], y_train_hot[order],
                                 recipe_setting(training, "mixup"), seed, epoch)
        with native_stderr_silenced():
            history = model.fit(x_epoch, y_epoch, validation_data=(x_val, y_val_hot),
                                initial_epoch=epoch, epochs=epoch + 1, batch_size=batch,
                                shuffle=False, verbose=1 if verbose in ("auto", 1) else 0)
        del x_epoch, y_epoch
        logs = {k: float(v[-1]) for k, v in history.history.items()}
        averaged = None
        if recipe_setting(training, "ema"):
            # Validate the weights' moving average: it is what the run keeps and ships.
            raw, averaged = model.get_weights(), _averaged_weights(model)
            model.set_weights(averaged)
            logs["val_accuracy_raw"], logs["val_loss_raw"] = logs["val_accuracy"], logs["val_loss"]
            with native_stderr_silenced():
                values = model.evaluate(x_val, y_val_hot, batch_size=512, verbose=0, return_dict=True)
            logs["val_accuracy"], logs["val_loss"] = float(values["accuracy"]), float(values["loss"])
            model.set_weights(raw)
        seconds = time.perf_counter() - epoch_start
        session_epochs.append(seconds)
        row = {"epoch": epoch, **logs,
               "learning_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
               "seconds": seconds}
        rows = [r for r in rows if int(r["epoch"]) < epoch] + [row]
        improved = meta["best_val_accuracy"] is None or logs["val_accuracy"] > meta["best_val_accuracy"]
        if improved:
            meta["best_epoch"], meta["best_val_accuracy"] = epoch, logs["val_accuracy"]
        meta["epochs_done"] = epoch + 1
        meta["stopped"] = bool(patience and epoch - meta["best_epoch"] >= patience)
        save_checkpoint(run_dir, model, epoch + 1, meta, rows, improved, best=averaged)
        if verbose:
            remaining = (epochs - epoch - 1) * float(np.median(session_epochs))
            print(f"{name}: epoch {epoch + 1}/{epochs}  loss {logs['loss']:.3f}  "
                  f"accuracy {logs['accuracy']:.1%}  validation {logs['val_accuracy']:.1%} "
                  f"(best {meta['best_val_accuracy']:.1%})  {seconds:.0f} s"
                  + (f"  ETA {duration(remaining)}" if remaining and not meta["stopped"] else ""),
                  flush=True)
    wall = time.perf_counter() - started
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ValueError(f"{run_dir}: training ran no epoch (epochs={epochs})")
    model.set_weights(load_arrays(checkpoint[2] / "best.npz"))
    round_to_float16(model)
    save_model(model, run_dir / "model.keras")
    return model, wall


def _save_test_proba(run_dir: Path, model: keras.Model, x_test, training: dict) -> None:
    """test_proba.npy: float16 probabilities with the run's own test-time augmentation."""
    proba = predict_proba(model, x_test, training.get("tta_flip", False),
                          tta_crops=training.get("tta_crops", False))
    save_npy(run_dir / "test_proba.npy", proba.astype(np.float16))


def evaluate(run_dir: Path, model, training: dict, data: TrainingData) -> dict:
    """Predict the validation split (and the test images, when given) with the run's test-time
    augmentation on the model's float32 copy; save val_proba.npy (and test_proba.npy) and return
    the metrics computed from what was saved."""
    x_val, y_val, x_test = data.x_val, data.y_val, data.x_test
    tta, crops = training.get("tta_flip", False), training.get("tta_crops", False)
    # Probabilities are stored as float16; the accuracy is computed from what is stored so
    # that a later notebook reading the file gets exactly the same predictions.
    plain = predict_proba(model, x_val)
    val_proba = (predict_proba(model, x_val, tta, tta_crops=crops) if tta or crops
                 else plain).astype(np.float16)
    save_npy(run_dir / "val_proba.npy", val_proba)
    has_test = x_test is not None and len(x_test) > 0
    if has_test:
        _save_test_proba(run_dir, model, x_test, training)
    return {
        "test_digest": data.test_digest if has_test else None,
        "val_accuracy": float(np.mean(val_proba.argmax(1) == y_val)),
        "val_accuracy_no_tta": float(np.mean(plain.argmax(1) == y_val)),
        "tta_flip": tta,
        "tta_crops": bool(crops and crop_margin(model)),
        "val_rows": int(len(y_val)),
        "inference": INFERENCE,
        "evaluated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


INFERENCE = "float32"
"""How a run's stored probabilities were computed (metrics.json's "inference"); runs evaluated
before it was recorded predicted in their training precision and are evaluated again."""


def _finish(name, run_dir, model, fp, config, data: TrainingData, wall) -> None:
    """Evaluate the final model, save predictions and write metrics.json (the 'done' marker)."""
    training, train_rows = config["training"], len(data.y_train)
    evaluation = evaluate(run_dir, model, training, data)
    history = read_history(run_dir)
    from helpers.modeling.models import count_params

    metrics = {
        "name": name,
        "fingerprint": fp,
        "data_checksum": data.train_digest,
        **evaluation,
        "train_rows": int(train_rows),
        "params": count_params(model),
        "epochs_run": int(len(history)),
        "best_epoch": int(history.loc[history["val_accuracy"].idxmax(), "epoch"]),
        "seconds_per_epoch": float(history["seconds"].median()),
        "train_seconds_this_session": float(wall),
        "train_seconds_total": float(history["seconds"].sum()),
        "train_images": int(train_rows) * int(len(history)),
        "images_per_second": float(train_rows / history["seconds"].median()),
        "precision": training.get("precision", "float32"),
        "final_train_accuracy": float(history["accuracy"].iloc[-1]),
        "final_val_accuracy": float(history["val_accuracy"].iloc[-1]),
        "runtime": runtime_info(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    write_json(run_dir / "metrics.json", metrics)


def _evaluate_unscored(name, run_dir: Path, fp: str, config: dict, data: TrainingData) -> Run:
    """A trained run whose metrics.json is missing: evaluated from its weights and history."""
    model = Run(name, run_dir, {}, reused=True).model
    _finish(name, run_dir, model, fp, config, data, wall=0.0)
    return Run(name, run_dir, read_json(run_dir / "metrics.json"), reused=True, _model=model)


def _refresh_predictions(run: Run, data: TrainingData) -> Run:
    """A reused run evaluated before inference was float32 (see INFERENCE) predicts again on its
    float32 copy; then a run whose test predictions were made for other test images (or none)
    predicts the current ones. Its weights are unchanged; without weights, its stored
    predictions are all there is."""
    if run.metrics.get("inference") != INFERENCE and has_weights(run.run_dir):
        run.metrics.update(evaluate(run.run_dir, run.model, run.config["training"], data))
        write_json(run.run_dir / "metrics.json", run.metrics)
        return run
    return _refresh_test_proba(run, data.x_test, data.test_digest)


def _refresh_test_proba(run: Run, x_test, test_digest: str | None) -> Run:
    """A reused run whose test predictions were made for other test images (or none) predicts
    the current ones; its model and validation numbers are unchanged."""
    has_test = x_test is not None and len(x_test) > 0
    if not has_test or test_digest is None or run.metrics.get("test_digest") == test_digest:
        return run
    if not has_weights(run.run_dir):
        return run  # shipped without weights: its stored predictions are all there is
    _save_test_proba(run.run_dir, run.model, x_test, run.config["training"])
    run.metrics["test_digest"] = test_digest
    run.metrics["evaluated"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")  # no longer the shipped files
    write_json(run.run_dir / "metrics.json", run.metrics)
    return run
