"""Training engine: seeded, resumable, checkpointed training with a results folder per run.

A finished run lives in its own folder::

    <models_dir>/<name>/
        config.json      what was trained (model + training config, training-data identity)
        model.keras      the final model (best validation accuracy, float16-exact weights)
        history.csv      one row per epoch: losses, accuracies, learning rate, seconds
        metrics.json     written last: validation accuracy, parameters, timings, hardware
        val_proba.npy    class probabilities on the validation split
        test_proba.npy   class probabilities on the test images (when given)

A run trains in ``<name>.training/`` beside it, with one complete checkpoint per epoch under
``checkpoints/``, and replaces ``<name>`` only when it has finished: an older finished run stays
usable until its replacement exists. Every file is written under a temporary name and renamed,
so an interrupted process leaves each file complete or absent.

`fit_or_load` reuses a finished run whose config and training-data identity match, resumes an
unfinished one from its last completed epoch (after Ctrl-C, a killed process or a time-limited
GPU job) with the random draws an uninterrupted run would have made, and otherwise trains from
scratch.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from helpers.backend import keras, native_stderr_silenced
import numpy as np

from helpers.config import NUM_CLASSES
from helpers.plan import duration
from helpers.results import atomic_path, read_json, write_json


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend; ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except (AttributeError, RuntimeError):
            pass  # older TensorFlow, or already configured for this process


def cpu_model() -> str:
    """The CPU's model name with the features that matter for training speed, e.g.
    "AMD EPYC (AVX-512-BF16)"; the machine type where /proc/cpuinfo is missing."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines()
                      if line.startswith("flags")), []))
    features = [label for flag, label in (("avx512_bf16", "AVX-512-BF16"), ("amx_tile", "AMX"))
                if flag in flags]
    return f"{name} ({', '.join(features)})" if features else name


def runtime_info() -> dict:
    """Backend, library versions and hardware, recorded with every run."""
    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu_count": os.cpu_count(),
        "processor": cpu_model(),
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


def epochs_for(training: dict, rows: int | None) -> int:
    """The epochs a run trains: `epochs`, or for a budget in optimizer steps (`steps`, e.g.
    self-training, whose training set grows with its pseudo-labels) the whole epochs closest
    to that many steps over `rows` training rows."""
    steps = training.get("steps")
    if not steps:
        return int(training["epochs"])
    if not rows:
        raise ValueError("a budget in steps needs the number of training rows")
    return max(1, round(steps / math.ceil(rows / training["batch_size"])))


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


