"""Pictures on the channels (issue #19, part 1): read, masked, and checked like typed text.

First the channels' own handling with a stand-in for Rasa and for the OCR (no model): the REST
picture route, the web chat's picture route, the rate limits, the caps, malformed posts and
every reason a picture cannot be read. Then the real assistant with the real OCR on
screenshots rendered by Chromium (tests/screenshots.py): the same verdict as the typed text,
secrets masked before the tracker store, bad pictures answered and nothing stored. WeChat's
image messages are tested in tests/test_wechat_channel.py, the web chat's upload and paste in a
browser in tests/test_web_widget.py.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import re
import struct
import uuid
import zlib
from dataclasses import dataclass, field

import pytest
import requests
import yaml
from PIL import Image
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels import client_address, pictures
from bot.channels.notices import load_notices
from bot.channels.pictures import CHECK_INTENT, READ
from bot.channels.request_checks import MAX_METADATA_CHARS, MAX_PICTURE_POST_BYTES, MAX_REST_BODY_BYTES
from bot.channels.session_tokens import session_tokens
from bot.channels.web.rest import RestChannel
from bot.channels.web.socketio import SESSION_HEADER, SESSION_TOKEN_HEADER, SocketIOChannel
from bot.services.pictures import MAX_PICTURE_BYTES, REASONS, PictureError, Reading
from tests.assistant import Assistant
from tests.conftest import ROOT
from tests.serving import answer_to_head, serving

NOTICES = load_notices().picture
REST_PICTURE = "/webhooks/rest/picture"
WEB_PICTURE = "/webhooks/socketio/picture"
PICTURE = b"\x89PNG\r\n\x1a\n a resident's screenshot"
READ_WORDS = "【公安局】您的账户涉嫌洗钱\n请转到安全账户，验证码是583920\n我的卡号622202123456\n7890"
CODE, CARD = "583920", "6222021234567890"


@pytest.fixture(autouse=True)
def console_secret(monkeypatch):
    """Session tokens and client keys from the test's own secret, not var/keys/console.key."""
    monkeypatch.setenv("FANZHA_CONSOLE_SECRET", "picture-test-secret-" + "p" * 30)
    client_address._key.cache_clear()
    yield
    client_address._key.cache_clear()


class Rasa:
    """Stands in for Rasa's agent: records each message and answers through its output channel."""

    def __init__(self) -> None:
        self.received: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        await message.output_channel.send_text_message(message.sender_id, "收到")


@dataclass
class Reader:
    """Stands in for bot.services.pictures.read_picture: gives READ_WORDS, or raises ``error``."""

    error: Exception | None = None
    given: list[bytes] = field(default_factory=list)

    async def __call__(self, data: bytes) -> Reading:
        self.given.append(data)
        if self.error is not None:
            raise self.error
        return Reading(text=READ_WORDS, lines=tuple(READ_WORDS.split("\n")), seconds=0.01)


@pytest.fixture
def reader(monkeypatch) -> Reader:
    stand_in = Reader()
    monkeypatch.setattr(pictures, "read_picture", stand_in)
    return stand_in


def rest_app(rasa: Rasa) -> Sanic:
    app = Sanic(f"rest_{uuid.uuid4().hex}")
    app.blueprint(RestChannel().blueprint(rasa), url_prefix="/webhooks/rest")
    return app


def picture_post(picture: bytes = PICTURE, sender: str = "resident", **more) -> dict:
    return {"sender": sender, "picture": base64.b64encode(picture).decode("ascii"), **more}


# --- REST, with stand-ins -----------------------------------------------------------------


