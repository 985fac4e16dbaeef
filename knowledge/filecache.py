"""Files derived from the knowledge (the fitted classifier, the parsed examples), kept under
``var/cache/checker/`` so the checker starts without redoing seconds of work. Each file's name
carries a hash of what it was made from; a missing, unreadable or stale file is simply made again.
FANZHA_CHECKER_CACHE points the cache elsewhere (for example a fresh folder, to time a cold start).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable

CACHE_DIR = Path(os.environ.get("FANZHA_CHECKER_CACHE") or Path(__file__).resolve().parent.parent / "var" / "cache" / "checker")
KEEP = 4  # newest files of each kind kept: other example sets in use (tests, a second checkout) do not evict each other


def used(path: Path) -> None:
    """Mark a file most recently used, so it is kept when older ones are dropped."""
    try:
        os.utime(path)
    except OSError:
        pass


def store(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` through ``write``, beside the target and renamed, so a reader never sees half
    a file; then drop all but the ``KEEP`` most recently used files of the same kind (the name up
    to its first "-"). A read-only or full disk is no error: the work is just done again next time."""
    kind = path.name.split("-", 1)[0]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{kind}-", suffix=path.suffix)
        try:
            with os.fdopen(handle, "wb") as out:
                write(out)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        files = sorted(path.parent.glob(f"{kind}-*{path.suffix}"), key=_modified, reverse=True)
        for old in files[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another process
        return 0.0
