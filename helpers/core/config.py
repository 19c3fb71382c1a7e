"""Paths, class names and run profiles: the one place the project's layout is written down."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]


NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


PROFILE_DIR = PROJECT_ROOT / "profiles"


BUILD_DIR = PROJECT_ROOT / "build"


CACHE_DIR = BUILD_DIR / "cache"
LOCK_DIR = PROJECT_ROOT / ".locks"
"""One-process locks (helpers.core.locks): outside build/, which `make clean` deletes."""


MODELS_DIR = PROJECT_ROOT / "models"


CLASS_NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


NUM_CLASSES = len(CLASS_NAMES)


def smoothed_targets(label_smoothing: float) -> tuple[float, float]:
    """The training targets under Keras's label smoothing s: (the true class's, 1 - s + s/K;
    every other class's, s/K) for K classes."""
    return 1 - label_smoothing + label_smoothing / NUM_CLASSES, label_smoothing / NUM_CLASSES

ALPHA = 0.05
"""The significance level of the report's paired tests: p >= ALPHA is not significant."""

CONFIDENCE = 0.95
"""The level of the report's confidence intervals."""


IMAGE_SIZE = 48

MAIN_RUN = "cnn"
"""The run folder of the report's main CNN: what `make predict` uses by default."""


def resolve(path: str | os.PathLike) -> Path:
    """A path given relative to the project root (data/, models/, report/), or, when nothing is
    there but it exists beside the notebooks, relative to notebooks/ (a photo uploaded next to a
    notebook in JupyterLab). Absolute paths are kept."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    from_root = PROJECT_ROOT / path
    if not from_root.exists() and (NOTEBOOK_DIR / path).exists():
        return NOTEBOOK_DIR / path
    return from_root


BASE_PROFILE = "full"
"""The profile every other one starts from: another profile sets only what it changes."""


def _read_yaml(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f) or {}


def load_profile(name: str) -> dict:
    """Return the parameters of a run profile (profiles/<name>.yaml): the full profile's
    settings with the ones that profile sets replaced."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        raise ValueError(f"unknown profile {name!r}: expected one of {', '.join(known)}")
    values = _read_yaml(path)
    base = PROFILE_DIR / f"{BASE_PROFILE}.yaml"
    if name != BASE_PROFILE and base.exists():
        values = {**_read_yaml(base), **values}
    return values


# Settings too large to repeat in every notebook's parameters cell: there they default to None,
# which from_profile reads from the profile (profiles/<profile>.yaml stays their one definition).
PROFILE_SETTINGS = ("cnn", "augmentation", "training")


def from_profile(profile: str, **settings) -> tuple:
    """The given settings in order, each None replaced by the profile's value of that name
    (papermill passes the pipeline's values; run by hand, a notebook gets its profile's)."""
    unknown = set(settings) - set(PROFILE_SETTINGS)
    if unknown:
        raise ValueError(f"{', '.join(sorted(unknown))}: not a profile setting ({', '.join(PROFILE_SETTINGS)})")
    values = load_profile(profile) if any(v is None for v in settings.values()) else {}
    missing = [name for name, value in settings.items() if value is None and name not in values]
    if missing:
        raise ValueError(f"profiles/{profile}.yaml has no {', '.join(missing)}: add it there or "
                         "pass it as a parameter")
    return tuple(values[name] if value is None else value for name, value in settings.items())


def profile_parameters(profile: str, data_dir=None, retrain: bool = False) -> dict:
    params = load_profile(profile)
    params["profile"] = profile
    if data_dir:
        params["data_dir"] = str(Path(data_dir).expanduser().resolve())
    if retrain:
        params["retrain"] = True
    return params


KEPT_START = 0.9
"""A layer whose median kernel keeps at least this cosine with its random start stayed there
(the filters section and the answer sheet say so)."""
