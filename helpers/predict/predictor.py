"""The model behind `make predict`: one run or the ensemble, with each member's input and TTA."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.core.config import CLASS_NAMES, MAIN_RUN, MODELS_DIR, load_profile
from helpers.modeling.store import profile_for, train_command


def shown(path: Path) -> Path:
    """`path` relative to the current folder when it is inside it (shorter messages)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return Path(path)



class RunUnavailable(ValueError):
    """A model that cannot predict here (not trained, unfinished, shipped without weights); the
    message is one line with the command that trains it."""

    def _render_traceback_(self):
        # IPython (a notebook) shows this line instead of a traceback.
        return [f"RunUnavailable: {self}"]


DEFAULT_MODEL = MAIN_RUN
"""The report's main CNN (notebook 02)."""


ENSEMBLE = "ensemble"
"""--model value that averages the profile's ensemble_members (notebook 09)."""


TTA_MODES = ("run", "flip", "none")
"""Test-time augmentation: "run" = the run's own settings, as the report (mirror image and, for
cropping CNNs, the center and four corner crops: ten views); "flip" = the face and its mirror
image (two views); "none" = one view."""


DEFAULT_TTA = "run"
"""The report's own: the leaderboard CSV then equals report/submission.csv byte for byte. Ten
views cost five times the two of "flip" (README, "Use the trained model", has the timings)."""


@dataclass
class Member:
    """One trained run and how to feed it: equalized or raw pixels, which test-time views."""

    run: object  # helpers.modeling.store.Run (imported lazily: Keras is slow to import)
    hist_eq: bool
    flip: bool
    crops: bool

    @property
    def name(self) -> str:
        return self.run.name

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """float32 probabilities (N, classes) of uint8 faces (N, 48, 48), rounded to float16
        as the run stored its own test predictions (helpers.modeling.engine._finish)."""
        from helpers.data.preprocess import to_model_input
        from helpers.modeling.inference import predict_proba

        proba = predict_proba(self.run.model, to_model_input(faces, self.hist_eq), self.flip,
                              tta_crops=self.crops)
        return proba.astype(np.float16).astype(np.float32)

    def views(self) -> str:
        """The test-time views in words, e.g. "flip + 5 crops"."""
        parts = (["flip"] if self.flip else []) + (["5 crops"] if self.crops else [])
        return " + ".join(parts) or "no TTA"


@dataclass
class Predictor:
    """A single run or an ensemble of runs, averaged as notebook 09 averages them."""

    name: str
    members: list[Member]

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes), float64, of uint8 faces (N, 48, 48)."""
        from helpers.analysis.ensembles import average_probabilities

        if len(faces) == 0:
            return np.zeros((0, len(CLASS_NAMES)))
        return average_probabilities([m.predict(faces) for m in self.members])

    def describe(self) -> str:
        """e.g. "cnn (flip + 5 crops)" or "ensemble of cnn (flip + 5 crops), hist_eq (...)"."""
        runs = ", ".join(f"{m.name} ({m.views()})" for m in self.members)
        return runs if self.name != ENSEMBLE else f"ensemble of {runs}"


def member_names(model: str, models_dir: Path) -> list[str]:
    """The runs behind --model: the profile's ensemble_members, or the one run named."""
    if model == ENSEMBLE:
        names = load_profile(profile_for(models_dir)).get("ensemble_members") or []
        if not names:
            raise ValueError(f"profile {profile_for(models_dir)!r} lists no ensemble_members")
        return list(names)
    if not model or model in (".", "..") or "/" in model or os.sep in model:
        raise ValueError(f"--model {model!r}: expected a run name (a folder in {models_dir}) "
                         f"or {ENSEMBLE!r}")
    return [model]


def load_member(name: str, models_dir: Path, tta: str) -> Member:
    """The finished run `name` with its weights, or ValueError naming the command that trains
    it (a missing or unfinished run, or one shipped with its predictions only)."""
    from helpers.modeling.store import load_finished, staging_dir

    run_dir = Path(models_dir) / name
    command = train_command(name, models_dir)
    run = load_finished(run_dir)
    if run is None:
        state = ("has not finished training" if staging_dir(run_dir).exists()
                 else "is not trained")
        raise RunUnavailable(f"run {name!r} {state} (no finished run in {shown(run_dir)}): "
                         f"train it with `{command}`")
    try:
        run.model  # noqa: B018 - loads the weights now, so that a missing file fails early
    except FileNotFoundError:
        raise RunUnavailable(f"run {name!r} has no weights in this clone ({shown(run_dir)} was shipped "
                         f"with its predictions only): train it with `{command} RETRAIN=1` "
                         "(it replaces the shipped run when it has finished)") from None
    config = run.config
    training = config.get("training", {})
    hist_eq = bool((config.get("data") or {}).get("hist_eq", False))
    flip = tta != "none" and (tta == "flip" or bool(training.get("tta_flip", False)))
    crops = tta == "run" and bool(training.get("tta_crops", False))
    return Member(run, hist_eq, flip, crops)


def load_predictor(model: str = DEFAULT_MODEL, models_dir=MODELS_DIR,
                   tta: str = DEFAULT_TTA) -> Predictor:
    """The run (or ensemble) `model` in models_dir, every member's weights loaded."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}, got {tta!r}")
    models_dir = Path(models_dir)
    return Predictor(model, [load_member(n, models_dir, tta)
                             for n in member_names(model, models_dir)])


def grad_cams(predictor: Predictor, faces: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, str]:
    """Grad-CAM maps (N, 48, 48) of the predicted classes, from the first member with a
    convolution layer (its own input: equalized for a histogram-equalized run), and its name."""
    from helpers.analysis.gradients import conv_layer_names
    from helpers.analysis.saliency import grad_cam
    from helpers.data.preprocess import to_model_input

    for member in predictor.members:
        if conv_layer_names(member.run.model):
            x = to_model_input(faces, member.hist_eq)
            return grad_cam(member.run.model, x, proba.argmax(axis=1)), member.name
    raise ValueError(f"--explain needs a CNN: {predictor.describe()} has no convolution layer")
