"""Training engine: seeded, resumable, checkpointed training with a results folder per run.

A run lives in its own folder::

    <models_dir>/<name>/
        config.json      what was trained (model + training config, data checksum)
        backup/          Keras BackupAndRestore state while a run is unfinished
        best.keras       best-on-validation checkpoint (kept while training)
        model.keras      the final model (best validation accuracy)
        history.csv      one row per epoch: losses, accuracies, learning rate, seconds
        metrics.json     written last: validation accuracy, parameters, timings, hardware
        val_proba.npy    class probabilities on the validation split
        test_proba.npy   class probabilities on the test images (when given)

`fit_or_load` reuses a finished run whose config and data checksum match, resumes an
unfinished one from its last completed epoch (after Ctrl-C, a killed process or a time-limited
GPU job), and otherwise trains from scratch.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from helpers.config import NUM_CLASSES
from helpers.results import atomic_path, write_json


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend; ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except (AttributeError, RuntimeError):
            pass  # older TensorFlow, or already configured for this process


def runtime_info() -> dict:
    """Backend, library versions and hardware, recorded with every run."""
    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "accelerator": "none",
    }
    backend = info["backend"]
    if backend == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            info["accelerator"] = ", ".join(g.name for g in gpus)
    elif backend == "jax":
        import jax

        info["jax"] = jax.__version__
        devices = [d for d in jax.devices() if d.platform != "cpu"]
        if devices:
            info["accelerator"] = ", ".join(getattr(d, "device_kind", str(d)) for d in devices)
    return info


def fingerprint(config: dict, data_checksum: str) -> str:
    text = json.dumps({"config": config, "data": data_checksum}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def make_optimizer(training: dict, steps_per_epoch: int):
    """SGD with Nesterov momentum or AdamW, with cosine decay after a linear warm-up."""
    epochs = training["epochs"]
    total = max(1, steps_per_epoch * epochs)
    warmup = min(steps_per_epoch * training.get("warmup_epochs", 0), total - 1)
    lr = training["learning_rate"]
    if training.get("schedule", "cosine") == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=lr / 10 if warmup else lr,
            decay_steps=total - warmup,
            warmup_target=lr if warmup else None,
            warmup_steps=warmup,
            alpha=training.get("final_lr_fraction", 0.01),
        )
    weight_decay = training.get("weight_decay", 0.0) or None
    name = training.get("optimizer", "sgd")
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=weight_decay or 0.004)
    if name == "adam":
        return keras.optimizers.Adam(lr)
    raise ValueError(f"unknown optimizer {name!r}: expected sgd, adamw or adam")


class HistoryLogger(keras.callbacks.Callback):
    """Writes history.csv after every epoch: metrics, learning rate and seconds per epoch.

    Unlike CSVLogger it rewrites the file, dropping rows at or after the epoch being logged, so
    a resumed run never duplicates epochs.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        rows = [r for r in read_history_rows(self.path) if int(r["epoch"]) < epoch]
        row = {"epoch": epoch}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["seconds"] = time.perf_counter() - self._start
        rows.append(row)
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            writer.writeheader()
            writer.writerows(rows)


