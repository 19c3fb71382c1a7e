"""scripts/gpu_bundle.py: the training data travels to a lent GPU without loss, and runs come
back without clobbering what is here."""

import importlib.util
import json
import tarfile

import numpy as np
import pytest

from helpers.core.config import PROJECT_ROOT
from helpers.data.fer2013 import load_fer2013

spec = importlib.util.spec_from_file_location("gpu_bundle", PROJECT_ROOT / "scripts" / "gpu_bundle.py")
bundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bundle)


def write_train_csv(folder, rows=6, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    lines = ["label,feature"] + [f"{i % 7}," + " ".join(map(str, rng.integers(0, 256, 2304)))
                                 for i in range(rows)]
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_data_round_trip_keeps_the_training_set_identity(tmp_path):
    source = write_train_csv(tmp_path / "data")
    packed = tmp_path / "train.npz.xz"
    bundle.pack_data(source, packed)
    bundle.unpack_data(packed, tmp_path / "there")
    original = load_fer2013(source, use_cache=False)
    copied = load_fer2013(tmp_path / "there", use_cache=False)
    assert copied.train_digest == original.train_digest
    np.testing.assert_array_equal(copied.x_train, original.x_train)


def test_damaged_data_is_refused(tmp_path, monkeypatch):
    source = write_train_csv(tmp_path / "data")
    packed = tmp_path / "train.npz.xz"
    bundle.pack_data(source, packed)
    monkeypatch.setattr(bundle, "digest_train_set", lambda x, y: "other pixels")
    with pytest.raises(ValueError, match="do not match their digest"):
        bundle.unpack_data(packed, tmp_path / "there")
    assert not (tmp_path / "there" / "train.csv").exists()


def finished_run(models, name, marker="gpu"):
    run = models / name
    (run / "checkpoints" / "epoch-0001").mkdir(parents=True)
    (run / "checkpoints" / "epoch-0001" / "meta.json").write_text("{}")
    (run / "metrics.json").write_text(json.dumps({"where": marker}))
    (run / "val_proba.npy").write_bytes(b"x")
    return run


def training_run(models, name, epochs):
    staged = models / f"{name}.training"
    for epoch in range(1, epochs + 1):
        folder = staged / "checkpoints" / f"epoch-{epoch:04d}"
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(json.dumps({"epochs_done": epoch}))
        (folder / "weights.npz").write_bytes(b"w")
    (staged / "config.json").write_text("{}")
    return staged


def names_in(archive):
    with tarfile.open(archive) as tar:
        return set(tar.getnames())


def test_pack_runs_sends_finished_runs_without_checkpoints_and_others_with_the_newest(tmp_path, capsys):
    models, out = tmp_path / "models", tmp_path / "out"
    finished_run(models, "done")
    training_run(models, "half", 3)
    bundle.pack_runs(models, out, ["done", "half", "absent"])
    assert "absent: nothing trained" in capsys.readouterr().out
    done = names_in(out / "done.tar.gz")
    assert "done/metrics.json" in done and not any("checkpoints" in n for n in done)
    half = names_in(out / "half.tar.gz")
    assert "half.training/checkpoints/epoch-0003/weights.npz" in half
    assert not any("epoch-0001" in n or "epoch-0002" in n for n in half)


def test_unpack_runs_never_replaces_finished_or_newer_work(tmp_path, capsys):
    there, out, here = tmp_path / "there", tmp_path / "out", tmp_path / "here"
    finished_run(there, "done")
    finished_run(there, "new")
    training_run(there, "ahead", 3)
    training_run(there, "behind", 2)
    bundle.pack_runs(there, out, ["done", "new", "ahead", "behind"])

    finished_run(here, "done", marker="local")
    training_run(here, "new", 5)  # unfinished here: the finished run from the GPU wins
    training_run(here, "ahead", 1)
    training_run(here, "behind", 4)
    bundle.unpack_runs(out, here)

    assert json.loads((here / "done" / "metrics.json").read_text()) == {"where": "local"}
    assert json.loads((here / "new" / "metrics.json").read_text()) == {"where": "gpu"}
    assert not (here / "new.training").exists()
    assert (here / "ahead.training" / "checkpoints" / "epoch-0003").is_dir()
    assert not (here / "ahead.training" / "checkpoints" / "epoch-0001").exists()
    assert (here / "behind.training" / "checkpoints" / "epoch-0004").is_dir()
    printed = capsys.readouterr().out
    assert "done: kept the finished run here" in printed
    assert "behind: kept the local checkpoint (4 epochs)" in printed
    assert sorted(p.name for p in here.iterdir()) == ["ahead.training", "behind.training", "done", "new"]

    bundle.unpack_runs(out, here, replace=True)
    assert json.loads((here / "done" / "metrics.json").read_text()) == {"where": "gpu"}
