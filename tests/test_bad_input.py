"""Bad input at every network entry point of the real assistant (tests/bad_inputs.py).

One assistant (scripts/run.sh, about 40 s to start) serves the whole module, with the WeChat
and phone-line channels switched on. Every typed text gets a reply on every channel and is
stored once; malformed protocol input gets a 4xx with a reason and stores nothing (the
tracker database's rows are counted before and after); forged signatures get 403. Each case
has its own sender, so a per-sender rate limit never interferes.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import re
import sqlite3
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest
import requests
import socketio
from twilio.request_validator import RequestValidator

from bot.channels.masking import MAX_MESSAGE_CHARS
from bot.channels.notices import load_notices
from bot.services.action_token import HEADER, header_value
from bot.services.reports.store import ReportStore
from tests.assistant import Assistant
from tests.bad_inputs import DEFLATE_BOMB, MALFORMED_JSON, TEXTS, Text, cleaned, wrong_shapes

WECHAT_TOKEN = "badInputWeChatToken"
TWILIO_TOKEN = "bad-input-twilio-token"
CUT_NOTICE = load_notices().truncated.format(max_chars=MAX_MESSAGE_CHARS)
CRASH_WORDS = ("Traceback", "Exception", "Internal Server Error", "NoneType")
TEXT_IDS = [case.id for case in TEXTS]


@contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def assistant(tmp_path_factory) -> Iterator[Assistant]:
    folder = tmp_path_factory.mktemp("bad_input")
    # The run script passes the environment on: WeChat and the phone line are switched on.
    with environment(FANZHA_WECHAT_TOKEN=WECHAT_TOKEN, FANZHA_TWILIO_AUTH_TOKEN=TWILIO_TOKEN):
        running = Assistant(folder)
    running.folder = folder  # type: ignore[attr-defined]
    yield running
    running.stop()


def sender(kind: str, case: str = "") -> str:
    return f"bad-{kind}-{case}-{uuid.uuid4().hex[:8]}"


def events(assistant: Assistant, conversation: str) -> list[dict]:
    response = requests.get(
        f"{assistant.url}/conversations/{quote(conversation, safe='')}/tracker",
        params={"token": assistant.token}, timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["events"]


def user_texts(assistant: Assistant, conversation: str) -> list[str]:
    return [e["text"] for e in events(assistant, conversation) if e["event"] == "user"]


def stored_rows(assistant: Assistant) -> int:
    """Rows in the tracker database: anything stored by any conversation changes it."""
    with sqlite3.connect(assistant.folder / "tracker.db") as db:  # type: ignore[attr-defined]
        return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def assert_no_crash(texts: list[str]) -> None:
    said = "\n".join(texts)
    assert not any(word in said for word in CRASH_WORDS), said[:500]


def assert_stored_once(assistant: Assistant, conversation: str, case: Text) -> None:
    stored = user_texts(assistant, conversation)
    assert len(stored) == 1, stored
    assert all(ch.isprintable() or ch in "\n\t" for ch in stored[0]) and len(stored[0]) <= MAX_MESSAGE_CHARS
    if not case.text.startswith("/"):  # a typed command loses its slash (tests/test_privacy.py)
        assert stored[0].strip() == cleaned(case.text)


def assert_refused(response: requests.Response, statuses: tuple[int, ...] = (400,)) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.text.strip(), "a refusal says why"
    assert_no_crash([response.text])


# --- REST ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TEXTS, ids=TEXT_IDS)
def test_rest_every_text_gets_a_reply_and_is_stored_once(assistant, case: Text):
    conversation = sender("rest", case.id)
    response = requests.post(
        f"{assistant.url}/webhooks/rest/webhook", json={"sender": conversation, "message": case.text}, timeout=30
    )
    assert response.status_code == 200, response.text
    texts = [reply.get("text") or "" for reply in response.json()]
    assert any(texts), "every message gets a reply"
    assert_no_crash(texts)
    assert (texts[-1] == CUT_NOTICE) is case.cut
    assert_stored_once(assistant, conversation, case)


def test_rest_malformed_bodies_get_400_with_the_reason_and_store_nothing(assistant):
    conversation = sender("rest", "malformed")
    before = stored_rows(assistant)
    bodies = {**MALFORMED_JSON, **{k: json.dumps(v).encode() for k, v in wrong_shapes("sender", conversation).items()}}
    for name, body in bodies.items():
        response = requests.post(
            f"{assistant.url}/webhooks/rest/webhook", data=body,
            headers={"Content-Type": "application/json"}, timeout=30,
        )
        assert_refused(response, (400, 413))
        assert "error" in response.json() or response.status_code == 413, name
    assert stored_rows(assistant) == before
    assert user_texts(assistant, conversation) == []


# --- socket.io (the web widget) ------------------------------------------------------------


class Widget:
    """The web chat's socket.io conversation, as bot/channels/web/assets/ drives it."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.client = socketio.AsyncClient(reconnection=False)
        self.replies: list[dict] = []
        self.confirmed: asyncio.Queue[dict] = asyncio.Queue()
        self.tokens: dict[str, str] = {}  # each session's token, kept as the page keeps it
        self.client.on("bot_uttered", self.replies.append)
        self.client.on("session_confirm", self.confirmed.put_nowait)

    async def __aenter__(self) -> "Widget":
        await self.client.connect(self.assistant.url, transports=["polling"], wait_timeout=10)
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.client.eio.disconnect(abort=True)  # a clean disconnect waits 30 s for the held long-poll

    async def session(self, session_id: Any) -> str:
        """The session the server confirms: ``session_id`` if this widget was given it, else a new one."""
        token = self.tokens.get(session_id) if isinstance(session_id, str) else None
        await self.client.emit("session_request", {"session_id": session_id, "session_token": token})
        confirmed = await asyncio.wait_for(self.confirmed.get(), 10)
        self.tokens[confirmed["session_id"]] = confirmed["session_token"]
        return confirmed["session_id"]

    async def say(self, session_id: str, message: Any, timeout: float = 30) -> list[dict]:
        """Send, then wait until the turn is stored (the tracker's last event is action_listen)."""
        self.replies.clear()
        users = len(user_texts(self.assistant, session_id))
        await self.client.emit("user_uttered", {"message": message, "session_id": session_id})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            stored = events(self.assistant, session_id)
            done = [e for e in stored if e["event"] == "user"][users:] and stored[-1].get("name") == "action_listen"
            if done:
                await asyncio.sleep(0.1)  # the last emits are on their way
                return list(self.replies)
        raise AssertionError(f"no complete turn for {message!r} within {timeout} s")


