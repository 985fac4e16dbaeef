"""Texting the caller what a phone voice cannot read out (links), through Twilio SMS.

Off unless ``sms_from`` is set for the voice channel: an anti-fraud line that texts links
teaches people to open texted links, so turn it on only for links the team has vetted.
"""
from __future__ import annotations

from typing import Protocol

from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

SMS_TIMEOUT_SECONDS = 5.0


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> None:
        """Send or raise."""


class TwilioSms:
    def __init__(
        self, account_sid: str, auth_token: str, from_number: str, http_client: HttpClient | None = None
    ) -> None:
        self._client = Client(
            account_sid, auth_token, http_client=http_client or TwilioHttpClient(timeout=SMS_TIMEOUT_SECONDS)
        )
        self._from = from_number

    def send(self, to: str, body: str) -> None:
        self._client.messages.create(to=to, from_=self._from, body=body)
