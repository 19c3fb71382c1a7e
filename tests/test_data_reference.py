"""Another copy of the shipped runs' FER2013 (pixels within about a gray level, rows in another
order: Kaggle's fer2013.csv against the course's CSVs) is recognized as the same faces and lined
up with them, so that the shipped runs are reused instead of retrained (helpers.data.signature,
helpers.data.fer2013.align_to_reference, helpers.experiments.inputs.load_inputs).

The unit tests use small synthetic sets; the committed reference is checked against the shipped
runs' records, and, where ../shared/fer2013 exists, against what scripts/build_data_reference.py
computes from it and on a perturbed, shuffled copy of it (the issue's test)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import helpers.data.fer2013 as data_fer2013
from helpers.core.config import MODELS_DIR, PROJECT_ROOT
from helpers.core.results import read_json
from helpers.data.fer2013 import FER2013, align_to_reference, digest_test_set, digest_train_set, load_splits
from helpers.data.signature import (
    MIN_MATCHED,
    REFERENCE_FILE,
    TOLERANCE,
    build_reference,
    face_signatures,
    load_reference,
    match_rows,
    recognize,
    rounded_signatures,
    save_reference,
)

IDENTITY = {"split": {"val_fraction": 0.1, "seed": 42, "max_train_rows": None},
            "inputs": {"raw": {"normalization": {"mean": 1.0, "std": 2.0}, "train_labels_sha": "r"},
                       "hist_eq": {"normalization": {"mean": 3.0, "std": 4.0},
                                   "train_labels_sha": "h"}}}


@pytest.fixture(autouse=True, scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """The data cache goes to tmp, never build/cache (one for the module: ../shared is parsed
    once)."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data_fer2013, "CACHE_DIR", folder)
        yield folder


