"""The training plan of a report run: which runs are reused, which resume, which train, and
about how long that takes on this machine, printed before any notebook starts.

Each planned run's config is built by the same functions the notebooks train with
(helpers.experiments), so "reused" here means the notebook will reuse it. Runs whose training
rows depend on an earlier run's predictions (the self-trained students) can only be checked
once that run exists; they are listed as "after <teacher>".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from helpers.config import resolve
from helpers.runs import DNN, HIST_EQ_CNN, MAIN_CNN


TRAINING_NOTEBOOKS = ("02", "03", "07", "08")
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
    train: Callable[[], object] | None = field(default=None, repr=False)
    """Trains (or reuses) the run as its notebook does; None when it depends on another run."""

    @property
    def trains(self) -> bool:
        return self.status != "reuse" and self.images > 0


def _status(models_dir, name: str, config: dict, identity: str) -> tuple[str, int]:
    from helpers.training import fingerprint, run_status

    return run_status(resolve(models_dir) / name, fingerprint(config, identity))


def _cnn_entry(name, what, inputs, params, training, models_dir, normalize=True,
               augmentation="profile", rows=None, x_train=None, y_train=None,
               with_test=True) -> PlannedRun:
    from helpers.experiments import cnn_run_config, train_cnn
    from helpers.training import epochs_for

    augmentation = params["augmentation"] if augmentation == "profile" else augmentation
    config = cnn_run_config(inputs, params["cnn"], training, augmentation, normalize,
                            x_train, y_train)
    rows = config["train_rows"] if rows is None else rows
    status, done = _status(params["models_dir"], name, config, inputs.train_digest)
    epochs = epochs_for(training, rows)
    left = 0 if status == "reuse" else max(epochs - done, 0) * rows

    def train():
        return train_cnn(name, inputs, params["cnn"], training, models_dir, augmentation,
                         normalize, retrain=params.get("retrain", False),
                         verbose=params.get("verbose", 2), x_train=x_train, y_train=y_train,
                         with_test=with_test)

    return PlannedRun(name, what, "cnn", left, status, done, epochs, train)


def semi_training(training: dict, steps: int) -> dict:
    """The self-training runs' settings: the main CNN's, with a budget of `steps` optimizer
    steps instead of epochs (a larger pseudo-labelled set does not multiply the cost)."""
    return {**{k: v for k, v in training.items() if k != "epochs"}, "steps": steps}


def ablation_training(training: dict, epochs: int) -> dict:
    """The normalization/augmentation ablation's settings: the main CNN's, shorter."""
    return dict(training, epochs=epochs)


ABLATION_VARIANTS = {
    # name: (normalize, augment)
    "none": (False, False),
    "normalization": (True, False),
    "normalization_augmentation": (True, True),
}


def cnn_parameter_count(params: dict, inputs) -> int:
    """Parameters of the CNN that `params` (a profile) builds: the DNN's width is solved from it."""
    from helpers.models import build_cnn

    return build_cnn(**params["cnn"], normalization=inputs.normalization,
                     augmentation=params["augmentation"]).count_params()


