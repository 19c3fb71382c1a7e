"""Prepare the trained runs of a profile for the repository: what a fresh clone needs to
rebuild the report without training.

    python -m helpers.pipeline.ship [--profile full]      (make ship)

Every finished run keeps its config, metrics, history, validation/test probabilities and
architecture; the runs whose models an analysis needs (SHIP_WEIGHTS: the main CNN and the weak
CNN) also get their weights as float16 (weights.f16.npz, exact: final weights are float16
values). model.keras and unfinished runs stay out of git (.gitignore). models/manifest.json
records for each run its identity (fingerprint, training-data and test digests), code version,
backend, hardware, precision, date and files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from helpers.core.config import PROJECT_ROOT, load_profile, resolve
from helpers.core.results import read_json, write_json
from helpers.experiments.registry import experiments
from helpers.modeling.store import (
    file_sha256,
    ARCHITECTURE,
    SHIPPED_WEIGHTS,
    load_finished,
    ship_weights,
)

SHIP_WEIGHTS = tuple(e.name for e in experiments(load_profile("full")) if e.ship_weights)
"""Runs whose models the analysis notebooks and `make predict` use (the experiments marked
ship_weights); the others ship their predictions."""


SHIPPED_FILES = ("config.json", "metrics.json", "history.csv", "val_proba.npy", "test_proba.npy",
                 ARCHITECTURE, SHIPPED_WEIGHTS)


def shipped_files(run_dir: Path) -> list[Path]:
    """The files of a finished run that go to git (pool_*.npy: the self-training baselines'
    predictions of their pools)."""
    return ([run_dir / name for name in SHIPPED_FILES if (run_dir / name).exists()]
            + sorted(run_dir.glob("pool_*.npy")))


def code_version() -> str:
    """The git commit of the code (with '+changes' when the work tree differs), or 'unknown'."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def manifest_entry(run_dir: Path, weights: bool, version: str) -> dict:
    config, metrics = read_json(run_dir / "config.json"), read_json(run_dir / "metrics.json")
    runtime = metrics.get("runtime", {})
    return {
        "fingerprint": metrics.get("fingerprint"), "data_checksum": metrics.get("data_checksum"),
        "test_digest": metrics.get("test_digest"), "config": config.get("config"),
        "code_version": version, "backend": runtime.get("backend"),
        "hardware": runtime.get("accelerator") if runtime.get("accelerator", "none") != "none"
        else f"{runtime.get('processor')} ({runtime.get('cpu_count')} cores)",
        "precision": metrics.get("precision", "float32"), "finished": metrics.get("finished"),
        "evaluated": metrics.get("evaluated"),
        "val_accuracy": metrics.get("val_accuracy"), "weights": weights,
        "files": {path.name: path.stat().st_size for path in shipped_files(run_dir)},
        "sha256": {path.name: file_sha256(path) for path in shipped_files(run_dir)},
    }


def ship(models_dir, names, with_weights=SHIP_WEIGHTS) -> dict:
    """Write float16 weights for `with_weights` and models_dir/manifest.json for the finished
    runs among `names`; returns the manifest. Runs not finished are listed as missing."""
    models_dir = resolve(models_dir)
    version = code_version()
    manifest = {"written": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "code_version": version,
                "runs": {}, "missing": []}
    for name in names:
        run = load_finished(models_dir / name, verify=False)  # shipping makes the new reference
        if run is None:
            manifest["missing"].append(name)
            continue
        weights = name in with_weights
        if weights:
            ship_weights(run)
        manifest["runs"][name] = manifest_entry(run.run_dir, weights, version)
    write_json(models_dir / "manifest.json", manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    from helpers.core.config import profile_parameters

    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline.ship", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="full")
    args = parser.parse_args(argv)
    params = profile_parameters(args.profile)
    names = [e.name for e in experiments(params)]  # every run of the profile
    manifest = ship(params["models_dir"], names)
    for name, entry in manifest["runs"].items():
        size = sum(entry["files"].values())
        print(f"  {name:<38} {size / 1e6:6.2f} MB" + ("  (with float16 weights)" if entry["weights"] else ""))
    if manifest["missing"]:
        print(f"not finished yet: {', '.join(manifest['missing'])}")
    print(f"==> {resolve(params['models_dir']) / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