def faces(n: int, seed: int = 0) -> np.ndarray:
    """n distinct synthetic faces: smooth random shading plus noise, uint8 (n, 48, 48)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(20, 236, size=(n, 6, 6)).astype(np.float64)
    smooth = np.kron(coarse, np.ones((8, 8)))
    return np.clip(smooth + rng.normal(0, 8, size=(n, 48, 48)), 0, 255).astype(np.uint8)


def labels_for(n: int, seed: int = 0) -> np.ndarray:
    """Every class present, then random classes."""
    rest = np.random.default_rng(seed).integers(0, 7, n - 7)
    return np.concatenate([np.arange(7), rest]).astype(np.int64)


def perturbed(images: np.ndarray, seed: int) -> np.ndarray:
    """Every pixel moved by a seeded -1 or +1 gray level, clipped to 0..255."""
    step = np.random.default_rng(seed).choice(np.array([-1, 1], np.int16), images.shape)
    return np.clip(images.astype(np.int16) + step, 0, 255).astype(np.uint8)


def dataset(x, y, x_test, ids=None) -> FER2013:
    ids = np.arange(len(x_test)) if ids is None else ids
    return FER2013(x, y, x_test, ids, None, "course CSV (train.csv/test.csv)",
                   train_digest=digest_train_set(x, y), test_digest=digest_test_set(x_test, ids, None))


def reference_of(data: FER2013):
    return build_reference(data.x_train, data.y_train, data.x_test, data.train_digest,
                           data.test_digest, IDENTITY)


# --------------------------------------------------------------------------- signature and matcher


def test_a_signature_is_the_4x4_grid_of_block_means_and_moves_at_most_one_per_grey_level():
    x = faces(5)
    sig = face_signatures(x)
    assert sig.shape == (5, 16) and sig.dtype == np.float32
    np.testing.assert_allclose(sig[2, 5], x[2, 12:24, 12:24].mean(), rtol=1e-6)  # block (1, 1)
    assert np.abs(face_signatures(perturbed(x, 1)) - sig).max() <= 1.0
    assert rounded_signatures(x).dtype == np.uint8


def test_a_perturbed_and_shuffled_copy_is_mapped_back_exactly():
    x, y = faces(300), labels_for(300)
    order = np.random.default_rng(3).permutation(300)
    copy_x, copy_y = perturbed(x, 4)[order], y[order]
    assign = match_rows(face_signatures(copy_x), rounded_signatures(x), copy_y, y)
    np.testing.assert_array_equal(assign, order)  # user row i is reference row order[i]


def test_another_dataset_is_not_matched():
    x, y = faces(200, seed=0), labels_for(200)
    other = faces(200, seed=99)
    assign = match_rows(face_signatures(other), rounded_signatures(x), y, y)
    assert (assign == -1).all()


def test_duplicated_faces_are_assigned_one_to_one():
    x, y = faces(40), labels_for(40)
    x[10:15], y[10:15] = x[10], y[10]  # five copies of one face
    order = np.random.default_rng(5).permutation(40)
    assign = match_rows(face_signatures(perturbed(x, 6)[order]), rounded_signatures(x), y[order], y)
    assert (assign >= 0).all() and len(np.unique(assign)) == 40
    np.testing.assert_array_equal(y[assign], y[order])
    exact = assign == order
    assert np.isin(order[~exact], np.arange(10, 15)).all()  # only copies trade places


def test_a_face_whose_label_changed_is_not_matched():
    x, y = faces(50), labels_for(50)
    changed = y.copy()
    changed[20] = (y[20] + 1) % 7
    assign = match_rows(face_signatures(perturbed(x, 7)), rounded_signatures(x), changed, y)
    assert assign[20] == -1
    np.testing.assert_array_equal(np.delete(assign, 20), np.delete(np.arange(50), 20))


def test_a_label_change_or_another_dataset_is_not_the_same_faces():
    x, y = faces(400), labels_for(400)
    data = dataset(x, y, faces(30, seed=8))
    reference = reference_of(data)
    relabelled = y.copy()
    relabelled[3] = (y[3] + 1) % 7  # the class counts differ
    assert recognize(perturbed(x, 1), relabelled, data.x_test, "other", data.test_digest, reference) is None
    assert recognize(faces(400, seed=50), y, data.x_test, "other", data.test_digest, reference) is None
    # More than (1 - MIN_MATCHED) of the faces replaced (same labels): another dataset.
    replaced = perturbed(x, 2)
    swap = int(np.ceil((1 - MIN_MATCHED) * 400)) + 1
    replaced[:swap] = faces(swap, seed=77)
    assert recognize(replaced, y, data.x_test, "other", data.test_digest, reference) is None


def test_a_few_unmatched_faces_are_paired_by_label_within_the_threshold():
    x, y = faces(1000), labels_for(1000)
    data = dataset(x, y, faces(30, seed=8))
    copy = perturbed(x, 3)
    copy[500] = faces(1, seed=123)[0]  # one face of 1000 differs: 99.9% matched
    same = recognize(copy, y, data.x_test, "other", data.test_digest, reference_of(data))
    assert same is not None and same.matched == 999 and not same.reordered
    np.testing.assert_array_equal(same.train_order, np.arange(1000))


def test_an_aligned_copy_has_the_references_rows_identity_and_test_order():
    x, y, x_test = faces(500), labels_for(500), faces(40, seed=9)
    ids = np.arange(100, 140)
    original = dataset(x, y, x_test, ids)
    reference = reference_of(original)
    order, test_order = np.random.default_rng(1).permutation(500), np.random.default_rng(2).permutation(40)
    copy = dataset(perturbed(x, 5)[order], y[order], perturbed(x_test, 6)[test_order], ids[test_order])
    aligned, same = align_to_reference(copy, reference)
    assert same.reordered and not same.exact and same.test == "matched" and same.test_reordered
    assert np.abs(aligned.x_train.astype(int) - x).max() <= 1
    np.testing.assert_array_equal(aligned.y_train, y)
    assert aligned.train_digest == original.train_digest
    # The test faces in the reference's order, each with its own id.
    assert np.abs(aligned.x_test.astype(int) - x_test).max() <= 1
    np.testing.assert_array_equal(aligned.test_ids, ids)
    assert aligned.test_digest == original.test_digest
    assert copy.x_train is not aligned.x_train and copy.train_digest != original.train_digest
    line = same.describe("data")
    assert "the same 500 FER2013 training faces as the shipped runs" in line
    assert "rows in another order" in line and "reused" in line and "not retrained" in line


def test_a_test_set_with_another_face_is_kept_as_it_is():
    x, y, x_test = faces(300), labels_for(300), faces(20, seed=9)
    original = dataset(x, y, x_test)
    other_test = perturbed(x_test, 1)
    other_test[4] = faces(1, seed=321)[0]
    copy = dataset(perturbed(x, 5), y, other_test[::-1])
    aligned, same = align_to_reference(copy, reference_of(original))
    assert same.test == "other" and aligned.train_digest == original.train_digest
    np.testing.assert_array_equal(aligned.x_test, copy.x_test)
    np.testing.assert_array_equal(aligned.test_ids, copy.test_ids)
    assert aligned.test_digest == copy.test_digest  # the runs with weights predict them again
    assert "not the shipped test faces" in same.describe("data")


def test_the_shipped_data_itself_and_another_dataset_are_left_as_they_are():
    x, y = faces(300), labels_for(300)
    original = dataset(x, y, faces(20, seed=9))
    reference = reference_of(original)
    aligned, same = align_to_reference(original, reference)
    assert aligned is original and same.exact and not same.changes
    other = dataset(faces(300, seed=4), y, faces(20, seed=9))
    aligned, same = align_to_reference(other, reference)
    assert aligned is other and same is None


def write_course_csv(folder: Path, x, y, x_test=None, gz: bool = False) -> Path:
    """The course's train.csv (and test.csv) of these faces."""
    folder.mkdir(parents=True, exist_ok=True)
    lut = np.array([str(v) for v in range(256)], dtype=object)
    opener = (lambda p: gzip.open(p, "wt", compresslevel=1)) if gz else (lambda p: open(p, "w"))
    with opener(folder / ("train.csv.gz" if gz else "train.csv")) as f:
        f.write("label,feature\n")
        for label, row in zip(np.asarray(y).tolist(), x.reshape(len(x), -1)):
            f.write(f"{label},{' '.join(lut[row])}\n")
    if x_test is not None:
        with open(folder / "test.csv", "w") as f:
            f.write("id,feature\n")
            for i, row in enumerate(x_test.reshape(len(x_test), -1)):
                f.write(f"{i},{' '.join(lut[row])}\n")
    return folder


