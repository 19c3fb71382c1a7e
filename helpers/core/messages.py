"""The one line a command prints for an error (no traceback wall)."""

from __future__ import annotations

import errno
from pathlib import Path

from helpers.core.config import PROJECT_ROOT


def shown(path: Path) -> Path:
    """A path as the user should read it: relative to the project when inside it."""
    path = Path(path)
    return path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path


def error_line(exc: BaseException) -> str:
    """One line for the terminal; a full disk names the file it could not write."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" while writing {shown(Path(exc.filename))}" if exc.filename else ""
        text = exc.strerror or "No space left on device"
        if "while writing" in text:
            where = ""
        return f"{text}{where}: free some disk space and run the same command again"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {first}"