def read_history_rows(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_history_rows(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def read_history(run_dir: Path):
    """history.csv as a pandas DataFrame (epoch numbers from 1)."""
    import pandas as pd

    table = pd.read_csv(Path(run_dir) / "history.csv")
    table["epoch"] = table["epoch"] + 1
    return table


ARCHITECTURE = "architecture.json"
"""A finished run's layers (Keras JSON), written with it: enough to draw the architecture."""
SHIPPED_WEIGHTS = "weights.f16.npz"
"""A shipped run's weights as float16 (exact: final weights are rounded to float16)."""


@dataclass
class Run:
    """A trained (or reused) model and what was recorded about it.

    The model is loaded on first use: runs shipped without weights (only their predictions and
    metrics) still give their config, history and probabilities.
    """

    name: str
    run_dir: Path
    metrics: dict
    reused: bool
    _model: keras.Model | None = None

    @property
    def model(self) -> keras.Model:
        """The trained model: model.keras, or the shipped float16 weights (the same values:
        final weights are float16-exact) on the saved architecture."""
        if self._model is None:
            path = self.run_dir / "model.keras"
            if path.exists():
                self._model = _load_model(path)
            elif (self.run_dir / SHIPPED_WEIGHTS).exists():
                self._model = self.architecture
                weights = _load_arrays(self.run_dir / SHIPPED_WEIGHTS)
                self._model.set_weights([w.astype(np.float32) if w.dtype == np.float16 else w
                                         for w in weights])
            else:
                raise FileNotFoundError(
                    f"run {self.name!r} in {self.run_dir} was shipped without its weights "
                    "(model.keras): retrain it with RETRAIN=1 to use the model itself")
        return self._model

    @property
    def architecture(self) -> keras.Model:
        """The model's layers (for figures and tables): the trained model when its weights are
        here, otherwise the same architecture untrained, from architecture.json."""
        if self._model is not None or (self.run_dir / "model.keras").exists():
            return self.model
        path = self.run_dir / ARCHITECTURE
        if not path.exists():
            raise FileNotFoundError(f"run {self.name!r} in {self.run_dir} has neither model.keras "
                                    f"nor {ARCHITECTURE}")
        import helpers.models  # noqa: F401 - registers the project's custom layers

        return keras.models.model_from_json(path.read_text())

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


def _load_model(path: Path) -> keras.Model:
    import helpers.models  # noqa: F401 - registers the project's custom layers

    try:
        return keras.models.load_model(path)
    except Exception as exc:  # noqa: BLE001 - any damage: one line naming the file
        raise ValueError(f"{path}: cannot be loaded as a Keras model ({type(exc).__name__}); "
                         "delete the run folder to retrain it") from None


def crop_margin(model: keras.Model) -> int:
    """How many pixels the model's centre crop (a "crop" layer) removes per side pair; 0 if none."""
    try:
        layer = model.get_layer("crop")
    except ValueError:
        return 0
    return int(model.input.shape[1]) - int(layer.size)


def crop_views(x: np.ndarray, margin: int) -> list[np.ndarray]:
    """Five shifted copies of x whose centre crops are x's four corner crops and its centre
    crop (for a model that centre-crops `margin` pixels at inference): ten-crop testing with
    the mirror images. Pixels shifted in from the border are cropped away by the model."""
    if margin <= 0:
        return [x]
    half = margin // 2
    padded = np.pad(x, ((0, 0), (half, half), (half, half), (0, 0)), mode="edge")
    size = x.shape[1]
    offsets = [(half, half), (0, 0), (0, 2 * half), (2 * half, 0), (2 * half, 2 * half)]
    return [padded[:, dy:dy + size, dx:dx + size] for dy, dx in offsets]


def predict_proba(model: keras.Model, x: np.ndarray, tta_flip: bool = False,
                  batch_size: int = 512, tta_crops: bool = False) -> np.ndarray:
    """Class probabilities; with tta_flip, averaged with those of the mirrored images; with
    tta_crops (models with a crop layer), averaged over the centre and four corner crops."""
    if len(x) == 0:
        return np.zeros((0, NUM_CLASSES), np.float32)
    views = crop_views(x, crop_margin(model)) if tta_crops else [x]
    if tta_flip:
        views = views + [v[:, :, ::-1] for v in views]
    total = None
    for view in views:
        with native_stderr_silenced():  # TensorFlow's tf.data graph warning on large inputs
            proba = model.predict(view, batch_size=batch_size, verbose=0)
        total = proba if total is None else total + proba
    return total / len(views)


def round_to_float16(model: keras.Model) -> None:
    """Round the model's float weights to float16 precision (kept as float32), before it is
    evaluated: weights shipped as float16 then reproduce the recorded metrics exactly."""
    model.set_weights([w.astype(np.float16).astype(w.dtype) if w.dtype.kind == "f" else w
                       for w in model.get_weights()])


# --------------------------------------------------------------------------- run folders


def staging_dir(run_dir: Path) -> Path:
    """Where a run trains until it has finished: the finished run it replaces stays in place."""
    return run_dir.with_name(run_dir.name + ".training")


def _retired_dir(run_dir: Path) -> Path:
    return run_dir.with_name(run_dir.name + ".replaced")


def is_finished(run_dir: Path) -> bool:
    return (Path(run_dir) / "metrics.json").exists()


def recover(run_dir: Path) -> None:
    """Complete or undo a swap of a finished run that was interrupted between its two renames."""
    run_dir, retired = Path(run_dir), _retired_dir(Path(run_dir))
    if not retired.exists():
        return
    if not run_dir.exists():
        staged = staging_dir(run_dir)
        if is_finished(staged):
            os.replace(staged, run_dir)
        else:
            os.replace(retired, run_dir)
            return
    shutil.rmtree(retired)


def _swap_in(staged: Path, run_dir: Path) -> None:
    """Replace run_dir by the finished staged run; at every instant one of them is complete."""
    retired = _retired_dir(run_dir)
    if retired.exists():
        shutil.rmtree(retired)
    if run_dir.exists():
        os.replace(run_dir, retired)
    os.replace(staged, run_dir)
    if retired.exists():
        shutil.rmtree(retired)


def run_status(run_dir: Path, expected_fingerprint: str) -> tuple[str, int]:
    """("reuse" | "finish" | "resume" | "train", epochs already done) for a run's folder."""
    run_dir = Path(run_dir)
    metrics = read_json(run_dir / "metrics.json")
    if metrics.get("fingerprint") == expected_fingerprint:
        return "reuse", int(metrics.get("epochs_run", 0))
    staged = staging_dir(run_dir)
    if read_json(staged / "config.json").get("fingerprint") == expected_fingerprint:
        done = latest_checkpoint(staged)
        epochs = done[0] if done else 0
        config = read_json(staged / "config.json")["config"]
        total = epochs_for(config["training"], config.get("train_rows"))
        if done and (epochs >= total or done[1].get("stopped")):
            return "finish", epochs
        return ("resume", epochs) if epochs else ("train", 0)
    return "train", 0


def load_finished(run_dir: Path, expected_fingerprint: str | None = None) -> Run | None:
    """The finished run in run_dir, or None if it is missing, unfinished or for another config."""
    run_dir = Path(run_dir)
    recover(run_dir)
    metrics = read_json(run_dir / "metrics.json")
    if not metrics:
        return None
    if expected_fingerprint is not None and metrics.get("fingerprint") != expected_fingerprint:
        return None
    return Run(run_dir.name, run_dir, metrics, reused=True)


# --------------------------------------------------------------------------- checkpoints
#
# An unfinished run keeps one checkpoint folder per completed epoch under checkpoints/
# (the newest two are kept). Each is written under a temporary name and renamed when complete,
# so a killed process leaves either the previous checkpoint or the new one, never half of one.
# A checkpoint holds everything a resumed run needs to continue exactly where it was: weights,
# optimizer state (with its step count, so the schedule continues), the best weights so far,
# the history rows and which epoch was best.

CHECKPOINTS = "checkpoints"


def latest_checkpoint(run_dir: Path) -> tuple[int, dict, Path] | None:
    """(epochs done, its meta.json, its folder) of the newest complete checkpoint, or None."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return None
    done = sorted((int(p.name.split("-")[1]), p) for p in folder.glob("epoch-[0-9]*")
                  if (p / "meta.json").exists())
    if not done:
        return None
    epochs, path = done[-1]
    return epochs, json.loads((path / "meta.json").read_text()), path


def _save_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    np.savez(path, *arrays)


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def save_checkpoint(run_dir: Path, model: keras.Model, epochs_done: int, meta: dict,
                    rows: list[dict], improved: bool) -> None:
    folder = Path(run_dir) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"epoch-{epochs_done:04d}"
    tmp = folder / f".epoch-{epochs_done:04d}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    _save_arrays(tmp / "weights.npz", model.get_weights())
    _save_arrays(tmp / "optimizer.npz",
                 [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables])
    previous = latest_checkpoint(run_dir)
    if improved or previous is None:
        _save_arrays(tmp / "best.npz", model.get_weights())
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
    model.set_weights(_load_arrays(checkpoint / "weights.npz"))
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    values = _load_arrays(checkpoint / "optimizer.npz")
    if len(values) != len(optimizer.variables):
        raise ValueError(f"{checkpoint}: optimizer state does not match the model; delete "
                         f"{checkpoint.parent.parent} to train the run from scratch")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)


# --------------------------------------------------------------------------- randomness
#
# Every epoch draws its own, seed-determined randomness: the order of the training rows and
# the states of the augmentation and dropout layers' generators are functions of (seed, epoch).
# A run resumed at epoch k therefore continues with the draws an uninterrupted run would make,
# instead of replaying epoch 1's.


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


# --------------------------------------------------------------------------- training


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
    if not retrain:
        finished = load_finished(run_dir, fp)
        if finished is not None:
            return _refresh_test_proba(finished, data.x_test, data.test_digest)
    else:
        recover(run_dir)
    staged = staging_dir(run_dir)
    saved = read_json(staged / "config.json")
    if retrain or saved.get("fingerprint") != fp:
        if staged.exists():
            shutil.rmtree(staged)
        staged.mkdir(parents=True)
        write_json(staged / "config.json", {"name": name, "fingerprint": fp,
                                            "data_checksum": data.train_digest, "config": config})
    model, wall = _train(name, build, config, staged, data, verbose)
    _finish(name, staged, model, fp, config, data, wall)
    shutil.rmtree(staged / CHECKPOINTS, ignore_errors=True)
    _swap_in(staged, run_dir)
    return Run(name, run_dir, read_json(run_dir / "metrics.json"), reused=False, _model=model)


def _compile(model: keras.Model, training: dict, steps: int) -> None:
    model.compile(
        optimizer=make_optimizer(training, steps),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=training.get("label_smoothing", 0.0)),
        metrics=["accuracy"],
    )


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
    _compile(model, training, steps)
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
        with native_stderr_silenced():
            history = model.fit(x_train[order], y_train_hot[order], validation_data=(x_val, y_val_hot),
                                initial_epoch=epoch, epochs=epoch + 1, batch_size=batch,
                                shuffle=False, verbose=0)
        seconds = time.perf_counter() - epoch_start
        session_epochs.append(seconds)
        logs = {k: float(v[-1]) for k, v in history.history.items()}
        row = {"epoch": epoch, **logs,
               "learning_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
               "seconds": seconds}
        rows = [r for r in rows if int(r["epoch"]) < epoch] + [row]
        improved = meta["best_val_accuracy"] is None or logs["val_accuracy"] > meta["best_val_accuracy"]
        if improved:
            meta["best_epoch"], meta["best_val_accuracy"] = epoch, logs["val_accuracy"]
        meta["epochs_done"] = epoch + 1
        meta["stopped"] = bool(patience and epoch - meta["best_epoch"] >= patience)
        save_checkpoint(run_dir, model, epoch + 1, meta, rows, improved)
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
    model.set_weights(_load_arrays(checkpoint[2] / "best.npz"))
    round_to_float16(model)
    save_model(model, run_dir / "model.keras")
    return model, wall


def save_model(model: keras.Model, path: Path) -> None:
    """Save the model without its optimizer state (half the size; a finished run is not
    trained further), atomically, and its architecture beside it (architecture.json)."""
    import helpers.models  # noqa: F401 - registers the project's custom layers

    bare = model.__class__.from_config(model.get_config())  # same layers, never compiled
    bare.set_weights(model.get_weights())
    with atomic_path(path, suffix=".keras") as tmp:
        bare.save(tmp)
    with atomic_path(Path(path).parent / ARCHITECTURE) as tmp:
        tmp.write_text(bare.to_json())


def ship_weights(run: Run) -> Path:
    """Write the run's weights as float16 (weights.f16.npz, compressed), the form committed to
    the repository; the model rebuilt from it predicts exactly as model.keras does."""
    weights = run.model.get_weights()
    for w in weights:
        if w.dtype.kind == "f" and not np.array_equal(w.astype(np.float16).astype(w.dtype), w):
            raise ValueError(f"{run.run_dir}: weights are not float16-exact; retrain the run")
    if not (run.run_dir / ARCHITECTURE).exists():
        with atomic_path(run.run_dir / ARCHITECTURE) as tmp:
            tmp.write_text(run.model.to_json())
    path = run.run_dir / SHIPPED_WEIGHTS
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, *[w.astype(np.float16) if w.dtype.kind == "f" else w
                                   for w in weights])
    return path


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def _save_test_proba(run_dir: Path, model: keras.Model, x_test, training: dict) -> None:
    """test_proba.npy: float16 probabilities with the run's own test-time augmentation."""
    proba = predict_proba(model, x_test, training.get("tta_flip", False),
                          tta_crops=training.get("tta_crops", False))
    _save_npy(run_dir / "test_proba.npy", proba.astype(np.float16))


def _finish(name, run_dir, model, fp, config, data: TrainingData, wall) -> None:
    """Evaluate the final model, save predictions and write metrics.json (the 'done' marker)."""
    x_val, y_val, x_test, train_rows = data.x_val, data.y_val, data.x_test, len(data.y_train)
    training = config["training"]
    tta, crops = training.get("tta_flip", False), training.get("tta_crops", False)
    # Probabilities are stored as float16; the accuracy is computed from what is stored so
    # that a later notebook reading the file gets exactly the same predictions.
    plain = predict_proba(model, x_val)
    val_proba = (predict_proba(model, x_val, tta, tta_crops=crops) if tta or crops
                 else plain).astype(np.float16)
    _save_npy(run_dir / "val_proba.npy", val_proba)
    has_test = x_test is not None and len(x_test) > 0
    if has_test:
        _save_test_proba(run_dir, model, x_test, training)
    history = read_history(run_dir)
    from helpers.models import count_params

    metrics = {
        "name": name,
        "fingerprint": fp,
        "data_checksum": data.train_digest,
        "test_digest": data.test_digest if has_test else None,
        "val_accuracy": float(np.mean(val_proba.argmax(1) == y_val)),
        "val_accuracy_no_tta": float(np.mean(plain.argmax(1) == y_val)),
        "tta_flip": tta,
        "tta_crops": bool(crops and crop_margin(model)),
        "train_rows": int(train_rows),
        "val_rows": int(len(y_val)),
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


def _refresh_test_proba(run: Run, x_test, test_digest: str | None) -> Run:
    """A reused run whose test predictions were made for other test images (or none) predicts
    the current ones; its model and validation numbers are unchanged."""
    has_test = x_test is not None and len(x_test) > 0
    if not has_test or test_digest is None or run.metrics.get("test_digest") == test_digest:
        return run
    if not (run.run_dir / "model.keras").exists():
        return run  # shipped without weights: its stored predictions are all there is
    _save_test_proba(run.run_dir, run.model, x_test, run.config["training"])
    run.metrics["test_digest"] = test_digest
    write_json(run.run_dir / "metrics.json", run.metrics)
    return run
