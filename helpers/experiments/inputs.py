"""The report's experiments as functions the notebooks call: load the split as model inputs,
train or reuse the CNN and the DNN with the run's parameters (what the report says about the
runs is in helpers.sections)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.core.config import resolve
from helpers.data.fer2013 import Splits, load_splits
from helpers.data.preprocess import pixel_stats, to_model_input
from helpers.data.signature import REFERENCE_FILE
from helpers.modeling.engine import TrainingData, fit_or_load
from helpers.modeling.models import build_cnn, build_dnn, dnn_width_for, input_pixels
from helpers.modeling.store import Run


@dataclass
class Inputs(Splits):
    """The shared split as model-ready float arrays (N, 48, 48, 1), with what produced them."""

    normalization: dict
    data_settings: dict
    labels_shas: dict = field(default_factory=dict, kw_only=True)
    """Label digests (labels_digest) of these rows -> the shipped runs' digests of the same faces
    (another copy of their data, see load_inputs)."""

    def labels_sha(self, x_train, y_train) -> str:
        """labels_digest of these rows, as the shipped runs recorded it for the same faces."""
        sha = labels_digest(x_train, y_train)
        return self.labels_shas.get(sha, sha)

    def rows_sha(self, rows, y_train) -> str:
        """The identity of a run trained on these dataset rows (indices into the training rows,
        then the test rows after them) with these labels: the data's digests, the rows and the
        labels, not their pixels, so that another copy of the same faces lined up with the
        shipped order (load_inputs) names the same training set."""
        import hashlib

        rows = np.ascontiguousarray(rows, dtype=np.int64)
        digest = hashlib.sha256(b"rows:" + self.train_digest.encode())
        if len(rows) and rows.max() >= len(self.y_train):
            digest.update(b":test:" + str(self.test_digest).encode())
        digest.update(rows.tobytes())
        digest.update(np.ascontiguousarray(y_train, dtype=np.int64).tobytes())
        return digest.hexdigest()[:16]

    def training_data(self, x_train=None, y_train=None, with_test: bool = True) -> TrainingData:
        """What the training engine needs: these rows (or `x_train`/`y_train` instead), the
        shared validation split, the test images unless `with_test` is False, and the digests."""
        return TrainingData(self.x_train if x_train is None else x_train,
                            self.y_train if y_train is None else y_train, self.x_val, self.y_val,
                            self.train_digest, self.x_test if with_test else None,
                            self.test_digest)


def load_inputs(data_dir, val_fraction: float, seed: int, max_train_rows=None,
                hist_eq: bool = False, reference=REFERENCE_FILE) -> Inputs:
    """Load the data, cut the shared split and turn it into model inputs.

    Another copy of the shipped runs' faces (pixels within about a gray level, rows in any
    order: helpers.data.fer2013.align_to_reference) is lined up with them and, for the shipped
    split's settings, takes what the shipped runs' configs recorded of their data: the
    normalization statistics and the training rows' label digest (both computed from the
    pixels), so that the shipped runs' fingerprints match and they are reused, not retrained.
    `reference`: the shipped data's reference file (None: the data is taken as it is).
    """
    splits: Splits = load_splits(resolve(data_dir), val_fraction, seed, max_train_rows, reference)
    x_train = to_model_input(splits.x_train, hist_eq)
    settings = {"val_fraction": val_fraction, "seed": seed, "max_train_rows": max_train_rows,
                "hist_eq": hist_eq}
    normalization, labels_shas = pixel_stats(x_train), {}
    shipped = shipped_inputs(splits.same_faces, settings)
    if shipped:
        normalization = shipped["normalization"]
        labels_shas = {labels_digest(x_train, splits.y_train): shipped["train_labels_sha"]}
    return Inputs(
        x_train, splits.y_train, to_model_input(splits.x_val, hist_eq), splits.y_val,
        to_model_input(splits.x_test, hist_eq), splits.test_ids, splits.y_test,
        splits.checksum, splits.source_format, normalization, settings,
        train_digest=splits.train_digest, test_digest=splits.test_digest,
        same_faces=splits.same_faces, labels_shas=labels_shas,
    )


def shipped_inputs(same_faces, settings: dict) -> dict | None:
    """What the shipped runs recorded of their inputs with these settings ({"normalization",
    "train_labels_sha"}), when the data is another copy of their faces and the settings are
    the shipped split's; None otherwise (the data's own values apply)."""
    if same_faces is None or same_faces.exact:
        return None
    identity = same_faces.identity
    split = {k: settings[k] for k in ("val_fraction", "seed", "max_train_rows")}
    if identity.get("split") != split:
        return None
    return identity.get("inputs", {}).get("hist_eq" if settings["hist_eq"] else "raw")


def data_line(inputs: Inputs, where: str) -> str | None:
    """The plan's line when the data is another copy of the shipped runs' faces that is lined up
    with them (helpers.data.signature.SameFaces.describe); None otherwise (the data as it is:
    the shipped copy itself, another dataset, or settings other than the shipped split's)."""
    same = inputs.same_faces
    if same is None or not same.changes:
        return None
    if not same.exact and shipped_inputs(same, inputs.data_settings) is None:
        return None
    return same.describe(where)


def data_identity(inputs: Inputs, eq_inputs: Inputs) -> dict:
    """What runs' configs take from the data with these inputs' settings (raw and
    histogram-equalized), as a reference keeps it (scripts/build_data_reference.py)."""
    return {
        "split": {k: inputs.data_settings[k] for k in ("val_fraction", "seed", "max_train_rows")},
        "inputs": {name: {"normalization": i.normalization,
                          "train_labels_sha": labels_digest(i.x_train, i.y_train)}
                   for name, i in (("raw", inputs), ("hist_eq", eq_inputs))},
    }


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
    x_train = np.asarray(x_train)  # the rows' identity is in the config (a plain array trains)
    normalization, seed = config["normalization"], training.get("seed", 42)
    return fit_or_load(
        name, lambda: build_cnn(**cnn, normalization=normalization, augmentation=augmentation,
                                seed=seed, name=name),
        config, inputs.training_data(x_train, y_train, with_test), resolve(models_dir),
        retrain=retrain, verbose=verbose,
    )


def cnn_run_config(inputs: Inputs, cnn: dict, training: dict, augmentation: dict | None,
                   normalize: bool = True, x_train=None, y_train=None) -> dict:
    """Everything that defines a CNN run (its fingerprint, with the training data's identity:
    the dataset rows of x_train when it knows them, helpers.analysis.semi.with_rows, else a
    digest of its pixels and labels)."""
    x_train = inputs.x_train if x_train is None else x_train
    y_train = inputs.y_train if y_train is None else y_train
    from helpers.analysis.semi import rows_of

    rows = rows_of(x_train)
    return {
        "model": "cnn", "cnn": cnn, "training": training, "augmentation": augmentation,
        "normalization": inputs.normalization if normalize else None,
        "data": inputs.data_settings, "train_rows": int(len(y_train)),
        "train_labels_sha": (inputs.rows_sha(rows, y_train) if rows is not None
                             else inputs.labels_sha(x_train, y_train)),
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
