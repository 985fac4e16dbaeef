"""Texting the summary through Twilio's own client, against a local stand-in for Twilio's HTTP API."""
from __future__ import annotations

import base64
import json
import math
import re
import secrets
import socket
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from bot.sms import (
    ENV_ACCOUNT_SID,
    ENV_API_BASE,
    ENV_AUTH_TOKEN,
    ENV_FROM,
    BaseUrlHttpClient,
    SmsError,
    TwilioSettings,
    normalize_phone,
    send_summary_sms,
)
from knowledge.case_summary import case_summary

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "test-auth-token-5f2e"
FROM = "+15005550006"
REFERENCE = "FZ-20261122-7K3Q"
ACCOUNT = "6222021234567890123"


def answers():
    return {
        "amount": "5万",
        "payment_channel": "bank_card",
        "receiving_account": ACCOUNT,
        "receiving_name": "王小明",
        "story": "客服让我开屏幕共享，验证码是482913，密码是pw778899，我的卡号6217001234567890123",
    }


class FakeTwilio(BaseHTTPRequestHandler):
    """POST /2010-04-01/Accounts/{sid}/Messages.json as Twilio answers it."""

    received: list[dict] = []

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, code: int, message: str) -> None:
        self._send(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})

    def do_POST(self) -> None:
        match = re.fullmatch(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json", self.path)
        if not match:
            return self._error(404, 20404, "The requested resource was not found")
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8")).items()}
        self.received.append({"path": self.path, "auth": self.headers.get("Authorization"), "form": form})
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if match.group(1) != SID or self.headers.get("Authorization") != expected:
            return self._error(401, 20003, "Authenticate")
        if not re.fullmatch(r"\+[1-9]\d{7,14}", form.get("To", "")):
            return self._error(400, 21211, f"The 'To' number {form.get('To')} is not a valid phone number.")
        if form.get("To", "").startswith("+999"):
            return self._error(400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number")
        body = form.get("Body", "")
        if not body or len(body) > 1600:
            return self._error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        message_sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True)
        self._send(
            201,
            {
                "account_sid": SID,
                "api_version": "2010-04-01",
                "body": body,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": str(1 if len(body) <= 70 else math.ceil(len(body) / 67)),
                "price": None,
                "price_unit": "USD",
                "sid": message_sid,
                "status": "queued",
                "subresource_uris": {"media": f"/2010-04-01/Accounts/{SID}/Messages/{message_sid}/Media.json"},
                "to": form["To"],
                "uri": f"/2010-04-01/Accounts/{SID}/Messages/{message_sid}.json",
            },
        )


@pytest.fixture
def twilio_api(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    FakeTwilio.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def settings(base: str, token: str = TOKEN) -> TwilioSettings:
    return TwilioSettings(account_sid=SID, auth_token=token, from_number=FROM, api_base=base)


def test_the_summary_goes_out_with_its_reference_and_no_secrets(twilio_api, knowledge):
    sent = send_summary_sms("138 1234 5678", REFERENCE, answers(), "fake_customer_service", settings(twilio_api), kb=knowledge)
    [request] = FakeTwilio.received
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = request["form"]
    assert form["To"] == "+8613812345678" and form["From"] == FROM
    body = form["Body"]
    assert REFERENCE in body
    assert case_summary(answers(), "fake_customer_service", reference=REFERENCE, kb=knowledge) in body
    assert "6222 0212 3456 7890 123" in body  # the receiving account, for the call to 110
    flat = re.sub(r"\s", "", body)
    for secret in ("482913", "pw778899", "6217001234567890123"):
        assert secret not in flat
    assert set(form) == {"To", "From", "Body"}
    assert sent is not None and sent.sid.startswith("SM") and len(sent.sid) == 34
    assert (sent.status, sent.to) == ("queued", "+8613812345678")
    assert sent.segments == math.ceil(len(body) / 67)


def test_settings_from_the_environment_reach_the_configured_api(twilio_api, monkeypatch, knowledge):
    monkeypatch.setenv(ENV_ACCOUNT_SID, SID)
    monkeypatch.setenv(ENV_AUTH_TOKEN, TOKEN)
    monkeypatch.setenv(ENV_FROM, FROM)
    monkeypatch.setenv(ENV_API_BASE, twilio_api)
    sent = send_summary_sms("+8613812345678", REFERENCE, answers(), "shuadan", kb=knowledge)
    assert sent is not None and len(FakeTwilio.received) == 1
    assert TOKEN not in repr(TwilioSettings.from_env())


def test_without_twilio_settings_nothing_is_sent(twilio_api, monkeypatch, knowledge):
    for name in (ENV_ACCOUNT_SID, ENV_AUTH_TOKEN, ENV_FROM, ENV_API_BASE):
        monkeypatch.delenv(name, raising=False)
    assert send_summary_sms("13812345678", REFERENCE, answers(), "shuadan", kb=knowledge) is None
    assert FakeTwilio.received == []


def test_half_set_up_settings_name_what_is_missing(monkeypatch):
    with pytest.raises(SmsError, match=f"{ENV_AUTH_TOKEN}, {ENV_FROM} missing"):
        TwilioSettings.from_env({ENV_ACCOUNT_SID: SID})
    with pytest.raises(SmsError, match=f"{ENV_ACCOUNT_SID}, {ENV_AUTH_TOKEN} missing"):
        TwilioSettings.from_env({ENV_FROM: FROM})
    # The phone line's token alone does not turn SMS on.
    assert TwilioSettings.from_env({ENV_AUTH_TOKEN: TOKEN}) is None


def test_a_wrong_token_is_reported_from_twilios_answer(twilio_api, knowledge):
    with pytest.raises(SmsError, match=r"HTTP 401, code 20003\).*Authenticate"):
        send_summary_sms("13812345678", REFERENCE, answers(), "shuadan", settings(twilio_api, token="wrong"), kb=knowledge)
    assert FakeTwilio.received[0]["auth"] != "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def test_a_refused_number_is_reported_from_twilios_answer(twilio_api, knowledge):
    with pytest.raises(SmsError, match="code 21408"):
        send_summary_sms("+99912345678", REFERENCE, answers(), "shuadan", settings(twilio_api), kb=knowledge)


def test_a_number_that_is_not_a_mobile_is_refused_before_sending(twilio_api, knowledge):
    for bad in ("12345", "110", "abc", "", "0571-8888 8888"):
        with pytest.raises(SmsError, match="not a mobile number"):
            send_summary_sms(bad, REFERENCE, answers(), "shuadan", settings(twilio_api), kb=knowledge)
    assert FakeTwilio.received == []
    assert normalize_phone("+86 138-1234-5678") == "+8613812345678"
    assert normalize_phone("8613812345678") == "+8613812345678"
    assert normalize_phone("+85291234567") == "+85291234567"


def test_an_unreachable_api_is_a_clear_error(knowledge):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SmsError, match="could not reach Twilio"):
        send_summary_sms("13812345678", REFERENCE, answers(), "shuadan", settings(f"http://127.0.0.1:{port}"), kb=knowledge)


def test_a_very_long_summary_is_cut_to_twilios_limit(twilio_api, knowledge):
    long = {**answers(), "platform": "某某平台" * 500}
    sent = send_summary_sms("13812345678", REFERENCE, long, "shuadan", settings(twilio_api), kb=knowledge)
    body = FakeTwilio.received[0]["form"]["Body"]
    assert sent is not None and len(body) == 1600 and body.endswith("…") and REFERENCE in body


def test_the_base_url_must_be_http():
    with pytest.raises(SmsError, match=ENV_API_BASE):
        BaseUrlHttpClient("ftp://example")
