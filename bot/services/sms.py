"""Texting a resident the summary of their report through Twilio, when the deployment sets it up.

Configured by FANZHA_TWILIO_ACCOUNT_SID, FANZHA_TWILIO_AUTH_TOKEN and FANZHA_TWILIO_FROM; none
set means SMS is off. FANZHA_TWILIO_API_BASE (optional) sends the API calls to another base URL,
e.g. an egress gateway in front of api.twilio.com.

The message holds the reference number and the text summary only: the summary's answers have
passed mask_sensitive, so no verification code, password or own card number can be in it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from knowledge.case_summary import sms_text
from knowledge.loader import Knowledge

ENV_ACCOUNT_SID = "FANZHA_TWILIO_ACCOUNT_SID"
ENV_AUTH_TOKEN = "FANZHA_TWILIO_AUTH_TOKEN"
ENV_FROM = "FANZHA_TWILIO_FROM"
ENV_API_BASE = "FANZHA_TWILIO_API_BASE"
SMS_TIMEOUT_SECONDS = 10.0  # the resident is waiting in the conversation
TWILIO_BODY_LIMIT = 1600  # Twilio refuses longer bodies
_CHINA_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_LONG_NUMBER = re.compile(r"\+?\d[\d\s\-]{5,}\d")


class SmsError(RuntimeError):
    """The SMS was not sent; the message says why."""


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str = field(repr=False)  # keep the token out of logs
    from_number: str
    api_base: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "TwilioSettings | None":
        """The settings, or None when SMS is not set up; a partial set-up is an error.

        The auth token alone is the phone line's (it checks Twilio's signatures): SMS is on only
        when the account SID or the sending number is set too.
        """
        names = (ENV_ACCOUNT_SID, ENV_AUTH_TOKEN, ENV_FROM)
        values = {name: (env.get(name) or "").strip() for name in names}
        if not (values[ENV_ACCOUNT_SID] or values[ENV_FROM]):
            return None
        missing = [name for name in names if not values[name]]
        if missing:
            raise SmsError(f"SMS is half set up: {', '.join(missing)} missing")
        return cls(values[ENV_ACCOUNT_SID], values[ENV_AUTH_TOKEN], values[ENV_FROM], (env.get(ENV_API_BASE) or "").strip() or None)


class BaseUrlHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending every call to ``base_url`` instead of https://api.twilio.com."""

    def __init__(self, base_url: str, timeout: float = SMS_TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        base = urlsplit(base_url)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise SmsError(f"{ENV_API_BASE} must be an http(s) URL, not {base_url!r}")
        self._base = base

    def request(self, method: str, url: str, **kwargs: Any):  # type: ignore[override]
        parts = urlsplit(url)
        url = urlunsplit((self._base.scheme, self._base.netloc, self._base.path.rstrip("/") + parts.path, parts.query, ""))
        return super().request(method, url, **kwargs)


@dataclass(frozen=True)
class SentSms:
    sid: str
    status: str
    to: str
    segments: int


def normalize_phone(raw: str) -> str:
    """'138 1234 5678' -> '+8613812345678'; another country's number must start with +."""
    compact = re.sub(r"[\s\-()（）]", "", raw or "")
    china = _CHINA_MOBILE.match(compact)
    if china:
        return "+86" + china.group(1)
    if _E164.match(compact):
        return compact
    # The text stays out of the message: errors are logged, and it may be someone's number.
    raise SmsError("the number given is not a mobile number (for example 13812345678 or +8613812345678)")


def _http_client(settings: TwilioSettings) -> HttpClient:
    if settings.api_base:
        return BaseUrlHttpClient(settings.api_base)
    return TwilioHttpClient(timeout=SMS_TIMEOUT_SECONDS)


def send_summary_sms(
    to: str,
    reference: str,
    fields: Mapping[str, Any],
    scam_type: str | None,
    settings: TwilioSettings | None = None,
    http_client: HttpClient | None = None,
    kb: Knowledge | None = None,
) -> SentSms | None:
    """Text the report's summary and reference number to ``to``; None when SMS is not set up.

    Raises SmsError when the number is not a mobile number or Twilio does not take the message.
    """
    settings = settings or TwilioSettings.from_env()
    if settings is None:
        return None
    number = normalize_phone(to)
    body = sms_text(fields, scam_type, reference, kb)
    if len(body) > TWILIO_BODY_LIMIT:
        body = body[: TWILIO_BODY_LIMIT - 1] + "…"
    client = Client(settings.account_sid, settings.auth_token, http_client=http_client or _http_client(settings))
    try:
        message = client.messages.create(to=number, from_=settings.from_number, body=body)
    except TwilioRestException as error:
        # Twilio's messages can quote the 'To' number; errors are logged, so it is left out.
        reason = _LONG_NUMBER.sub("〔号码已隐去〕", str(error.msg))
        raise SmsError(f"Twilio did not take the SMS (HTTP {error.status}, code {error.code}): {reason}") from None
    except (TwilioException, RequestException) as error:
        raise SmsError(f"could not reach Twilio: {error}") from None
    return SentSms(sid=message.sid, status=message.status, to=number, segments=int(message.num_segments or 1))
