"""Texting the caller what a phone voice cannot read out (links), through Twilio SMS.

Uses the project's SMS set-up (bot/services/sms.py: FANZHA_TWILIO_ACCOUNT_SID, FANZHA_TWILIO_AUTH_TOKEN,
FANZHA_TWILIO_FROM, optional FANZHA_TWILIO_API_BASE); without it links are simply left out.
The assistant's answers carry no links by rule (knowledge/contacts.yml), so this only
matters if a vetted link is ever added to a response.
"""
from __future__ import annotations

from typing import Protocol

from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.services.sms import BaseUrlHttpClient, TwilioSettings

SMS_TIMEOUT_SECONDS = 5.0  # the caller is waiting on the line


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> None:
        """Send or raise."""


class TwilioSms:
    def __init__(self, settings: TwilioSettings, http_client: HttpClient | None = None) -> None:
        if http_client is None:
            http_client = (
                BaseUrlHttpClient(settings.api_base, timeout=SMS_TIMEOUT_SECONDS)
                if settings.api_base
                else TwilioHttpClient(timeout=SMS_TIMEOUT_SECONDS)
            )
        self._client = Client(settings.account_sid, settings.auth_token, http_client=http_client)
        self._from = settings.from_number

    def send(self, to: str, body: str) -> None:
        self._client.messages.create(to=to, from_=self._from, body=body)
