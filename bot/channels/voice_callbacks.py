"""Call-back requests: a caller asked for a person and nobody on duty answered.

The channel records one request per failed transfer through :class:`CallbackQueue`; the
in-memory queue keeps them for this process only (wire a persistent queue before relying
on it across restarts).
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Protocol

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
