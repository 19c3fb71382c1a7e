"""Compare training recipes for the main CNN at one equal, small budget: images per second and
validation accuracy (flip-averaged) on the shared split, to choose the full run's recipe.

Not a test: it trains each recipe once with the same seed and budget, records the numbers in
build/recipes/results.json (a finished recipe is skipped when rerun) and writes the table to
benchmarks/recipes.md.

    .venv/bin/python scripts/benchmark_recipes.py [--epochs 8] [--only light,crop]
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

from helpers.modeling.backend import keras
import numpy as np

from helpers.core.config import load_profile, PROJECT_ROOT, resolve
from helpers.experiments.inputs import load_inputs
from helpers.modeling.models import build_cnn
from helpers.core.results import read_json, write_json
from helpers.modeling.inference import predict_proba
from helpers.modeling.recipe import make_optimizer, one_hot, seed_everything
from helpers.modeling.store import runtime_info

# Each recipe states its changes to the full profile's CNN recipe (profiles/full.yaml), which
# has since adopted `crop`'s settings: every entry spells out what differs from it.
RECIPES = {
    "profile": ("the full profile as it was (dropout 0.25, flip, shift, rotation, zoom, "
                "3 warm-up epochs)",
                {"cnn": {"conv_dropout": 0.25},
                 "augmentation": {"flip": True, "crop": 0, "shift": 0.1, "rotation_degrees": 10.0,
                                  "zoom": 0.1},
                 "training": {"warmup_epochs": 3}}),
    "light": ("conv dropout 0.1, flip + shift only, 1 warm-up epoch",
              {"cnn": {"conv_dropout": 0.1},
               "augmentation": {"flip": True, "crop": 0, "shift": 0.1, "rotation_degrees": 0,
                                "zoom": 0},
               "training": {"warmup_epochs": 1}}),
    "crop": ("as light, but a random 44 px crop instead of the shift (center crop at test)",
             {"cnn": {"conv_dropout": 0.1},
              "augmentation": {"flip": True, "crop": 44, "shift": 0, "rotation_degrees": 0,
                               "zoom": 0},
              "training": {"warmup_epochs": 1}}),
    "crop_bf16": ("as crop, in mixed bfloat16 precision",
                  {"cnn": {"conv_dropout": 0.1},
                   "augmentation": {"flip": True, "crop": 44, "shift": 0, "rotation_degrees": 0,
                                    "zoom": 0},
                   "training": {"warmup_epochs": 1}, "precision": "mixed_bfloat16"}),
}

OUT_DIR = PROJECT_ROOT / "build" / "recipes"
TABLE = PROJECT_ROOT / "benchmarks" / "recipes.md"


def recipe_settings(profile: dict, changes: dict) -> dict:
    settings = {"cnn": copy.deepcopy(profile["cnn"]),
                "augmentation": copy.deepcopy(profile["augmentation"]),
                "training": copy.deepcopy(profile["training"]), "precision": "float32"}
    for key, value in changes.items():
        if isinstance(value, dict):
            settings[key].update(value)
        else:
            settings[key] = value
    return settings


def train_recipe(settings: dict, inputs, epochs: int) -> dict:
    training = {**settings["training"], "epochs": epochs}
    keras.config.set_dtype_policy(settings["precision"])
    try:
        seed_everything(training["seed"])
        model = build_cnn(**settings["cnn"], normalization=inputs.normalization,
                          augmentation=settings["augmentation"], seed=training["seed"])
        steps = int(np.ceil(len(inputs.y_train) / training["batch_size"]))
        model.compile(optimizer=make_optimizer(training, steps),
                      loss=keras.losses.CategoricalCrossentropy(
                          label_smoothing=training["label_smoothing"]),
                      metrics=["accuracy"])
        started = time.perf_counter()
        history = model.fit(inputs.x_train, one_hot(inputs.y_train), epochs=epochs,
                            batch_size=training["batch_size"], shuffle=True, verbose=2)
        seconds = time.perf_counter() - started
        proba = predict_proba(model, inputs.x_val, tta_flip=True)
        ten_crop = predict_proba(model, inputs.x_val, tta_flip=True, tta_crops=True)
        plain = predict_proba(model, inputs.x_val)
        # Training accuracy without augmentation or dropout, on as many rows as validation has.
        train_proba = predict_proba(model, inputs.x_train[:len(inputs.y_val)])
    finally:
        keras.config.set_dtype_policy("float32")
    images = epochs * len(inputs.y_train)
    return {
        "epochs": epochs, "images": images, "seconds": seconds, "images_per_second": images / seconds,
        "val_accuracy": float(np.mean(proba.argmax(1) == inputs.y_val)),
        "val_accuracy_no_tta": float(np.mean(plain.argmax(1) == inputs.y_val)),
        "val_accuracy_ten_crop": float(np.mean(ten_crop.argmax(1) == inputs.y_val)),
        "train_accuracy": float(np.mean(train_proba.argmax(1) == inputs.y_train[:len(inputs.y_val)])),
        "train_accuracy_augmented": float(history.history["accuracy"][-1]),
        "params": int(model.count_params()), "settings": settings, "runtime": runtime_info(),
    }


def write_table(results: dict, path: Path) -> None:
    lines = [
        "# Recipe comparison for the main CNN",
        "",
        "Written by `scripts/benchmark_recipes.py`: each recipe trained once, same seed, same split",
        "(stratified 10% validation of train.csv) and the same budget of training images; the",
        "learning-rate schedule runs its full course within that budget. Accuracy on the validation",
        "split with flip averaging; train accuracy on as many training rows, without augmentation.",
        "",
        "| recipe | change | precision | images | images/s | train acc. | val. acc. | val. acc. (no flip) | val. acc. (ten-crop) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['description']} | {r['settings']['precision']} | {r['images']:,} | "
            f"{r['images_per_second']:.0f} | {r['train_accuracy']:.1%} | {r['val_accuracy']:.1%} | "
            f"{r['val_accuracy_no_tta']:.1%} | "
            + (f"{r['val_accuracy_ten_crop']:.1%} |" if "val_accuracy_ten_crop" in r else "n/a |"))
    measured = {key.split("@")[0] for key in results}
    pending = [name for name in RECIPES if name not in measured]
    if pending:
        lines += ["", "Not measured yet (rerun the script; finished recipes are kept): "
                  + "; ".join(f"{n} ({RECIPES[n][0]})" for n in pending) + "."]
    runtime = next(iter(results.values()))["runtime"] if results else {}
    lines += ["", f"Measured with {runtime.get('backend', '?')} on {runtime.get('processor', '?')}, "
              f"{runtime.get('cpu_count', '?')} cores, at low priority beside other work "
              "(images/s are comparable within one table, not absolute; the crop@8 row ran beside a "
              "training job, the others alone).",
              "",
              "The full profile trains the crop_bf16 recipe; benchmarks/budget.md gives its accuracy on "
              "the profile's budget (58 epochs) and on twice that.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--only", default="", help="comma-separated recipe names")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--table-only", action="store_true", help="rewrite the table, train nothing")
    args = parser.parse_args()
    if args.table_only:
        return table_only()
    profile = load_profile("full")
    inputs = load_inputs(resolve(args.data_dir), profile["val_fraction"], profile["seed"])
    results_path = OUT_DIR / "results.json"
    results = read_json(results_path)
    names = [n for n in (args.only.split(",") if args.only else RECIPES)]
    for name in names:
        description, changes = RECIPES[name]
        key = f"{name}@{args.epochs}"
        if key in results:
            continue
        print(f"== {name}: {description}", flush=True)
        result = train_recipe(recipe_settings(profile, changes), inputs, args.epochs)
        result["description"] = description
        results[key] = result
        write_json(results_path, results)
        print(f"== {name}: {result['images_per_second']:.0f} images/s, val {result['val_accuracy']:.1%}",
              flush=True)
    write_table(results, TABLE)


def table_only() -> None:
    """Rewrite benchmarks/recipes.md from the recorded results (nothing is trained)."""
    write_table(read_json(OUT_DIR / "results.json"), TABLE)


if __name__ == "__main__":
    main()