def test_load_inputs_takes_the_shipped_split_faces_and_identity(tmp_path):
    from helpers.experiments.inputs import cnn_run_config, data_line, labels_digest, load_inputs

    x, y, x_test = faces(400), labels_for(400), faces(20, seed=9)
    original = write_course_csv(tmp_path / "original", x, y, x_test)
    reference = reference_of(data_fer2013.load_fer2013(original))
    save_reference(reference, tmp_path / "reference.npz")
    order = np.random.default_rng(7).permutation(400)
    copy = write_course_csv(tmp_path / "copy", perturbed(x, 8)[order], y[order], x_test)
    shipped = load_splits(original, reference=None)
    splits = load_splits(copy, reference=tmp_path / "reference.npz")
    np.testing.assert_array_equal(splits.y_val, shipped.y_val)
    assert np.abs(splits.x_val.astype(int) - shipped.x_val).max() <= 1  # the same faces
    assert splits.train_digest == reference.train_digest
    assert splits.same_faces.test == "same"
    inputs = load_inputs(copy, 0.1, 42, reference=tmp_path / "reference.npz")
    assert inputs.normalization == IDENTITY["inputs"]["raw"]["normalization"]
    assert cnn_run_config(inputs, {}, {}, None)["train_labels_sha"] == "r"
    subset = cnn_run_config(inputs, {}, {}, None, True, inputs.x_train[:50], inputs.y_train[:50])
    assert subset["train_labels_sha"] == labels_digest(inputs.x_train[:50], inputs.y_train[:50])
    eq_inputs = load_inputs(copy, 0.1, 42, hist_eq=True, reference=tmp_path / "reference.npz")
    assert eq_inputs.normalization == IDENTITY["inputs"]["hist_eq"]["normalization"]
    assert data_line(inputs, "copy").startswith("copy: the same 400 FER2013 training faces")
    # Another split than the shipped one: the faces are lined up, the data's own statistics apply.
    other = load_inputs(copy, 0.2, 42, reference=tmp_path / "reference.npz")
    assert other.train_digest == reference.train_digest and data_line(other, "copy") is None
    assert other.normalization != IDENTITY["inputs"]["raw"]["normalization"]


# --------------------------------------------------------------------------- the committed reference


def test_the_committed_reference_is_the_shipped_runs_data():
    """models/fer2013_reference.npz describes the data the shipped runs were trained on: their
    digests, normalization and label digests (models/manifest.json), small enough to commit."""
    assert REFERENCE_FILE.exists() and REFERENCE_FILE.stat().st_size < 600_000
    reference = load_reference()
    runs = read_json(MODELS_DIR / "manifest.json")["runs"]
    assert len(reference.train_signatures) == len(reference.train_labels) == 28709
    assert reference.train_signatures.dtype == np.uint8 and reference.test_signatures.shape == (7178, 16)
    for name in ("cnn", "dnn", "hist_eq"):
        entry = runs[name]
        assert entry["data_checksum"] == reference.train_digest
        assert entry["test_digest"] == reference.test_digest
        flavour = "hist_eq" if entry["config"]["data"]["hist_eq"] else "raw"
        shipped = reference.identity["inputs"][flavour]
        assert entry["config"]["normalization"] == shipped["normalization"]
        assert entry["config"].get("train_labels_sha", shipped["train_labels_sha"]) == shipped["train_labels_sha"]
        split = {k: entry["config"]["data"][k] for k in ("val_fraction", "seed", "max_train_rows")}
        assert split == reference.identity["split"]