async def test_a_rest_picture_is_read_masked_shown_and_sent_to_the_check(reader):
    rasa = Rasa()
    _, resp = await rest_app(rasa).asgi_client.post(REST_PICTURE, json=picture_post(metadata={"page": "app"}))
    assert resp.status == 200 and reader.given == [PICTURE]
    (turn,) = rasa.received
    # The words the assistant gets: masked, the card number too although the bubble's line wrap split it.
    assert CODE not in turn.text and "7890" not in turn.text and "安全账户" in turn.text
    assert turn.parse_data == {"text": turn.text, "intent": {"name": CHECK_INTENT, "confidence": 1.0},
                               "intent_ranking": [{"name": CHECK_INTENT, "confidence": 1.0}], "entities": []}
    assert turn.input_channel == "rest" and turn.metadata["page"] == "app"
    assert turn.metadata["fanzha"]["picture"] is True
    assert set(turn.metadata["fanzha"]["masked"]) >= {"verification_code"}
    assert set(turn.metadata) == {"page", "fanzha"}  # the picture itself is not carried on
    # The answer: first what was read (masked), then the assistant's.
    assert [m["text"] for m in resp.json] == [NOTICES.read.format(words=turn.text), "收到"]


@pytest.mark.parametrize("read", [
    "我的卡号622202123456\n7890，你帮我看看",  # the bubble's line wrap split the number
    "我的卡号622202123456\n我\n7890，你帮我看看",  # and the avatar's letter was read in between
    "我的卡号6222 0212 3456\n7890，你帮我看看",
])
async def test_a_card_number_the_layout_split_is_masked_whole(monkeypatch, read):
    async def reading(_: bytes) -> Reading:
        return Reading(text=read, lines=tuple(read.split("\n")), seconds=0.01)

    monkeypatch.setattr(pictures, "read_picture", reading)
    rasa = Rasa()
    _, resp = await rest_app(rasa).asgi_client.post(REST_PICTURE, json=picture_post())
    (turn,) = rasa.received
    assert "〔银行卡号已隐去〕" in turn.text and "7890" not in turn.text and "3456" not in turn.text
    assert "7890" not in json.dumps(resp.json, ensure_ascii=False)


def test_the_check_intent_runs_the_check_without_retraining():
    """The intent a picture's words carry is the domain's, and a rule runs action_check_scam on it."""
    domain = yaml.safe_load((ROOT / "bot" / "domain" / "check.yml").read_text(encoding="utf-8"))
    assert CHECK_INTENT in domain["intents"]
    rules = yaml.safe_load((ROOT / "stories" / "check.yml").read_text(encoding="utf-8"))["rules"]
    assert any(rule["steps"] == [{"intent": CHECK_INTENT}, {"action": "action_check_scam"}] and "condition" not in rule
               for rule in rules)


@pytest.mark.parametrize("reason", REASONS)
async def test_each_unreadable_picture_gets_its_own_answer_and_reaches_no_one(reader, reason):
    reader.error = PictureError(reason)
    rasa = Rasa()
    _, resp = await rest_app(rasa).asgi_client.post(REST_PICTURE, json=picture_post())
    assert resp.status == 200 and [m["text"] for m in resp.json] == [NOTICES.refusal(reason)]
    assert rasa.received == []


async def test_a_reader_that_breaks_gets_the_failed_answer_and_the_channel_goes_on(reader):
    reader.error = RuntimeError("the engine fell over")
    rasa = Rasa()
    app = rest_app(rasa)
    _, resp = await app.asgi_client.post(REST_PICTURE, json=picture_post())
    assert [m["text"] for m in resp.json] == [NOTICES.refusal("failed")] and rasa.received == []
    _, resp = await app.asgi_client.post("/webhooks/rest/webhook", json={"sender": "resident", "message": "你好"})
    assert [m["text"] for m in resp.json] == ["收到"]


def test_every_reason_has_its_own_plain_answer():
    assert set(NOTICES.refused) == set(REASONS)
    assert len(set(NOTICES.refused.values())) == len(REASONS)
    assert f"{MAX_PICTURE_BYTES // (1024 * 1024)}MB" in NOTICES.refusal("too_big")
    assert all("110" in NOTICES.refusal(reason) for reason in ("busy", "failed"))  # money may be moving
    assert "{words}" in NOTICES.read


