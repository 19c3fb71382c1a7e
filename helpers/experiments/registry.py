"""The report's experiments, listed once: every trained run with its name, the report section
that shows it (a slug of helpers.sections.ORDER), the notebook that trains it, its settings from
the profile, whether its weights are shipped, and what it costs. The planner (`make plan`,
`make train`), the budget, `make ship` and the notebooks all read this list::

    for experiment in experiments(params):      # params: a profile's parameters
        settings = training_settings(experiment, params)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from helpers.analysis.semi import default_run_name, semi_steps
from helpers.core.config import MAIN_RUN, resolve
from helpers.modeling.store import train_command


def training_notebooks() -> set[str]:
    """The notebooks that train models (the others only load them), from the experiment list."""
    from helpers.core.config import load_profile

    return {e.notebook for e in experiments(load_profile("full"))}


def trains_models(only: list[str] | None) -> bool:
    """Whether a pipeline run of these notebooks (None: all; names or number prefixes) may train
    a model."""
    return not only or any(n.startswith(p) or p.startswith(n) for p in only
                           for n in training_notebooks())


NOT_TRAINED = ("reuse", "evaluate", "finish", "shipped")
"""Plan statuses that train nothing: reused, evaluated from its weights (also a run whose
training has finished or stopped early), a shipped run kept."""


@dataclass
class PlannedRun:
    name: str
    what: str
    kind: str          # "cnn" or "dnn": what its images cost
    images: int        # training images still to go (0 when reused)
    status: str        # "reuse", "finish", "resume", "train" or "after <run>"
    done_epochs: int = 0
    epochs: int = 0
    train: Callable[[], object] | None = field(default=None, repr=False)
    """Trains (or reuses) the run as its notebook does; None when it depends on another run."""

    @property
    def trains(self) -> bool:
        return self.status not in NOT_TRAINED and self.images > 0


def retrains(params: dict, name: str) -> bool:
    """Whether run `name` trains from scratch: params' "retrain" is True (every run) or a list
    of the runs it applies to (`make train RUNS=cnn RETRAIN=1` retrains cnn, not the others)."""
    retrain = params.get("retrain", False)
    return name in retrain if isinstance(retrain, (list, tuple, set, frozenset)) else bool(retrain)


def _status(params: dict, name: str, config: dict, identity: str) -> tuple[str, int]:
    """The run's status in the plan; with retrain (retrains), it trains from scratch."""
    from helpers.modeling.store import fingerprint, run_status

    status = run_status(resolve(params["models_dir"]) / name, fingerprint(config, identity))
    if retrains(params, name) and status[0] in ("reuse", "evaluate", "shipped"):
        return "train", 0  # a retrain still resumes a staged training of the same settings
    return status


def semi_training(training: dict, epochs: float, labeled_rows: int) -> dict:
    """The settings of a labeled fraction's self-training runs: the main CNN's, with a budget
    in optimizer steps instead of epochs, `epochs` epochs of the fraction's `labeled_rows`
    labeled images (helpers.analysis.semi.semi_steps): a larger pseudo-labeled set does not
    multiply the cost."""
    steps = semi_steps(epochs, labeled_rows, training["batch_size"])
    return {**{k: v for k, v in training.items() if k != "epochs"}, "steps": steps}


def ablation_training(training: dict, epochs: int) -> dict:
    """The settings of the normalization/augmentation/preprocessing variants (the ablation and
    the histogram-equalized CNN): the main CNN's, with their own epochs."""
    return dict(training, epochs=epochs)


ABLATION_VARIANTS = {
    # name: (normalize, augment)
    "none": (False, False),
    "normalization": (True, False),
    "normalization_augmentation": (True, True),
}


