"""The report's trained runs by name: what each one is, which notebook (or `make train`) trains
it, and one way to load it with one error when it is missing::

    main = load_run(models_dir, MAIN_CNN, inputs)      # the run of notebook 02, checked against the split
    weak = load_run(models_dir, WEAK_CNN, inputs)

The names are the run folders in models_dir (profiles/full.yaml's ensemble_members use them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers.config import PROFILE_DIR, load_profile


@dataclass(frozen=True)
class RunName:
    name: str       # the folder in models_dir
    what: str       # how the report calls it
    notebook: str   # the notebook that trains it


MAIN_CNN = RunName("cnn", "main CNN", "02_cnn")
WEAK_CNN = RunName("ablation_none", "weak CNN (the ablation run without normalization and "
                   "augmentation)", "02_cnn")
DNN = RunName("dnn", "DNN", "03_dnn")
HIST_EQ_CNN = RunName("hist_eq", "histogram-equalized CNN", "08_histogram_equalization")
KNOWN = {r.name: r for r in (MAIN_CNN, WEAK_CNN, DNN, HIST_EQ_CNN)}

DEFAULT_PROFILE = "full"
"""The profile a models folder belongs to unless it is another profile's models_dir
(build/smoke/models: the smoke profile)."""


def run_name(name: str | RunName) -> RunName:
    """The RunName of a run folder name: the report's own runs, ablation_* (02) and semi_* (07)."""
    if isinstance(name, RunName):
        return name
    if name in KNOWN:
        return KNOWN[name]
    if name.startswith("ablation_"):
        return RunName(name, f"ablation run {name.removeprefix('ablation_')}", "02_cnn")
    if name.startswith("semi_"):
        return RunName(name, f"self-training run {name}", "07_semi_supervised")
    return RunName(name, f"run {name!r}", "")


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


def missing_run_error(name: str | RunName, models_dir) -> FileNotFoundError:
    """The one error for a run that was never trained, saying how to train it."""
    run = run_name(name)
    how = []
    if run.notebook and not run.notebook.startswith("07"):
        how.append(f"`{train_command(run.name, models_dir)}`")
    if run.notebook:
        how.append(f"notebooks/{run.notebook}.ipynb")
    return FileNotFoundError(f"no trained {run.what} in {Path(models_dir) / run.name}: "
                             + (f"train it with {' or '.join(how)}" if how else "train it first"))


def load_run(models_dir, name: str | RunName, inputs=None, val_rows: int | None = None):
    """The finished run `name` in models_dir (a helpers.training.Run). With `inputs` (a
    helpers.experiments.Inputs) it must have been trained on that data split, with `val_rows`
    scored on that many validation faces: ValueError otherwise. FileNotFoundError (see
    missing_run_error) when it was never trained."""
    from helpers.config import resolve
    from helpers.training import load_finished  # imports Keras: only when asked

    run = run_name(name)
    folder = resolve(models_dir)
    found = load_finished(folder / run.name)
    if found is None:
        raise missing_run_error(run, folder)
    if inputs is not None and (found.config.get("data") != inputs.data_settings
                               or found.metrics.get("val_rows") != len(inputs.y_val)):
        raise ValueError(f"the {run.what} in {folder / run.name} was trained on another data "
                         f"split: retrain it with this profile (notebooks/{run.notebook}.ipynb)")
    if val_rows is not None and found.metrics.get("val_rows") != val_rows:
        raise ValueError(f"the {run.what} in {folder / run.name} was scored on "
                         f"{found.metrics.get('val_rows')} validation faces, this split has "
                         f"{val_rows}: retrain it with this profile")
    return found
