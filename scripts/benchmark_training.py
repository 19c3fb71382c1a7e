"""Measure training throughput (images per second) of the full profile's CNN and DNN on this
machine, to plan where the full run can train. Not a test: it prints and records numbers.

    .venv/bin/python scripts/benchmark_training.py [--images 2048] [--out build/benchmark.json]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from helpers.core.config import load_profile
from helpers.modeling.models import build_cnn, build_dnn, dnn_width_for, input_pixels
from helpers.core.results import write_json
from helpers.modeling.recipe import make_optimizer, one_hot, seed_everything
from helpers.modeling.store import runtime_info


def throughput(model, x, y, batch_size: int, training: dict) -> float:
    model.compile(optimizer=make_optimizer(training, len(x) // batch_size), loss="categorical_crossentropy")
    model.fit(x[:batch_size * 2], y[:batch_size * 2], batch_size=batch_size, epochs=1, verbose=0)  # warm-up
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return len(x) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--out", default="build/benchmark.json")
    args = parser.parse_args()
    full = load_profile("full")
    seed_everything(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 48, 48, 1)).astype(np.float32)
    y = one_hot(rng.integers(0, 7, args.images))
    norm = {"mean": 128.0, "std": 64.0}
    cnn = build_cnn(**full["cnn"], normalization=norm, augmentation=full["augmentation"])
    width = dnn_width_for(cnn.count_params(), full["dnn_depth"], input_pixels(full["augmentation"]))
    dnn = build_dnn([width] * full["dnn_depth"], full["dnn_dropout"], norm, full["augmentation"])
    results = {"runtime": runtime_info(), "images": args.images}
    train_rows = 28709 * (1 - full["val_fraction"])
    for name, model in (("cnn", cnn), ("dnn", dnn)):
        rate = throughput(model, x, y, full["training"]["batch_size"], full["training"])
        epoch = train_rows / rate
        results[name] = {"params": model.count_params(), "images_per_second": rate,
                         "seconds_per_epoch": epoch,
                         "hours_for_full_run": epoch * full["training"]["epochs"] / 3600}
        print(f"{name}: {model.count_params():,} params, {rate:.0f} images/s, {epoch:.0f} s per epoch, "
              f"{results[name]['hours_for_full_run']:.1f} h for {full['training']['epochs']} epochs")
    write_json(args.out, results)


if __name__ == "__main__":
    main()
