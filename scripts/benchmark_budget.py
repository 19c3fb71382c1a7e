"""What a larger (or smaller) training budget buys: the full profile's CNN recipe trained at
other budgets (its cosine schedule run to the end within each), and DNN variants at the
profile's budget. Not a test, and not part of the report.

Each entry is a run of the training engine under build/budget/models (resumable; a finished
entry is kept when the script is rerun); the table, with the shipped runs of the full profile
as reference rows, goes to benchmarks/budget.md. Hours on a CPU: it was run on a lent GPU
(scripts/gpu_train.sh runs it there with KERAS_BACKEND=jax).

    python scripts/benchmark_budget.py [--seconds LIMIT] [--only cnn_116_epochs,dnn_dropout_0.2]
    python scripts/benchmark_budget.py --table-only [--from FOLDER]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.core.config import load_profile, resolve  # noqa: E402
from helpers.experiments.inputs import load_inputs, train_cnn, train_dnn
from helpers.core.words import duration
from helpers.experiments.registry import cnn_parameter_count  # noqa: E402

MODELS_DIR = ROOT / "build" / "budget" / "models"
TABLE = ROOT / "benchmarks" / "budget.md"
SHIPPED = ROOT / "models"

# In the order they run: the most telling first, for a time-limited machine.
ENTRIES = {
    "dnn_dropout_0.5": ("DNN, dropout 0.5 (the profile's first setting)", "dnn", {"dnn_dropout": 0.5}),
    "dnn_dropout_0.2": ("DNN, dropout 0.2 instead of 0.5", "dnn", {"dnn_dropout": 0.2}),
    "cnn_116_epochs": ("CNN, twice the profile's budget (116 epochs)", "cnn", {"epochs": 116}),
    "cnn_29_epochs": ("CNN, half the profile's budget (29 epochs)", "cnn", {"epochs": 29}),
    "cnn_14_epochs": ("CNN, a quarter of the profile's budget (14 epochs)", "cnn", {"epochs": 14}),
    # What buys the most accuracy per training image (issue: the accuracy targets), each against
    # cnn_29_epochs at the same budget:
    "cnn_29_ema": ("CNN, 29 epochs, weights averaged (EMA, decay 0.999 per step)", "cnn",
                   {"epochs": 29, "training": {"ema": 0.999}}),
    "cnn_29_mixup": ("CNN, 29 epochs, mixup (alpha 0.2)", "cnn",
                     {"epochs": 29, "training": {"mixup": 0.2}}),
    "cnn_29_wide": ("CNN, 29 epochs, 1.5x the filters (48-384)", "cnn",
                    {"epochs": 29, "cnn": {"filters": [48, 96, 192, 384]}}),
    # the wider network won at 29 epochs (+2.3 points): does its gain hold at twice the budget,
    # against the 58-epoch plain run (question 4's variant (c))?
    "cnn_58_wide": ("CNN, 58 epochs, 1.5x the filters (48-384)", "cnn",
                    {"epochs": 58, "cnn": {"filters": [48, 96, 192, 384]}}),
}


def train_entry(name: str, kind: str, changes: dict, profile: dict, inputs):
    training = copy.deepcopy(profile["training"])
    if kind == "cnn":
        training.update(changes.get("training", {}), epochs=changes["epochs"])
        cnn = {**profile["cnn"], **changes.get("cnn", {})}
        return train_cnn(name, inputs, cnn, training, MODELS_DIR, profile["augmentation"],
                         with_test=False)
    return train_dnn(name, inputs, cnn_parameter_count(profile, inputs), profile["dnn_depth"],
                     changes["dnn_dropout"], training, MODELS_DIR, profile["augmentation"])


def rows(models_dirs: list[Path]) -> list[dict]:
    """One row per finished run: the shipped reference runs, then the entries."""
    found = []
    for label, run_dir, change in (
            [("cnn (shipped)", SHIPPED / "cnn", "the full profile's main CNN, {epochs} epochs"),
             ("cnn_58 (shipped)", SHIPPED / "ablation_normalization_augmentation",
              "the same recipe at 58 epochs (question 4's variant (c))"),
             ("dnn (shipped)", SHIPPED / "dnn", "the full profile's DNN, no dropout")]
            + [(name, d / name, text) for name, (text, _, _) in ENTRIES.items()
               for d in models_dirs]):
        metrics_file = run_dir / "metrics.json"
        if metrics_file.exists() and all(r["recipe"] != label for r in found):
            m = json.loads(metrics_file.read_text())
            runtime = m["runtime"]
            found.append({"recipe": label, "change": change.format(epochs=m["epochs_run"]),
                          "epochs": m["epochs_run"],
                          "images": m["train_images"], "val": m["val_accuracy"],
                          "val_plain": m["val_accuracy_no_tta"],
                          "train": m["final_train_accuracy"],
                          "hardware": runtime["accelerator"] if runtime["accelerator"] != "none"
                          else f"{runtime['processor']}, {runtime['cpu_count']} cores",
                          "backend": runtime["backend"],
                          "seconds": m["train_seconds_total"]})
    return found


def earlier_rows(path: Path) -> dict[str, str]:
    """The table's rows by run name, as written before: an entry measured elsewhere (a lent GPU)
    keeps its row when its run folder is not on this machine."""
    if not path.exists():
        return {}
    kept = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ENTRIES:
            kept[cells[0]] = line
    return kept


def write_table(found: list[dict], path: Path) -> None:
    earlier = earlier_rows(path)
    lines = [
        "# Accuracy against training budget",
        "",
        "Written by `scripts/benchmark_budget.py`. Every run uses the full profile "
        "(profiles/full.yaml), its seed and its validation split (stratified 10% of train.csv); "
        "only the change named differs. A CNN budget of E epochs runs the whole warm-up and "
        "cosine schedule within E epochs. Validation accuracy with the run's test-time "
        "augmentation (ten crops and their mirror images), then a single center view; training "
        "accuracy is the last epoch's, on augmented images with dropout.",
        "",
        "| run | change | epochs | training images | val. acc. | val. acc. (one view) "
        "| train acc. | trained on | backend | training time |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    measured = {r["recipe"]: r for r in found}
    for name in [r["recipe"] for r in found if r["recipe"] not in ENTRIES] + list(ENTRIES):
        r = measured.get(name)
        if r is None:
            if name in earlier:
                lines.append(earlier[name])
            continue
        lines.append(f"| {r['recipe']} | {r['change']} | {r['epochs']} | {r['images']:,} | "
                     f"{r['val']:.1%} | {r['val_plain']:.1%} | {r['train']:.1%} | {r['hardware']} | "
                     f"{r['backend']} | {duration(r['seconds'])} |")
    missing = [n for n in ENTRIES if n not in measured and n not in earlier]
    if missing:
        lines += ["", "Not measured yet: " + ", ".join(missing) + "."]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def train_entries(names: list[str], profile: dict, inputs, seconds: float | None) -> None:
    started, rate = time.perf_counter(), None  # CNN images per second, once measured
    for name in names:
        text, kind, changes = ENTRIES[name]
        epochs = changes.get("epochs", profile["training"]["epochs"])
        cost = epochs * len(inputs.y_train) * (1 if kind == "cnn" else 1 / 12)
        left = None if seconds is None else seconds - (time.perf_counter() - started)
        if rate and left is not None and 1.2 * cost / rate + 20 > left:  # + compile, evaluation
            print(f"== {name}: skipped, about {duration(cost / rate)} and {duration(left)} left")
            continue
        print(f"== {name}: {text}", flush=True)
        run = train_entry(name, kind, changes, profile, inputs)
        if kind == "cnn" and not run.reused:
            rate = run.metrics["images_per_second"]
        print(f"== {name}: validation {run.metrics['val_accuracy']:.1%}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=None,
                        help="start no entry that would not finish within this many seconds")
    parser.add_argument("--only", default="", help="comma-separated entry names")
    parser.add_argument("--data-dir", default=None, help="default: the full profile's")
    parser.add_argument("--table-only", action="store_true", help="rewrite the table, train nothing")
    parser.add_argument("--from", dest="extra", type=Path, action="append", default=[],
                        help="also read finished entries from this models folder")
    args = parser.parse_args(argv)
    if not args.table_only:
        names = args.only.split(",") if args.only else list(ENTRIES)
        unknown = [n for n in names if n not in ENTRIES]
        if unknown:
            parser.error(f"unknown entries {unknown}: expected some of {list(ENTRIES)}")
        profile = load_profile("full")
        inputs = load_inputs(resolve(args.data_dir or profile["data_dir"]),
                             profile["val_fraction"], profile["seed"])
        try:
            train_entries(names, profile, inputs, args.seconds)
        except KeyboardInterrupt:
            print("interrupted: the epochs trained so far are kept; rerun to resume.", file=sys.stderr)
            return 130
    write_table(rows([MODELS_DIR, *args.extra]), TABLE)
    print(f"wrote {TABLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
