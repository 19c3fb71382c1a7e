"""helpers.predict on real FER2013 faces with a tiny CNN trained once for the module: the
leaderboard CSV equals what the run stored (as report/submission.csv), photos are detected and
cropped, 48x48 faces are used as they are, the ensemble feeds each member its own input, bad
input ends in one line and exit status 2, and the explore notebook runs."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.core.config import CLASS_NAMES, load_profile, NOTEBOOK_DIR, PROJECT_ROOT
from helpers.data.fer2013 import load_fer2013
from helpers.predict.cli import main
from helpers.predict.faces import detect_faces, FACE_MARGIN, read_image
from helpers.predict.predictor import load_predictor

TRAIN_ROWS = 400
VAL_ROWS = 150
TEST_ROWS = 40
PHOTO_CANDIDATES = list(range(20))  # test rows tried, in order, for the pasted photo face
PASTE_AT = (220, 120)               # x, y of the pasted face in the 640x480 photo
PASTE_SCALE = 4                     # the 48x48 face is upscaled to 192x192 (INTER_CUBIC)
TINY_CNN = dict(filters=[4], convs_per_block=1, dense_units=[8])
AUGMENTATION = {"flip": True, "crop": 44}
EXPLORE_NOTEBOOK = NOTEBOOK_DIR / "explore_predictions.ipynb"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data(fer2013_dir):
    return load_fer2013(fer2013_dir)


@pytest.fixture(scope="module")
def test_rows(data):
    """Real test faces in a shuffled order, with ids that are not their row numbers."""
    order = np.random.default_rng(0).permutation(200)[:TEST_ROWS]
    return data.x_test[order], data.test_ids[order] * 3 + 1000


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, data, test_rows) -> Path:
    """A models folder with one finished run, `cnn`: a tiny CNN with a crop layer, trained one
    epoch with flip and ten-crop test-time augmentation; its stored test predictions are those
    of `test_rows` (as the report's run stores those of test.csv)."""
    from helpers.modeling.models import build_cnn
    from helpers.data.preprocess import pixel_stats, to_model_input
    from helpers.modeling.engine import fit_or_load, TrainingData

    folder = tmp_path_factory.mktemp("models")
    x = to_model_input(data.x_train[:TRAIN_ROWS])
    x_val = to_model_input(data.x_train[TRAIN_ROWS:TRAIN_ROWS + VAL_ROWS])
    norm = pixel_stats(data.x_train[:TRAIN_ROWS])
    config = {"model": "cnn", "cnn": TINY_CNN, "augmentation": AUGMENTATION, "normalization": norm,
              "data": {"hist_eq": False},
              "training": {"epochs": 1, "batch_size": 64, "learning_rate": 0.01, "seed": 0,
                           "tta_flip": True, "tta_crops": True}}
    fit_or_load("cnn", lambda: build_cnn(**TINY_CNN, normalization=norm, augmentation=AUGMENTATION),
                config, TrainingData(x, data.y_train[:TRAIN_ROWS], x_val,
                                     data.y_train[TRAIN_ROWS:TRAIN_ROWS + VAL_ROWS], "tiny",
                                     to_model_input(test_rows[0])), folder, verbose=0)
    return folder


@pytest.fixture(scope="module")
def run(models_dir):
    from helpers.modeling.store import load_finished

    return load_finished(models_dir / "cnn")


def expected_proba(run, faces: np.ndarray, hist_eq: bool = False, tta: bool = True) -> np.ndarray:
    """What the run's own evaluation gives these uint8 faces: flip + ten-crop (or none),
    float16 as helpers.modeling.engine._finish stores it."""
    from helpers.data.preprocess import to_model_input
    from helpers.modeling.inference import predict_proba

    proba = predict_proba(run.model, to_model_input(faces, hist_eq), tta, tta_crops=tta)
    return proba.astype(np.float16).astype(np.float32)


def predict(capsys, *args) -> tuple[int, str, str]:
    """Run `python -m helpers.predict ARGS` in this process: (status, stdout, stderr)."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def probabilities(row: dict) -> np.ndarray:
    return np.array([float(row[name]) for name in CLASS_NAMES])


def write_test_csv(path: Path, x: np.ndarray, ids, header: str = "id,feature") -> Path:
    text = header + "\n" + "".join(f"{i},{' '.join(map(str, face.ravel()))}\n"
                                   for i, face in zip(ids, x))
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def save_png(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def make_photo(face: np.ndarray, path: Path) -> Path:
    """A 640x480 color photo (smooth color gradients) with `face` pasted, upscaled 4x."""
    import cv2

    rows, cols = np.mgrid[0:480, 0:640]
    canvas = np.stack([(cols * 255 // 639), (rows * 255 // 479), 255 - (cols * 128 // 639)],
                      axis=-1).astype(np.uint8)
    big = cv2.resize(face, None, fx=PASTE_SCALE, fy=PASTE_SCALE, interpolation=cv2.INTER_CUBIC)
    x, y = PASTE_AT
    canvas[y:y + big.shape[0], x:x + big.shape[1]] = big[..., None]
    from PIL import Image

    Image.fromarray(canvas).save(path, quality=95)
    return path


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


PASTED_BOX = (*PASTE_AT, 48 * PASTE_SCALE, 48 * PASTE_SCALE)


@pytest.fixture(scope="module")
def photo(tmp_path_factory, data) -> Path:
    """The test photo: the first candidate test face that the cascade finds, once, where it
    was pasted."""
    folder = tmp_path_factory.mktemp("photo")
    for row in PHOTO_CANDIDATES:
        path = make_photo(data.x_test[row], folder / f"photo_{row}.jpg")
        boxes = detect_faces(read_image(path))
        if len(boxes) == 1 and iou(boxes[0], PASTED_BOX) > 0.5:
            return path
    pytest.fail(f"the detector found none of the pasted faces {PHOTO_CANDIDATES}")


# --------------------------------------------------------------------------- test files


@pytest.mark.parametrize("name", ["test.csv", "test.csv.gz"])
def test_test_file_gives_the_runs_stored_leaderboard_csv(capsys, tmp_path, run, models_dir,
                                                         test_rows, name):
    from helpers.analysis.submissions import write_submission

    x, ids = test_rows
    test_file = write_test_csv(tmp_path / name, x, ids)
    # What notebook 02 writes to report/submission.csv: the stored float16 test predictions.
    expected = write_submission(tmp_path / "expected.csv", ids, run.test_proba.argmax(1))
    output = tmp_path / "mine.csv"
    status, out, err = predict(capsys, test_file, "--models-dir", models_dir, "--output", output)
    assert status == 0, err
    assert output.read_bytes() == expected.read_bytes()
    assert f"{len(ids)} test faces" in out and "flip + 5 crops" in out
    # Not only the labels: the probabilities are the stored float16 ones, exactly.
    np.testing.assert_array_equal(load_predictor("cnn", models_dir).predict(x), run.test_proba)


def test_default_output_is_predictions_csv_in_the_current_folder(capsys, tmp_path, monkeypatch,
                                                                models_dir, test_rows):
    x, ids = test_rows
    write_test_csv(tmp_path / "test.csv.gz", x[:5], ids[:5])
    monkeypatch.chdir(tmp_path)
    # test.csv names test.csv.gz when only that is there, as for the data loader
    status, out, err = predict(capsys, "test.csv", "--models-dir", models_dir)
    assert status == 0, err
    assert [int(r["id"]) for r in read_rows(tmp_path / "predictions.csv")] == list(ids[:5])
    assert "from test.csv.gz" in out


def test_no_tta_predicts_a_single_view(capsys, tmp_path, run, models_dir, test_rows):
    x, ids = test_rows
    test_file = write_test_csv(tmp_path / "test.csv", x, ids)
    output = tmp_path / "plain.csv"
    status, out, err = predict(capsys, test_file, "--models-dir", models_dir, "--output", output,
                               "--no-tta")
    assert status == 0, err
    labels = expected_proba(run, x, tta=False).argmax(1)
    assert [int(r["label"]) for r in read_rows(output)] == labels.tolist()
    assert "no TTA" in out


def test_kaggle_file_predicts_public_then_private_test_rows(capsys, tmp_path, run, models_dir,
                                                            data):
    usage = ["PrivateTest", "Training", "PublicTest", "PrivateTest", "PublicTest", "Training",
             "PublicTest"] * 3
    x = data.x_test[:len(usage)]
    labels = np.arange(len(usage)) % 7
    lines = ["emotion,pixels,Usage"] + [f"{y},{' '.join(map(str, face.ravel()))},{u}"
                                        for y, face, u in zip(labels, x, usage)]
    path = tmp_path / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out.csv"
    status, out, err = predict(capsys, path, "--models-dir", models_dir, "--output", output)
    assert status == 0, err
    order = [i for u in ("PublicTest", "PrivateTest") for i, v in enumerate(usage) if v == u]
    predicted = expected_proba(run, x[order]).argmax(1)
    rows = read_rows(output)
    assert [int(r["id"]) for r in rows] == list(range(len(order)))
    assert [int(r["label"]) for r in rows] == predicted.tolist()
    accuracy = np.mean(predicted == labels[order])
    assert f"accuracy against the labels in fer2013.csv: {accuracy:.2%}" in out


# --------------------------------------------------------------------------- photos and images


def test_photo_face_is_found_cropped_and_predicted(capsys, tmp_path, run, models_dir, photo):
    import cv2

    output = tmp_path / "faces.csv"
    status, out, err = predict(capsys, photo, "--models-dir", models_dir, "--output", output)
    assert status == 0, err
    rows = read_rows(output)
    assert len(rows) == 1 and rows[0]["source"] == str(photo) and rows[0]["face"] == "0"
    box = tuple(int(rows[0][k]) for k in "xywh")
    assert iou(box, PASTED_BOX) > 0.5
    # The same crop, done here: the box with the margin on each side, clipped, gray, 48x48.
    gray = read_image(photo)
    x, y, w, h = box
    dx, dy = round(FACE_MARGIN * w), round(FACE_MARGIN * h)
    crop = gray[max(y - dy, 0):min(y + h + dy, gray.shape[0]),
                max(x - dx, 0):min(x + w + dx, gray.shape[1])]
    face = cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)
    expected = expected_proba(run, face[None])[0]
    assert rows[0]["predicted"] == CLASS_NAMES[int(expected.argmax())]
    np.testing.assert_allclose(probabilities(rows[0]), expected, atol=1e-4)
    assert f"{x},{y},{w},{h}" in out  # the terminal table


def test_a_real_photo_has_one_face_found():
    import matplotlib.cbook

    path = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    gray = read_image(path)
    boxes = detect_faces(gray)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert w > gray.shape[1] / 4 and 0 <= x and x + w <= gray.shape[1] and y + h <= gray.shape[0]


def test_48x48_faces_are_used_as_they_are_and_hidden_files_skipped(capsys, tmp_path, run,
                                                                    models_dir, data):
    from PIL import Image

    folder = tmp_path / "faces"
    faces = data.x_test[50:72]
    for i, face in enumerate(faces[:-1]):
        save_png(folder / f"face_{i:02d}.png", face)
    Image.fromarray(np.repeat(faces[-1][..., None], 3, axis=-1)).save(folder / "rgb.png")
    save_png(folder / "sub" / "inner.png", data.x_test[80])
    (folder / ".hidden.png").write_bytes(b"not an image")  # would be unreadable if read
    (folder / "._face_00.png").write_bytes(b"macOS metadata")
    (folder / "notes.txt").write_text("not an image either")
    output = tmp_path / "faces.csv"
    status, out, err = predict(capsys, folder, "--models-dir", models_dir, "--output", output)
    assert status == 0, err
    rows = read_rows(output)
    expected_sources = ([str(folder / f"face_{i:02d}.png") for i in range(len(faces) - 1)]
                        + [str(folder / "rgb.png"), str(folder / "sub" / "inner.png")])
    assert [r["source"] for r in rows] == expected_sources
    assert all(r["x"] == r["y"] == r["w"] == r["h"] == "" and r["face"] == "0" for r in rows)
    expected = expected_proba(run, np.concatenate([faces, data.x_test[80:81]]))
    np.testing.assert_allclose(np.stack([probabilities(r) for r in rows]), expected, atol=1e-4)
    assert [r["predicted"] for r in rows] == [CLASS_NAMES[k] for k in expected.argmax(1)]
    assert f"... {len(rows) - 20} more rows in {output}" in out
    assert len(out.splitlines()) <= 23


def test_explain_saves_one_figure_per_face(capsys, tmp_path, models_dir, photo, data):
    from PIL import Image

    face = save_png(tmp_path / "face.png", data.x_test[3])
    explain = tmp_path / "explain"
    status, out, err = predict(capsys, photo, face, "--models-dir", models_dir, "--output",
                               tmp_path / "out.csv", "--explain", explain)
    assert status == 0, err
    pngs = sorted(explain.glob("*.png"))
    assert [p.name for p in pngs] == [f"0000_{photo.stem}_face0.png", "0001_face_face0.png"]
    for png in pngs:
        with Image.open(png) as img:
            assert img.format == "PNG" and img.width > 300
    assert not list(explain.glob(".*"))  # no temporary files left


def test_ensemble_feeds_each_member_its_own_input(capsys, tmp_path, run, models_dir, data, monkeypatch):
    """The profile's members and one trained on equalized faces: the average of their float16
    probabilities, the hist_eq member's computed on equalized faces."""
    import helpers.predict.predictor as predictor

    members = load_profile("full")["ensemble_members"] + ["hist_eq"]
    monkeypatch.setattr(predictor, "load_profile", lambda name: {"ensemble_members": members})
    folder = tmp_path / "models"
    for name in members:
        shutil.copytree(models_dir / "cnn", folder / name)
    config_path = folder / "hist_eq" / "config.json"
    saved = json.loads(config_path.read_text())
    saved["config"]["data"]["hist_eq"] = True
    config_path.write_text(json.dumps(saved))
    faces = data.x_test[100:106]
    for i, face in enumerate(faces):
        save_png(tmp_path / "faces" / f"{i}.png", face)
    output = tmp_path / "out.csv"
    status, out, err = predict(capsys, tmp_path / "faces", "--models-dir", folder, "--model",
                               "ensemble", "--output", output)
    assert status == 0, err
    raw, eq = expected_proba(run, faces), expected_proba(run, faces, hist_eq=True)
    assert not np.allclose(raw, eq, atol=1e-3)  # else this test could not tell them apart
    expected = np.mean([eq if n == "hist_eq" else raw for n in members], axis=0)
    got = np.stack([probabilities(r) for r in read_rows(output)])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert "ensemble of " + ", ".join(f"{n} (flip + 5 crops)" for n in members) in out


# --------------------------------------------------------------------------- bad input


def assert_one_error_line(status: int, err: str, *fragments: str) -> None:
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def output(tmp_path) -> Path:
    """An output file that exists already: a failing call must leave it as it was."""
    path = tmp_path / "previous.csv"
    path.write_text("previous content\n")
    yield path
    assert path.read_text() == "previous content\n"
    assert sorted(p.name for p in tmp_path.glob(".previous.csv*")) == []


def test_an_unreadable_image_in_a_folder_is_named_and_skipped(capsys, tmp_path, models_dir, data):
    save_png(tmp_path / "in" / "good.png", data.x_test[0])
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "in" / "loop.jpg").symlink_to(tmp_path / "in" / "loop.jpg")  # a symlink loop
    output = tmp_path / "out.csv"
    status, _, err = predict(capsys, tmp_path / "in", "--models-dir", models_dir, "--output", output)
    assert status == 0
    warnings = err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: ") and w.endswith("(skipped)") for w in warnings)
    assert str(tmp_path / "in" / "broken.jpg") in err and "not a readable image" in err
    assert str(tmp_path / "in" / "loop.jpg") in err
    assert [row.split(",")[0] for row in output.read_text().splitlines()[1:]] == [str(tmp_path / "in" / "good.png")]


