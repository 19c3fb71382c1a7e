"""The report's experiments as functions the notebooks call: load the split as model inputs,
train or reuse the CNN and the DNN with the run's parameters (what the report says about the
runs is in helpers.sections)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.core.config import resolve
from helpers.data.fer2013 import Splits, load_splits
from helpers.data.preprocess import pixel_stats, to_model_input
from helpers.modeling.engine import TrainingData, fit_or_load
from helpers.modeling.models import build_cnn, build_dnn, dnn_width_for, input_pixels
from helpers.modeling.store import Run


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