@dataclass(frozen=True)
class Experiment:
    """One trained run of the report."""

    name: str                   # its folder in models_dir
    what: str                   # how the report calls it
    section: str                # the report section that shows it (helpers.sections.ORDER)
    notebook: str               # the notebook that trains it
    kind: str = "cnn"           # "cnn" or "dnn": what its training images cost
    normalize: bool = True      # standardize pixels with the training set's mean and std
    augment: bool = True        # the profile's augmentation (flip, crop)
    hist_eq: bool = False       # trained on histogram-equalized faces
    epochs_key: str | None = None   # the profile setting with its epochs (None: training.epochs)
    fraction: float | None = None   # self-training: the share of training rows kept labeled
    pool: str | None = None         # a self-trained student's pseudo-label pool ("train", "train + test")
    round: int = 0                  # a self-trained student's round (0: the labeled baseline)
    ship_weights: bool = False      # `make ship` commits its float16 weights
    cnn_changes: dict = field(default_factory=dict)  # changes to the profile's CNN, e.g. {"conv_dropout": 0}

    @property
    def teacher(self) -> str | None:
        """The run whose predictions make this one's pseudo-labels (self-trained students)."""
        if self.pool is None:
            return None
        tag = round(100 * self.fraction)
        suffix = "_test" if self.pool != "train" else ""
        return f"semi_{tag}_round0" if self.round == 1 else f"semi_{tag}{suffix}_round{self.round - 1}"


MAIN_CNN = Experiment(MAIN_RUN, "main CNN", "cnn", "02_cnn", ship_weights=True)
DNN = Experiment("dnn", "DNN", "dnn", "03_dnn", kind="dnn")
HIST_EQ_CNN = Experiment("hist_eq", "histogram-equalized CNN", "hist_eq",
                         "08_histogram_equalization", hist_eq=True, epochs_key="ablation_epochs")
"""Compared with the ablation's variant (c), the same CNN on raw pixels at the same budget."""
ABLATION = {variant: Experiment(f"ablation_{variant}", f"ablation: {variant.replace('_', ' + ')}",
                                "ablation", "02_cnn", normalize=normalize, augment=augment,
                                epochs_key="ablation_epochs",
                                # (a) is the further analysis' weak model; (c), the main recipe at
                                # 58 epochs, an ensemble member that make predict can run
                                ship_weights=variant in ("none", "normalization_augmentation"))
            for variant, (normalize, augment) in ABLATION_VARIANTS.items()}
WEAK_CNN = replace(ABLATION["none"], what="weak CNN (the ablation run without normalization and "
                                           "augmentation)")
"""The weak model of the further analysis: the ablation's variant (a)."""


SEMI_POOLS = {"train": "train", "train + test": "train+test"}
"""The experiment list's pool names -> helpers.analysis.semi's."""


semi_run_name = default_run_name
"""The folder of a self-training run (pool "train" or "train+test"; round 0: the baseline);
notebook 07 trains its runs under these names, the list below lists them."""


def semi_experiments(params: dict, with_test: bool = True) -> list[Experiment]:
    """The self-training runs: per labeled fraction a baseline, then its students."""
    pools = ["train"] + (["train + test"] if params.get("semi_use_test") and with_test else [])
    found = []
    for fraction in params["semi_fractions"]:
        tag = round(100 * fraction)
        found.append(Experiment(semi_run_name(fraction, "train", 0), f"self-training baseline ({tag}% labels)",
                                "semi", "07_semi_supervised", fraction=fraction))
        for pool in pools:
            for r in range(1, params["semi_rounds"] + 1):
                found.append(Experiment(semi_run_name(fraction, SEMI_POOLS[pool], r),
                                        f"self-trained run ({tag}% labels, pool {pool})", "semi",
                                        "07_semi_supervised", fraction=fraction, pool=pool, round=r))
    return found


SUPERVISED = (MAIN_CNN, *ABLATION.values(), DNN, HIST_EQ_CNN)
"""The runs trained on every training label, in the order the notebooks train them."""


def experiments(params: dict, with_test: bool = True) -> list[Experiment]:
    """Every run the report trains, in the order the notebooks train them (`with_test`: the
    data has test images, which the train + test pseudo-label pool needs)."""
    return [*SUPERVISED, *semi_experiments(params, with_test)]


def every_label_cnns() -> list[str]:
    """The CNN runs trained on every training label (the main CNN, the normalization and
    augmentation variants, the histogram-equalized CNN): the runs an ensemble could average."""
    return [e.name for e in SUPERVISED if e.kind == "cnn"]


def training_settings(experiment: Experiment, params: dict, labeled_rows: int | None = None) -> dict:
    """The training settings of an experiment under a profile's parameters (a self-training run
    needs `labeled_rows`, the size of its fraction's labeled part)."""
    training = params["training"]
    if experiment.fraction is not None:
        if labeled_rows is None:
            raise ValueError(f"{experiment.name}: a self-training run's budget needs its labeled rows")
        return semi_training(training, params["semi_epochs"], labeled_rows)
    if experiment.epochs_key:
        return ablation_training(training, params[experiment.epochs_key])
    return training