async def test_socketio_every_text_gets_a_reply_and_is_stored_once(assistant):
    async with Widget(assistant) as widget:
        for case in TEXTS:
            session = await widget.session(sender("socketio", case.id))
            replies = await widget.say(session, case.text)
            texts = [reply.get("text") or "" for reply in replies]
            assert any(texts), case.id
            assert_no_crash(texts)
            assert (texts[-1] == CUT_NOTICE) is case.cut, case.id
            assert_stored_once(assistant, session, case)


async def test_socketio_malformed_messages_are_dropped_and_the_chat_goes_on(assistant):
    async with Widget(assistant) as widget:
        session = await widget.session(sender("socketio", "malformed"))
        # A malformed session id gets a fresh one instead.
        for bad in (None, 5, "", "x\x00", "y" * 10_000, ["list"]):
            fresh = await widget.session(bad)
            assert re.fullmatch(r"[0-9a-f]{32}", fresh), fresh
        assert await widget.session(session) == session  # back to the first one: a socket follows one session
        before = stored_rows(assistant)
        widget.replies.clear()
        for name, data in wrong_shapes("session_id", session).items():
            await widget.client.emit("user_uttered", data)
        await widget.client.emit("user_uttered", {"message": "你好", "session_id": session, "metadata": "{not json"})
        await asyncio.sleep(1.5)
        assert widget.replies == [] and stored_rows(assistant) == before
        assert widget.client.connected
        replies = await widget.say(session, "你好")
        assert replies and user_texts(assistant, session) == ["你好"]


# --- WeChat ------------------------------------------------------------------------------------

_msg_ids = itertools.count(int(time.time() * 1000))