def report_plan(params: dict, inputs, eq_inputs=None) -> list[PlannedRun]:
    """The runs the report's notebooks train, in order, for the parameters of a profile."""
    from helpers.experiments import dnn_run_config, train_dnn
    from helpers.semi import labeled_split
    from helpers.training import epochs_for

    plan: list[PlannedRun] = []
    training, models_dir = params["training"], params["models_dir"]
    plan.append(_cnn_entry(MAIN_CNN.name, "main CNN (02)", inputs, params, training, models_dir))
    for name, (normalize, augment) in ABLATION_VARIANTS.items():
        plan.append(_cnn_entry(f"ablation_{name}", f"ablation: {name.replace('_', ' + ')} (02)",
                               inputs, params, ablation_training(training, params["ablation_epochs"]),
                               models_dir, normalize,
                               "profile" if augment else None))

    # The DNN's width is solved from the CNN's parameter count.
    cnn_params = cnn_parameter_count(params, inputs)
    config = dnn_run_config(inputs, cnn_params, params["dnn_depth"], params["dnn_dropout"],
                            training, params["augmentation"])
    status, done = _status(models_dir, DNN.name, config, inputs.train_digest)
    left = 0 if status == "reuse" else (training["epochs"] - done) * len(inputs.y_train)

    def train_the_dnn():
        return train_dnn(DNN.name, inputs, cnn_params, params["dnn_depth"], params["dnn_dropout"],
                         training, models_dir, params["augmentation"],
                         retrain=params.get("retrain", False), verbose=params.get("verbose", 2))

    plan.append(PlannedRun(DNN.name, "DNN (03)", "dnn", left, status, done, training["epochs"],
                           train_the_dnn))

    if eq_inputs is not None:
        plan.append(_cnn_entry(HIST_EQ_CNN.name, "histogram-equalized CNN (08)", eq_inputs, params,
                               training, models_dir))

    semi = semi_training(training, params["semi_steps"])
    use_test = params.get("semi_use_test") and len(inputs.x_test)
    pools = [("", "train")] + ([("_test", "train + test")] if use_test else [])
    for fraction in params["semi_fractions"]:
        tag = round(100 * fraction)
        labeled, unlabeled = labeled_split(inputs.y_train, fraction, params["seed"])
        base = f"semi_{tag}_round0"
        plan.append(_cnn_entry(base, f"self-training baseline, {tag}% labels (07)", inputs,
                               params, semi, models_dir, x_train=inputs.x_train[labeled],
                               y_train=inputs.y_train[labeled], with_test=False))
        for suffix, pool in pools:
            for r in range(1, params["semi_rounds"] + 1):
                name = f"semi_{tag}{suffix}_round{r}"
                teacher = base if r == 1 else f"semi_{tag}{suffix}_round{r - 1}"
                # Its rows (labels + accepted pseudo-labels) are known once its teacher exists;
                # the cost is about the step budget whatever they are.
                rows = len(labeled) + (len(unlabeled) + (len(inputs.x_test) if suffix else 0)) // 2
                epochs = epochs_for(semi, rows)
                finished = (resolve(models_dir) / name / "metrics.json").exists()
                plan.append(PlannedRun(
                    name, f"self-trained, {tag}% labels, pool {pool} (07)", "cnn",
                    0 if finished else epochs * rows, f"after {teacher}", 0, epochs))
    return plan


DNN_COST = 1 / 12
"""What one DNN training image costs in CNN images (measured: 12x the CNN's throughput)."""


def profile_budget(params: dict, train_rows: int, test_rows: int) -> dict[str, tuple[str, int]]:
    """Every run of a profile from scratch: {run name: (kind, training images)}. A
    self-training run counts its step budget (steps x batch size; whole epochs make it up to
    half an epoch more or less)."""
    training = params["training"]
    main = training["epochs"] * train_rows
    budget = {MAIN_CNN.name: ("cnn", main), HIST_EQ_CNN.name: ("cnn", main), DNN.name: ("dnn", main)}
    for name in ABLATION_VARIANTS:
        budget[f"ablation_{name}"] = ("cnn", params["ablation_epochs"] * train_rows)
    semi = params["semi_steps"] * training["batch_size"]
    suffixes = ["", "_test"] if params.get("semi_use_test") and test_rows else [""]
    for fraction in params["semi_fractions"]:
        tag = round(100 * fraction)
        budget[f"semi_{tag}_round0"] = ("cnn", semi)
        for suffix in suffixes:
            for r in range(1, params["semi_rounds"] + 1):
                budget[f"semi_{tag}{suffix}_round{r}"] = ("cnn", semi)
    return budget


