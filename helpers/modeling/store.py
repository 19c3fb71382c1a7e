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
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.core.config import LOCK_DIR, PROFILE_DIR, load_profile
from helpers.core.locks import Busy, exclusive
from helpers.core.results import atomic_path, read_json
from helpers.modeling.backend import keras
from helpers.modeling.inference import float32_copy
from helpers.modeling.recipe import epochs_for, without_defaults

DEFAULT_PROFILE = "full"
"""The profile a models folder belongs to unless it is another profile's models_dir
(build/smoke/models: the smoke profile)."""


def profile_for(models_dir: Path) -> str:
    """The profile whose models_dir is this folder (its ensemble_members, its `make train`
    arguments); the full profile otherwise."""
    target = Path(models_dir).resolve()
    for path in sorted(PROFILE_DIR.glob("*.yaml")):
        folder = load_profile(path.stem).get("models_dir")
        if folder and (PROFILE_DIR.parent / folder).resolve() == target:
            return path.stem
    return DEFAULT_PROFILE


def train_command(name: str, models_dir: Path) -> str:
    """The command that trains run `name` into models_dir."""
    profile = profile_for(models_dir)
    return f"make train RUNS={name}" + ("" if profile == DEFAULT_PROFILE else f" PROFILE={profile}")


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
    """A run's identity: its config (recipe settings at their defaults left out, see
    helpers.modeling.recipe.RECIPE_DEFAULTS) and its training data's digest."""
    if isinstance(config.get("training"), dict):
        config = {**config, "training": without_defaults(config["training"])}
    text = json.dumps({"config": config, "data": data_checksum}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
        """The trained model in float32 (whatever precision it trained in): model.keras, or the
        shipped float16 weights (the same values: final weights are float16-exact) on the saved
        architecture."""
        if self._model is None:
            path = self.run_dir / "model.keras"
            if path.exists():
                self._model = load_model_file(path)
            elif (self.run_dir / SHIPPED_WEIGHTS).exists():
                self._model = self.architecture
                weights = load_arrays(self.run_dir / SHIPPED_WEIGHTS)
                self._model.set_weights([w.astype(np.float32) if w.dtype == np.float16 else w
                                         for w in weights])
            else:
                raise FileNotFoundError(
                    f"run {self.name!r} in {self.run_dir} was shipped without its weights "
                    "(model.keras): retrain it with RETRAIN=1 to use the model itself")
        self._model = float32_copy(self._model)
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
        import helpers.modeling.models  # noqa: F401 - registers the project's custom layers

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


def load_model_file(path: Path) -> keras.Model:
    import helpers.modeling.models  # noqa: F401 - registers the project's custom layers

    try:
        return keras.models.load_model(path)
    except Exception as exc:  # noqa: BLE001 - any damage: one line naming the file
        raise ValueError(f"{path}: cannot be loaded as a Keras model ({type(exc).__name__}); "
                         "delete the run folder to retrain it") from None


def staging_dir(run_dir: Path) -> Path:
    """Where a run trains until it has finished: the finished run it replaces stays in place."""
    return run_dir.with_name(run_dir.name + ".training")


def retired_dir(run_dir: Path) -> Path:
    return run_dir.with_name(run_dir.name + ".replaced")


def is_finished(run_dir: Path) -> bool:
    return (Path(run_dir) / "metrics.json").exists()


def recover(run_dir: Path) -> None:
    """Complete or undo a swap of a finished run that was interrupted between its two renames."""
    run_dir, retired = Path(run_dir), retired_dir(Path(run_dir))
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


def swap_in(staged: Path, run_dir: Path) -> None:
    """Replace run_dir by the finished staged run; at every instant one of them is complete."""
    retired = retired_dir(run_dir)
    if retired.exists():
        shutil.rmtree(retired)
    if run_dir.exists():
        os.replace(run_dir, retired)
    os.replace(staged, run_dir)
    if retired.exists():
        shutil.rmtree(retired)


def has_weights(run_dir: Path) -> bool:
    return (Path(run_dir) / "model.keras").exists() or (Path(run_dir) / SHIPPED_WEIGHTS).exists()


class DamagedRun(ValueError):
    """A shipped run's file differs from what the repository shipped (one line, with the fix)."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_shipped(run_dir: Path) -> None:
    """DamagedRun when the run in run_dir is the one models/manifest.json ships (same "finished"
    time) but one of its shipped files is missing, truncated or edited (size and sha256); a run
    trained here since, or not shipped, is not checked."""
    run_dir = Path(run_dir)
    entry = read_json(run_dir.parent / "manifest.json").get("runs", {}).get(run_dir.name)
    if not entry or "sha256" not in entry:
        return
    metrics = read_json(run_dir / "metrics.json")
    if any(metrics.get(k) != entry.get(k) for k in ("finished", "evaluated")):
        return  # trained or evaluated here since it was shipped
    fix = f"restore the shipped run with `git checkout -- {run_dir}`"
    for name, expected in entry["sha256"].items():
        path = run_dir / name
        if not path.exists():
            raise DamagedRun(f"{path}: missing from the shipped run: {fix}")
        size = path.stat().st_size
        if size != entry["files"].get(name, size):
            raise DamagedRun(f"{path}: {size:,} bytes, the shipped file has {entry['files'][name]:,} "
                             f"(damaged or edited): {fix}")
        if file_sha256(path) != expected:
            raise DamagedRun(f"{path}: differs from the shipped file (sha256; damaged or edited): {fix}")


def is_shipped(run_dir: Path) -> bool:
    """Whether the run in run_dir is one the repository ships (listed in models/manifest.json)."""
    run_dir = Path(run_dir)
    return run_dir.name in read_json(run_dir.parent / "manifest.json").get("runs", {})


def is_unscored(run_dir: Path, expected_fingerprint: str) -> bool:
    """A trained run of these settings (its config.json and weights) whose metrics.json is
    missing: it is evaluated again, not retrained."""
    run_dir = Path(run_dir)
    return (not (run_dir / "metrics.json").exists() and has_weights(run_dir)
            and read_json(run_dir / "config.json").get("fingerprint") == expected_fingerprint)


def run_status(run_dir: Path, expected_fingerprint: str) -> tuple[str, int]:
    """("reuse" | "evaluate" | "finish" | "resume" | "train" | "shipped", epochs already done)
    for a run's folder. "shipped": the repository's run for other settings, which only a
    retrain replaces."""
    run_dir = Path(run_dir)
    metrics = read_json(run_dir / "metrics.json")
    if metrics.get("fingerprint") == expected_fingerprint:
        verify_shipped(run_dir)
        return "reuse", int(metrics.get("epochs_run", 0))
    if is_unscored(run_dir, expected_fingerprint):
        return "evaluate", len(read_history_rows(run_dir / "history.csv"))
    staged = staging_dir(run_dir)
    if read_json(staged / "config.json").get("fingerprint") == expected_fingerprint:
        done = latest_checkpoint(staged)
        epochs = done[0] if done else 0
        config = read_json(staged / "config.json")["config"]
        total = epochs_for(config["training"], config.get("train_rows"))
        if done and (epochs >= total or done[1].get("stopped")):
            return "finish", epochs
        return ("resume", epochs) if epochs else ("train", 0)
    if is_shipped(run_dir) and run_dir.exists():
        return "shipped", 0
    return "train", 0


def shipped_run_error(run_dir: Path) -> ValueError:
    """The one line for a shipped run that other settings would retrain."""
    return ValueError(f"{run_dir} is the repository's trained run for other settings: it is kept "
                      "(hours of training otherwise); to train these settings and replace it when "
                      "they have finished, run with RETRAIN=1 (make report RETRAIN=1, make train "
                      "RETRAIN=1, or retrain=True in the notebook)")


def lock_path(run_dir: Path) -> Path:
    """One process trains a run at a time: its lock file, under .locks/ (models/ holds runs
    only; build/ may be deleted by make clean while a run trains)."""
    where = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:12]
    return LOCK_DIR / f"{Path(run_dir).name}-{where}.lock"


def recover_if_idle(run_dir: Path) -> None:
    """recover() when no process is training the run: one that is may be between the two
    renames of its swap, which it completes itself."""
    if not retired_dir(Path(run_dir)).exists():
        return  # nothing to recover (the common case: no lock taken)
    try:
        with exclusive(lock_path(run_dir), f"the training of run {Path(run_dir).name!r}"):
            recover(run_dir)
    except Busy:
        pass


def load_finished(run_dir: Path, expected_fingerprint: str | None = None,
                  verify: bool = True, holding_lock: bool = False) -> Run | None:
    """The finished run in run_dir, or None if it is missing, unfinished or for another config;
    DamagedRun when it is a shipped run whose files were damaged or edited (unless not `verify`).
    `holding_lock`: the caller holds the run's lock (the training engine)."""
    run_dir = Path(run_dir)
    if holding_lock:
        recover(run_dir)
    else:
        recover_if_idle(run_dir)
    metrics = read_json(run_dir / "metrics.json")
    if not metrics:
        return None
    if expected_fingerprint is not None and metrics.get("fingerprint") != expected_fingerprint:
        return None
    if verify:
        verify_shipped(run_dir)
    return Run(run_dir.name, run_dir, metrics, reused=True)


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


def save_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    np.savez(path, *arrays)


def load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def save_model(model: keras.Model, path: Path) -> None:
    """Save the model without its optimizer state (half the size; a finished run is not
    trained further), atomically, and its architecture beside it (architecture.json)."""
    import helpers.modeling.models  # noqa: F401 - registers the project's custom layers

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


def save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)
