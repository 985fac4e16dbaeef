"""Reports the database could not take yet, kept on disk until it can.

When the report database is down, locked or full, a finished report is not lost: it is written,
encrypted with the report key, as one file in ``var/db/report_queue/`` (or FANZHA_REPORT_QUEUE),
flushed to disk before the resident is told anything, and stored as soon as the database
answers again: before the next report is saved, and every ``RETRY_SECONDS`` by a background
thread while anything waits. A file is deleted only after its report is stored.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from cryptography.fernet import Fernet, InvalidToken

from bot.services.reports.crypto import DEFAULT_KEY_FILE, load_key
from bot.services.reports.errors import StorageError
from bot.services.reports.store import ReportStore
from bot.services.runtime_state import REPORT_QUEUE, private_folder

log = logging.getLogger(__name__)

ENV_QUEUE = "FANZHA_REPORT_QUEUE"
DEFAULT_FOLDER = REPORT_QUEUE
RETRY_SECONDS = 30.0
SUFFIX = ".report"


class ReportQueue:
    def __init__(self, folder: Path | None = None, key_file: Path = DEFAULT_KEY_FILE,
                 env: Mapping[str, str] = os.environ) -> None:
        self.folder = Path(folder or env.get(ENV_QUEUE) or DEFAULT_FOLDER)
        self._key_file = key_file
        self._env = env
        self._lock = threading.Lock()  # one flush at a time, so no report is stored twice

    def _fernet(self) -> Fernet:
        return Fernet(load_key(self._key_file, create=True, env=self._env))

    def put(self, fields: Mapping[str, Any], **report: Any) -> Path:
        """Keep a report for later (the arguments of ReportStore.save_report); StorageError if
        it cannot be kept either."""
        record = {"fields": dict(fields), "report": report, "created_at": datetime.now(timezone.utc).isoformat()}
        token = self._fernet().encrypt(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        try:
            private_folder(self.folder)
            path = self.folder / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}{SUFFIX}"
            partial = path.with_suffix(".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(token)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
            folder_fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(folder_fd)  # the rename itself survives a power cut
            finally:
                os.close(folder_fd)
        except OSError as error:
            raise StorageError(f"cannot keep the report in {self.folder}: {error.strerror}") from None
        return path

    def pending(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{SUFFIX}")) if self.folder.is_dir() else []

    def flush(self, store: ReportStore) -> list[str]:
        """Store every waiting report, oldest first; returns their new reference numbers.

        Stops at the first database error (the rest waits for the next try). A file that the
        key cannot open is left in place and logged: it needs a person, not another retry.
        """
        references: list[str] = []
        with self._lock:
            for path in self.pending():
                try:
                    record = json.loads(self._fernet().decrypt(path.read_bytes()))
                except (InvalidToken, ValueError) as error:
                    log.error("queued report %s cannot be read (%s); left for an administrator",
                              path.name, error.__class__.__name__)
                    continue
                created_at = datetime.fromisoformat(record["created_at"])
                stored = store.save_report(record["fields"], created_at=created_at, **record["report"])
                path.unlink()
                references.append(stored.reference)
        if references:
            log.info("stored %d queued report(s)", len(references))
        return references


class Retrier:
    """A background thread that flushes the queue every ``every`` seconds while reports wait."""

    def __init__(self, queue: ReportQueue, open_store: Callable[[], ReportStore],
                 every: float = RETRY_SECONDS) -> None:
        self._queue, self._open_store, self._every = queue, open_store, every
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def start(self) -> None:
        """Start retrying if reports wait and no retry runs yet."""
        with self._guard:
            if self._thread and self._thread.is_alive() or not self._queue.pending():
                return
            self._thread = threading.Thread(target=self._run, name="report-queue-retry", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._every)
            try:
                self._queue.flush(self._open_store())
            except StorageError as error:
                log.warning("queued reports still waiting: %s", error)
                continue
            with self._guard:  # stored (or unreadable, see flush): nothing more to retry
                self._thread = None
                return