def training_compute(params: dict, train_rows: int, test_rows: int) -> dict:
    """What the report's runs cost, from their metrics.json (for results.json and the title
    page): per run its images, epochs, seconds, images/s, precision and hardware; in total the
    images (a DNN image counted as DNN_COST) against the budget, and the hours."""
    from helpers.results import read_json

    budget = profile_budget(params, train_rows, test_rows)
    runs, missing = {}, []
    for name, (kind, _) in budget.items():
        metrics = read_json(resolve(params["models_dir"]) / name / "metrics.json")
        if not metrics:
            missing.append(name)
            continue
        runtime = metrics.get("runtime", {})
        device = runtime.get("accelerator", "none")
        runs[name] = {
            "kind": kind, "epochs": metrics.get("epochs_run"),
            "images": metrics.get("train_images", metrics.get("train_rows", 0) * metrics.get("epochs_run", 0)),
            "seconds": metrics.get("train_seconds_total"), "images_per_second": metrics.get("images_per_second"),
            "precision": metrics.get("precision", "float32"), "backend": runtime.get("backend"),
            "hardware": device if device != "none" else
            f"{runtime.get('processor', '?')} CPU, {runtime.get('cpu_count', '?')} cores",
            "finished": metrics.get("finished"),
        }
    images = sum(r["images"] * (DNN_COST if r["kind"] == "dnn" else 1) for r in runs.values())
    seconds = sum(r["seconds"] or 0 for r in runs.values())
    by_hardware: dict[str, float] = {}
    for r in runs.values():
        where = f"{r['hardware']} ({r['backend']})"
        by_hardware[where] = by_hardware.get(where, 0.0) + (r["seconds"] or 0)
    return {"runs": runs, "missing": missing, "images": images,
            "budget_images": budget_total(budget), "hours": seconds / 3600,
            "seconds_by_hardware": dict(sorted(by_hardware.items(), key=lambda kv: -kv[1])),
            "hardware": sorted({r["hardware"] for r in runs.values()}),
            "precision": sorted({r["precision"] for r in runs.values()})}


def compute_words(compute: dict) -> str:
    """The title page's line: '4,473,232 training images (...), trained in 1 h 34 min on <CPU>
    (tensorflow); 6 min on NVIDIA H200 (jax); precision mixed_bfloat16'."""
    if not compute or not compute.get("runs"):
        return "no trained run found"
    text = (f"{compute['images']:,.0f} training images (CNN-image units; profile budget "
            f"{compute['budget_images']:,.0f}), trained in "
            + "; ".join(f"{duration(seconds)} on {hardware}"
                        for hardware, seconds in compute["seconds_by_hardware"].items())
            + f"; precision {', '.join(compute['precision'])}")
    if compute.get("missing"):
        text += f"; not found: {', '.join(compute['missing'])}"
    return text


def budget_total(budget: dict[str, tuple[str, int]]) -> float:
    """Training images in CNN-image units (a DNN image counts DNN_COST)."""
    return sum(images * (DNN_COST if kind == "dnn" else 1) for kind, images in budget.values())


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
    return f"trains about {epochs} ({run.status})"


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


def main(argv: list[str] | None = None) -> int:
    """python -m helpers.plan [--profile full] [--data-dir DIR] [--train [RUN ...]]

    Prints the training plan; with --train, trains the named runs (default: every run that
    does not depend on another's predictions), in order, each reused or resumed when it can
    be. Meant for long training in the background; `make report` then reuses the runs.
    """
    import argparse
    import sys

    from helpers.data import DataError
    from helpers.pipeline import profile_parameters

    parser = argparse.ArgumentParser(prog="python -m helpers.plan", description=main.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="full")
    parser.add_argument("--data-dir", help="folder with FER2013 (default: the profile's)")
    parser.add_argument("--train", nargs="*", metavar="RUN", help="train these runs (none named: all)")
    parser.add_argument("--retrain", action="store_true",
                        help="train the runs from scratch even when a finished one matches")
    args = parser.parse_args(argv)
    try:
        params = profile_parameters(args.profile, args.data_dir, args.retrain)
        plan = show_plan(params, measure=True)
        if args.train is None:
            return 0
        known = {r.name: r for r in plan}
        unknown = [n for n in args.train if n not in known]
        if unknown:
            raise ValueError(f"unknown run(s) {', '.join(unknown)}: expected some of {', '.join(known)}")
        chosen = [known[n] for n in args.train] if args.train else [r for r in plan if r.train]
        for run in chosen:
            if run.train is None:
                raise ValueError(f"{run.name} depends on {run.status.removeprefix('after ')}: "
                                 "notebook 07 trains it")
        for run in chosen:
            print(f"==> {run.name}: {describe_status(run)}", flush=True)
            run.train()
    except KeyboardInterrupt:
        print("interrupted: the epochs trained so far are kept; rerun to resume.", file=sys.stderr)
        return 130
    except (DataError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
