"""The training plan of a report run: which runs are reused, which resume, which train, and
about how long that takes on this machine, printed before any notebook starts.

Each planned run's config is built by the same functions the notebooks train with
(helpers.experiments), so "reused" here means the notebook will reuse it. Runs whose training
rows depend on an earlier run's predictions (the self-trained students) can only be checked
once that run exists; they are listed as "after <teacher>".
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from helpers.config import resolve


TRAINING_NOTEBOOKS = ("02", "03", "07")
"""The notebooks that train models (the others only load them)."""


def trains_models(only: list[str] | None) -> bool:
    """Whether a pipeline run of these notebooks (None: all) may train a model."""
    return not only or any(n.startswith(p) or p.startswith(n) for p in only
                           for n in TRAINING_NOTEBOOKS)


@dataclass
class PlannedRun:
    name: str
    what: str
    kind: str          # "cnn" or "dnn": what its images cost
    images: int        # training images still to go (0 when reused)
    status: str        # "reuse", "finish", "resume", "train" or "after <run>"
    done_epochs: int = 0
    epochs: int = 0

    @property
    def trains(self) -> bool:
        return self.status != "reuse" and self.images > 0


def _status(models_dir, name: str, config: dict, identity: str) -> tuple[str, int]:
    from helpers.training import fingerprint, run_status

    return run_status(resolve(models_dir) / name, fingerprint(config, identity))


def _cnn_entry(name, what, inputs, params, training, models_dir, normalize=True,
               augmentation="profile", rows=None, x_train=None, y_train=None) -> PlannedRun:
    from helpers.experiments import cnn_run_config

    augmentation = params["augmentation"] if augmentation == "profile" else augmentation
    config = cnn_run_config(inputs, params["cnn"], training, augmentation, normalize,
                            x_train, y_train)
    from helpers.training import epochs_for

    rows = config["train_rows"] if rows is None else rows
    status, done = _status(params["models_dir"], name, config, inputs.train_digest)
    epochs = epochs_for(training, rows)
    left = 0 if status == "reuse" else max(epochs - done, 0) * rows
    return PlannedRun(name, what, "cnn", left, status, done, epochs)


def report_plan(params: dict, inputs, eq_inputs=None) -> list[PlannedRun]:
    """The runs the report's notebooks train, in order, for the parameters of a profile."""
    from helpers.models import build_cnn
    from helpers.semi import labeled_split

    plan: list[PlannedRun] = []
    training, models_dir = params["training"], params["models_dir"]
    plan.append(_cnn_entry("cnn", "main CNN (02)", inputs, params, training, models_dir))
    ablation = dict(training, epochs=params["ablation_epochs"])
    for name, normalize, augmentation in (("none", False, None), ("normalization", True, None),
                                          ("normalization_augmentation", True, "profile")):
        plan.append(_cnn_entry(f"ablation_{name}", f"ablation: {name.replace('_', ' + ')} (02)",
                               inputs, params, ablation, models_dir, normalize, augmentation))
    # The DNN's width is solved from the CNN's parameter count.
    from helpers.experiments import dnn_run_config

    cnn_params = build_cnn(**params["cnn"], normalization=inputs.normalization,
                           augmentation=params["augmentation"]).count_params()
    config = dnn_run_config(inputs, cnn_params, params["dnn_depth"], params["dnn_dropout"],
                            training, params["augmentation"])
    status, done = _status(models_dir, "dnn", config, inputs.train_digest)
    left = 0 if status == "reuse" else (training["epochs"] - done) * len(inputs.y_train)
    plan.append(PlannedRun("dnn", "DNN (03)", "dnn", left, status, done, training["epochs"]))

    semi = dict(training, epochs=params["semi_epochs"])
    pools = [("", "train")] + ([("_test", "train + test")] if params.get("semi_use_test") and
                               len(inputs.x_test) else [])
    for fraction in params["semi_fractions"]:
        tag = round(100 * fraction)
        labeled, unlabeled = labeled_split(inputs.y_train, fraction, params["seed"])
        base = f"semi_{tag}_round0"
        plan.append(_cnn_entry(base, f"self-training baseline, {tag}% labels (07)", inputs,
                               params, semi, models_dir, x_train=inputs.x_train[labeled],
                               y_train=inputs.y_train[labeled]))
        for suffix, pool in pools:
            for r in range(1, params["semi_rounds"] + 1):
                name = f"semi_{tag}{suffix}_round{r}"
                teacher = base if r == 1 else f"semi_{tag}{suffix}_round{r - 1}"
                # At most every pool row is pseudo-labelled: an upper bound of its cost.
                extra = len(unlabeled) + (len(inputs.x_test) if suffix else 0)
                finished = (resolve(models_dir) / name / "metrics.json").exists()
                plan.append(PlannedRun(
                    name, f"self-trained, {tag}% labels, pool {pool} (07)", "cnn",
                    0 if finished else semi["epochs"] * (len(labeled) + extra),
                    f"after {teacher}", 0, semi["epochs"]))

    base_seed = training.get("seed", params["seed"])
    for k in range(params["ensemble_size"]):
        member = dict(training, epochs=params["ensemble_epochs"], seed=base_seed + k)
        if k == 0 and member == training:
            continue  # member 0 is the main CNN
        plan.append(_cnn_entry(f"ensemble_seed{member['seed']}", f"ensemble member {k} (07)",
                               inputs, params, member, models_dir))
    if eq_inputs is not None:
        member0 = dict(training, epochs=params["ensemble_epochs"], seed=base_seed)
        plan.append(_cnn_entry("hist_eq", "histogram-equalized CNN (07)", eq_inputs, params,
                               member0, models_dir))
    return plan