def wechat_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def wechat_xml(openid: str, content: str, msg_id: int) -> bytes:
    content = "<![CDATA[" + content.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    xml = (f"<xml><ToUserName><![CDATA[gh_fanzha]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           f"<Content>{content}</Content><MsgId>{msg_id}</MsgId></xml>")
    return xml.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8, as on the wire


def wechat_post(assistant: Assistant, body: bytes, token: str = WECHAT_TOKEN) -> requests.Response:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    query = {"signature": wechat_signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    return requests.post(f"{assistant.url}/webhooks/wechat/webhook", params=query, data=body, timeout=30)


def wechat_content(response: requests.Response) -> str:
    from defusedxml.ElementTree import fromstring

    assert response.status_code == 200, response.text
    return fromstring(response.text).findtext("Content") or ""


@pytest.mark.parametrize("case", TEXTS, ids=TEXT_IDS)
def test_wechat_every_text_gets_a_reply_or_a_clear_400(assistant, case: Text):
    openid = sender("wechat", case.id)
    before = stored_rows(assistant)
    response = wechat_post(assistant, wechat_xml(openid, case.text, next(_msg_ids)))
    if not case.xml_legal:  # WeChat sends XML 1.0 in UTF-8: these bytes cannot come from it
        assert_refused(response)
        assert stored_rows(assistant) == before
        return
    content = wechat_content(response)
    assert content.strip(), "every message gets a reply"
    assert_no_crash([content])
    if case.text.strip():  # WeChat drops blank messages itself; the channel answers them anyway
        assert_stored_once(assistant, openid, case)


def test_wechat_the_same_msgid_twice_is_one_turn(assistant):
    openid, msg_id = sender("wechat", "retry"), next(_msg_ids)
    body = wechat_xml(openid, "有人说我快递丢了要理赔，让我开屏幕共享", msg_id)
    first, again = wechat_post(assistant, body), wechat_post(assistant, body)  # new timestamp and nonce
    assert wechat_content(first) == wechat_content(again) != ""
    assert user_texts(assistant, openid) == ["有人说我快递丢了要理赔，让我开屏幕共享"]


def test_wechat_forged_signature_is_403_and_nothing_is_stored(assistant):
    openid = sender("wechat", "forged")
    before = stored_rows(assistant)
    for token in ("wrong-token", "", WECHAT_TOKEN.upper()):
        assert_refused(wechat_post(assistant, wechat_xml(openid, "你好", next(_msg_ids)), token=token), (403,))
    response = requests.post(f"{assistant.url}/webhooks/wechat/webhook", data=wechat_xml(openid, "你好", 1), timeout=10)
    assert_refused(response, (403,))
    assert stored_rows(assistant) == before


def test_wechat_malformed_xml_is_400_and_nothing_is_stored(assistant):
    before = stored_rows(assistant)
    for name, body in MALFORMED_JSON.items():
        assert_refused(wechat_post(assistant, body), (400, 413))
    assert stored_rows(assistant) == before


# --- the phone line (Twilio) -------------------------------------------------------------------


def voice_post(assistant: Assistant, form: dict[str, str], token: str = TWILIO_TOKEN) -> requests.Response:
    url = f"{assistant.url}/webhooks/voice/webhook"
    signature = RequestValidator(token).compute_signature(url, form)
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=30)


@pytest.mark.parametrize("case", [c for c in TEXTS if c.encodable], ids=[c.id for c in TEXTS if c.encodable])
def test_voice_every_speech_result_gets_spoken_words(assistant, case: Text):
    call = "CA" + uuid.uuid4().hex
    form = {"CallSid": call, "From": "+8613800000000", "SpeechResult": case.text, "Confidence": "0.93"}
    response = voice_post(assistant, form)
    assert response.status_code == 200, response.text
    assert "<Say" in response.text and "<Gather" in response.text, response.text[:300]
    assert_no_crash([response.text])
    stored = user_texts(assistant, call)
    assert len(stored) == (1 if case.text.strip() else 0), stored  # silence is no turn


def test_voice_forged_or_garbled_requests_are_refused_and_nothing_is_stored(assistant):
    before = stored_rows(assistant)
    url = f"{assistant.url}/webhooks/voice/webhook"
    form = {"CallSid": "CA" + uuid.uuid4().hex, "SpeechResult": "我被骗了", "Confidence": "0.9"}
    assert_refused(voice_post(assistant, form, token="forged"), (403,))
    assert_refused(requests.post(url, data=form, timeout=10), (403,))
    assert_refused(requests.post(url, data=form, headers={"X-Twilio-Signature": "\u00e9" * 40}, timeout=10), (403,))
    for body in MALFORMED_JSON.values():
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, {})
        response = requests.post(url, data=body, timeout=10, headers={
            "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})
        assert_refused(response, (400, 403))
    assert stored_rows(assistant) == before


# --- the HTTP API (token) ----------------------------------------------------------------------


def test_http_api_refuses_wrong_tokens_without_a_crash(assistant):
    url = f"{assistant.url}/conversations/someone/tracker"
    for token in (None, "", "wrong", assistant.token + "x", "令牌", "\x00", "' OR 1=1 --"):
        params = None if token is None else {"token": token}
        assert_refused(requests.get(url, params=params, timeout=10), (401,))
    assert_refused(requests.get(url, params={"token": "x" * 20_000}, timeout=10), (401, 413, 414))
    assert_refused(requests.get(url, headers={"Authorization": "Bearer not.a.jwt"}, timeout=10), (401, 422))


def test_http_api_parse_answers_every_text_and_refuses_malformed_bodies(assistant):
    url = f"{assistant.url}/model/parse"
    for case in TEXTS:
        if not case.encodable:
            continue  # see the next test
        response = requests.post(url, params={"token": assistant.token}, json={"text": case.text}, timeout=30)
        assert response.status_code == 200, (case.id, response.text[:300])
        assert "intent" in response.json()
    for name, body in {**MALFORMED_JSON, "list": b"[]"}.items():
        response = requests.post(url, params={"token": assistant.token}, data=body, timeout=30)
        assert_rasa_refused(response)


def assert_rasa_refused(response: requests.Response) -> None:
    """Rasa's HTTP API answers a body it cannot read with a 400 in its error format and a
    reason (bot/rasa_patches/api_guard.py; Rasa alone answers some of these with a 500)."""
    assert response.status_code == 400, response.text[:300]
    answer = response.json()
    assert answer["status"] == "failure" and answer["code"] == 400 and answer["message"], answer


# Bodies Rasa's own HTTP API (rasa/server.py) answers with a 500 when unguarded: not JSON, and
# text no one can store (a lone surrogate).
RASA_API_500 = {"not-json": b'{"text": "hi',
                "lone-surrogate": json.dumps({"text": "\ud800"}).encode()}


@pytest.mark.parametrize("name", sorted(RASA_API_500))
def test_http_api_parse_refuses_what_rasa_cannot_read(assistant, name):
    response = requests.post(f"{assistant.url}/model/parse", params={"token": assistant.token},
                             data=RASA_API_500[name], timeout=30)
    assert_rasa_refused(response)


def test_http_api_odd_conversation_ids_and_bodies_never_crash(assistant):
    before = stored_rows(assistant)
    for conversation in ("%00", "😀", "x" * 5_000, "' OR 1=1 --", "<script>", "..%2F..%2Fetc"):
        response = requests.get(
            f"{assistant.url}/conversations/{quote(conversation)}/tracker", params={"token": assistant.token}, timeout=10
        )
        assert response.status_code < 500, (conversation, response.text[:300])
    url = f"{assistant.url}/conversations/{sender('api', 'messages')}/messages"
    malformed = {**MALFORMED_JSON, **RASA_API_500, "no-text": b'{"sender": "user"}', "text-list": b'{"text": [], "sender": "user"}'}
    for name, body in malformed.items():
        response = requests.post(url, params={"token": assistant.token}, data=body, timeout=30)
        assert_rasa_refused(response)
    assert stored_rows(assistant) == before


# --- the action server -------------------------------------------------------------------------


def action_call(action: str, conversation: str, text: str = "", slots: dict | None = None) -> dict:
    return {
        "next_action": action,
        "sender_id": conversation,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": conversation,
            "slots": slots or {},
            "latest_message": {"text": text, "intent": {"name": "check_situation"}, "entities": []},
            "events": [],
            "paused": False,
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def rasa_server_headers(assistant: Assistant) -> dict[str, str]:
    """What the Rasa server shows the action server (actions/caller_check.py)."""
    return {HEADER: header_value(assistant.action_token)}


def test_action_server_answers_every_text_and_refuses_malformed_calls(assistant):
    url = f"http://127.0.0.1:{assistant.actions_port}/webhook"
    session = requests.Session()
    session.headers.update(rasa_server_headers(assistant))
    for case in TEXTS:
        response = session.post(url, json=action_call("action_check_scam", sender("action", case.id), case.text), timeout=30)
        assert response.status_code == 200, (case.id, response.text[:300])
        assert response.json()["responses"], case.id
    calls = {**MALFORMED_JSON, **{k: json.dumps(v).encode() for k, v in wrong_shapes("sender_id", "x").items()}}
    calls["no-tracker"] = json.dumps({"next_action": "action_check_scam"}).encode()
    calls["events-not-objects"] = json.dumps({**action_call("action_check_scam", "x"), "tracker": {"sender_id": "x", "events": [1]}}).encode()
    for name, body in calls.items():
        assert_refused(session.post(url, data=body, timeout=30), (400,))
    response = session.post(url, data=DEFLATE_BOMB, headers={"Content-Encoding": "deflate"}, timeout=30)
    assert_refused(response, (413,))


def report_count(assistant: Assistant) -> int:
    folder: Path = assistant.folder  # type: ignore[attr-defined]
    env = {"FANZHA_REPORT_KEY": (folder / "report.key").read_text().strip()}
    with ReportStore(f"sqlite:///{folder / 'fanzha.db'}", create=False, env=env) as store:
        return len(store.reports_since(datetime.now(timezone.utc).date().replace(day=1)))


def test_a_reposted_report_submit_stores_one_report(assistant):
    slots = {"report_happened_at": "昨天", "report_amount": "两万", "report_payment_channel": "alipay", "scam_type": "fake_customer_service"}
    call = action_call("action_submit_report", sender("action", "submit"), "跳过", slots)
    before = report_count(assistant)
    url, headers = f"http://127.0.0.1:{assistant.actions_port}/webhook", rasa_server_headers(assistant)
    first = requests.post(url, json=call, headers=headers, timeout=30)
    again = requests.post(url, json=call, headers=headers, timeout=30)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()  # the same reference number both times
    assert report_count(assistant) == before + 1


def test_the_last_report_answer_sent_twice_over_rest_stores_one_report(assistant):
    resident = sender("rest", "report")
    before = report_count(assistant)
    assistant.say("我被骗了，对方冒充客服让我转了两万", resident)
    for answer in ["昨天晚上七点", "两万", "支付宝", "跳过", "不知道", "跳过", "他用的电话是17012345678", "跳过"]:
        assistant.say(answer, resident)
    closing = "\n".join(r.get("text", "") for r in assistant.say("跳过", resident))
    assert re.search(r"FZ-\d{8}-[A-Z0-9]{4}", closing), closing
    assistant.say("跳过", resident)  # the client did not see the answer and sends it again
    assert report_count(assistant) == before + 1


# --- the agent console and the outreach pages ---------------------------------------------------


def test_console_login_and_csrf_refuse_bad_input_without_a_crash(assistant):
    url = f"{assistant.url}/console/api"
    login = {"X-Requested-With": "fanzha-console", "Content-Type": "application/json"}
    bodies = {**MALFORMED_JSON, **{k: json.dumps(v).encode() for k, v in wrong_shapes("name", "duty").items()},
              "surrogate-name": b'{"name": "\\ud800", "password": "x"}'}
    for name, body in bodies.items():
        assert_refused(requests.post(f"{url}/login", data=body, headers=login, timeout=30), (400,))
    for case in TEXTS:  # wrong logins: after five, this address must wait (429) before trying again
        body = json.dumps({"name": case.text, "password": case.text}).encode()
        assert_refused(requests.post(f"{url}/login", data=body, headers=login, timeout=30), (400, 401, 429))
    # No login mark, or a form from another site: refused before anything is read.
    assert_refused(requests.post(f"{url}/login", data=b'{"name": "a", "password": "b"}', timeout=10), (403,))
    forged = {"Cookie": "fanzha_console=eyJhIjogImR1dHkifQ.forged", "X-CSRF-Token": "forged"}
    for path in ("/me", "/tickets", "/tickets/1"):
        assert_refused(requests.get(url + path, headers=forged, timeout=10), (401,))
    for path in ("/logout", "/tickets/1/claim", "/tickets/1/reply", "/tickets/1/close"):
        assert_refused(requests.post(url + path, data=b'{"text": "x"}', headers=forged, timeout=10), (401,))
    odd = requests.get(url + "/me", headers={"Cookie": "fanzha_console=\u00e9\u00e9.\u00e9".encode().decode("latin-1")}, timeout=10)
    assert_refused(odd, (401,))


def test_outreach_pages_answer_odd_paths_with_404(assistant):
    for path in ("/demo/scenario/😀", "/demo/scenario/%00", "/demo/handout/' OR 1=1 --", "/demo/static/..%2F..%2Fetc%2Fpasswd",
                 "/demo/api/scenarios/<script>/steps/1", "/demo/api/scenarios/impersonate_police/steps/99999999999999999999",
                 "/demo/api/scenarios/impersonate_police/steps/-1", "/demo/api/quiz/0", "/demo/api/quiz/" + "9" * 400,
                 "/demo/api/quiz/%F0%28%8C%BC", "/demo/" + "x" * 5_000):
        response = requests.get(assistant.url + quote(path, safe="/%"), timeout=30)
        assert response.status_code == 404, (path, response.status_code, response.text[:300])
        assert "root:" not in response.text
