"""Measure how long `python -m helpers.predict` takes for a whole test file (7,178 faces) with
the full profile's CNN, for each test-time augmentation mode. Not a test: it prints and records
numbers (README, "Use the trained model").

    .venv/bin/python scripts/benchmark_predict.py [--data-dir data] [--modes run flip none]
                                                  [--out build/benchmark_predict.json]

The CNN has the real architecture and precision (profiles/full.yaml: cnn, augmentation,
training.precision) with untrained weights, saved as a finished run in a temporary models
folder, so the timing covers what a user's call does after Python has started: reading the
CSV, loading the model, predicting every view, writing the leaderboard CSV. Start-up (Python,
TensorFlow and the project's imports) is measured separately, in a fresh process.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from helpers.core.config import load_profile, PROJECT_ROOT, resolve

TEST_ROWS = 7178  # FER2013's test set (PublicTest + PrivateTest)
RUN_NAME = "cnn"


def find_test_file(data_dir: Path) -> Path | None:
    """The data folder's test.csv[.gz], if there is one."""
    for name in ("test.csv", "test.csv.gz"):
        if (data_dir / name).is_file():
            return data_dir / name
    return None


def synthetic_test_file(folder: Path, rows: int = TEST_ROWS, seed: int = 0) -> Path:
    """A course-format test.csv of random faces (when the real one is not here)."""
    rng = np.random.default_rng(seed)
    path = folder / "test.csv"
    with open(path, "w") as f:
        f.write("id,feature\n")
        for i in range(rows):
            f.write(f"{i},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))}\n")
    return path


def save_untrained_run(models_dir: Path) -> Path:
    """The full profile's CNN, untrained, saved as a finished run (what helpers.predict loads)."""
    from helpers.modeling.backend import keras
    from helpers.modeling.models import build_cnn
    from helpers.core.results import write_json
    from helpers.modeling.inference import round_to_float16
    from helpers.modeling.store import save_model

    full = load_profile("full")
    training = full["training"]
    config = {"model": "cnn", "cnn": full["cnn"], "training": training,
              "augmentation": full["augmentation"], "normalization": {"mean": 129.5, "std": 65.0},
              "data": {"hist_eq": False}}
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(training.get("precision", "float32"))
    try:
        model = build_cnn(**full["cnn"], normalization=config["normalization"],
                          augmentation=full["augmentation"], seed=training.get("seed", 42))
    finally:
        keras.config.set_dtype_policy(previous)
    round_to_float16(model)
    run_dir = models_dir / RUN_NAME
    run_dir.mkdir(parents=True)
    save_model(model, run_dir / "model.keras")
    write_json(run_dir / "config.json", {"name": RUN_NAME, "config": config})
    write_json(run_dir / "metrics.json", {"name": RUN_NAME, "params": model.count_params()})
    return run_dir


def startup_seconds() -> float:
    """Seconds a fresh Python needs to import helpers.predict and the Keras side it loads."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import helpers.predict.cli, helpers.modeling.engine"],
                   check=True, cwd=PROJECT_ROOT)
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU time this process has used so far, all threads, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_predict(test_file: Path, models_dir: Path, output: Path, tta: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one in-process `helpers.predict` call on the test file.
    CPU / wall near 2 means both cores worked for it; near 1, it had one (another busy
    process, e.g. a training job in another session, takes the other)."""
    from helpers.predict.cli import main

    started, cpu = time.perf_counter(), cpu_seconds()
    with contextlib.redirect_stdout(io.StringIO()):
        status = main([str(test_file), "--models-dir", str(models_dir), "--output", str(output),
                       "--tta", tta])
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"helpers.predict failed with status {status}")
    return seconds, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--modes", nargs="+", default=["run", "flip", "none"])
    parser.add_argument("--out", default="build/benchmark_predict.json")
    args = parser.parse_args()
    from helpers.core.results import write_json
    from helpers.modeling.store import runtime_info

    results = {"runtime": runtime_info(), "load_average_before": os.getloadavg(),
               "startup_seconds": startup_seconds()}
    print(f"start-up (python -c 'import helpers.predict.cli, helpers.modeling.engine'): "
          f"{results['startup_seconds']:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        test_file = find_test_file(resolve(args.data_dir)) or synthetic_test_file(tmp)
        from helpers.predict.cli import read_test_file

        rows = len(read_test_file(test_file)[1])
        save_untrained_run(tmp / "models")
        results.update({"test_file": str(test_file), "rows": rows, "modes": {}})
        for tta in args.modes:
            seconds, cpu = time_predict(test_file, tmp / "models", tmp / "out.csv", tta)
            results["modes"][tta] = {"seconds": seconds, "cpu_seconds": cpu,
                                     "faces_per_second": rows / seconds}
            print(f"--tta {tta}: {rows:,} faces in {seconds:.1f} s ({rows / seconds:.0f} faces/s; "
                  f"CPU {cpu:.1f} s, {cpu / seconds:.2f} cores busy)")
    results["load_average_after"] = os.getloadavg()
    write_json(resolve(args.out), results)
    print(f"wrote {args.out} (load average before/after: "
          f"{results['load_average_before'][0]:.1f}/{results['load_average_after'][0]:.1f})")


if __name__ == "__main__":
    main()