def augmentation_of(experiment: Experiment, params: dict) -> dict | None:
    return params["augmentation"] if experiment.augment else None


def _cnn_entry(experiment: Experiment, inputs, params, x_train=None, y_train=None,
               with_test=True) -> PlannedRun:
    from helpers.experiments.inputs import cnn_run_config, train_cnn
    from helpers.modeling.recipe import epochs_for

    labeled_rows = len(y_train) if experiment.fraction is not None else None
    training = training_settings(experiment, params, labeled_rows)
    models_dir = params["models_dir"]
    augmentation = augmentation_of(experiment, params)
    cnn = {**params["cnn"], **experiment.cnn_changes}
    config = cnn_run_config(inputs, cnn, training, augmentation, experiment.normalize,
                            x_train, y_train)
    rows = config["train_rows"]
    status, done = _status(params, experiment.name, config, inputs.train_digest)
    epochs = epochs_for(training, rows)
    left = 0 if status in NOT_TRAINED else max(epochs - done, 0) * rows

    def train():
        return train_cnn(experiment.name, inputs, cnn, training, models_dir,
                         augmentation, experiment.normalize, retrain=retrains(params, experiment.name),
                         verbose=params.get("verbose", 2), x_train=x_train, y_train=y_train,
                         with_test=with_test)

    return PlannedRun(experiment.name, planned_what(experiment), "cnn", left, status, done,
                      epochs, train)


def planned_what(experiment: Experiment) -> str:
    return f"{experiment.what} ({experiment.notebook[:2]})"


def train_experiment(experiment: Experiment, inputs, params: dict, x_train=None, y_train=None,
                     with_test: bool = True):
    """Train (or reuse, or resume) an experiment's CNN run with `params` (a profile's parameters,
    or a notebook's: cnn, augmentation, training, models_dir and the experiment's own settings),
    exactly as the planner and `make train` do; returns its helpers.modeling.store.Run."""
    if experiment.kind != "cnn":
        raise ValueError(f"{experiment.name}: train_experiment trains CNN runs; train the DNN with "
                         "helpers.experiments.inputs.train_dnn")
    return _cnn_entry(experiment, inputs, params, x_train, y_train, with_test).train()


def cnn_parameter_count(params: dict, inputs) -> int:
    """Parameters of the CNN that `params` (a profile) builds: the DNN's width is solved from it."""
    from helpers.modeling.models import build_cnn

    return build_cnn(**params["cnn"], normalization=inputs.normalization,
                     augmentation=params["augmentation"]).count_params()


def _dnn_entry(experiment: Experiment, inputs, params) -> PlannedRun:
    from helpers.experiments.inputs import dnn_run_config, train_dnn

    training, models_dir = training_settings(experiment, params), params["models_dir"]
    # The DNN's width is solved from the CNN's parameter count.
    cnn_params = cnn_parameter_count(params, inputs)
    augmentation = augmentation_of(experiment, params)
    config = dnn_run_config(inputs, cnn_params, params["dnn_depth"], params["dnn_dropout"],
                            training, augmentation)
    status, done = _status(params, experiment.name, config, inputs.train_digest)
    left = 0 if status in NOT_TRAINED else (training["epochs"] - done) * len(inputs.y_train)

    def train():
        return train_dnn(experiment.name, inputs, cnn_params, params["dnn_depth"],
                         params["dnn_dropout"], training, models_dir, augmentation,
                         retrain=retrains(params, experiment.name), verbose=params.get("verbose", 2))

    return PlannedRun(experiment.name, planned_what(experiment), "dnn", left, status, done,
                      training["epochs"], train)


def _student_entry(experiment: Experiment, inputs, params) -> PlannedRun:
    from helpers.analysis.semi import labeled_split
    from helpers.modeling.recipe import epochs_for

    labeled, unlabeled = labeled_split(inputs.y_train, experiment.fraction, params["seed"])
    training = training_settings(experiment, params, len(labeled))
    # Its rows (labels + accepted pseudo-labels) are known once its teacher exists; the cost
    # is about the step budget whatever they are.
    extra = len(inputs.x_test) if experiment.pool != "train" else 0
    rows = len(labeled) + (len(unlabeled) + extra) // 2
    epochs = epochs_for(training, rows)
    finished = (resolve(params["models_dir"]) / experiment.name / "metrics.json").exists()
    return PlannedRun(experiment.name, planned_what(experiment), "cnn",
                      0 if finished else epochs * rows, f"after {experiment.teacher}", 0, epochs)