def build_script():
    spec = importlib.util.spec_from_file_location(
        "build_data_reference", PROJECT_ROOT / "scripts" / "build_data_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_reference_is_what_the_script_computes(fer2013_dir):
    computed = build_script().compute_reference(fer2013_dir)
    committed = load_reference()
    for name in ("train_signatures", "train_labels", "test_signatures"):
        np.testing.assert_array_equal(getattr(committed, name), getattr(computed, name))
    assert (committed.train_digest, committed.test_digest) == (computed.train_digest, computed.test_digest)
    assert json.dumps(committed.identity, sort_keys=True) == json.dumps(computed.identity, sort_keys=True)


# --------------------------------------------------------------------------- the test


def test_a_perturbed_shuffled_copy_of_the_shipped_data_reuses_the_shipped_runs(fer2013_dir, tmp_path):
    """Every pixel of ../shared's train.csv moved by a seeded +-1 and the rows shuffled, test.csv
    unchanged: recognized; the validation faces are the shipped split's; the full profile's plan
    is the shipped data's, the shipped runs reused, none retrained."""
    from helpers.core.config import load_profile
    from helpers.experiments.inputs import data_line, load_inputs
    from helpers.experiments.registry import report_plan

    original = data_fer2013.load_fer2013(fer2013_dir)
    order = np.random.default_rng(2024).permutation(len(original.y_train))
    copy = write_course_csv(tmp_path / "copy", perturbed(original.x_train, 2024)[order],
                            original.y_train[order])
    test_file = next(p for p in (fer2013_dir / "test.csv.gz", fer2013_dir / "test.csv") if p.exists())
    shutil.copy(test_file, copy / test_file.name)
    watched = {p: p.stat().st_mtime_ns for name in ("cnn", "dnn", "hist_eq")
               for p in (MODELS_DIR / name).iterdir()}

    params = load_profile("full")
    args = (copy, params["val_fraction"], params["seed"], params["max_train_rows"])
    try:
        inputs = load_inputs(*args)
        eq_inputs = load_inputs(*args, hist_eq=True)
    finally:
        (copy / "train.csv").unlink()  # 240 MB
    same = inputs.same_faces
    assert same is not None and not same.exact and same.reordered and same.test == "same"
    assert same.matched == len(original.y_train)
    assert inputs.train_digest == original.train_digest

    shipped = load_splits(fer2013_dir, params["val_fraction"], params["seed"], reference=None)
    np.testing.assert_array_equal(inputs.y_val, shipped.y_val)
    user_val = inputs.x_val[..., 0].astype(np.uint8)
    # The shipped split's faces, each within the signature's tolerance; all but a handful within
    # one gray level pixel by pixel (the rest: near-identical copies FER2013 holds twice, with
    # the same label, which may trade places).
    assert np.abs(face_signatures(user_val) - face_signatures(shipped.x_val)).max() <= TOLERANCE
    off = np.abs(user_val.astype(int) - shipped.x_val).reshape(len(user_val), -1).max(1) > 1
    assert off.sum() <= 5, f"{off.sum()} validation faces are not the shipped ones"
    np.testing.assert_array_equal(inputs.test_ids, shipped.test_ids)

    # The copy is planned exactly as the shipped data: every shipped run that the shipped data
    # reuses is reused (and one shipped for other settings stays so, whatever is training now).
    models = {**params, "models_dir": str(MODELS_DIR)}
    plan = {r.name: r.status for r in report_plan(models, inputs, eq_inputs)}
    args = (fer2013_dir, params["val_fraction"], params["seed"], params["max_train_rows"])
    as_shipped = {r.name: r.status for r in report_plan(models, load_inputs(*args),
                                                         load_inputs(*args, hist_eq=True))}
    # The self-training baselines too: a run on a subset is named by its dataset rows, not their
    # pixels (Inputs.rows_sha), so the copy's subset is the shipped run's.
    assert plan == as_shipped
    assert all(plan[name] == "reuse" for name in plan if name.endswith("_round0"))
    assert {name for name, status in plan.items() if status == "reuse"} >= {"hist_eq", "ablation_none"}
    line = data_line(inputs, "copy")
    assert line.startswith("copy: the same 28,709 FER2013 training faces as the shipped runs")
    assert "the shipped runs are reused" in line
    assert watched == {p: p.stat().st_mtime_ns for p in watched}  # models/ untouched
