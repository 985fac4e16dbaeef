"""A local stand-in for Twilio's Messages and Calls APIs, for tests that go through twilio's own client.

Messages: POST .../Messages.json. Calls: POST .../Calls.json (place a call) and GET .../Calls.json
(the latest calls, filtered by To/From, newest first), answered as Twilio answers them. Faults to
switch on: ``FakeTwilio.fault = 429`` or ``503`` (every API request answered so), and the
``twilio_server`` fixture's ``down()`` / ``up()`` (connection refused, then back on the same
port). Both can also be switched over HTTP: POST /_fake/fault with ``mode=429|503|none``.

As a process of its own (the warnings benchmark)::

    python -m tests.fake_twilio --port 8765 --log calls.jsonl [--latency 0.2]

writes one JSON line per call or message Twilio would have created.
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import re
import secrets
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.http_stub import StubServer

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "test-auth-token-5f2e"
FROM = "+15005550006"
API = r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/(Messages|Calls)\.json"
REPEATED_FIELDS = {"StatusCallbackEvent"}  # Twilio takes these more than once


class FakeTwilio(BaseHTTPRequestHandler):
    """Twilio's REST API for Messages.json and Calls.json."""

    received: list[dict] = []  # every request to the Messages API
    calls: list[dict] = []  # every call Twilio would have placed
    fault: int | None = None  # 429 or 503: the API answers every request so
    latency: float = 0.0  # seconds each create takes, half before the record exists, half after
    log_path: Path | None = None
    lock = threading.Lock()

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        try:
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout, a killed dispatcher): Twilio does not notice either

    def _error(self, status: int, code: int, message: str) -> None:
        self._send(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})

    def _form(self) -> dict:
        length = int(self.headers.get("Content-Length", 0))
        pairs = parse_qs(self.rfile.read(length).decode("utf-8"))
        return {k: (v if k in REPEATED_FIELDS else v[0]) for k, v in pairs.items()}

    def _refused(self, account: str) -> bool:
        """Answers for a wrong account/token or a switched-on fault; False when the request may go on."""
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if account != SID or self.headers.get("Authorization") != expected:
            self._error(401, 20003, "Authenticate")
        elif self.fault == 429:
            self._error(429, 20429, "Too Many Requests")
        elif self.fault == 503:
            self._error(503, 20503, "Service Unavailable")
        else:
            return False
        return True

    def _log(self, record: dict) -> None:
        if self.log_path is not None:
            with self.lock, self.log_path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(record, ensure_ascii=False) + "\n")

    def do_POST(self) -> None:
        if self.path == "/_fake/fault":
            mode = self._form().get("mode", "none")
            type(self).fault = int(mode) if mode in ("429", "503") else None
            return self._send(200, {"fault": type(self).fault})
        match = re.fullmatch(API, self.path)
        if not match:
            return self._error(404, 20404, "The requested resource was not found")
        form = self._form()
        if match.group(2) == "Calls":
            return self._create_call(match.group(1), form)
        self.received.append({"path": self.path, "auth": self.headers.get("Authorization"), "form": form})
        if self._refused(match.group(1)):
            return
        if not re.fullmatch(r"\+[1-9]\d{7,14}", form.get("To", "")):
            return self._error(400, 21211, f"The 'To' number {form.get('To')} is not a valid phone number.")
        if form.get("To", "").startswith("+999"):
            return self._error(400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number")
        body = form.get("Body", "")
        if not body or len(body) > 1600:
            return self._error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        time.sleep(self.latency / 2)
        message_sid = "SM" + secrets.token_hex(16)
        self._log({"kind": "sms", "sid": message_sid, "to": form["To"], "body": body, "at": time.time()})
        time.sleep(self.latency / 2)
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

    def _create_call(self, account: str, form: dict) -> None:
        if self._refused(account):
            return
        to, url = form.get("To", ""), form.get("Url", "")
        if not re.fullmatch(r"\+[1-9]\d{7,14}", to):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to.startswith("+999"):
            return self._error(400, 21215, f"Account not authorized to call {to}. Perhaps you need to enable some international permissions.")
        if not form.get("From"):
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not re.fullmatch(r"https?://\S+", url):
            return self._error(400, 21205, "Url is not a valid URL.")
        time.sleep(self.latency / 2)
        call = {
            "sid": "CA" + secrets.token_hex(16),
            "to": to,
            "from": form["From"],
            "url": url,
            "status_callback": form.get("StatusCallback"),
            "form": form,
            "created": time.time(),
        }
        with self.lock:
            self.calls.append(call)
        self._log({"kind": "call", **{k: v for k, v in call.items() if k != "form"}})
        time.sleep(self.latency / 2)
        self._send(201, _call_json(call))

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        match = re.fullmatch(API, parts.path)
        if not match or match.group(2) != "Calls":
            return self._error(404, 20404, "The requested resource was not found")
        if self._refused(match.group(1)):
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        page_size = min(int(query.get("PageSize", 50)), 1000)
        with self.lock:
            found = [c for c in self.calls if query.get("To", c["to"]) == c["to"] and query.get("From", c["from"]) == c["from"]]
        found = sorted(found, key=lambda c: c["created"], reverse=True)[:page_size]
        uri = f"/2010-04-01/Accounts/{SID}/Calls.json?PageSize={page_size}&Page=0"
        self._send(200, {
            "calls": [_call_json(c) for c in found],
            "end": max(len(found) - 1, 0),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": page_size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        })


def _call_json(call: dict) -> dict:
    created = formatdate(call["created"], usegmt=True)
    sid = call["sid"]
    return {
        "account_sid": SID,
        "annotation": None,
        "answered_by": None,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": created,
        "date_updated": created,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": call["from"],
        "from_formatted": call["from"],
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": "PN" + "0" * 32,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": None,  # Twilio fills it once the call is dialled
        "status": "queued",
        "subresource_uris": {"recordings": f"/2010-04-01/Accounts/{SID}/Calls/{sid}/Recordings.json"},
        "to": call["to"],
        "to_formatted": call["to"],
        "trunk_sid": None,
        "uri": f"/2010-04-01/Accounts/{SID}/Calls/{sid}.json",
    }


@pytest.fixture
def twilio_server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    FakeTwilio.received, FakeTwilio.calls, FakeTwilio.fault, FakeTwilio.latency = [], [], None, 0.0
    server = StubServer(FakeTwilio)  # down() / up(): connection refused, then back
    yield server
    server.down()
    FakeTwilio.fault, FakeTwilio.latency = None, 0.0


@pytest.fixture
def twilio_api(twilio_server):
    yield twilio_server.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", type=Path, help="one JSON line per call or message created")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each create takes")
    args = parser.parse_args()
    FakeTwilio.log_path, FakeTwilio.latency = args.log, args.latency
    server = ThreadingHTTPServer(("127.0.0.1", args.port), FakeTwilio)
    server.daemon_threads = True
    print(f"fake Twilio API on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
