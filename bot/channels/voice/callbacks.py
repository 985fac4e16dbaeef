"""Call-back requests: a caller asked for a person and nobody on duty answered.

The channel records one request per failed transfer through :class:`CallbackQueue`. The
server uses :class:`StoredCallbackQueue` (the report database, ``ReportStore.request_callback``:
number and summary encrypted, listed for the duty officer); the in-memory queue is for tests.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Callable, Protocol

from bot.services.reports.store import ReportStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallbackRequest:
    call_sid: str
    caller: str  # the number to call back, as Twilio gave it (E.164)
    reason: str  # Twilio's DialCallStatus: no-answer, busy, failed, canceled
    summary: str  # masked: what the caller said, or the bot's summary
    requested_at: datetime.datetime


class CallbackQueue(Protocol):
    def record(self, request: CallbackRequest) -> None: ...


class InMemoryCallbackQueue:
    def __init__(self) -> None:
        self.requests: list[CallbackRequest] = []

    def record(self, request: CallbackRequest) -> None:
        self.requests.append(request)
        # The number stays out of the log; the duty team looks it up by call.
        logger.warning("Call-back requested for call %s (%s).", request.call_sid, request.reason)


class StoredCallbackQueue:
    """Call-back requests in the report database; the store is opened on the first request."""

    def __init__(self, open_store: Callable[[], ReportStore] = ReportStore) -> None:
        self._open_store = open_store
        self._store: ReportStore | None = None

    def record(self, request: CallbackRequest) -> None:
        """Raises StorageError when the request cannot be stored (the caller is then told so)."""
        if self._store is None:
            self._store = self._open_store()
        self._store.request_callback(
            sender=request.call_sid,
            channel="voice",
            reason=f"{request.reason}: {request.summary}",
            phone=request.caller,
        )
        logger.warning("Call-back requested for call %s (%s), stored.", request.call_sid, request.reason)
