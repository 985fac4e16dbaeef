"""A local stand-in for Twilio's Messages API, for tests that send SMS through twilio's own client."""
from __future__ import annotations

import base64
import json
import math
import re
import secrets
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "test-auth-token-5f2e"
FROM = "+15005550006"


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
