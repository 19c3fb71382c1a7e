"""The report's experiments as functions the notebooks call: load the split, train or reuse
the CNN and the DNN with the run's parameters, write the leaderboard submission."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.config import resolve
from helpers.data import Splits, load_splits
from helpers.models import build_cnn, build_dnn, dnn_width_for, input_pixels
from helpers.preprocess import pixel_stats, to_model_input
from helpers.training import Run, TrainingData, fit_or_load


@dataclass
class Inputs(Splits):
    """The shared split as model-ready float arrays (N, 48, 48, 1), with what produced them."""

    normalization: dict
    data_settings: dict

    def training_data(self, x_train=None, y_train=None, with_test: bool = True) -> TrainingData:
        """What the training engine needs: these rows (or `x_train`/`y_train` instead), the
        shared validation split, the test images unless `with_test` is False, and the digests."""
        return TrainingData(self.x_train if x_train is None else x_train,
                            self.y_train if y_train is None else y_train, self.x_val, self.y_val,
                            self.train_digest, self.x_test if with_test else None,
                            self.test_digest)


def load_inputs(data_dir, val_fraction: float, seed: int, max_train_rows=None,
                hist_eq: bool = False) -> Inputs:
    """Load the data, cut the shared split and turn it into model inputs."""
    splits: Splits = load_splits(resolve(data_dir), val_fraction, seed, max_train_rows)
    x_train = to_model_input(splits.x_train, hist_eq)
    settings = {"val_fraction": val_fraction, "seed": seed, "max_train_rows": max_train_rows,
                "hist_eq": hist_eq}
    return Inputs(
        x_train, splits.y_train, to_model_input(splits.x_val, hist_eq), splits.y_val,
        to_model_input(splits.x_test, hist_eq), splits.test_ids, splits.y_test,
        splits.checksum, splits.source_format, pixel_stats(x_train), settings,
        train_digest=splits.train_digest, test_digest=splits.test_digest,
    )


def train_cnn(name: str, inputs: Inputs, cnn: dict, training: dict, models_dir,
              augmentation: dict | None, normalize: bool = True, retrain: bool = False,
              verbose=2, x_train=None, y_train=None, with_test: bool = True) -> Run:
    """Train (or reuse) a CNN configured by the `cnn` and `training` parameter dicts.

    x_train/y_train replace the training rows (the semi-supervised experiments train on
    subsets and pseudo-labels); the validation split is always the shared one.
    """
    x_train = inputs.x_train if x_train is None else x_train
    y_train = inputs.y_train if y_train is None else y_train
    config = cnn_run_config(inputs, cnn, training, augmentation, normalize, x_train, y_train)
    normalization, seed = config["normalization"], training.get("seed", 42)
    return fit_or_load(
        name, lambda: build_cnn(**cnn, normalization=normalization, augmentation=augmentation,
                                seed=seed, name=name),
        config, inputs.training_data(x_train, y_train, with_test), resolve(models_dir),
        retrain=retrain, verbose=verbose,
    )


def cnn_run_config(inputs: Inputs, cnn: dict, training: dict, augmentation: dict | None,
                   normalize: bool = True, x_train=None, y_train=None) -> dict:
    """Everything that defines a CNN run (its fingerprint, with the training data's identity)."""
    x_train = inputs.x_train if x_train is None else x_train
    y_train = inputs.y_train if y_train is None else y_train
    return {
        "model": "cnn", "cnn": cnn, "training": training, "augmentation": augmentation,
        "normalization": inputs.normalization if normalize else None,
        "data": inputs.data_settings, "train_rows": int(len(y_train)),
        "train_labels_sha": labels_digest(x_train, y_train),
    }


def trained_like(run_dir, inputs, cnn: dict, training: dict, augmentation: dict | None) -> bool:
    """True when run_dir holds a finished CNN run with the fingerprint that
    ``helpers.experiments.train_cnn(..., inputs, cnn, training, ..., augmentation)`` would give
    a run now (same config and training data). Lets a notebook reuse a run saved under another
    name (e.g. the main CNN as ensemble member 0) without retraining it.
    """
    from helpers.results import read_json
    from helpers.training import fingerprint

    metrics = read_json(Path(run_dir) / "metrics.json")
    expected = fingerprint(cnn_run_config(inputs, cnn, training, augmentation), inputs.train_digest)
    return bool(metrics) and metrics.get("fingerprint") == expected


def dnn_run_config(inputs: Inputs, target_params: int, depth: int, dropout: float,
                   training: dict, augmentation: dict | None) -> dict:
    """Everything that defines the DNN run; its width is solved from `target_params`."""
    width = dnn_width_for(target_params, depth, input_pixels(augmentation))
    return {"model": "dnn", "width": width, "depth": depth,
            "dropout": dropout, "training": training, "augmentation": augmentation,
            "normalization": inputs.normalization, "data": inputs.data_settings}


def train_dnn(name: str, inputs: Inputs, target_params: int, depth: int, dropout: float,
              training: dict, models_dir, augmentation: dict | None, retrain: bool = False,
              verbose=2) -> Run:
    """Train (or reuse) the DNN whose parameter count matches `target_params`."""
    config = dnn_run_config(inputs, target_params, depth, dropout, training, augmentation)
    width, seed = config["width"], training.get("seed", 42)
    return fit_or_load(
        name, lambda: build_dnn([width] * depth, dropout, inputs.normalization, augmentation,
                                seed=seed, name=name),
        config, inputs.training_data(), resolve(models_dir), retrain=retrain, verbose=verbose,
    )


def labels_digest(x: np.ndarray, y: np.ndarray) -> str:
    """A short digest of which rows and labels a model is trained on (part of its identity)."""
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(x[:, ::7, ::7]).tobytes())
    return digest.hexdigest()[:16]


