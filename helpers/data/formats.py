"""The forms FER2013 and users' faces arrive in, defined once: file suffixes, CSV columns, and
the one-line error every reader raises."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".gif", ".tif", ".tiff",
                  ".webp"}
"""Image files read (with Pillow) in an image-folder data set and by `make predict`."""
CSV_SUFFIXES = (".csv", ".csv.gz", ".gz")
GZIP_MAGIC = b"\x1f\x8b"

TRAIN_COLUMNS = ["label", "feature"]
TEST_COLUMNS = ["id", "feature"]
KAGGLE_COLUMNS = ["emotion", "pixels", "Usage"]


class DataError(ValueError):
    """A problem with the user's data files; the message is one line meant for the user."""

    def _render_traceback_(self):
        # IPython (and so papermill) shows this instead of a traceback wall.
        return [f"DataError: {self}"]


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def is_csv(path: Path) -> bool:
    return Path(path).name.lower().endswith(CSV_SUFFIXES)


def csv_header(path: Path) -> list[str]:
    """The column names on a CSV file's first line (gzipped or not)."""
    try:
        with open(path, "rb") as fh:
            gzipped = fh.read(2) == GZIP_MAGIC
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as fh:
            line = fh.readline().decode("utf-8-sig")
    except PermissionError:
        raise DataError(f"{path}: permission denied (cannot read the file)") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as CSV text: {first_line(exc)}") from None
    return [c.strip() for c in next(csv.reader([line]), [])]
