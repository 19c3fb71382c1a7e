"""Unit tests for helpers/data_fer2013.py: loading, validating, caching and splitting FER2013.

Everything runs on small synthetic files written to tmp_path; only
test_real_course_files reads the real data (and is skipped when it is absent).
"""

from __future__ import annotations

import builtins
import dataclasses
import errno
import gzip
import hashlib
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from helpers.core import config
import helpers.data.fer2013 as data_fer2013

from helpers.data.fer2013 import (DataError, load_fer2013, load_splits, split_train_val, Splits, stratified_subset)

REAL_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "fer2013"
CLASS_NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
COURSE_FORMAT = "course CSV (train.csv/test.csv)"
KAGGLE_FORMAT = "Kaggle fer2013.csv"
IMAGE_FORMAT = "image folders"


# --------------------------------------------------------------------------- synthetic data


def make_images(n: int, seed: int = 0) -> np.ndarray:
    """n random uint8 48x48 images; pixel [0,0] is the row number (so rows can be traced
    through shuffles) and every image contains both 0 and 255."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n) % 256
    images[:, 0, 1] = 0
    images[:, 0, 2] = 255
    return images


def pixel_text(image: np.ndarray) -> str:
    return " ".join(str(int(v)) for v in image.ravel())


def csv_text(header: str, rows) -> str:
    return "\n".join([header] + [",".join(row) for row in rows]) + "\n"


def write(path: Path, text: str | bytes) -> Path:
    """Write text (or bytes) to path, gzipped when the name ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


def train_rows(labels, images):
    return [[str(int(label)), pixel_text(image)] for label, image in zip(labels, images)]


def id_rows(ids, images):
    return [[str(int(i)), pixel_text(image)] for i, image in zip(ids, images)]


def write_course(folder: Path, labels, images, ids=None, test_images=None,
                 train_name="train.csv", test_name="test.csv"):
    """Write train.csv (and test.csv when ids are given); return their paths."""
    train = write(folder / train_name, csv_text("label,feature", train_rows(labels, images)))
    test = None
    if ids is not None:
        test = write(folder / test_name, csv_text("id,feature", id_rows(ids, test_images)))
    return train, test


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image, mode="L").save(path)
    return path


def sha256_of(*files: Path, root: Path | None = None) -> str:
    """The files' bytes in order; with root, each file's path below root first (image
    folders). This names the cache file; the data's checksum is expected_identity's."""
    digest = hashlib.sha256()
    for f in files:
        if root is not None:
            digest.update(str(f.relative_to(root)).encode() + b"\0")
        digest.update(f.read_bytes())
    return digest.hexdigest()