def test_an_unreadable_image_given_alone_is_one_error_line(capsys, tmp_path, models_dir, output):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    status, _, err = predict(capsys, tmp_path / "broken.jpg", "--models-dir", models_dir, "--output", output)
    assert_one_error_line(status, err, str(tmp_path / "broken.jpg"), "not a readable image")


def test_photo_without_a_face(capsys, tmp_path, models_dir, photo, output):
    from PIL import Image

    blank = tmp_path / "blank.jpg"
    Image.fromarray(np.full((240, 320, 3), (40, 120, 200), np.uint8)).save(blank)
    status, _, err = predict(capsys, blank, "--models-dir", models_dir, "--output", output)
    assert_one_error_line(status, err, str(blank), "no face found")
    # With a photo that has a face: a warning for the blank one, the other one predicted.
    other = output.parent / "with_face.csv"
    status, _, err = predict(capsys, blank, photo, "--models-dir", models_dir, "--output", other)
    assert status == 0
    assert err.strip() == f"warning: {blank}: no face found (skipped)"
    assert [r["source"] for r in read_rows(other)] == [str(photo)]


@pytest.mark.parametrize("content, fragment", [
    ("a,b\n1,2\n", "expected columns id,feature, found a,b"),
    ("id,feature\n1," + " ".join(["0"] * 2303) + "\n", "line 2: feature has 2303 values"),
    ("label,feature\n3," + " ".join(["0"] * 2304) + "\n", "a training file, not a test file"),
    ("emotion,pixels,Usage\n3," + " ".join(["0"] * 2304) + ",Training\n",
     "no PublicTest/PrivateTest rows"),
])
def test_csv_of_another_shape(capsys, tmp_path, models_dir, output, content, fragment):
    path = tmp_path / "test.csv"
    path.write_text(content)
    status, _, err = predict(capsys, path, "--models-dir", models_dir, "--output", output)
    assert_one_error_line(status, err, str(path), fragment)


