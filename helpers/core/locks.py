"""One process at a time: an exclusive lock on a file, which names its holder.

    with exclusive(BUILD_DIR / "full" / "pipeline.lock", "make report PROFILE=full"):
        ...   # a second process gets Busy at once, naming the first one's pid

The operating system releases the lock when its process ends, however it ends (Ctrl-C, kill -9),
so a lock is never left behind by a dead process.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path


class Busy(RuntimeError):
    """Another process holds the lock; the message is one line naming it."""


def holder(path: Path) -> str:
    """What the lock file says about its holder ("pid 123, make report, since 10:02")."""
    try:
        return Path(path).read_text().strip() or "another process"
    except OSError:
        return "another process"


def _locked(path: Path, what: str) -> int:
    """An open descriptor of `path` holding its lock. A lock file deleted and made anew while
    we waited (make clean) is locked again, so two processes never hold "the" lock."""
    for _ in range(5):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Busy(f"{what} is already running ({holder(path)}): wait for it to finish or "
                       f"stop it, then run the command again") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
    raise Busy(f"{what}: its lock file {path} keeps being replaced; run the command again")


@contextmanager
def exclusive(path, what: str):
    """Hold an exclusive lock on `path` for the block; Busy at once when another process holds it."""
    path = Path(path)
    fd = _locked(path, what)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