@pytest.mark.parametrize("body, problem", [
    (b"not json", "JSON"),
    (b"[]", "object"),
    (json.dumps({"picture": "aGk="}).encode(), '"sender"'),
    (json.dumps({"sender": "r"}).encode(), '"picture"'),
    (json.dumps({"sender": "r", "picture": 42}).encode(), '"picture"'),
    (json.dumps({"sender": "r", "picture": "not base64!"}).encode(), "base64"),
    (json.dumps({"sender": "r", "picture": "aGk=", "message": "看看这个"}).encode(), '"message"'),
    (json.dumps({"sender": "r", "picture": "aGk=", "metadata": {"x": "a" * MAX_METADATA_CHARS}}).encode(), '"metadata"'),
], ids=["not-json", "a-list", "no-sender", "no-picture", "picture-not-text", "not-base64", "with-message", "large-metadata"])
async def test_a_malformed_picture_post_is_refused_with_the_reason(reader, body, problem):
    rasa = Rasa()
    _, resp = await rest_app(rasa).asgi_client.post(REST_PICTURE, content=body, headers={"content-type": "application/json"})
    assert resp.status == 400 and problem in resp.json["error"]
    assert reader.given == [] and rasa.received == []


async def test_base64_wrapped_in_lines_is_taken(reader):
    wrapped = "\n".join(base64.encodebytes(PICTURE).decode("ascii").split("\n"))  # as the base64 tool writes it
    _, resp = await rest_app(Rasa()).asgi_client.post(REST_PICTURE, json={"sender": "r", "picture": wrapped})
    assert resp.status == 200 and reader.given == [PICTURE]


async def test_a_picture_post_has_its_own_cap_and_a_message_keeps_its_own(reader):
    """Over a real connection: each cap answers the Content-Length alone, before the body."""
    rasa = Rasa()
    async with serving(rest_app(rasa)) as port:
        assert await answer_to_head(port, "POST", REST_PICTURE, MAX_PICTURE_POST_BYTES + 1) == 413
        assert await answer_to_head(port, "POST", "/webhooks/rest/webhook", MAX_REST_BODY_BYTES + 1) == 413
        screenshot = b"\x89PNG" + bytes(300_000)  # a phone screenshot is far over the message cap
        loop = asyncio.get_running_loop()
        resp = await loop.run_in_executor(None, lambda: requests.post(
            f"http://127.0.0.1:{port}{REST_PICTURE}", json=picture_post(screenshot), timeout=10))
    assert resp.status_code == 200 and reader.given == [screenshot]
    assert [m["text"] for m in resp.json()][-1] == "收到" and len(rasa.received) == 1


