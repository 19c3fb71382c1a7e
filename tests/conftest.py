"""Shared test fixtures: where the real FER2013 files are (tests and CI may read ../shared), and
a second process holding a lock."""

import os
import subprocess
import sys
from contextlib import contextmanager
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


@contextmanager
def lock_held_elsewhere(path: Path):
    """Another process holds helpers.core.locks' lock on `path` for the block; yields its pid."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from pathlib import Path; from helpers.core.locks import exclusive\n"
        f"with exclusive(Path({str(path)!r}), 'x'):\n"
        "    print('held', flush=True); time.sleep(30)")], stdout=subprocess.PIPE, text=True,
        cwd=PROJECT_ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()
