"""The training plan of a report run: which runs are reused, which resume, which train, and
about how long that takes on this machine, printed before any notebook starts.

Each planned run's config is built by the same functions the notebooks train with
(helpers.experiments), so "reused" here means the notebook will reuse it. Runs whose training
rows depend on an earlier run's predictions (the self-trained students) can only be checked
once that run exists; they are listed as "after <teacher>".
"""

from __future__ import annotations

import re
import time

import numpy as np

from helpers.core.config import resolve
from helpers.core.words import duration
from helpers.experiments.registry import (
    DNN_COST,
    PlannedRun,
    budget_total,
    profile_budget,
    report_plan,
)


def training_compute(params: dict, train_rows: int, test_rows: int) -> dict:
    """What the report's runs cost, from their metrics.json (for results.json and the title
    page): per run its images, epochs, seconds, images/s, precision and hardware; in total the
    images (a DNN image counted as DNN_COST) against the budget, and the hours."""
    from helpers.core.results import read_json

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


def _where_words(hardware: str) -> str:
    """'AMD EPYC, 2 cores (tensorflow)' -> 'AMD EPYC, 2 cores with tensorflow'."""
    return re.sub(r" \((\w+)\)$", r" with \1", hardware)


def compute_words(compute: dict) -> str:
    """The title page's line: '4,473,232 face images seen in training (budget 4,500,000; a DNN
    face counts as 1/12 of a CNN face, a fixed rate, not this run's speed), 1 h 34 min on <CPU> with
    tensorflow; 6 min on NVIDIA H200 with jax (DNN); arithmetic in bfloat16, weights in float32 while
    training'."""
    if not compute or not compute.get("runs"):
        return "no trained run found"
    from helpers.experiments.registry import run_name

    runs_on: dict[str, list[str]] = {}
    for name, r in compute["runs"].items():
        runs_on.setdefault(f"{r['hardware']} ({r['backend']})", []).append(run_name(name).what)
    places = []
    for hardware, seconds in compute["seconds_by_hardware"].items():
        which = runs_on.get(hardware, [])
        # the main place needs no list; a few runs elsewhere are named
        named = f" ({', '.join(which)})" if places and len(which) <= 3 else ""
        places.append(f"{duration(seconds)} on {_where_words(hardware)}{named}")
    precision = ", ".join("arithmetic in bfloat16, weights in float32 while training" if p == "mixed_bfloat16"
                          else f"{p} arithmetic" for p in compute["precision"])
    text = (f"{compute['images']:,.0f} face images seen in training (budget "
            f"{compute['budget_images']:,.0f}; a DNN face counts as 1/{round(1 / DNN_COST)} of a CNN "
            "face, a fixed rate, not this run's speed), " + "; ".join(places) + f"; {precision}")
    if compute.get("missing"):
        text += f"; not found: {', '.join(compute['missing'])}"
    return text


def measure_images_per_second(params: dict, inputs, kind: str = "cnn", batches: int = 6) -> float:
    """Training images per second of the profile's CNN (or DNN) on this machine, from a few
    batches of random images after two warm-up batches (about 10-20 s)."""
    from helpers.experiments.inputs import dnn_run_config
    from helpers.modeling.backend import keras
    from helpers.modeling.models import build_cnn, build_dnn
    from helpers.modeling.recipe import compile_model, one_hot

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
    compile_model(model, training, batches + 2)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, ((batches + 2) * batch, 48, 48, 1)).astype(np.float32)
    y = one_hot(rng.integers(0, 7, len(x)))
    model.fit(x[:2 * batch], y[:2 * batch], batch_size=batch, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(x[2 * batch:], y[2 * batch:], batch_size=batch, epochs=1, verbose=0)
    return batches * batch / (time.perf_counter() - started)


def describe_status(run: PlannedRun) -> str:
    if run.status == "reuse":
        return "reused"
    if run.status == "finish":
        return "trained; evaluation only"
    if run.status == "evaluate":
        return "trained, metrics.json missing: evaluated from its weights, not retrained"
    if run.status == "shipped":
        return "shipped run for other settings: kept (RETRAIN=1 trains and replaces it)"
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
    from helpers.experiments.inputs import data_line, load_inputs

    args = (params["data_dir"], params["val_fraction"], params["seed"], params.get("max_train_rows"))
    inputs = load_inputs(*args)
    eq_inputs = load_inputs(*args, hist_eq=True)
    plan = report_plan(params, inputs, eq_inputs)
    line = data_line(inputs, str(params["data_dir"]))
    if line:  # another copy of the shipped runs' faces, lined up with them
        out(f"==> {line}")
    rates = None
    if measure and any(r.trains for r in plan):
        rates = {"cnn": measure_images_per_second(params, inputs, "cnn")}
        rates["dnn"] = measure_images_per_second(params, inputs, "dnn")
    out(f"==> training plan (models in {params['models_dir']}/):")
    for line in plan_lines(plan, rates):
        out(line)
    return plan


def main(argv: list[str] | None = None) -> int:
    """python -m helpers.pipeline.plan [--profile full] [--data-dir DIR] [--train [RUN ...]]

    Prints the training plan; with --train, trains the named runs (default: every run that
    does not depend on another's predictions), in order, each reused or resumed when it can
    be. Meant for long training in the background; `make report` then reuses the runs.
    """
    import argparse
    import sys

    from helpers.core.config import profile_parameters
    from helpers.core.locks import Busy
    from helpers.data.fer2013 import DataError

    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline.plan", description=main.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="full")
    parser.add_argument("--data-dir", help="folder with FER2013 (default: the profile's)")
    parser.add_argument("--train", nargs="*", metavar="RUN", help="train these runs (none named: all)")
    parser.add_argument("--retrain", action="store_true",
                        help="train the runs from scratch even when a finished one matches")
    args = parser.parse_args(argv)
    try:
        params = profile_parameters(args.profile, args.data_dir, args.retrain)
        if args.retrain and args.train:  # only the named runs start over; the plan says so
            params["retrain"] = list(args.train)
        plan = show_plan(params, measure=True)
        if args.train is None:
            return 0
        known = {r.name: r for r in plan}
        unknown = [n for n in args.train if n not in known]
        if unknown:
            trainable = [name for name, run in known.items() if run.train is not None]
            raise ValueError(f"unknown run(s) {', '.join(unknown)}: `make train RUNS=...` trains "
                             f"some of {', '.join(trainable)} (the self-trained students are "
                             "trained by notebook 07)")
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
    except Busy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a full disk, a damaged file: one line, not a wall
        from helpers.core.messages import error_line

        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