def read_history_rows(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_history(run_dir: Path):
    """history.csv as a pandas DataFrame (epoch numbers from 1)."""
    import pandas as pd

    table = pd.read_csv(Path(run_dir) / "history.csv")
    table["epoch"] = table["epoch"] + 1
    return table


@dataclass
class Run:
    """A trained (or reused) model and what was recorded about it."""

    name: str
    run_dir: Path
    model: keras.Model
    metrics: dict
    reused: bool

    @property
    def config(self) -> dict:
        """The configuration the run was trained with (config.json)."""
        return json.loads((self.run_dir / "config.json").read_text())["config"]

    @property
    def history(self):
        return read_history(self.run_dir)

    @property
    def val_proba(self) -> np.ndarray:
        return np.load(self.run_dir / "val_proba.npy").astype(np.float32)

    @property
    def test_proba(self) -> np.ndarray | None:
        path = self.run_dir / "test_proba.npy"
        return np.load(path).astype(np.float32) if path.exists() else None


def predict_proba(model: keras.Model, x: np.ndarray, tta_flip: bool = False,
                  batch_size: int = 512) -> np.ndarray:
    """Class probabilities; with tta_flip, averaged with those of the mirrored images."""
    proba = model.predict(x, batch_size=batch_size, verbose=0)
    if tta_flip:
        proba = (proba + model.predict(x[:, :, ::-1], batch_size=batch_size, verbose=0)) / 2
    return proba


def round_to_float16(model: keras.Model) -> None:
    """Round the model's float weights to float16 precision (kept as float32), before it is
    evaluated: weights shipped as float16 then reproduce the recorded metrics exactly."""
    model.set_weights([w.astype(np.float16).astype(w.dtype) if w.dtype.kind == "f" else w
                       for w in model.get_weights()])


def load_finished(run_dir: Path, expected_fingerprint: str | None = None) -> Run | None:
    """The finished run in run_dir, or None if it is missing, unfinished or for another config."""
    run_dir = Path(run_dir)
    metrics_path, model_path = run_dir / "metrics.json", run_dir / "model.keras"
    if not (metrics_path.exists() and model_path.exists()):
        return None
    metrics = json.loads(metrics_path.read_text())
    if expected_fingerprint is not None and metrics.get("fingerprint") != expected_fingerprint:
        return None
    model = keras.models.load_model(model_path)
    return Run(run_dir.name, run_dir, model, metrics, reused=True)


def fit_or_load(name: str, build: Callable[[], keras.Model], config: dict, x_train, y_train,
                x_val, y_val, models_dir, data_checksum: str, x_test=None,
                retrain: bool = False, verbose="auto") -> Run:
    """Train `build()` as configured, or reuse / resume the run saved under models_dir/name.

    `config` must hold everything that defines the run (model and training settings); its
    "training" entry needs epochs, batch_size, learning_rate and optionally optimizer,
    schedule, warmup_epochs, weight_decay, label_smoothing, early_stopping_patience, seed,
    tta_flip. Inputs are float32 arrays (N, 48, 48, 1) of raw pixels, labels int 0..6.
    """
    run_dir = Path(models_dir) / name
    fp = fingerprint(config, data_checksum)
    if not retrain:
        finished = load_finished(run_dir, fp)
        if finished is not None:
            return finished
    saved = run_dir / "config.json"
    resumable = (not retrain and saved.exists()
                 and json.loads(saved.read_text()).get("fingerprint") == fp)
    if resumable and (run_dir / "model.keras").exists():
        # Training had finished but its evaluation was interrupted: evaluate the saved model.
        model = keras.models.load_model(run_dir / "model.keras")
        run = _finish(name, run_dir, model, fp, data_checksum, config, x_train, y_train, x_val,
                      y_val, x_test, 0.0)
        (run_dir / "best.keras").unlink(missing_ok=True)
        return run
    if not resumable and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(saved, {"name": name, "fingerprint": fp, "data_checksum": data_checksum,
                       "config": config})

    training = config["training"]
    seed_everything(training.get("seed", 42))
    model = build()
    steps = int(np.ceil(len(x_train) / training["batch_size"]))
    model.compile(
        optimizer=make_optimizer(training, steps),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=training.get("label_smoothing", 0.0)),
        metrics=["accuracy"],
    )
    history_rows = read_history_rows(run_dir / "history.csv")
    best_so_far = max((float(r["val_accuracy"]) for r in history_rows), default=None)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor="val_accuracy",
                                        mode="max", save_best_only=True,
                                        initial_value_threshold=best_so_far),
        HistoryLogger(run_dir / "history.csv"),
    ]
    if training.get("early_stopping_patience"):
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=training["early_stopping_patience"]))
    started = time.perf_counter()
    model.fit(
        x_train, one_hot(y_train), validation_data=(x_val, one_hot(y_val)),
        epochs=training["epochs"], batch_size=training["batch_size"], shuffle=True,
        callbacks=callbacks, verbose=verbose,
    )
    wall = time.perf_counter() - started

    best_path = run_dir / "best.keras"
    best = keras.models.load_model(best_path) if best_path.exists() else model
    round_to_float16(best)
    partial = run_dir / "model.partial.keras"
    best.save(partial)
    os.replace(partial, run_dir / "model.keras")  # never a half-written model.keras
    run = _finish(name, run_dir, best, fp, data_checksum, config, x_train, y_train, x_val, y_val,
                  x_test, wall)
    best_path.unlink(missing_ok=True)  # kept until metrics.json exists (see above)
    return run


def _finish(name, run_dir, model, fp, data_checksum, config, x_train, y_train, x_val, y_val,
            x_test, wall) -> Run:
    """Evaluate the final model, save predictions and write metrics.json (the 'done' marker)."""
    tta = config["training"].get("tta_flip", False)
    # Probabilities are stored as float16; the accuracy is computed from what is stored so
    # that a later notebook reading the file gets exactly the same predictions.
    plain = predict_proba(model, x_val)
    tta_proba = (plain + predict_proba(model, x_val[:, :, ::-1])) / 2 if tta else plain
    val_proba = tta_proba.astype(np.float16)
    np.save(run_dir / "val_proba.npy", val_proba)
    if x_test is not None and len(x_test):
        np.save(run_dir / "test_proba.npy", predict_proba(model, x_test, tta_flip=tta).astype(np.float16))
    history = read_history(run_dir)
    from helpers.models import count_params

    metrics = {
        "name": name,
        "fingerprint": fp,
        "data_checksum": data_checksum,
        "val_accuracy": float(np.mean(val_proba.argmax(1) == y_val)),
        "val_accuracy_no_tta": float(np.mean(plain.argmax(1) == y_val)),
        "tta_flip": tta,
        "train_rows": int(len(y_train)),
        "val_rows": int(len(y_val)),
        "params": count_params(model),
        "epochs_run": int(len(history)),
        "best_epoch": int(history.loc[history["val_accuracy"].idxmax(), "epoch"]),
        "seconds_per_epoch": float(history["seconds"].median()),
        "train_seconds_this_session": float(wall),
        "train_seconds_total": float(history["seconds"].sum()),
        "final_train_accuracy": float(history["accuracy"].iloc[-1]),
        "final_val_accuracy": float(history["val_accuracy"].iloc[-1]),
        "runtime": runtime_info(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    write_json(run_dir / "metrics.json", metrics)
    return Run(name, run_dir, model, metrics, reused=False)