async def test_pictures_count_against_the_rate_limit_before_they_are_read(reader, monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT", "2/60")
    rasa = Rasa()
    app = rest_app(rasa)
    answers = []
    for _ in range(3):
        _, resp = await app.asgi_client.post(REST_PICTURE, json=picture_post())
        answers.append([m["text"] for m in resp.json])
    assert answers[2] == [load_notices().rate_limited]
    assert len(reader.given) == 2 and len(rasa.received) == 2  # the third was not even read


# --- the web chat's picture route, with stand-ins ---------------------------------------------


class WebChat:
    """The socket.io channel's blueprint in an app; what it emits to rooms is recorded."""

    def __init__(self, rasa: Rasa) -> None:
        self.channel = SocketIOChannel(session_persistence=True)
        self.app = Sanic(f"web_chat_{uuid.uuid4().hex}")
        self.app.blueprint(self.channel.blueprint(rasa), url_prefix="/webhooks/socketio")
        self.emitted: list[tuple[str, dict]] = []

        async def emit(event: str, data: dict | None = None, room: str | None = None, **_) -> None:
            self.emitted.append((room, data))

        self.channel.sio.emit = emit  # no socket behind the room: record what would be sent


def session_headers(session_id: str, token: str | None = None) -> dict[str, str]:
    return {SESSION_HEADER: session_id, SESSION_TOKEN_HEADER: token or session_tokens().issue(session_id),
            "Content-Type": "image/png"}


async def test_a_web_chat_picture_is_answered_in_its_sessions_room(reader):
    rasa = Rasa()
    chat = WebChat(rasa)
    _, resp = await chat.app.asgi_client.post(WEB_PICTURE, content=PICTURE, headers=session_headers("session-a"))
    assert resp.status == 200 and resp.json == {"outcome": READ}
    (turn,) = rasa.received
    assert turn.sender_id == "session-a" and turn.input_channel == "socketio" and CODE not in turn.text
    assert turn.parse_data["intent"]["name"] == CHECK_INTENT
    assert turn.metadata["fanzha"]["client"]  # counted by address like a typed message
    assert chat.emitted == [("session-a", {"text": part}) for part in NOTICES.read.format(words=turn.text).split("\n\n")] \
        + [("session-a", {"text": "收到"})]


async def test_a_web_chat_picture_is_refused_before_its_body_without_the_sessions_token(reader):
    rasa = Rasa()
    chat = WebChat(rasa)
    async with serving(chat.app) as port:
        # The head alone is answered: no token, a wrong token, another site's page, a body over the cap.
        for headers in ({}, session_headers("session-a", "forged"), {**session_headers("session-a"), "Origin": "https://elsewhere.example"}):
            assert await _status_of_head(port, headers, 1000) == 403, headers
        assert await _status_of_head(port, session_headers("session-a"), MAX_PICTURE_BYTES + 1) == 413
        assert reader.given == [] and rasa.received == []
        own_page = {**session_headers("session-a"), "Origin": f"http://127.0.0.1:{port}"}
        loop = asyncio.get_running_loop()
        resp = await loop.run_in_executor(None, lambda: requests.post(
            f"http://127.0.0.1:{port}{WEB_PICTURE}", data=PICTURE, headers=own_page, timeout=10))
    assert resp.status_code == 200 and reader.given == [PICTURE] and len(rasa.received) == 1


async def _status_of_head(port: int, headers: dict[str, str], length: int) -> int:
    reader_, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(f"POST {WEB_PICTURE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Content-Length: {length}\r\n\r\n".encode())
        await writer.drain()
        return int((await asyncio.wait_for(reader_.readline(), 5)).split()[1])
    finally:
        writer.close()


# --- the real assistant, the real OCR, rendered screenshots ------------------------------------

# Written for these tests: a scam text message, and a chat where the resident's own card number
# and a verification code are in the picture.
SCAM_SMS = "【市公安局】您好，您的银行账户涉嫌洗钱，请立即把资金转到安全账户配合调查，否则将冻结。"
SECRETS_CHAT = f"我的卡号6222 0212 3456 7890，验证码是{CODE}，你帮我看看"


@pytest.fixture(scope="module")
def assistant(shared_assistant: Assistant) -> Assistant:
    return shared_assistant  # each test opens conversations of its own (tests/conftest.py)


@pytest.fixture(scope="module")
def screenshots() -> dict[str, bytes]:
    """Phone screenshots of the two texts (SMS app, light; chat app, dark), rendered by Chromium."""
    from tests.screenshots import Bubble, render, scenes

    base = scenes(1)[0]
    wanted = {
        "scam": dataclasses.replace(base, name="scam", look="sms", theme="light", typed=SCAM_SMS,
                                    bubbles=(Bubble(SCAM_SMS, outgoing=False),)),
        "secrets": dataclasses.replace(base, name="secrets", look="chat", theme="dark", typed=SECRETS_CHAT,
                                       bubbles=(Bubble(SECRETS_CHAT, outgoing=True),)),
    }
    return {shot.scene.name: shot.png for shot in render(wanted.values())}


def post_picture(assistant: Assistant, picture: bytes, sender: str) -> list[str]:
    resp = requests.post(f"{assistant.url}{REST_PICTURE}", json=picture_post(picture, sender), timeout=60)
    assert resp.status_code == 200, resp.text
    return [m.get("text", "") for m in resp.json()]


def verdict(answers: list[str]) -> tuple[str, list[str], list[str]]:
    """A check's answer: its first line (risk and type), the red flags' labels, the advice."""
    (text,) = [a for a in answers if a.startswith("风险等级：")]
    flag = re.compile(r"^· 「.*?」：([^\n]*)\n?", re.M | re.S)  # the quoted words may hold a line break
    lines = flag.sub("", text).split("\n")
    return lines[0], sorted(flag.findall(text)), lines[1:]


def user_events(assistant: Assistant, sender: str) -> list[dict]:
    tracker = requests.get(f"{assistant.url}/conversations/{sender}/tracker",
                           params={"token": assistant.token}, timeout=10).json()
    return [event for event in tracker["events"] if event["event"] == "user"]


def test_a_screenshot_gets_the_same_verdict_as_its_typed_text(assistant, screenshots):
    typed = assistant.say(SCAM_SMS)
    sender = uuid.uuid4().hex
    answers = post_picture(assistant, screenshots["scam"], sender)
    intro = NOTICES.read.split("{words}")[0]
    assert answers[0].startswith(intro), answers
    shown = answers[0][len(intro):].replace("\n", "")
    assert "涉嫌洗钱" in shown and "安全账户" in shown  # the words read, for the resident to see
    first_line, flags, advice = verdict(answers[1:])
    assert first_line.startswith("风险等级：红色") and "冒充公检法" in first_line
    assert (first_line, flags, advice) == verdict([m["text"] for m in typed])
    (said,) = user_events(assistant, sender)
    assert said["parse_data"]["intent"]["name"] == CHECK_INTENT and said["metadata"]["fanzha"]["picture"] is True


def test_secrets_in_a_screenshot_never_reach_the_tracker_store(assistant, screenshots):
    sender = uuid.uuid4().hex
    answers = post_picture(assistant, screenshots["secrets"], sender)
    assert "验证码" in answers[0] and "〔验证码已隐去〕" in answers[0]  # read, and masked
    (said,) = user_events(assistant, sender)
    assert "〔银行卡号已隐去〕" in said["text"]
    flat = lambda text: "".join(text.split())  # noqa: E731  digits across spaces and line breaks
    for where in ("\n".join(answers), json.dumps(said, ensure_ascii=False)):
        assert CODE not in flat(where) and CARD not in flat(where) and "34567890" not in flat(where)
    # The store's own files, write-ahead log included: neither the secrets nor the picture (nor any
    # other conversation's: the assistant is shared with tests/test_web_widget.py's pages).
    stored = b"".join(path.read_bytes() for path in assistant.folder.glob("tracker.db*"))
    png = base64.b64encode(screenshots["secrets"])
    assert CODE.encode() not in stored and CARD.encode() not in stored
    assert b"\x89PNG" not in stored and png[100:164] not in stored


def _png(size: tuple[int, int], colour: str = "white") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _decompression_bomb(side: int = 20_000) -> bytes:
    """A PNG of a few hundred KB that would decode to side x side pixels (400 MB at 20,000)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), bytes(side + 1)  # filter byte and one grey byte per pixel
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.mark.parametrize("reason, picture", [
    ("not_image", lambda: "这不是图片，是一段文字".encode() * 20),
    ("no_text", lambda: _png((390, 844))),
    ("too_many_pixels", _decompression_bomb),
    ("too_big", lambda: b"\x89PNG\r\n\x1a\n" + bytes(MAX_PICTURE_BYTES)),
])
def test_a_bad_picture_gets_its_clear_answer_and_nothing_is_stored(assistant, reason, picture):
    sender = uuid.uuid4().hex
    assert post_picture(assistant, picture(), sender) == [NOTICES.refusal(reason)]
    assert user_events(assistant, sender) == []
    assert assistant.say("你好", sender)  # the conversation and the server go on