def report_plan(params: dict, inputs, eq_inputs=None) -> list[PlannedRun]:
    """The runs the report's notebooks train, in order, for the parameters of a profile."""
    from helpers.analysis.semi import labeled_split

    plan: list[PlannedRun] = []
    for experiment in experiments(params, with_test=bool(len(inputs.x_test))):
        if experiment.kind == "dnn":
            plan.append(_dnn_entry(experiment, inputs, params))
        elif experiment.hist_eq:
            if eq_inputs is not None:
                plan.append(_cnn_entry(experiment, eq_inputs, params))
        elif experiment.pool is not None:
            plan.append(_student_entry(experiment, inputs, params))
        elif experiment.fraction is not None:
            from helpers.analysis.semi import with_rows

            labeled, _ = labeled_split(inputs.y_train, experiment.fraction, params["seed"])
            plan.append(_cnn_entry(experiment, inputs, params,
                                   x_train=with_rows(inputs.x_train[labeled], labeled),
                                   y_train=inputs.y_train[labeled], with_test=False))
        else:
            plan.append(_cnn_entry(experiment, inputs, params))
    return plan


DNN_COST = 1 / 12
"""What one DNN training image costs in CNN images (measured: 12x the CNN's throughput)."""


def profile_budget(params: dict, train_rows: int, test_rows: int) -> dict[str, tuple[str, int]]:
    """Every run of a profile from scratch: {run name: (kind, training images)}. A
    self-training run counts its step budget (steps x batch size; whole epochs make it up to
    half an epoch more or less)."""
    budget = {}
    for experiment in experiments(params, with_test=bool(test_rows)):
        labeled_rows = round(experiment.fraction * train_rows) if experiment.fraction is not None else None
        training = training_settings(experiment, params, labeled_rows)
        images = (training["steps"] * training["batch_size"] if training.get("steps")
                  else training["epochs"] * train_rows)
        budget[experiment.name] = (experiment.kind, images)
    return budget


def budget_total(budget: dict[str, tuple[str, int]]) -> float:
    """Training images in CNN-image units (a DNN image counts DNN_COST)."""
    return sum(images * (DNN_COST if kind == "dnn" else 1) for kind, images in budget.values())


def run_name(name: str | Experiment) -> Experiment:
    """The experiment of a run folder name (of the full profile's list; any other name is a
    run of its own)."""
    if isinstance(name, Experiment):
        return name
    from helpers.core.config import load_profile

    # The train + test pool's runs are known even where the profile leaves that variant off.
    known = {e.name: e for e in experiments({**load_profile("full"), "semi_use_test": True})}
    if name in known:
        return known[name]
    if name.startswith("semi_"):
        return Experiment(name, f"self-training run {name}", "semi", "07_semi_supervised")
    return Experiment(name, f"run {name!r}", "", "")


def missing_run_error(name: str | Experiment, models_dir) -> FileNotFoundError:
    """The one error for a run that was never trained, saying how to train it."""
    run = run_name(name)
    how = []
    if run.notebook and not run.notebook.startswith("07"):
        how.append(f"`{train_command(run.name, models_dir)}`")
    if run.notebook:
        how.append(f"notebooks/{run.notebook}.ipynb")
    return FileNotFoundError(f"no trained {run.what} in {Path(models_dir) / run.name}: "
                             + (f"train it with {' or '.join(how)}" if how else "train it first"))


def load_run(models_dir, name: str | Experiment, inputs=None, val_rows: int | None = None):
    """The finished run `name` in models_dir (a helpers.modeling.store.Run). With `inputs` (a
    helpers.experiments.inputs.Inputs) it must have been trained on that data split, with `val_rows`
    scored on that many validation faces: ValueError otherwise. FileNotFoundError (see
    missing_run_error) when it was never trained."""
    from helpers.core.config import resolve
    from helpers.modeling.store import load_finished  # imports Keras: only when asked

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