def training_table(run_config: dict, inputs: Inputs) -> "pd.DataFrame":
    """Every setting that defined a run, as a two-column table for the report."""
    import pandas as pd

    training, augmentation = run_config["training"], run_config.get("augmentation")
    normalization = run_config.get("normalization")
    rows = [
        ("training / validation images", f"{len(inputs.y_train):,} / {len(inputs.y_val):,} "
         f"(stratified {inputs.data_settings['val_fraction']:.0%} split, seed {inputs.data_settings['seed']})"),
        ("preprocessing", "histogram equalization" if inputs.data_settings["hist_eq"] else "none (raw pixels)"),
        ("normalization", f"standardize with training mean {normalization['mean']:.1f}, std {normalization['std']:.1f}"
         if normalization else "none (inputs 0..255)"),
        ("augmentation", ", ".join(f"{k} {v}" for k, v in augmentation.items() if v) if augmentation else "none"),
        ("optimizer", f"{training.get('optimizer', 'sgd')}" + (" (Nesterov momentum 0.9)" if training.get("optimizer", "sgd") == "sgd" else "")),
        ("learning rate", f"{training['learning_rate']:g}, {training.get('schedule', 'cosine')} schedule, "
         f"{training.get('warmup_epochs', 0)} warm-up epochs"),
        ("weight decay", f"{training.get('weight_decay', 0):g}"),
        ("label smoothing", f"{training.get('label_smoothing', 0):g}"),
        ("epochs / batch size", f"{training['epochs']} / {training['batch_size']}"),
        ("early stopping", f"patience {training['early_stopping_patience']}" if training.get("early_stopping_patience") else "no"),
        ("checkpoints", "best-on-validation weights kept; a complete checkpoint after every epoch (an interrupted run resumes where it stopped)"),
        ("test-time augmentation", tta_words(training)),
        ("precision", training.get("precision", "float32")
         + (" (float32 weights, bfloat16 arithmetic)" if training.get("precision") == "mixed_bfloat16" else "")),
        ("seed", str(training.get("seed", 42))),
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def tta_words(training: dict) -> str:
    """How a run's predictions average over test-time augmentation, in words."""
    crops, flip = training.get("tta_crops"), training.get("tta_flip")
    if crops and flip:
        return "average over the centre and four corner crops and their mirror images (ten-crop)"
    if crops:
        return "average over the centre and four corner crops"
    return "average with the mirrored face" if flip else "none"


def trained_where(metrics: dict) -> str:
    """'12 epochs on the CPU (2 cores) with tensorflow, 41 s per epoch' from a run's metrics."""
    runtime = metrics["runtime"]
    device = runtime["accelerator"] if runtime["accelerator"] != "none" else f"the CPU ({runtime['cpu_count']} cores)"
    return (f"{metrics['epochs_run']} epochs on {device} with the {runtime['backend']} backend, "
            f"{metrics['seconds_per_epoch']:.1f} s per epoch, finished {metrics['finished']}")


def same_hardware(a: dict, b: dict) -> bool:
    """Whether two runs' metrics were measured on the same processor, accelerator and backend
    (only then are their seconds per epoch comparable)."""
    ra, rb = a.get("runtime", {}), b.get("runtime", {})
    return all(ra.get(k) == rb.get(k) for k in ("processor", "accelerator", "backend"))


def cnn_dnn_summary(cnn: dict, dnn: dict) -> dict:
    """Question 2's comparison of the CNN and the DNN from their runs' metrics."""
    gap = lambda m: m["final_train_accuracy"] - m["final_val_accuracy"]  # noqa: E731
    return {
        "cnn_val": cnn["val_accuracy"], "dnn_val": dnn["val_accuracy"],
        "gap_points": 100 * (cnn["val_accuracy"] - dnn["val_accuracy"]),
        "cnn_seconds": cnn["seconds_per_epoch"], "dnn_seconds": dnn["seconds_per_epoch"],
        "speed": (dnn["seconds_per_epoch"] / cnn["seconds_per_epoch"]
                  if same_hardware(cnn, dnn) else None),
        "cnn_where": trained_where(cnn), "dnn_where": trained_where(dnn),
        "overfit": {"CNN": gap(cnn), "DNN": gap(dnn)},
    }


def cnn_dnn_sentences(s: dict) -> str:
    """The report's bullets for cnn_dnn_summary: accuracy, cost per epoch, overfitting."""
    from helpers.notebook import pct

    more = "more" if s["gap_points"] >= 0 else "less"
    lines = [
        f"- With the same number of parameters the CNN is **{abs(s['gap_points']):.1f} points {more} "
        f"accurate** ({pct(s['cnn_val'])} against {pct(s['dnn_val'])}). Convolutions share each "
        "filter's weights over every position of the face and look at local neighbourhoods, so the "
        "CNN spends its parameters on features that hold anywhere in the image, while each DNN "
        "weight is tied to one pixel position."]
    if s["speed"] is not None:
        lines.append(
            f"- An epoch of the DNN takes {s['dnn_seconds']:.1f} s against {s['cnn_seconds']:.1f} s for "
            f"the CNN ({s['speed']:.2f}x): a dense layer costs one multiply per parameter per image, "
            "while every convolution weight is reused at each of thousands of positions.")
    else:
        lines.append(
            f"- Their epoch times are not comparable: the CNN was trained for {s['cnn_where']}, the "
            f"DNN for {s['dnn_where']}. On one machine a dense layer costs one multiply per "
            "parameter per image, while every convolution weight is reused at each of thousands of "
            "positions (`make plan` measures both on yours).")
    lines.append(
        f"- Overfitting: at the last epoch the training accuracy exceeds validation by "
        f"{100 * s['overfit']['DNN']:+.1f} points for the DNN and {100 * s['overfit']['CNN']:+.1f} "
        "for the CNN (training accuracy is measured on augmented images with dropout active).")
    return "\n".join(lines)


def run_card(metrics: dict) -> dict:
    """One column of the report's side-by-side table of two runs."""
    runtime = metrics["runtime"]
    return {"parameters": f"{metrics['params']['total']:,}",
            "validation accuracy": f"{100 * metrics['val_accuracy']:.2f}%",
            "final train accuracy": f"{100 * metrics['final_train_accuracy']:.2f}%",
            "train - validation gap":
                f"{100 * (metrics['final_train_accuracy'] - metrics['final_val_accuracy']):+.1f} pts",
            "best epoch": metrics["best_epoch"],
            "seconds per epoch": f"{metrics['seconds_per_epoch']:.1f}",
            "trained on": (runtime["accelerator"] if runtime.get("accelerator", "none") != "none"
                           else f"{runtime.get('processor', 'CPU')}, {runtime.get('cpu_count')} cores")
                          + f" ({runtime['backend']})"}