def test_missing_model_names_the_command_that_trains_it(capsys, tmp_path, models_dir, data,
                                                         output):
    face = save_png(tmp_path / "face.png", data.x_test[0])
    status, _, err = predict(capsys, face, "--models-dir", models_dir, "--model", "nosuch",
                             "--output", output)
    assert_one_error_line(status, err, "'nosuch'", "`make train RUNS=nosuch`")


def test_ensemble_member_without_weights(capsys, tmp_path, models_dir, data, output):
    members = load_profile("full")["ensemble_members"]
    folder = tmp_path / "models"
    for name in members:
        shutil.copytree(models_dir / "cnn", folder / name)
    lacking = members[-1]
    (folder / lacking / "model.keras").unlink()  # shipped with its predictions only
    face = save_png(tmp_path / "face.png", data.x_test[0])
    status, _, err = predict(capsys, face, "--models-dir", folder, "--model", "ensemble",
                             "--output", output)
    assert_one_error_line(status, err, f"run {lacking!r} has no weights",
                          f"`make train RUNS={lacking} RETRAIN=1`")


def test_output_folder_must_exist(capsys, tmp_path, models_dir, data):
    face = save_png(tmp_path / "face.png", data.x_test[0])
    status, _, err = predict(capsys, face, "--models-dir", models_dir, "--output",
                             tmp_path / "missing" / "out.csv")
    assert_one_error_line(status, err, str(tmp_path / "missing"), "does not exist")
    assert not (tmp_path / "missing").exists()


