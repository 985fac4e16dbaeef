"""Placing the warning calls and texts through Twilio's REST API (twilio's own Client).

The dispatcher (dispatch.py) decides whom to call and when; this module only talks to Twilio and
turns each of its failures into a :class:`TwilioFault` that says whether waiting may help.
Settings are the SMS ones (bot/services/sms.py: FANZHA_TWILIO_*), including FANZHA_TWILIO_API_BASE.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from requests import ConnectTimeout, RequestException
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from bot.services.sms import BaseUrlHttpClient, TwilioSettings

REQUEST_TIMEOUT_SECONDS = 10.0
# Twilio asks the call's TwiML and reports its progress to these; the voice channel answers them.
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
RECENT_CALLS_LISTED = 20
_LONG_NUMBER = re.compile(r"\+?\d[\d\s\-]{5,}\d")


class TwilioFault(RuntimeError):
    """Twilio refused the request or could not be reached; the message holds no phone number.

    ``maybe_done``: the request may have reached Twilio (the answer timed out or the connection
    broke after sending), so the call may exist; the dispatcher then asks Twilio's list of calls
    later rather than calling again.
    """

    def __init__(self, message: str, status: int | None = None, maybe_done: bool = False) -> None:
        super().__init__(_LONG_NUMBER.sub("〔号码已隐去〕", message))
        self.status = status  # HTTP status; None when Twilio did not answer
        self.maybe_done = maybe_done


@dataclass(frozen=True)
class TwilioCall:
    sid: str
    status: str
    created_at: datetime | None  # aware UTC, whole seconds as Twilio reports it


class Telephony(Protocol):
    """What the dispatcher needs from Twilio (the tests give it an in-memory one too)."""

    def place_call(self, to: str, url: str, status_callback: str, detect_machine: bool) -> TwilioCall: ...

    def recent_calls(self, to: str) -> list[TwilioCall]: ...

    def send_sms(self, to: str, body: str) -> str: ...


class TwilioTelephony:
    """Twilio's Client, one per thread: its HTTP session is not meant to be shared between threads."""

    def __init__(self, settings: TwilioSettings, timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self._settings = settings
        self._timeout = timeout
        self._local = threading.local()

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            http: HttpClient = (
                BaseUrlHttpClient(self._settings.api_base, timeout=self._timeout)
                if self._settings.api_base
                else TwilioHttpClient(timeout=self._timeout)
            )
            client = self._local.client = Client(self._settings.account_sid, self._settings.auth_token, http_client=http)
        return client

    def place_call(self, to: str, url: str, status_callback: str, detect_machine: bool) -> TwilioCall:
        """Ask Twilio to call ``to``; Twilio then fetches ``url`` for what to say. With
        ``detect_machine`` Twilio's AnsweredBy tells the call flow to leave a short voicemail."""
        with _faults("the call"):
            call = self._client().calls.create(
                to=to,
                from_=self._settings.from_number,
                url=url,
                status_callback=status_callback,
                status_callback_event=STATUS_EVENTS,
                machine_detection="Enable" if detect_machine else values.unset,
            )
        return TwilioCall(call.sid, str(call.status), _aware(call.date_created))

    def recent_calls(self, to: str) -> list[TwilioCall]:
        """Our latest calls to ``to``, newest first. Listed by number, not by StartTime: a call still
        queued at Twilio has no start time yet and the StartTime filter only knows whole days."""
        with _faults("the list of calls"):
            calls = self._client().calls.list(to=to, from_=self._settings.from_number, limit=RECENT_CALLS_LISTED)
        return [TwilioCall(call.sid, str(call.status), _aware(call.date_created)) for call in calls]

    def send_sms(self, to: str, body: str) -> str:
        with _faults("the SMS"):
            message = self._client().messages.create(to=to, from_=self._settings.from_number, body=body)
        return message.sid


def calls_around(calls: list[TwilioCall], started: datetime, window: timedelta) -> list[TwilioCall]:
    """The calls Twilio created between ``started`` (when our request was about to go out) and
    ``window`` later; Twilio's times are whole seconds, hence the second of slack before."""
    low, high = started - timedelta(seconds=1), started + window
    return [call for call in calls if call.created_at is not None and low <= call.created_at <= high]


class _faults:
    """Turns twilio's and requests' exceptions into TwilioFault."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, _tb: object) -> Literal[False]:
        if isinstance(error, TwilioRestException):
            # "error", not "code": the audit trail masks a number after "code" as a verification code.
            raise TwilioFault(f"Twilio refused {self.what} (HTTP {error.status}, Twilio error {error.code}): {error.msg}", error.status) from None
        if isinstance(error, (TwilioException, RequestException)):
            raise TwilioFault(
                f"could not reach Twilio for {self.what}: {error.__class__.__name__}", maybe_done=not _never_sent(error)
            ) from None
        return False


def _never_sent(error: BaseException) -> bool:
    """True when no byte reached Twilio: the connection was refused or never made."""
    if isinstance(error, ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


def _aware(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None  # twilio leaves an unparsable date as it came