def measure_images_per_second(params: dict, inputs, kind: str = "cnn", batches: int = 6) -> float:
    """Training images per second of the profile's CNN (or DNN) on this machine, from a few
    batches of random images after two warm-up batches (about 10-20 s)."""
    from helpers.backend import keras
    from helpers.experiments import dnn_run_config
    from helpers.models import build_cnn, build_dnn
    from helpers.training import _compile, one_hot

    training = params["training"]
    batch = training["batch_size"]
    keras.config.set_dtype_policy(training.get("precision", "float32"))
    try:
        model = build_cnn(**params["cnn"], normalization=inputs.normalization,
                          augmentation=params["augmentation"])
        if kind == "dnn":
            config = dnn_run_config(inputs, model.count_params(), params["dnn_depth"],
                                    params["dnn_dropout"], training, params["augmentation"])
            model = build_dnn([config["width"]] * config["depth"], config["dropout"],
                              inputs.normalization, params["augmentation"])
    finally:
        keras.config.set_dtype_policy("float32")
    _compile(model, training, batches + 2)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, ((batches + 2) * batch, 48, 48, 1)).astype(np.float32)
    y = one_hot(rng.integers(0, 7, len(x)))
    model.fit(x[:2 * batch], y[:2 * batch], batch_size=batch, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(x[2 * batch:], y[2 * batch:], batch_size=batch, epochs=1, verbose=0)
    return batches * batch / (time.perf_counter() - started)


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min'."""
    seconds = int(round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


def describe_status(run: PlannedRun) -> str:
    if run.status == "reuse":
        return "reused"
    if run.status == "finish":
        return "trained; evaluation only"
    if run.status == "resume":
        return f"resumes at epoch {run.done_epochs + 1}/{run.epochs}"
    epochs = f"{run.epochs} epoch" + ("" if run.epochs == 1 else "s")
    if run.status == "train":
        return f"trains {epochs}"
    if run.images == 0:
        return f"reused if unchanged (checked {run.status})"
    return f"trains {epochs} ({run.status}; at most)"


def plan_lines(plan: list[PlannedRun], rates: dict[str, float] | None) -> list[str]:
    """The plan as the terminal shows it: one line per run, then the total and the ETA."""
    lines = []
    width = max(len(r.name) for r in plan)
    status_width = max(len(describe_status(r)) for r in plan)
    for run in plan:
        cost = ""
        if run.trains:
            cost = f"  {run.images:>10,} images"
            if rates:
                cost += f"  ~{duration(run.images / rates[run.kind])}"
        lines.append(f"  {run.name:<{width}}  {describe_status(run):<{status_width}}{cost}".rstrip())
    training = [r for r in plan if r.trains]
    if not training:
        lines.append("Every model is already trained: nothing to train.")
        return lines
    images = sum(r.images for r in training)
    total = (f"{len(training)} of {len(plan)} runs train, {images:,} images")
    if rates:
        seconds = sum(r.images / rates[r.kind] for r in training)
        total += (f": about {duration(seconds)} on this machine "
                  f"(measured {rates['cnn']:.0f} CNN images/s)")
    lines.append(total + ".")
    lines.append("Interrupting is safe: rerunning resumes each run from its last finished epoch.")
    return lines


def show_plan(params: dict, measure: bool = True, out=print) -> list[PlannedRun]:
    """Print the training plan of a report run with `params` (a profile's parameters), with a
    time estimate measured on this machine when anything will train."""
    from helpers.experiments import load_inputs

    args = (params["data_dir"], params["val_fraction"], params["seed"], params.get("max_train_rows"))
    inputs = load_inputs(*args)
    eq_inputs = load_inputs(*args, hist_eq=True)
    plan = report_plan(params, inputs, eq_inputs)
    rates = None
    if measure and any(r.trains for r in plan):
        rates = {"cnn": measure_images_per_second(params, inputs, "cnn")}
        rates["dnn"] = measure_images_per_second(params, inputs, "dnn")
    out(f"==> training plan (models in {params['models_dir']}/):")
    for line in plan_lines(plan, rates):
        out(line)
    return plan
