"""Shared test fixtures: where the real FER2013 files are (tests and CI may read ../shared)."""

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """FER2013 for the smoke run: $FER2013_TEST_DATA, else ../shared/fer2013 beside the repo."""
    env = os.environ.get("FER2013_TEST_DATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "fer2013"


@pytest.fixture(scope="session")
def fer2013_dir() -> Path:
    folder = shared_data_dir()
    if not (folder / "train.csv.gz").exists() and not (folder / "train.csv").exists():
        pytest.skip(f"FER2013 not found in {folder} (set FER2013_TEST_DATA)")
    return folder