def array_digest(*arrays: np.ndarray) -> str:
    """sha256 over each array's dtype, shape and bytes, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def expected_identity(images, labels, test_images=None, ids=None, test_labels=None):
    """(train_digest, test_digest, checksum) of decoded data, as helpers.data defines them:
    digests of the uint8 pixels and int64 labels / ids, and sha256 of the two digests."""
    train = array_digest(np.asarray(images, np.uint8), np.asarray(labels, np.int64))
    if ids is None or len(ids) == 0:
        test = array_digest(np.zeros((0, 48, 48), np.uint8), np.zeros(0, np.int64))
    else:
        arrays = [np.asarray(test_images, np.uint8), np.asarray(ids, np.int64)]
        if test_labels is not None:
            arrays.append(np.asarray(test_labels, np.int64))
        test = array_digest(*arrays)
    checksum = hashlib.sha256(f"train {train}\ntest {test}\n".encode()).hexdigest()
    return train, test, checksum


def identity(d) -> tuple[str, str, str]:
    return d.train_digest, d.test_digest, d.checksum


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def cache_name(checksum: str) -> str:
    return f"fer2013-v{data_fer2013.CACHE_VERSION}-{checksum[:16]}.npz"


# 70 rows with unequal class counts: 10, 4, 10, 16, 12, 8, 10.
SUMMARY_COUNTS = [10, 4, 10, 16, 12, 8, 10]
SUMMARY_LABELS = np.repeat(np.arange(7), SUMMARY_COUNTS)[
    np.random.default_rng(5).permutation(70)
]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    """Every in-process test caches into its own tmp folder, never build/cache."""
    folder = tmp_path / "cache"
    monkeypatch.setattr(data_fer2013, "CACHE_DIR", folder)
    return folder


@pytest.fixture
def course(tmp_path):
    """A course-format folder: 8 train rows (all classes), 3 test rows with unordered ids."""
    folder = tmp_path / "data"
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 3])
    images = make_images(8, seed=1)
    ids = np.array([10, 3, 7])
    test_images = make_images(3, seed=2)
    train, test = write_course(folder, labels, images, ids, test_images)
    return dict(folder=folder, train=train, test=test, labels=labels, images=images,
                ids=ids, test_images=test_images)


def assert_data_error(exc_info, path: Path, line: int | None, *fragments: str):
    message = str(exc_info.value)
    assert "\n" not in message, message
    prefix = f"{path}: line {line}: " if line is not None else f"{path}: "
    assert message.startswith(prefix), f"{message!r} does not start with {prefix!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# --------------------------------------------------------------------------- course CSV


@pytest.mark.parametrize("train_gz,test_gz", [(False, False), (True, True), (True, False)])
def test_course_csv_loads_exact_values(tmp_path, train_gz, test_gz):
    folder = tmp_path / "data"
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 3])
    images = make_images(8, seed=1)
    ids = np.array([10, 3, 7])
    test_images = make_images(3, seed=2)
    train, test = write_course(
        folder, labels, images, ids, test_images,
        train_name="train.csv.gz" if train_gz else "train.csv",
        test_name="test.csv.gz" if test_gz else "test.csv",
    )

    d = load_fer2013(folder)

    assert d.x_train.dtype == np.uint8 and d.x_train.shape == (8, 48, 48)
    assert d.y_train.dtype == np.int64
    np.testing.assert_array_equal(d.x_train, images)
    np.testing.assert_array_equal(d.y_train, labels)
    assert d.x_test.dtype == np.uint8 and d.x_test.shape == (3, 48, 48)
    np.testing.assert_array_equal(d.x_test, test_images)
    assert d.test_ids.dtype == np.int64
    np.testing.assert_array_equal(d.test_ids, [10, 3, 7])
    assert d.y_test is None
    assert d.source_format == COURSE_FORMAT
    assert d.files == [str(train), str(test)]
    assert identity(d) == expected_identity(images, labels, test_images, ids)


def test_course_csv_without_test_file(tmp_path):
    labels, images = np.array([4, 2]), make_images(2)
    train, _ = write_course(tmp_path / "data", labels, images)
    d = load_fer2013(tmp_path / "data")
    np.testing.assert_array_equal(d.x_train, images)
    np.testing.assert_array_equal(d.y_train, [4, 2])
    assert d.x_test.shape == (0, 48, 48) and d.x_test.dtype == np.uint8
    assert d.test_ids.shape == (0,)
    assert d.y_test is None
    assert d.files == [str(train)]
    assert identity(d) == expected_identity(images, [4, 2])
    assert d.test_digest == data_fer2013.EMPTY_TEST_DIGEST


def test_single_csv_files_can_be_loaded(course):
    only_train = load_fer2013(course["train"])
    np.testing.assert_array_equal(only_train.x_train, course["images"])
    np.testing.assert_array_equal(only_train.y_train, course["labels"])
    assert len(only_train.test_ids) == 0
    assert only_train.source_format == COURSE_FORMAT

    only_test = load_fer2013(course["test"])
    assert only_test.x_train.shape == (0, 48, 48)
    assert len(only_test.y_train) == 0
    np.testing.assert_array_equal(only_test.x_test, course["test_images"])
    np.testing.assert_array_equal(only_test.test_ids, [10, 3, 7])
    assert only_test.source_format == "course CSV (test.csv)"
    assert only_test.files == [str(course["test"])]


def test_course_csv_tolerates_crlf_spaces_quotes_and_tabs(tmp_path):
    images = make_images(2)
    first = pixel_text(images[0]).replace(" ", "\t")
    second = "  " + pixel_text(images[1]).replace(" ", "   ") + " "
    text = f" label , feature \r\n 5 ,{first}\r\n6,\"{second}\"\r\n"
    path = write(tmp_path / "train.csv", text)
    x, y = data_fer2013.read_train_csv(path)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, [5, 6])


# --------------------------------------------------------------------------- Kaggle CSV

KAGGLE_USAGES = ["Training", "PrivateTest", "Training", "PublicTest", "PrivateTest",
                 "Training", "PublicTest"]
KAGGLE_LABELS = np.array([3, 0, 6, 2, 5, 1, 4])


def write_kaggle(path: Path, labels=KAGGLE_LABELS, usages=KAGGLE_USAGES, images=None):
    images = make_images(len(labels), seed=3) if images is None else images
    rows = [[str(int(label)), pixel_text(image), usage]
            for label, image, usage in zip(labels, images, usages)]
    return write(path, csv_text("emotion,pixels,Usage", rows)), images


@pytest.mark.parametrize("name", ["fer2013.csv", "fer2013.csv.gz"])
def test_kaggle_csv_loads_exact_values(tmp_path, name):
    path, images = write_kaggle(tmp_path / "data" / name)

    for d in (load_fer2013(tmp_path / "data"), load_fer2013(path, use_cache=False)):
        np.testing.assert_array_equal(d.x_train, images[[0, 2, 5]])
        np.testing.assert_array_equal(d.y_train, [3, 6, 1])
        # PublicTest rows (3, 6) first, then PrivateTest rows (1, 4).
        np.testing.assert_array_equal(d.x_test, images[[3, 6, 1, 4]])
        np.testing.assert_array_equal(d.y_test, [2, 4, 0, 5])
        np.testing.assert_array_equal(d.test_ids, [0, 1, 2, 3])
        assert d.test_ids.dtype == np.int64 and d.y_test.dtype == np.int64
        assert d.x_train.dtype == np.uint8
        assert d.source_format == KAGGLE_FORMAT
        assert d.files == [str(path)]
        assert identity(d) == expected_identity(images[[0, 2, 5]], [3, 6, 1], images[[3, 6, 1, 4]],
                                                [0, 1, 2, 3], [2, 4, 0, 5])


def test_kaggle_csv_with_only_training_rows(tmp_path):
    path, images = write_kaggle(tmp_path / "fer2013.csv", [1, 2], ["Training", " Training "])
    d = load_fer2013(path)
    np.testing.assert_array_equal(d.x_train, images)
    np.testing.assert_array_equal(d.y_train, [1, 2])
    assert d.x_test.shape == (0, 48, 48)
    assert d.test_ids.shape == (0,) and d.y_test.shape == (0,)
    assert d.test_digest == data_fer2013.EMPTY_TEST_DIGEST   # an empty label array changes nothing


def test_course_csv_wins_over_kaggle_and_image_folders(course):
    write_kaggle(course["folder"] / "fer2013.csv")
    write_png(course["folder"] / "train" / "happy" / "a.png", make_images(1)[0])
    d = load_fer2013(course["folder"])
    assert d.source_format == COURSE_FORMAT
    np.testing.assert_array_equal(d.y_train, course["labels"])


def test_kaggle_wins_over_image_folders(tmp_path):
    folder = tmp_path / "data"
    write_kaggle(folder / "fer2013.csv")
    write_png(folder / "train" / "happy" / "a.png", make_images(1)[0])
    assert load_fer2013(folder).source_format == KAGGLE_FORMAT


# --------------------------------------------------------------------------- image folders


def test_image_folders_load_exact_values_and_labels_from_folder_names(tmp_path):
    folder = tmp_path / "data"
    images = make_images(9, seed=4)
    # (split, class folder, file name, image index)
    layout = [
        ("train", "sad", "b.png", 0),
        ("train", "sad", "a.png", 1),
        ("train", "angry", "x.png", 2),
        ("train", "neutral", "n.png", 3),
        ("train", "Happy", "h.png", 4),   # class names are case-insensitive
        ("train", "1", "d.png", 5),       # a digit folder is the class index
        ("test", "surprise", "s.png", 6),
        ("test", "fear", "f.png", 7),
        ("test", "fear", "e.png", 8),
    ]
    for split, cls, name, k in layout:
        write_png(folder / split / cls / name, images[k])
    (folder / "train" / "sad" / "notes.txt").write_text("not an image")

    d = load_fer2013(folder)

    # Class folders in sorted name order (1, Happy, angry, neutral, sad), files sorted.
    np.testing.assert_array_equal(d.x_train, images[[5, 4, 2, 3, 1, 0]])
    np.testing.assert_array_equal(d.y_train, [1, 3, 0, 6, 4, 4])
    np.testing.assert_array_equal(d.x_test, images[[8, 7, 6]])
    np.testing.assert_array_equal(d.y_test, [2, 2, 5])
    np.testing.assert_array_equal(d.test_ids, [0, 1, 2])
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    assert d.source_format == IMAGE_FORMAT
    expected_files = sorted(p for p in (folder / "train").rglob("*.png")) + sorted(
        p for p in (folder / "test").rglob("*.png"))
    assert d.files == [str(p) for p in expected_files]
    assert d.folders == [str(folder / "train"), str(folder / "test")]
    assert identity(d) == expected_identity(images[[5, 4, 2, 3, 1, 0]], [1, 3, 0, 6, 4, 4],
                                            images[[8, 7, 6]], [0, 1, 2], [2, 2, 5])
    assert tree(data_fer2013.CACHE_DIR) == [cache_name(sha256_of(*expected_files, root=folder))]


def test_image_folders_training_name_and_no_test_folder(tmp_path):
    folder = tmp_path / "data"
    images = make_images(2, seed=6)
    write_png(folder / "Training" / "disgust" / "0.png", images[0])
    write_png(folder / "Training" / "surprise" / "0.png", images[1])
    d = load_fer2013(folder)
    np.testing.assert_array_equal(d.x_train, images)
    np.testing.assert_array_equal(d.y_train, [1, 5])
    assert d.x_test.shape == (0, 48, 48)
    assert d.y_test is None
    assert d.test_ids.shape == (0,)


# --------------------------------------------------------------------------- bad CSV input


def drop_last(s):
    return s.rsplit(" ", 1)[0]


def add_value(s):
    return s + " 7"


def set_token(k, value):
    def change(s):
        tokens = s.split(" ")
        tokens[k] = value
        return " ".join(tokens)
    return change


def const(value):
    return lambda s: value


# (id, file, row, column, change, fragments); the error must be at line row + 2.
COURSE_ERRORS = [
    ("pixels-2303", "train", 1, 1, drop_last, ["feature has 2303 values", "expected 2304"]),
    ("pixels-2303-first-row", "train", 0, 1, drop_last, ["feature has 2303 values"]),
    ("pixels-2305", "train", 1, 1, add_value, ["feature has 2305 values"]),
    ("pixels-empty", "train", 1, 1, const(""), ["feature has 0 values"]),
    ("pixel-ab", "train", 1, 1, set_token(5, "ab"),
     ["feature value 'ab' is not an integer 0..255"]),
    ("pixel-1.5", "train", 2, 1, set_token(0, "1.5"),
     ["feature value '1.5' is not an integer"]),
    ("pixel-300", "train", 1, 1, set_token(100, "300"), ["feature value 300 is outside 0..255"]),
    ("pixel-256", "train", 3, 1, set_token(47, "256"), ["feature value 256 is outside 0..255"]),
    ("pixel-minus-3", "train", 1, 1, set_token(2303, "-3"),
     ["feature value -3 is outside 0..255"]),
    ("pixel-300-last-row", "train", 7, 1, set_token(2000, "300"),
     ["feature value 300 is outside 0..255"]),
    ("label-7", "train", 1, 0, const("7"), ["label 7 is outside 0..6"]),
    ("label-minus-1", "train", 4, 0, const("-1"), ["label -1 is outside 0..6"]),
    ("label-x", "train", 1, 0, const("x"), ["label 'x' is not an integer"]),
    ("label-2.5", "train", 1, 0, const("2.5"), ["label '2.5' is not an integer"]),
    ("label-empty", "train", 0, 0, const(""), ["label '' is not an integer"]),
    ("test-pixels-2303", "test", 1, 1, drop_last, ["feature has 2303 values"]),
    ("test-pixel-ab", "test", 2, 1, set_token(9, "ab"), ["feature value 'ab' is not an integer"]),
    ("test-pixel-300", "test", 0, 1, set_token(9, "300"), ["feature value 300 is outside 0..255"]),
    ("test-id-x", "test", 1, 0, const("x"), ["id 'x' is not an integer"]),
    ("test-id-minus-1", "test", 1, 0, const("-1"), ["id -1 is outside 0.."]),
]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("case", COURSE_ERRORS, ids=[c[0] for c in COURSE_ERRORS])
def test_course_csv_errors_name_file_line_and_problem(tmp_path, case, gz):
    _, target, row, column, change, fragments = case
    folder = tmp_path / "data"
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 3])
    rows = {"train": train_rows(labels, make_images(8, 1)),
            "test": id_rows([10, 3, 7], make_images(3, 2))}
    rows[target][row][column] = change(rows[target][row][column])
    suffix = ".gz" if gz else ""
    paths = {
        "train": write(folder / f"train.csv{suffix}", csv_text("label,feature", rows["train"])),
        "test": write(folder / f"test.csv{suffix}", csv_text("id,feature", rows["test"])),
    }
    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    assert_data_error(exc_info, paths[target], row + 2, *fragments)


def test_duplicate_test_ids_name_both_lines(tmp_path):
    folder = tmp_path / "data"
    write_course(folder, [1], make_images(1))
    test = write(folder / "test.csv",
                 csv_text("id,feature", id_rows([5, 6, 8, 6, 5], make_images(5))))
    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    assert str(exc_info.value) == f"{test}: line 5: duplicate id 6 (first at line 3)"


@pytest.mark.parametrize(
    "name,header,missing,expected",
    [
        ("train.csv", "lable,feature", "missing label; ", "label,feature"),
        ("train.csv", "label,pixels", "missing feature; ", "label,feature"),
        ("train.csv", "feature,label", "", "label,feature"),
        ("train.csv", "label,feature,extra", "", "label,feature"),
        ("test.csv", "label,feature", "missing id; ", "id,feature"),
        ("fer2013.csv", "emotion,pixels", "missing Usage; ", "emotion,pixels,Usage"),
        ("fer2013.csv", "pixels,emotion,Usage", "", "emotion,pixels,Usage"),
    ],
)
def test_wrong_columns_are_reported_on_line_1(tmp_path, name, header, missing, expected):
    image = pixel_text(make_images(1)[0])
    n_fields = header.count(",") + 1
    row = ",".join(["1", image, "Training"][:n_fields])
    path = write(tmp_path / name, f"{header}\n{row}\n")
    with pytest.raises(DataError) as exc_info:
        load_fer2013(path)
    assert str(exc_info.value) == (
        f"{path}: line 1: {missing}expected columns {expected}, found {header}"
    )


@pytest.mark.parametrize("name,header", [
    ("train.csv", "label,feature"), ("test.csv", "id,feature"),
    ("fer2013.csv", "emotion,pixels,Usage"), ("train.csv.gz", "label,feature"),
])
def test_empty_file(tmp_path, name, header):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(DataError) as exc_info:
        load_fer2013(path)
    assert str(exc_info.value) == f"{path}: the file is empty (expected a header {header})"


@pytest.mark.parametrize("name,header", [
    ("train.csv", "label,feature"), ("test.csv", "id,feature"),
    ("fer2013.csv", "emotion,pixels,Usage"), ("test.csv.gz", "id,feature"),
])
def test_header_only_file(tmp_path, name, header):
    path = write(tmp_path / name, header + "\n")
    with pytest.raises(DataError) as exc_info:
        load_fer2013(path)
    assert str(exc_info.value) == f"{path}: the file has a header but no data rows"


def test_header_only_test_csv_in_a_folder_names_test_csv(course):
    write(course["test"], "id,feature\n")
    with pytest.raises(DataError) as exc_info:
        load_fer2013(course["folder"])
    assert str(exc_info.value) == f"{course['test']}: the file has a header but no data rows"


def test_row_with_too_many_fields(tmp_path):
    rows = train_rows([1, 2], make_images(2))
    rows[1].append("extra")
    path = write(tmp_path / "train.csv", csv_text("label,feature", rows))
    with pytest.raises(DataError) as exc_info:
        load_fer2013(path)
    assert_data_error(exc_info, path, None, "not a valid CSV file", "line 3")


@pytest.mark.parametrize("name,raw,fragment", [
    ("train.csv", "label,feature\n\xe9,1\n".encode("latin-1"), "cannot be read as CSV text"),
    ("train.csv.gz", b"label,feature\n", "cannot be read as CSV text"),  # not really gzipped
])
def test_unreadable_csv(tmp_path, name, raw, fragment):
    path = tmp_path / name
    path.write_bytes(raw)
    with pytest.raises(DataError) as exc_info:
        load_fer2013(path)
    assert_data_error(exc_info, path, None, fragment)


def test_line_numbers_count_blank_lines(tmp_path):
    rows = train_rows([1, 7], make_images(2))
    text = "label,feature\n" + ",".join(rows[0]) + "\n\n" + ",".join(rows[1]) + "\n"
    path = write(tmp_path / "train.csv", text)
    with pytest.raises(DataError) as exc_info:
        load_fer2013(path)
    assert_data_error(exc_info, path, 4, "label 7 is outside 0..6")


@pytest.mark.parametrize("name,header", [("train.csv", "label,feature"), ("test.csv", "id,feature")])
def test_infinite_integer_is_a_data_error(tmp_path, name, header):
    image = pixel_text(make_images(1)[0])
    path = write(tmp_path / name, f"{header}\n1,{image}\ninf,{image}\n")
    with pytest.raises(DataError) as exc_info:
        load_fer2013(path)
    assert_data_error(exc_info, path, 3, "inf")


def test_non_ascii_digit_pixel_is_a_data_error(tmp_path):
    rows = train_rows([1, 2], make_images(2))
    rows[1][1] = set_token(3, "\u0663")(rows[1][1])  # ARABIC-INDIC DIGIT THREE
    path = write(tmp_path / "train.csv", csv_text("label,feature", rows))
    with pytest.raises(DataError) as exc_info:
        load_fer2013(path)
    assert_data_error(exc_info, path, 3, "not an integer")


def test_huge_pixel_value_is_a_data_error(tmp_path):
    rows = train_rows([1, 2], make_images(2))
    rows[1][1] = set_token(0, "99999999999999999999")(rows[1][1])
    path = write(tmp_path / "train.csv", csv_text("label,feature", rows))
    with pytest.raises(DataError) as exc_info:
        load_fer2013(path)
    assert_data_error(exc_info, path, 3, "outside 0..255")


# --------------------------------------------------------------------------- bad Kaggle input


@pytest.mark.parametrize("column,value,fragment", [
    (2, "Validation", "Usage 'Validation' is not one of Training, PublicTest, PrivateTest"),
    (2, "", "Usage '' is not one of Training, PublicTest, PrivateTest"),
    (0, "7", "emotion 7 is outside 0..6"),
    (0, "happy", "emotion 'happy' is not an integer"),
    (1, "drop", "pixels has 2303 values, expected 2304"),
    (1, "ab", "pixels value 'ab' is not an integer 0..255"),
    (1, "300", "pixels value 300 is outside 0..255"),
])
def test_kaggle_errors(tmp_path, column, value, fragment):
    images = make_images(3)
    rows = [[str(k), pixel_text(images[k]), "Training"] for k in range(3)]
    if column == 1:
        rows[1][1] = drop_last(rows[1][1]) if value == "drop" else set_token(7, value)(rows[1][1])
    else:
        rows[1][column] = value
    path = write(tmp_path / "data" / "fer2013.csv.gz", csv_text("emotion,pixels,Usage", rows))
    with pytest.raises(DataError) as exc_info:
        load_fer2013(tmp_path / "data")
    assert_data_error(exc_info, path, 3, fragment)


# --------------------------------------------------------------------------- bad image folders


@pytest.mark.parametrize("split", ["train", "test"])
def test_wrong_image_size(tmp_path, split):
    folder = tmp_path / "data"
    write_png(folder / "train" / "happy" / "a.png", make_images(1)[0])
    write_png(folder / "test" / "sad" / "a.png", make_images(1)[0])
    bad = write_png(folder / split / "fear" / "b.png", np.zeros((48, 40), np.uint8))
    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    assert str(exc_info.value) == f"{bad}: image is 40x48, expected 48x48"


@pytest.mark.parametrize("name", ["happyy", "7", "contempt"])
def test_unknown_class_folder(tmp_path, name):
    folder = tmp_path / "data"
    write_png(folder / "train" / "happy" / "a.png", make_images(1)[0])
    write_png(folder / "train" / name / "a.png", make_images(1)[0])
    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    assert str(exc_info.value) == (
        f"{folder / 'train' / name}: folder name {name!r} is not a class: "
        "expected one of angry, disgust, fear, happy, sad, surprise, neutral"
    )


def test_unreadable_image(tmp_path):
    folder = tmp_path / "data"
    bad = folder / "train" / "happy" / "a.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a png")
    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    assert_data_error(exc_info, bad, None, "not a readable image")


def test_train_folder_without_class_folders(tmp_path):
    folder = tmp_path / "data"
    write_png(folder / "train" / "a.png", make_images(1)[0])
    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    assert_data_error(exc_info, folder / "train", None, "no class folders")


def test_class_folders_without_images(tmp_path):
    folder = tmp_path / "data"
    (folder / "train" / "happy").mkdir(parents=True)
    (folder / "train" / "happy" / "readme.txt").write_text("x")
    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    assert_data_error(exc_info, folder / "train", None, "no images found")


# --------------------------------------------------------------------------- missing data


@pytest.mark.parametrize("extra", [None, "notes.txt", "fer2013.txt"])
def test_empty_data_folder_says_which_files_are_expected(tmp_path, extra):
    folder = tmp_path / "data"
    folder.mkdir()
    if extra:
        (folder / extra).write_text("x")
    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    message = str(exc_info.value)
    assert message.startswith(f"no FER2013 data found in {folder}: ")
    for expected in ("train.csv[.gz]", "test.csv[.gz]", "fer2013.csv[.gz]", "train/<class>/*.png"):
        assert expected in message
    assert "\n" not in message


def test_missing_path(tmp_path):
    with pytest.raises(DataError) as exc_info:
        load_fer2013(tmp_path / "nowhere")
    assert str(exc_info.value).startswith(f"{tmp_path / 'nowhere'}: no such file or folder. ")


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)
    assert DataError("x")._render_traceback_() == ["DataError: x"]


# --------------------------------------------------------------------------- caching


def fail(*args, **kwargs):
    raise AssertionError("the files were parsed although they are cached")


def counting(monkeypatch, name):
    calls = []
    original = getattr(data_fer2013, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(data_fer2013, name, wrapper)
    return calls


def assert_same(a, b):
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.test_ids, b.test_ids)
    assert (a.y_test is None) == (b.y_test is None)
    if a.y_test is not None:
        np.testing.assert_array_equal(a.y_test, b.y_test)
    for name in ("x_train", "y_train", "x_test", "test_ids"):
        assert getattr(a, name).dtype == getattr(b, name).dtype
    assert a.source_format == b.source_format
    assert a.files == b.files
    assert identity(a) == identity(b)


def course_key(course) -> str:
    return sha256_of(course["train"], course["test"])


def test_second_load_comes_from_the_cache(course, cache_dir, monkeypatch):
    first = load_fer2013(course["folder"])
    assert tree(cache_dir) == [cache_name(course_key(course))]

    monkeypatch.setattr(data_fer2013, "read_train_csv", fail)
    monkeypatch.setattr(data_fer2013, "read_test_csv", fail)
    second = load_fer2013(course["folder"])

    assert_same(first, second)
    np.testing.assert_array_equal(second.x_train, course["images"])
    assert second.y_test is None
    assert tree(cache_dir) == [cache_name(course_key(course))]


def test_kaggle_and_image_folders_are_cached_with_test_labels(tmp_path, monkeypatch):
    kaggle, _ = write_kaggle(tmp_path / "k" / "fer2013.csv")
    write_png(tmp_path / "i" / "train" / "happy" / "a.png", make_images(2)[0])
    write_png(tmp_path / "i" / "test" / "sad" / "a.png", make_images(2)[1])
    firsts = [load_fer2013(kaggle), load_fer2013(tmp_path / "i")]
    monkeypatch.setattr(data_fer2013, "read_kaggle_csv", fail)
    monkeypatch.setattr(data_fer2013, "read_image_folders", fail)
    for first, path in zip(firsts, [kaggle, tmp_path / "i"]):
        second = load_fer2013(path)
        assert_same(first, second)
        assert second.y_test is not None


def test_changed_file_is_parsed_again(course, cache_dir, monkeypatch):
    first = load_fer2013(course["folder"])
    first_key = course_key(course)
    calls = counting(monkeypatch, "read_train_csv")
    new_labels = course["labels"].copy()
    new_labels[0] = 6
    write_course(course["folder"], new_labels, course["images"])

    second = load_fer2013(course["folder"])

    assert len(calls) == 1
    assert second.checksum != first.checksum
    assert identity(second) == expected_identity(course["images"], new_labels,
                                                 course["test_images"], course["ids"])
    np.testing.assert_array_equal(second.y_train, new_labels)
    assert tree(cache_dir) == sorted([cache_name(first_key), cache_name(course_key(course))])
    # and the new version is cached in turn
    load_fer2013(course["folder"])
    assert len(calls) == 1


def test_use_cache_false_neither_reads_nor_writes_the_cache(course, cache_dir, monkeypatch):
    calls = counting(monkeypatch, "read_train_csv")
    d = load_fer2013(course["folder"], use_cache=False)
    np.testing.assert_array_equal(d.y_train, course["labels"])
    assert not cache_dir.exists()

    load_fer2013(course["folder"])           # now cached
    assert len(calls) == 2
    again = load_fer2013(course["folder"], use_cache=False)
    assert len(calls) == 3                    # parsed although a cache exists
    assert_same(d, again)


CORRUPTIONS = [
    pytest.param("garbage", id="garbage"),
    pytest.param("truncated", id="truncated"),
    pytest.param("bitflip", id="bitflip"),
    pytest.param("empty", id="empty"),
]


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_corrupted_cache_is_rebuilt(course, cache_dir, monkeypatch, corruption):
    first = load_fer2013(course["folder"])
    cache_file = cache_dir / cache_name(course_key(course))
    raw = cache_file.read_bytes()
    if corruption == "garbage":
        cache_file.write_bytes(b"not a numpy file" * 10)
    elif corruption == "truncated":
        cache_file.write_bytes(raw[: len(raw) // 2])
    elif corruption == "bitflip":
        # flip a byte inside the x_train pixels (the first array in the archive)
        position = raw.index(course["images"].tobytes()[:64]) + 1000
        cache_file.write_bytes(raw[:position] + bytes([raw[position] ^ 0xFF]) + raw[position + 1:])
    else:
        cache_file.write_bytes(b"")

    calls = counting(monkeypatch, "read_train_csv")
    rebuilt = load_fer2013(course["folder"])

    assert len(calls) == 1
    assert_same(first, rebuilt)
    assert tree(cache_dir) == [cache_name(course_key(course))]
    monkeypatch.setattr(data_fer2013, "read_train_csv", fail)
    assert_same(first, load_fer2013(course["folder"]))   # the rebuilt cache is valid


def test_relabelled_image_folder_is_not_served_from_the_cache(tmp_path):
    folder = tmp_path / "data"
    images = make_images(2)
    write_png(folder / "train" / "angry" / "0.png", images[0])
    write_png(folder / "train" / "happy" / "1.png", images[1])
    np.testing.assert_array_equal(load_fer2013(folder).y_train, [0, 3])
    (folder / "train" / "happy").rename(folder / "train" / "sad")
    np.testing.assert_array_equal(load_fer2013(folder, use_cache=False).y_train, [0, 4])
    np.testing.assert_array_equal(load_fer2013(folder).y_train, [0, 4])


# --------------------------------------------------------------------------- splits

SPLIT_COUNTS = [40, 10, 30, 50, 20, 25, 25]   # 200 rows


@pytest.fixture
def split_labels():
    return np.repeat(np.arange(7), SPLIT_COUNTS)[np.random.default_rng(0).permutation(200)]


@pytest.mark.parametrize("val_fraction", [0.1, 0.2, 0.35])
def test_split_train_val_is_stratified_disjoint_and_complete(split_labels, val_fraction):
    train_idx, val_idx = split_train_val(split_labels, val_fraction, seed=3)
    assert len(val_idx) == math.ceil(200 * val_fraction)
    assert len(train_idx) + len(val_idx) == 200
    assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(np.union1d(train_idx, val_idx), np.arange(200))
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(val_idx) > 0)
    val_counts = np.bincount(split_labels[val_idx], minlength=7)
    expected = np.array(SPLIT_COUNTS) * val_fraction
    assert np.all(np.abs(val_counts - expected) <= 1), (val_counts, expected)


def test_split_train_val_is_seeded(split_labels):
    a_train, a_val = split_train_val(split_labels, 0.2, seed=7)
    b_train, b_val = split_train_val(split_labels, 0.2, seed=7)
    np.testing.assert_array_equal(a_train, b_train)
    np.testing.assert_array_equal(a_val, b_val)
    _, c_val = split_train_val(split_labels, 0.2, seed=8)
    assert not np.array_equal(a_val, c_val)
    # default seed is 42
    np.testing.assert_array_equal(split_train_val(split_labels, 0.2)[1],
                                  split_train_val(split_labels, 0.2, 42)[1])


@pytest.mark.parametrize("val_fraction", [0, 1, -0.1, 1.5, float("nan")])
def test_split_train_val_rejects_bad_fraction(split_labels, val_fraction):
    with pytest.raises(ValueError, match="val_fraction must be between 0 and 1"):
        split_train_val(split_labels, val_fraction)


def test_stratified_subset(split_labels):
    keep = stratified_subset(split_labels, 50, seed=1)
    assert len(keep) == 50
    assert np.all(np.diff(keep) > 0)
    assert keep.min() >= 0 and keep.max() < 200
    counts = np.bincount(split_labels[keep], minlength=7)
    assert np.all(np.abs(counts - np.array(SPLIT_COUNTS) / 4) <= 1), counts
    np.testing.assert_array_equal(keep, stratified_subset(split_labels, 50, seed=1))
    assert not np.array_equal(keep, stratified_subset(split_labels, 50, seed=2))


@pytest.mark.parametrize("size", [None, 200, 500])
def test_stratified_subset_all_rows(split_labels, size):
    np.testing.assert_array_equal(stratified_subset(split_labels, size), np.arange(200))


def write_tagged_course(folder: Path, labels, n_test=5):
    """Course files whose image k has pixel [0,0] == k, so rows can be traced."""
    images = make_images(len(labels), seed=9)
    test_images = make_images(n_test, seed=10)
    return write_course(folder, labels, images, np.arange(n_test), test_images), images


def test_load_splits_shapes_and_row_integrity(tmp_path):
    folder = tmp_path / "data"
    (train, test), images = write_tagged_course(folder, SUMMARY_LABELS)
    s = load_splits(folder, val_fraction=0.2, seed=0)
    assert s.x_train.shape == (56, 48, 48) and s.y_train.shape == (56,)
    assert s.x_val.shape == (14, 48, 48) and s.y_val.shape == (14,)
    assert s.x_test.shape == (5, 48, 48) and s.test_ids.shape == (5,)
    assert s.x_train.dtype == np.uint8 and s.y_train.dtype == np.int64
    assert s.checksum == expected_identity(images, SUMMARY_LABELS, make_images(5, seed=10),
                                           np.arange(5))[2]
    # every row keeps its own label, and train + validation are all 70 rows exactly once
    rows = np.concatenate([s.x_train[:, 0, 0], s.x_val[:, 0, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(rows), np.arange(70))
    np.testing.assert_array_equal(s.y_train, SUMMARY_LABELS[s.x_train[:, 0, 0]])
    np.testing.assert_array_equal(s.y_val, SUMMARY_LABELS[s.x_val[:, 0, 0]])
    np.testing.assert_array_equal(s.x_train, images[s.x_train[:, 0, 0]])
    # the same split as split_train_val on the loaded labels
    _, val_idx = split_train_val(SUMMARY_LABELS, 0.2, 0)
    np.testing.assert_array_equal(np.sort(s.x_val[:, 0, 0]), val_idx)


def test_load_splits_max_train_rows(tmp_path):
    folder = tmp_path / "data"
    write_tagged_course(folder, SUMMARY_LABELS)
    s = load_splits(folder, val_fraction=0.2, seed=0, max_train_rows=35)
    assert len(s.y_train) == 28 and len(s.y_val) == 7
    assert s.x_train.shape == (28, 48, 48) and s.x_val.shape == (7, 48, 48)
    assert len(s.test_ids) == 5
    rows = np.concatenate([s.x_train[:, 0, 0], s.x_val[:, 0, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(rows), stratified_subset(SUMMARY_LABELS, 35, 0))


def test_load_splits_without_training_rows(tmp_path):
    _, test = write_course(tmp_path, [1], make_images(1), [0, 1], make_images(2))
    with pytest.raises(DataError, match="no training rows found"):
        load_splits(test)


# --------------------------------------------------------------------------- summary and CLI


def expected_summary_lines(folder: Path, train: Path, test: Path, images) -> list[str]:
    checksum = expected_identity(images, SUMMARY_LABELS, make_images(5, seed=10), np.arange(5))[2]
    return [
        f"format: {COURSE_FORMAT}",
        f"file: {train}",
        f"file: {test}",
        "train rows: 70",
        "  0 angry         10   14.3%",
        "  1 disgust        4    5.7%",
        "  2 fear          10   14.3%",
        "  3 happy         16   22.9%",
        "  4 sad           12   17.1%",
        "  5 surprise       8   11.4%",
        "  6 neutral       10   14.3%",
        "test rows: 5 (without labels)",
        "split (validation 10%, seed 42): 63 train / 7 validation",
        f"sha256: {checksum}",
    ]


def test_summary(tmp_path):
    folder = tmp_path / "data"
    (train, test), images = write_tagged_course(folder, SUMMARY_LABELS)
    d = load_fer2013(folder)
    assert d.summary().splitlines() == expected_summary_lines(folder, train, test, images)
    assert "split (validation 20%, seed 7): 56 train / 14 validation" in d.summary(0.2, 7)


def test_summary_with_labelled_test_and_no_split(tmp_path):
    path, _ = write_kaggle(tmp_path / "fer2013.csv")
    text = load_fer2013(path).summary()
    assert "test rows: 4 (with labels)" in text
    assert "train rows: 3" in text
    assert "split: too few rows per class for a stratified 10% validation split" in text


NO_TEST = "the leaderboard submissions will be skipped"


@pytest.mark.parametrize("layout,reason", [
    ("course folder", "no test.csv found"),
    ("train.csv", "no test.csv found"),
    ("kaggle", "no PublicTest/PrivateTest rows in fer2013.csv"),
    ("images", "no test/ image folder found"),
])
def test_summary_says_when_there_is_no_test_set(tmp_path, capsys, layout, reason):
    folder = tmp_path / "data"
    if layout == "kaggle":
        path, _ = write_kaggle(folder / "fer2013.csv", [1, 2], ["Training", "Training"])
    elif layout == "images":
        write_png(folder / "train" / "happy" / "a.png", make_images(1)[0])
        path = folder
    else:
        train, _ = write_course(folder, [1, 2], make_images(2))
        path = train if layout == "train.csv" else folder
    line = f"test rows: 0 - {reason}: {NO_TEST}"
    assert line in load_fer2013(path).summary().splitlines()
    assert data_fer2013.main([str(path)]) == 2  # the summary, then: too few rows for the report
    assert line in capsys.readouterr().out.splitlines()


def test_image_folder_summary_counts_images_per_folder(tmp_path, capsys):
    folder = tmp_path / "data"
    images = make_images(5, seed=15)
    for k, (split, cls) in enumerate([("train", "happy"), ("train", "happy"), ("train", "sad"),
                                      ("test", "sad"), ("test", "fear")]):
        write_png(folder / split / cls / f"{k}.png", images[k])
    lines = load_fer2013(folder).summary().splitlines()
    assert lines[:3] == [f"format: {IMAGE_FORMAT}",
                         f"files: 3 images under {folder / 'train'}",
                         f"files: 2 images under {folder / 'test'}"]
    assert not [line for line in lines if line.startswith("file:")]
    assert data_fer2013.main([str(folder)]) == 2  # classes missing: the summary, then the error
    assert capsys.readouterr().out.splitlines()[:3] == lines[:3]


def test_image_folder_summary_count_has_thousands_separators():
    d = data_fer2013.FER2013(make_images(0), np.zeros(0, np.int64), make_images(0), np.zeros(0, np.int64),
                     None, IMAGE_FORMAT, files=[f"/d/train/happy/{k}.png" for k in range(1234)],
                     folders=["/d/train"])
    assert "files: 1,234 images under /d/train" in d.summary().splitlines()


def test_main_in_process(tmp_path, capsys, cache_dir):
    folder = tmp_path / "data"
    (train, test), _ = write_tagged_course(folder, SUMMARY_LABELS)
    assert data_fer2013.main([str(folder), "--val-fraction", "0.2", "--seed", "7"]) == 0
    out, err = capsys.readouterr()
    assert "split (validation 20%, seed 7): 56 train / 14 validation" in out
    assert err == ""
    assert tree(cache_dir) == [cache_name(sha256_of(train, test))]

    rows = train_rows([1, 2], make_images(2))
    rows[1][0] = "7"
    bad = write(tmp_path / "bad" / "train.csv", csv_text("label,feature", rows))
    assert data_fer2013.main([str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {bad}: line 3: label 7 is outside 0..6\n"
    assert tree(cache_dir) == [cache_name(sha256_of(train, test))]


def test_main_on_small_valid_file(tmp_path, capsys):
    train, _ = write_course(tmp_path, np.arange(70) % 7, make_images(70))
    assert data_fer2013.main([str(train), "--no-cache"]) == 0
    assert "train rows: 70" in capsys.readouterr().out


def run_cli(*args, cache_dir: Path | None = None):
    """Run `python -m helpers.data` from the project root. With cache_dir, the same module
    is run as __main__ after pointing helpers.core.config.CACHE_DIR there."""
    if cache_dir is None:
        command = [sys.executable, "-m", "helpers.data", *map(str, args)]
    else:
        code = (
            "import runpy, sys\n"
            "from pathlib import Path\n"
            "import helpers.core.config\n"
            "helpers.core.config.CACHE_DIR = Path(sys.argv.pop(1))\n"
            "runpy.run_module('helpers.data', run_name='__main__', alter_sys=True)\n"
        )
        command = [sys.executable, "-c", code, str(cache_dir), *map(str, args)]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def real_cache_listing() -> set[str]:
    folder = config.CACHE_DIR
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_cli_good_data_prints_summary(tmp_path):
    folder = tmp_path / "data"
    (train, test), images = write_tagged_course(folder, SUMMARY_LABELS)
    before = tree(tmp_path)
    result = run_cli(folder, "--no-cache")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_summary_lines(folder, train, test, images)
    assert "Traceback" not in result.stderr
    assert tree(tmp_path) == before
    assert not (config.CACHE_DIR / cache_name(sha256_of(train, test))).exists()


def test_cli_good_data_writes_the_cache(tmp_path):
    folder = tmp_path / "data"
    (train, test), _ = write_tagged_course(folder, SUMMARY_LABELS)
    cli_cache = tmp_path / "cli-cache"
    result = run_cli(folder, "--seed", "7", "--val-fraction", "0.2", cache_dir=cli_cache)
    assert result.returncode == 0, result.stderr
    assert "split (validation 20%, seed 7): 56 train / 14 validation" in result.stdout
    assert tree(cli_cache) == [cache_name(sha256_of(train, test))]


def bad_train_csv(folder: Path) -> Path:
    rows = train_rows([1, 2, 3], make_images(3))
    rows[1][1] = drop_last(rows[1][1])
    return write(folder / "train.csv", csv_text("label,feature", rows))


def bad_kaggle(folder: Path) -> Path:
    rows = [[str(k), pixel_text(image), "Training"] for k, image in enumerate(make_images(2))]
    rows[1][2] = "Validation"
    return write(folder / "fer2013.csv", csv_text("emotion,pixels,Usage", rows))


def bad_image(folder: Path) -> Path:
    return write_png(folder / "train" / "happy" / "a.png", np.zeros((40, 48), np.uint8))


def empty_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("make_bad,target,fragment", [
    (bad_train_csv, "file", ": line 3: feature has 2303 values, expected 2304 (48x48)"),
    (bad_train_csv, "folder", ": line 3: feature has 2303 values, expected 2304 (48x48)"),
    (bad_kaggle, "folder", ": line 3: Usage 'Validation' is not one of"),
    (bad_image, "folder", ": image is 48x40, expected 48x48"),
    (empty_folder, "folder", ": expected train.csv[.gz] and test.csv[.gz]"),
], ids=["train-file", "train-folder", "kaggle", "image", "empty-folder"])
def test_cli_bad_data_prints_one_error_line_and_writes_nothing(tmp_path, make_bad, target,
                                                              fragment):
    folder = tmp_path / "data"
    bad = make_bad(folder)
    path = bad if target == "file" else folder
    before_tmp, before_real = tree(tmp_path), real_cache_listing()

    result = run_cli(path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert str(bad) in lines[0]
    assert fragment in lines[0]
    assert tree(tmp_path) == before_tmp
    new_real = real_cache_listing() - before_real
    assert not any(name.startswith("fer2013-") or name.endswith(".npz") for name in new_real), \
        new_real


def test_cli_bad_data_with_cache_dir_creates_nothing(tmp_path):
    bad = bad_train_csv(tmp_path / "data")
    before = tree(tmp_path)
    result = run_cli(tmp_path / "data", cache_dir=tmp_path / "cli-cache")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad}: line 3: ")
    assert "Traceback" not in result.stderr
    assert tree(tmp_path) == before


def test_cli_missing_path(tmp_path):
    result = run_cli(tmp_path / "nowhere", cache_dir=tmp_path / "cli-cache")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'nowhere'}: no such file or folder")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "cli-cache").exists()


# --------------------------------------------------------------------------- data identity


def test_same_data_plain_gzipped_or_crlf_has_the_same_identity(tmp_path, cache_dir):
    labels, images = np.array([0, 1, 2, 3, 4, 5, 6, 3]), make_images(8, seed=1)
    ids, test_images = np.array([10, 3, 7]), make_images(3, seed=2)
    write_course(tmp_path / "plain", labels, images, ids, test_images)
    write_course(tmp_path / "gz", labels, images, ids, test_images,
                 train_name="train.csv.gz", test_name="test.csv.gz")
    write(tmp_path / "crlf" / "train.csv",
          csv_text("label,feature", train_rows(labels, images)).replace("\n", "\r\n"))
    write(tmp_path / "crlf" / "test.csv.gz", csv_text("id,feature", id_rows(ids, test_images)))

    loaded = [load_fer2013(tmp_path / name) for name in ("plain", "gz", "crlf")]

    expected = expected_identity(images, labels, test_images, ids)
    assert [identity(d) for d in loaded] == [expected] * 3
    assert len(tree(cache_dir)) == 3   # the cache files are still named by the files' bytes


def test_adding_or_removing_test_csv_keeps_the_train_digest(tmp_path):
    folder = tmp_path / "data"
    labels, images = np.array([1, 5, 3]), make_images(3, seed=8)
    write_course(folder, labels, images)
    without = load_fer2013(folder)
    assert without.test_digest == data_fer2013.EMPTY_TEST_DIGEST

    _, test = write_course(folder, labels, images, [0, 1], make_images(2, seed=9))
    with_test = load_fer2013(folder)
    assert with_test.train_digest == without.train_digest
    assert with_test.test_digest != without.test_digest
    assert with_test.checksum != without.checksum

    test.unlink()
    assert identity(load_fer2013(folder)) == identity(without)
    assert identity(load_fer2013(folder, use_cache=False)) == identity(without)


@pytest.mark.parametrize("change", ["label", "pixel"])
def test_one_changed_label_or_pixel_changes_the_train_digest(tmp_path, change):
    labels, images = np.array([0, 1, 2, 3]), make_images(4, seed=3)
    ids, test_images = [0, 1], make_images(2, seed=4)
    write_course(tmp_path / "a", labels, images, ids, test_images)
    labels, images = labels.copy(), images.copy()
    if change == "label":
        labels[2] = 6
    else:
        images[3, 20, 30] ^= 1
    write_course(tmp_path / "b", labels, images, ids, test_images)

    a, b = load_fer2013(tmp_path / "a"), load_fer2013(tmp_path / "b")

    assert a.train_digest != b.train_digest
    assert a.test_digest == b.test_digest
    assert a.checksum != b.checksum


def test_a_cache_hit_reuses_the_stored_digests(course, monkeypatch):
    first = load_fer2013(course["folder"])
    monkeypatch.setattr(data_fer2013, "read_train_csv", fail)
    monkeypatch.setattr(data_fer2013, "digest_arrays", fail)
    assert identity(load_fer2013(course["folder"])) == identity(first)


def test_a_cache_file_without_digests_is_rebuilt(course, cache_dir):
    first = load_fer2013(course["folder"])
    cache_file = cache_dir / cache_name(course_key(course))
    with np.load(cache_file) as z:
        arrays = {k: z[k] for k in z.files if not k.endswith("_digest")}
    with open(cache_file, "wb") as fh:
        np.savez(fh, **arrays)
    assert identity(load_fer2013(course["folder"])) == identity(first)


def test_load_splits_passes_the_digests_on(tmp_path):
    folder = tmp_path / "data"
    write_tagged_course(folder, SUMMARY_LABELS)
    d = load_fer2013(folder)
    s = load_splits(folder, val_fraction=0.2, seed=0, max_train_rows=35)
    assert (s.train_digest, s.test_digest, s.checksum) == identity(d)
    assert s.train_digest != s.test_digest != ""


def test_a_splits_subclass_with_required_fields_is_still_built_positionally():
    @dataclasses.dataclass
    class WithSettings(Splits):   # like helpers.experiments.inputs.Inputs
        normalization: dict
        data_settings: dict

    x, y = make_images(2), np.array([1, 2])
    s = WithSettings(x, y, x, y, x, np.arange(2), None, "sum", "fmt", {"mean": 1}, {"seed": 2})
    assert (s.checksum, s.normalization, s.data_settings) == ("sum", {"mean": 1}, {"seed": 2})
    assert (s.train_digest, s.test_digest) == ("", "")
    t = dataclasses.replace(s, train_digest="a", test_digest="b")
    assert (t.train_digest, t.test_digest, t.normalization) == ("a", "b", {"mean": 1})


# --------------------------------------------------------------------------- gzip under a .csv name


def course_csv_text(name: str) -> str:
    images = make_images(3, seed=11)
    if name.startswith("train"):
        return csv_text("label,feature", train_rows([2, 0, 6], images))
    if name.startswith("test"):
        return csv_text("id,feature", id_rows([4, 0, 9], images))
    return csv_text("emotion,pixels,Usage", [[str(k), pixel_text(image), usage] for k, image, usage
                                             in zip([2, 0, 6], images, ["Training", "PublicTest",
                                                                        "Training"])])


@pytest.mark.parametrize("name", ["train.csv", "test.csv", "fer2013.csv"])
def test_gzipped_csv_without_gz_suffix_is_read_like_the_gz(tmp_path, name):
    text = course_csv_text(name)
    plain = write(tmp_path / "plain" / name, text)
    gz = write(tmp_path / "gz" / f"{name}.gz", text)
    disguised = tmp_path / "disguised" / name
    disguised.parent.mkdir()
    disguised.write_bytes(gzip.compress(text.encode()))

    loaded = load_fer2013(disguised)

    for other in (load_fer2013(plain), load_fer2013(gz)):
        np.testing.assert_array_equal(loaded.x_train, other.x_train)
        np.testing.assert_array_equal(loaded.x_test, other.x_test)
        assert identity(loaded) == identity(other)
    assert loaded.files == [str(disguised)]


def test_gzipped_train_csv_in_a_folder_is_read(tmp_path):
    labels, images = np.array([3, 1]), make_images(2, seed=12)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.csv").write_bytes(
        gzip.compress(csv_text("label,feature", train_rows(labels, images)).encode()))
    d = load_fer2013(folder)
    np.testing.assert_array_equal(d.x_train, images)
    assert identity(d) == expected_identity(images, labels)


# --------------------------------------------------------------------------- permission errors


def deny(monkeypatch, target: Path, listing: bool = False) -> None:
    """Make opening `target` (or, with listing, listing it) raise PermissionError, as chmod 000
    would for a normal user; the tests may run as root, whom chmod does not stop."""
    target = str(target)

    def check(arg):
        if isinstance(arg, (str, os.PathLike)) and os.fspath(arg) == target:
            raise PermissionError(errno.EACCES, "Permission denied", target)

    if listing:
        for name in ("scandir", "listdir"):
            def fake(path=".", _original=getattr(os, name)):
                check(path)
                return _original(path)
            monkeypatch.setattr(os, name, fake)
    else:
        def fake_open(file, *args, _original=builtins.open, **kwargs):
            check(file)
            return _original(file, *args, **kwargs)
        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)


def assert_cli_error(capsys, path: Path, message: str) -> None:
    assert data_fer2013.main([str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {message}\n"


def image_tree(folder: Path) -> Path:
    images = make_images(3, seed=13)
    write_png(folder / "train" / "happy" / "a.png", images[0])
    write_png(folder / "train" / "sad" / "b.png", images[1])
    write_png(folder / "test" / "sad" / "c.png", images[2])
    return folder


@pytest.mark.parametrize("target", ["train.csv", "test.csv", "fer2013.csv.gz",
                                    "train/sad/b.png", "test/sad/c.png"])
def test_unreadable_file_is_a_one_line_permission_error(tmp_path, monkeypatch, capsys, target):
    folder = tmp_path / "data"
    if target.endswith(".png"):
        image_tree(folder)
    elif target.startswith("fer2013"):
        write_kaggle(folder / target)
    else:
        write_course(folder, [1, 2], make_images(2), [0], make_images(1))
    deny(monkeypatch, folder / target)
    message = f"{folder / target}: permission denied (cannot read the file)"

    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    assert str(exc_info.value) == message
    assert_cli_error(capsys, folder, message)


def test_readers_report_permission_denied(tmp_path, monkeypatch):
    train, _ = write_course(tmp_path / "csv", [1], make_images(1))
    png = write_png(tmp_path / "images" / "happy" / "a.png", make_images(1)[0])
    deny(monkeypatch, train)
    deny(monkeypatch, png)
    with pytest.raises(DataError) as exc_info:
        data_fer2013.read_train_csv(train)
    assert str(exc_info.value) == f"{train}: permission denied (cannot read the file)"
    with pytest.raises(DataError) as exc_info:
        data_fer2013.read_image_folder(tmp_path / "images")
    assert str(exc_info.value) == f"{png}: permission denied (cannot read the file)"


@pytest.mark.parametrize("target", ["train", "train/sad", "test/sad"])
def test_folder_that_cannot_be_listed_is_a_one_line_error(tmp_path, monkeypatch, capsys, target):
    folder = image_tree(tmp_path / "data")
    deny(monkeypatch, folder / target, listing=True)
    message = f"{folder / target}: permission denied (cannot list the folder)"

    with pytest.raises(DataError) as exc_info:
        load_fer2013(folder)
    assert str(exc_info.value) == message
    assert_cli_error(capsys, folder, message)


# --------------------------------------------------------------------------- hidden entries, 16-bit


def test_hidden_files_and_folders_in_image_folders_are_skipped(tmp_path):
    folder = tmp_path / "data"
    images = make_images(3, seed=14)
    happy = write_png(folder / "train" / "happy" / "a.png", images[0])
    sad = write_png(folder / "train" / "sad" / "b.png", images[1])
    fear = write_png(folder / "test" / "fear" / "c.png", images[2])
    write_png(folder / "train" / ".ipynb_checkpoints" / "a.png", images[2])   # not a class
    write_png(folder / "train" / "happy" / ".ipynb_checkpoints" / "a-checkpoint.png", images[1])
    write_png(folder / "test" / "fear" / ".hidden.png", images[0])
    (folder / "train" / "happy" / "._a.png").write_bytes(b"\x00\x05\x16\x07 not an image")
    (folder / "test" / "fear" / "._c.png").write_bytes(b"\x00\x05\x16\x07 not an image")
    (folder / "train" / ".DS_Store").write_bytes(b"junk")

    d = load_fer2013(folder)

    np.testing.assert_array_equal(d.x_train, images[[0, 1]])
    np.testing.assert_array_equal(d.y_train, [3, 4])
    np.testing.assert_array_equal(d.x_test, images[[2]])
    np.testing.assert_array_equal(d.y_test, [2])
    assert d.files == [str(happy), str(sad), str(fear)]


def test_16_bit_greyscale_png_is_scaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 48 * 48).round().astype(np.uint16).reshape(48, 48)
    values[0, :6] = [0, 128, 129, 257, 32896, 65535]   # 0.498 -> 0, 0.502 -> 1, 1, 128, 255
    path = tmp_path / "data" / "train" / "happy" / "a.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(values).save(path)
    with Image.open(path) as img:
        assert img.mode == "I;16"

    pixels = load_fer2013(tmp_path / "data").x_train[0]

    expected = np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(pixels, expected)
    assert pixels[0, :6].tolist() == [0, 0, 1, 1, 128, 255]


def test_32_bit_greyscale_image_is_scaled_or_refused():
    within = np.array([[0, 257, 65535]], np.int32)
    np.testing.assert_array_equal(data_fer2013.grey_pixels(Image.fromarray(within), Path("a.png")),
                                  [[0, 1, 255]])
    beyond = Image.fromarray(np.array([[0, 70000]], np.int32))
    assert beyond.mode == "I"
    with pytest.raises(DataError) as exc_info:
        data_fer2013.grey_pixels(beyond, Path("b.png"))
    assert str(exc_info.value) == ("b.png: I image has values outside 0..65535 (0..70000); "
                                   "expected 8- or 16-bit grayscale")


# --------------------------------------------------------------------------- the real files


def test_real_course_files(monkeypatch):
    if not (REAL_DATA_DIR / "train.csv.gz").is_file():
        pytest.skip(f"the course files are not in {REAL_DATA_DIR}")
    # Use the project's own cache (build/cache), so that this test is fast once cached.
    monkeypatch.setattr(data_fer2013, "CACHE_DIR", config.CACHE_DIR)
    d = load_fer2013(REAL_DATA_DIR)
    assert d.source_format == COURSE_FORMAT
    assert [Path(f).name for f in d.files] == ["train.csv.gz", "test.csv.gz"]
    assert d.x_train.shape == (28709, 48, 48) and d.x_train.dtype == np.uint8
    assert len(d.y_train) == 28709
    assert np.bincount(d.y_train, minlength=7).tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert d.x_test.shape == (7178, 48, 48)
    np.testing.assert_array_equal(d.test_ids, np.arange(7178))
    assert d.y_test is None


# --------------------------------------------------------------------------- too little data for the report


def test_a_ten_row_train_csv_fails_check_data_naming_the_folder_and_the_fix(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(10) % 7
    write_course(tmp_path / "data", labels, rng.integers(0, 256, (10, 48, 48), dtype=np.uint8))
    done = run_cli(tmp_path / "data", cache_dir=tmp_path / "cache")
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"error: {tmp_path / 'data'}: 10 training rows")
    assert "too few for a stratified 10% validation split" in error[0] and "28,709" in error[0]
    with pytest.raises(DataError, match="too few"):
        load_splits(tmp_path / "data")


def test_a_class_missing_from_the_image_folders_is_refused_up_front(tmp_path):
    rng = np.random.default_rng(0)
    for name in CLASS_NAMES:
        if name == "disgust":
            continue
        for i in range(12):
            write_png(tmp_path / "data" / "train" / name / f"{i}.png",
                      rng.integers(0, 256, (48, 48), dtype=np.uint8))
    with pytest.raises(DataError, match=r"no training faces of class disgust: the report needs all seven"):
        load_splits(tmp_path / "data")
    done = run_cli(tmp_path / "data", cache_dir=tmp_path / "cache")
    assert done.returncode == 2 and "no training faces of class disgust" in done.stderr
