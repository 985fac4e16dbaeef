"""Where fanzha keeps what it writes while it runs: ``var/``, apart from the code and the data it ships.

- ``var/db/``: the report database (``fanzha.db``), the tracker store (``tracker.db``, named in
  endpoints.yml) and reports waiting for the database (``report_queue/``);
- ``var/keys/``: the report key, the console key, the HTTP API and action server tokens;
- ``var/cache/``: the checker's classifier (knowledge/classifier.py), rebuilt when missing.

var/db/ and var/keys/ are owner-only folders (0700) of owner-only files (0600). The keys are not in
var/db/, so a copy of the databases (a backup, a volume snapshot) holds no key. Paths are relative
to the working folder, like endpoints.yml's tracker store: the project folder for ``make run``
and ``fanzha``. Each has its environment override (FANZHA_DATABASE_URL, FANZHA_REPORT_KEY, …).

Versions before issue #18 kept these files in ``data/`` and ``keys/``. ``move_old_state`` moves
them to their new places, once, when scripts/run.sh and the ``fanzha`` command start (never on
import: a server or a test importing a module moves nothing). Each move is a rename within the
file system, so a file is either at its old place or whole at its new one; a file already at the
new place is never replaced: the start stops with both paths instead.
"""
from __future__ import annotations

import errno
import filecmp
import logging
import os
import stat
import sys
from pathlib import Path

log = logging.getLogger(__name__)

VAR_DIR = Path("var")
DB_DIR = VAR_DIR / "db"
KEYS_DIR = VAR_DIR / "keys"
CACHE_DIR = VAR_DIR / "cache"

REPORT_DATABASE = DB_DIR / "fanzha.db"
TRACKER_DATABASE = DB_DIR / "tracker.db"
REPORT_QUEUE = DB_DIR / "report_queue"
REPORT_KEY = KEYS_DIR / "report.key"
CONSOLE_KEY = KEYS_DIR / "console.key"
API_TOKEN = KEYS_DIR / "api_token"
ACTION_TOKEN = KEYS_DIR / "action_token"

# Old place -> new place. keys/report.key before data/report.key: the older version's key wins,
# and a data/report.key holding the same key is then only a duplicate.
OLD_PLACES: tuple[tuple[Path, Path], ...] = (
    (Path("data/fanzha.db"), REPORT_DATABASE),
    (Path("data/tracker.db"), TRACKER_DATABASE),
    (Path("data/report_queue"), REPORT_QUEUE),
    (Path("keys/report.key"), REPORT_KEY),
    (Path("data/report.key"), REPORT_KEY),
    (Path("data/console.key"), CONSOLE_KEY),
    (Path("data/api_token"), API_TOKEN),
    (Path("data/action_token"), ACTION_TOKEN),
)
# A SQLite database is its file plus these; its write-ahead log may hold the newest rows.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class RuntimeStateError(RuntimeError):
    pass


def private_folder(path: Path) -> Path:
    """Make ``path`` and any missing parent owner-only (0700); folders already there are left as they are."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # another process made it a moment ago
            continue
        folder.chmod(0o700)  # whatever the umask
    return path


def make_folders() -> None:
    """var/db/ and var/keys/, owner-only even if they were made looser by hand."""
    for folder in (DB_DIR, KEYS_DIR):
        private_folder(folder).chmod(0o700)


def _files_of(old: Path, new: Path) -> list[tuple[Path, Path]]:
    """The files that move together: a database with its log, journal and shared memory."""
    pairs = [(old, new)]
    if old.suffix == ".db":
        pairs += [(Path(f"{old}{end}"), Path(f"{new}{end}")) for end in _SQLITE_COMPANIONS]
    return [(source, target) for source, target in pairs if os.path.lexists(source)]


def _refuse(old: Path, new: Path, why: str) -> RuntimeStateError:
    return RuntimeStateError(
        f"cannot move {old} to {new}: {why}. Nothing was overwritten; stop fanzha, keep the one "
        f"that is right (the other may be the only copy of reports or a key), then start again"
    )


def _in_the_way(old: Path, new: Path) -> bool:
    """True if ``new`` holds something else than ``old``: not when ``old`` is gone (another
    process moved it a moment ago) or ``new`` is a file with the very same bytes."""
    if not os.path.lexists(new):
        return False
    if old.is_file() and new.is_file():
        try:
            return not filecmp.cmp(old, new, shallow=False)
        except FileNotFoundError:
            pass
    return os.path.lexists(old)


def _move(old: Path, new: Path) -> bool:
    """Rename ``old`` to ``new`` unless ``new`` exists; True if moved, False if there was nothing to do."""
    if os.path.lexists(new):
        if _in_the_way(old, new):
            raise _refuse(old, new, f"{new} exists already")
        old.unlink(missing_ok=True)  # the same bytes are at the new place already
        return False
    private_folder(new.parent)
    try:
        if old.is_dir():
            os.rename(old, new)  # refuses a non-empty folder at new
        else:
            os.link(old, new)  # refuses any file at new, unlike rename
            old.unlink()
            new.chmod(stat.S_IMODE(new.stat().st_mode) & 0o700)  # owner-only, whatever made it
    except FileExistsError:
        return _move(old, new)  # another process moved it a moment ago: compare again
    except FileNotFoundError:
        if os.path.lexists(new):
            return False  # another process moved it
        raise
    except OSError as error:
        if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise _refuse(old, new, f"{new} exists already") from None
        if error.errno == errno.EXDEV:
            raise _refuse(old, new, "they are on different file systems (move it yourself with mv)") from None
        raise _refuse(old, new, error.strerror or str(error)) from None
    return True


def _tracker_still_configured_at(old: Path) -> bool:
    """True when the endpoints file in use still names ``old`` as its SQLite tracker store: the
    Rasa server will read it there, so moving it would hide the conversations from it."""
    from bot.services.tracker_retention import RetentionError, endpoints_path, tracker_store_url

    try:
        url = tracker_store_url(endpoints_path())
    except RetentionError:
        return False
    prefix = "sqlite:///"
    return bool(url and url.startswith(prefix) and Path(url[len(prefix):]).resolve() == old.resolve())


def move_old_state() -> list[tuple[Path, Path]]:
    """Move every file an older version kept in data/ or keys/ to var/; the moves made.

    Raises RuntimeStateError, naming both paths, rather than replace a file at a new place."""
    plan: list[tuple[Path, Path]] = []
    for old, new in OLD_PLACES:
        if not os.path.lexists(old):
            continue
        if new == TRACKER_DATABASE and _tracker_still_configured_at(old):
            log.warning("the endpoints file still keeps the conversations in %s: left there (set its db to %s "
                        "to have it moved to var/)", old, new)
            continue
        plan += _files_of(old, new)
    first_to: dict[Path, Path] = {}  # keys/report.key and data/report.key both go to var/keys/
    for source, target in plan:  # all or nothing: check every move before the first
        if _in_the_way(source, first_to.get(target, target)):
            raise _refuse(source, target, f"{first_to.get(target, target)} holds another one")
        first_to.setdefault(target, source)
    moved = []
    for source, target in plan:
        if _move(source, target):
            moved.append((source, target))
            log.warning("moved %s to %s (runtime state now lives in var/)", source, target)
    for folder in {old.parent for old, _ in OLD_PLACES} if moved else ():
        try:
            folder.rmdir()  # only once nothing is left in it
        except OSError:
            pass
    return moved


def main() -> int:
    """For scripts/run.sh: move what an older version left, make var/db/ and var/keys/."""
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    try:
        move_old_state()
        make_folders()
    except (RuntimeStateError, OSError) as error:
        print(f"fanzha: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