def test_an_output_that_would_overwrite_a_photo_is_refused(capsys, tmp_path, models_dir, data):
    album = tmp_path / "album"
    album.mkdir()
    face = save_png(album / "face.png", data.x_test[0])
    holiday = album / "holiday.jpg"
    holiday.write_bytes(b"\xff\xd8 a photo")
    for target, says in ((holiday, "inside the input folder"), (album / "notes", "inside the input folder")):
        status, _, err = predict(capsys, album, "--models-dir", models_dir, "--output", target)
        assert_one_error_line(status, err, str(target), says)
    elsewhere = tmp_path / "photo.jpg"
    elsewhere.write_bytes(b"\xff\xd8 another photo")
    status, _, err = predict(capsys, face, "--models-dir", models_dir, "--output", elsewhere)
    assert_one_error_line(status, err, str(elsewhere), "not a CSV file")
    assert holiday.read_bytes() == b"\xff\xd8 a photo" and elsewhere.read_bytes() == b"\xff\xd8 another photo"
    status, _, _ = predict(capsys, album, "--models-dir", models_dir, "--output", album / "predictions.csv")
    assert status == 0  # a CSV in the folder is fine


def test_command_line_reports_a_missing_input_in_one_line(tmp_path):
    missing = tmp_path / "nothere.jpg"
    done = subprocess.run([sys.executable, "-m", "helpers.predict", str(missing)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {missing}: no such file or folder"
    assert not (tmp_path / "predictions.csv").exists()


# --------------------------------------------------------------------------- make, notebook


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_predict_target():
    listed = subprocess.run(["make", "-s", "help"], capture_output=True, text=True,
                            cwd=PROJECT_ROOT, check=True).stdout
    assert any(line.split()[:1] == ["predict"] for line in listed.splitlines())
    planned = subprocess.run(["make", "-n", "predict", "INPUT=me.jpg", "OUTPUT=out.csv",
                              "MODEL=ensemble"], capture_output=True, text=True,
                             cwd=PROJECT_ROOT, check=True).stdout
    assert '-m helpers.predict "me.jpg" --output "out.csv" --model "ensemble"' in planned
    spaced = subprocess.run(["make", "-n", "predict", "INPUT=my photos/me.jpg", "OUTPUT=my out.csv"],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, check=True).stdout
    assert '-m helpers.predict "my photos/me.jpg" --output "my out.csv"' in spaced


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_pdf_passes_the_data_folder():
    planned = subprocess.run(["make", "-n", "pdf", "DATA_DIR=/elsewhere/fer 2013"],
                             capture_output=True, text=True, cwd=PROJECT_ROOT, check=True).stdout
    assert '--data-dir "/elsewhere/fer 2013" --pdf-only' in planned


def test_explore_notebook_is_committed_without_outputs():
    import nbformat

    nb = nbformat.read(str(EXPLORE_NOTEBOOK), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    assert not EXPLORE_NOTEBOOK.name[:2].isdigit()  # not one of the report's notebooks


def test_explore_notebook_runs(tmp_path, models_dir, fer2013_dir, photo):
    import papermill as pm

    target = tmp_path / "explore.ipynb"
    pm.execute_notebook(str(EXPLORE_NOTEBOOK), str(target), kernel_name="python3",
                        cwd=str(NOTEBOOK_DIR), progress_bar=False,
                        parameters={"models_dir": str(models_dir), "model_name": "cnn",
                                    "data_dir": str(fer2013_dir), "photo": str(photo),
                                    "faces": 4})
    text = target.read_text()
    assert "1 face found in" in text and "image/png" in text


def test_predictions_and_photo_figures():
    from helpers.predict.figures import photo_figure, predictions_figure

    faces = np.zeros((3, 48, 48), np.uint8)
    proba = np.eye(7)[[3, 0, 6]] * 0.5 + 0.5 / 7
    fig = predictions_figure(faces, [3, 1, 6], proba)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == f"true {CLASS_NAMES[3]}\npred {CLASS_NAMES[3]} 57%"
    assert [ax.title.get_color() for ax in fig.axes] == ["black", "tab:red", "black"]
    photo = np.zeros((100, 200), np.uint8)
    fig = photo_figure(photo, [(10, 20, 30, 30)], proba[:1])
    assert len(fig.axes[0].patches) == 1 and fig.axes[0].texts[0].get_text() == f"{CLASS_NAMES[3]} 57%"
    assert fig.get_size_inches().tolist() == [6.0, 3.0]
    eight = predictions_figure(np.zeros((8, 48, 48), np.uint8), [0] * 8, np.eye(7)[[0] * 8])
    assert eight.get_size_inches()[0] <= 8  # two rows of four, not one of eight


def test_explanation_titles_name_a_photo_face_by_its_place_and_an_image_by_its_name():
    from helpers.predict.faces import Face
    from helpers.predict.figures import explanation_figure

    proba, cam = np.eye(7)[3], np.zeros((48, 48))
    face = np.zeros((48, 48), np.uint8)
    fig = explanation_figure(Face("validation face 246", 0, face), proba, cam, "cnn")
    assert fig._suptitle.get_text() == f"validation face 246: {CLASS_NAMES[3]}"
    fig = explanation_figure(Face("/photos/party.jpg", 2, face, (10, 20, 30, 30)), proba, cam, "cnn")
    assert fig._suptitle.get_text() == f"party.jpg, face 2 at 10,20: {CLASS_NAMES[3]}"


def test_a_model_without_weights_is_one_line_in_a_notebook(tmp_path):
    from helpers.predict.predictor import RunUnavailable, load_predictor

    with pytest.raises(RunUnavailable) as info:
        load_predictor("hist_eq", tmp_path)
    assert info.value._render_traceback_() == [f"RunUnavailable: {info.value}"]
    assert "\n" not in str(info.value) and "make train RUNS=hist_eq" in str(info.value)
