"""Paths, class names and run profiles: the one place the project's layout is written down."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
PROFILE_DIR = PROJECT_ROOT / "profiles"
BUILD_DIR = PROJECT_ROOT / "build"
CACHE_DIR = BUILD_DIR / "cache"
MODELS_DIR = PROJECT_ROOT / "models"

CLASS_NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SIZE = 48

# Which homework question each report section answers, in the order of the PDF.
SECTIONS = {
    0: "Data",
    1: "CNN",
    2: "DNN",
    3: "Training curves",
    4: "Normalization and augmentation",
    5: "Confusion matrix",
    6: "Saliency maps",
    7: "Filter visualization",
    8: "Semi-supervised learning",
    9: "Further analysis",
}


def resolve(path: str | os.PathLike) -> Path:
    """Resolve a path given relative to the project root (notebooks run from notebooks/)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_profile(name: str) -> dict:
    """Return the parameters of a run profile (profiles/<name>.yaml)."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        raise ValueError(f"unknown profile {name!r}: expected one of {', '.join(known)}")
    with open(path) as f:
        return yaml.safe_load(f) or {}


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
