"""The WeChat channel, driven the way WeChat's servers drive it.

The platform side (signatures, the AES envelope, the XML) is written here from WeChat's
protocol description with hashlib and `cryptography`, independently of wechatpy, which the
channel uses. The channel's blueprint runs in a Sanic app; the bot stand-in answers through
the CollectingOutputChannel the channel hands it, as Rasa's agent does. Customer-service
messages go to a fake WeChat API on 127.0.0.1 that records what it got.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import secrets
import struct
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from sanic_testing.testing import SanicASGITestClient

from bot.channels import pictures
from bot.channels.notices import load_notices
from bot.channels.pictures import CHECK_INTENT
from bot.channels.wechat import channel as wechat_module
from bot.channels.wechat.channel import WeChatChannel
from bot.channels.wechat.push import CustomerServiceSender
from bot.channels.wechat.replies import load_texts, split_text, utf8_size
from bot.channels.wechat.settings import ENVIRONMENT, load_settings
from bot.channels.wechat.store import MemoryTTLStore
from bot.services.pictures import Reading
from tests.http_stub import StubServer

ROOT = Path(__file__).resolve().parent.parent
URL = "/webhooks/wechat/webhook"
TOKEN = "fanzhaTestToken42"
APP_ID = "wx1234567890abcdef"
APP_SECRET = "0123456789abcdef0123456789abcdef"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters
ACCOUNT = "gh_fanzha_account"
USER = "oUser_abcdefghijklmnop"
TEXTS = load_texts()
NOTICES = load_notices()


# --- WeChat's side of the protocol (no wechatpy) ------------------------------------------


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(msg_type: str, user: str = USER, created: Optional[int] = None, **extra: Any) -> str:
    """A message as WeChat posts it; ``extra`` become further fields, in order."""
    nodes = {
        "ToUserName": ACCOUNT,
        "FromUserName": user,
        "CreateTime": created if created is not None else int(time.time()),
        "MsgType": msg_type,
        **extra,
    }
    body = "".join(
        f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}>{cdata(str(v))}</{k}>"
        for k, v in nodes.items()
    )
    return f"<xml>{body}</xml>"


_msg_ids = itertools.count(int(time.time()) * 1000)


def text_xml(content: str, msg_id: Optional[int] = None, user: str = USER) -> str:
    return message_xml("text", user=user, Content=content, MsgId=msg_id or next(_msg_ids))


def event_xml(event: str, user: str = USER, created: Optional[int] = None, **extra: Any) -> str:
    return message_xml("event", user=user, created=created, Event=event, **extra)


@dataclass
class Platform:
    """Signs, encrypts and posts like WeChat's servers, and reads the replies."""

    token: str = TOKEN
    app_id: str = APP_ID
    aes_key: Optional[str] = None

    @property
    def key(self) -> bytes:
        return base64.b64decode(self.aes_key + "=")  # type: ignore[operator]  # only Platforms in safe mode ask

    def query(self, timestamp: Optional[int] = None, nonce: Optional[str] = None) -> dict[str, str]:
        timestamp_text = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**9))
        return {
            "signature": sha1_signature(self.token, timestamp_text, nonce),
            "timestamp": timestamp_text,
            "nonce": nonce,
            "openid": USER,
        }

    def encrypt(self, plain: str, app_id: Optional[str] = None) -> str:
        """16 random bytes + 4-byte big-endian length + message + AppID, PKCS#7 to 32-byte
        blocks, AES-256-CBC with the first 16 key bytes as IV, base64."""
        msg = plain.encode()
        raw = secrets.token_bytes(16) + struct.pack(">I", len(msg)) + msg + (app_id or self.app_id).encode()
        padder = padding.PKCS7(256).padder()
        padded = padder.update(raw) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        padded = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
        unpadder = padding.PKCS7(256).unpadder()
        raw = unpadder.update(padded) + unpadder.finalize()
        (length,) = struct.unpack(">I", raw[16:20])
        assert raw[20 + length:].decode() == self.app_id, "reply encrypted for another AppID"
        return raw[20:20 + length].decode()

    def post_args(self, xml: str, app_id: Optional[str] = None, **query: Any) -> tuple[dict, bytes]:
        """Query and body of a POST: plain, or in safe mode the encrypted envelope."""
        params = self.query(query.pop("timestamp", None), query.pop("nonce", None))
        if self.aes_key is None:
            params.update(query)
            return params, xml.encode()
        encrypted = self.encrypt(xml, app_id)
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sha1_signature(self.token, params["timestamp"], params["nonce"], encrypted)
        params.update(query)
        envelope = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"
        return params, envelope.encode()

    def read_reply(self, body: str) -> Optional[dict[str, str]]:
        """The reply's fields, or None for WeChat's "no reply" answers ("success" or empty)."""
        if body in ("success", ""):
            return None
        root = ET.fromstring(body)
        if self.aes_key is not None:
            fields = {child.tag: child.text or "" for child in root}
            expected = sha1_signature(self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
            assert fields["MsgSignature"] == expected, "reply signature does not match"
            root = ET.fromstring(self.decrypt(fields["Encrypt"]))
        return {child.tag: child.text or "" for child in root}


# --- the bot stand-in, the fake WeChat API, the app ----------------------------------------


@dataclass
class Bot:
    """Answers like Rasa's agent: through the message's CollectingOutputChannel."""

    delay: float = 0.0
    answer: Optional[Callable[[UserMessage], Any]] = None
    received: list[UserMessage] = field(default_factory=list)

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        await asyncio.sleep(self.delay)
        out = message.output_channel
        if self.answer is not None:
            await self.answer(message)
        elif message.text == "菜单":
            await out.send_text_with_buttons(
                message.sender_id,
                "请选择：",
                [
                    {"title": "帮我看看是不是诈骗", "payload": "/check_situation"},
                    {"title": "我被骗了", "payload": "/report_scammed"},
                ],
            )
        else:
            await out.send_text_message(message.sender_id, f"收到：{message.text}")

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.received]


class FakeWeChatAPI:
    """The token, customer-service and media (临时素材) endpoints of api.weixin.qq.com, on 127.0.0.1."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.token_requests: list[dict] = []
        self.media: dict[str, bytes] = {}  # MediaId → the picture a user sent
        self.media_requests: list[dict] = []
        self.declare_media_length = True  # False: the body ends when the connection closes
        self.expired: set[str] = set()
        self.fail_next = 0  # answer this many send calls with HTTP 500
        self.tokens = itertools.count(1)
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, payload: dict, status: int = 200) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/cgi-bin/media/get":
                    return self._media(query)
                if url.path != "/cgi-bin/token":
                    return self._json({"errcode": 404}, 404)
                api.token_requests.append(query)
                if query.get("appid") != APP_ID or query.get("secret") != APP_SECRET:
                    return self._json({"errcode": 40013, "errmsg": "invalid appid"})
                self._json({"access_token": f"TOKEN{next(api.tokens)}", "expires_in": 7200})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                token = parse_qs(url.query).get("access_token", [""])[0]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if url.path != "/cgi-bin/message/custom/send":
                    return self._json({"errcode": 404}, 404)
                if api.fail_next:
                    api.fail_next -= 1
                    return self._json({"errcode": -1, "errmsg": "system busy"}, 500)
                if token in api.expired or not token.startswith("TOKEN"):
                    return self._json({"errcode": 42001, "errmsg": "access_token expired"})
                api.sent.append({"token": token, **body})
                self._json({"errcode": 0, "errmsg": "ok"})

            def _media(self, query: dict[str, str]) -> None:
                api.media_requests.append(query)
                token = query.get("access_token", "")
                if token in api.expired or not token.startswith("TOKEN"):
                    return self._json({"errcode": 42001, "errmsg": "access_token expired"})
                picture = api.media.get(query.get("media_id", ""))
                if picture is None:
                    return self._json({"errcode": 40007, "errmsg": "invalid media_id"})
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-disposition", 'attachment; filename="picture.png"')
                if api.declare_media_length:
                    self.send_header("Content-Length", str(len(picture)))
                self.end_headers()
                self.wfile.write(picture)

        self.server = StubServer(Handler)
        self.base_url = f"{self.server.url}/cgi-bin/"

    def texts_to(self, user: str = USER) -> list[str]:
        return [m["text"]["content"] for m in self.sent if m["touser"] == user]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.sent

    def close(self) -> None:
        self.server.down()


@pytest.fixture
def fake_api():
    api = FakeWeChatAPI()
    yield api
    api.close()


@pytest.fixture(autouse=True)
def no_wechat_environment(monkeypatch):
    for variable in ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)


_app_names = itertools.count()


class Harness:
    """The channel's blueprint in a Sanic app, as Rasa mounts it, and a platform to drive it."""

    def __init__(self, channel: WeChatChannel, bot: Bot, platform: Platform) -> None:
        self.channel, self.bot, self.platform = channel, bot, platform
        app = Sanic(f"wechat_test_{next(_app_names)}")
        app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/wechat")
        self.client = SanicASGITestClient(app)

    async def post(self, xml: str, **query: Any):
        params, body = self.platform.post_args(xml, **query)
        return await self.raw_post(params, body)

    async def raw_post(self, params: dict, body: Any):
        _, resp = await self.client.post(URL, params=params, content=body)
        return resp

    async def ask(self, xml: str, **query: Any) -> Optional[dict[str, str]]:
        resp = await self.post(xml, **query)
        assert resp.status == 200, resp.text
        return self.platform.read_reply(resp.text)


def harness(
    bot: Optional[Bot] = None,
    safe: bool = False,
    api: Optional[FakeWeChatAPI] = None,
    sender: Optional[CustomerServiceSender] = None,
    **credentials: Any,
) -> Harness:
    creds: dict[str, Any] = {"token": TOKEN, **credentials}
    if safe:
        creds.update(app_id=APP_ID, aes_key=AES_KEY)
    if api is not None:
        creds.update(app_id=APP_ID, app_secret=APP_SECRET, api_base_url=api.base_url)
    if sender is not None:
        channel = WeChatChannel(load_settings(creds, {}), sender=sender)
    else:
        channel = WeChatChannel.from_credentials(creds)
    assert channel.settings is not None, channel.problem
    return Harness(channel, bot or Bot(), Platform(aes_key=AES_KEY if safe else None))


# --- server verification and request checks -----------------------------------------------


@pytest.mark.parametrize("safe", [False, True])
async def test_server_verification_echoes_echostr_only_when_signed(safe):
    h = harness(safe=safe)
    query = {**h.platform.query(), "echostr": "8301728163025546591"}
    _, resp = await h.client.get(URL, params=query)
    assert (resp.status, resp.text) == (200, "8301728163025546591")

    forged = {**query, "signature": sha1_signature("wrongtoken", query["timestamp"], query["nonce"])}
    _, resp = await h.client.get(URL, params=forged)
    assert resp.status == 403 and "8301728163025546591" not in resp.text

    stale = {**h.platform.query(timestamp=int(time.time()) - 301), "echostr": "1"}
    _, resp = await h.client.get(URL, params=stale)
    assert resp.status == 403

    _, resp = await h.client.get(URL, params={"echostr": "1"})
    assert resp.status == 403


@pytest.mark.parametrize("safe", [False, True])
async def test_text_message_gets_the_bot_reply_as_passive_reply(safe):
    h = harness(safe=safe)
    reply = await h.ask(text_xml("有人让我转账到安全账户"))
    assert h.bot.texts == ["有人让我转账到安全账户"]
    assert reply["MsgType"] == "text"
    assert reply["Content"] == "收到：有人让我转账到安全账户"
    assert (reply["ToUserName"], reply["FromUserName"]) == (USER, ACCOUNT)
    assert reply["CreateTime"].isdigit()


async def test_the_turn_is_tagged_as_wechat_for_the_tracker_and_actions():
    h = harness()
    await h.ask(text_xml("你好"))
    message = h.bot.received[0]
    assert message.input_channel == "wechat"
    assert message.output_channel.name() == "wechat"
    assert message.sender_id == USER
    assert message.metadata["wechat"]["msg_type"] == "text"
    assert message.message_id and message.message_id.startswith("wechat-msg-")


async def test_secrets_are_masked_before_the_bot_sees_the_text():
    h = harness(safe=True)
    await h.ask(text_xml("客服让我报验证码，验证码是 482915"))
    seen = h.bot.received[0]
    assert "482915" not in seen.text
    assert "verification_code" in seen.metadata["fanzha"]["masked"]


async def test_wrong_signature_or_stale_timestamp_is_refused_and_not_processed():
    h = harness(max_request_age=60)
    params, body = h.platform.post_args(text_xml("你好"))
    forged = {**params, "signature": "0" * 40}
    assert (await h.raw_post(forged, body)).status == 403
    assert (await h.raw_post({**params, "signature": "签名" * 20}, body)).status == 403  # not a 500
    assert (await h.post(text_xml("你好"), timestamp=int(time.time()) - 61)).status == 403
    # Well past the limit: int() already takes up to a second off, and a busy machine another few.
    assert (await h.post(text_xml("你好"), timestamp=int(time.time()) + 90)).status == 403
    no_query = await h.raw_post({}, body)
    assert no_query.status == 403
    assert h.bot.received == []
    assert (await h.post(text_xml("你好"), timestamp=int(time.time()) - 30)).status == 200
    assert h.bot.texts == ["你好"]


async def test_plain_mode_refuses_a_captured_signature_with_another_body():
    h = harness()
    params, body = h.platform.post_args(text_xml("你好"))
    assert (await h.raw_post(params, body)).status == 200
    swapped = text_xml("伪造的消息")
    resp = await h.raw_post(params, swapped.encode())
    assert resp.status == 403
    assert h.bot.texts == ["你好"]


async def test_safe_mode_refuses_bad_msg_signature_other_appid_plain_and_garbage():
    h = harness(safe=True)
    params, body = h.platform.post_args(text_xml("你好"))
    assert (await h.raw_post({**params, "msg_signature": "0" * 40}, body)).status == 403
    assert (await h.raw_post({**params, "msg_signature": "签名" * 20}, body)).status == 403
    assert (await h.raw_post({k: v for k, v in params.items() if k != "msg_signature"}, body)).status == 403
    assert (await h.post(text_xml("你好"), app_id="wx0000000000000000")).status == 403
    plain = Platform()  # correct signature, but not encrypted
    params, body = plain.post_args(text_xml("你好"))
    assert (await h.raw_post(params, body)).status == 403
    # A correctly signed envelope whose ciphertext is not an AES message.
    junk = base64.b64encode(b"not a block multiple").decode()
    params = h.platform.query()
    params.update(encrypt_type="aes", msg_signature=sha1_signature(TOKEN, params["timestamp"], params["nonce"], junk))
    envelope = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(junk)}</Encrypt></xml>"
    assert (await h.raw_post(params, envelope.encode())).status == 400
    assert h.bot.received == []


async def test_encrypted_message_to_a_plain_mode_channel_is_a_clear_400():
    h = harness()
    params, body = Platform(aes_key=AES_KEY).post_args(text_xml("你好"))
    resp = await h.raw_post(params, body)
    assert resp.status == 400 and "FANZHA_WECHAT_AES_KEY" in resp.text
    assert h.bot.received == []


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml ['
    '<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdefgh", "bcdefghi"))
    + "]>"
)
XXE = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


@pytest.mark.parametrize("safe", [False, True])
@pytest.mark.parametrize(
    "body, status",
    [
        (message_xml("text", MsgId=1, Content="&i;").replace("<xml>", BILLION_LAUGHS + "<xml>", 1), 400),
        (message_xml("text", MsgId=2, Content="x").replace("<![CDATA[x]]>", "&xxe;").replace("<xml>", XXE + "<xml>", 1), 400),
        ('<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">' + text_xml("hi"), 400),
        ("<xml><ToUserName>gh_x</ToUserName><MsgType>text", 400),
        ("这不是XML", 400),
        ("<message>" + text_xml("hi") + "</message>", 400),
        (text_xml("hi").replace(f"<MsgType>{cdata('text')}</MsgType>", ""), 400),
        (text_xml("hi").replace(f"<FromUserName>{cdata(USER)}</FromUserName>", ""), 400),
        (text_xml("hi").replace("<Content>", "<Content>1</Content><Content>"), 400),
        (message_xml("event", MsgId=3), 400),
        (text_xml("x" * (65 * 1024)), 413),
    ],
    ids=["billion-laughs", "xxe", "external-dtd", "truncated", "not-xml", "wrong-root",
         "no-msgtype", "no-sender", "repeated-field", "event-without-event", "huge"],
)
async def test_bad_xml_gets_the_right_answer_and_reaches_no_one(safe, body, status):
    h = harness(safe=safe)
    resp = await h.post(body)
    assert resp.status == status, resp.text
    assert "root:" not in resp.text  # nothing of /etc/passwd
    assert h.bot.received == []
    # The channel still works afterwards.
    assert (await h.ask(text_xml("你好")))["Content"] == "收到：你好"


async def test_huge_body_without_content_length_is_cut_off_at_the_limit():
    h = harness(max_body_bytes=4096)
    params, body = h.platform.post_args(text_xml("x" * 8000))

    async def chunks():
        for start in range(0, len(body), 1000):
            yield body[start:start + 1000]

    resp = await h.raw_post(params, chunks())
    assert resp.status == 413
    assert h.bot.received == []


# --- message types -----------------------------------------------------------------------


async def test_voice_uses_the_recognition_and_asks_again_without_one():
    h = harness()
    reply = await h.ask(message_xml("voice", MediaId="m1", Format="amr", Recognition="我被骗了怎么办", MsgId=next(_msg_ids)))
    assert h.bot.texts == ["我被骗了怎么办"]
    assert h.bot.received[0].metadata["wechat"]["voice"] is True
    assert reply["Content"] == "收到：我被骗了怎么办"

    reply = await h.ask(message_xml("voice", MediaId="m2", Format="amr", Recognition="", MsgId=next(_msg_ids)))
    assert reply["Content"] == TEXTS.voice_not_recognised
    assert len(h.bot.received) == 1


@pytest.mark.parametrize(
    "msg_type, extra",
    [
        ("image", {"PicUrl": "http://mmbiz.qpic.cn/x", "MediaId": "m"}),
        ("video", {"MediaId": "m", "ThumbMediaId": "t"}),
        ("shortvideo", {"MediaId": "m", "ThumbMediaId": "t"}),
        ("location", {"Location_X": "23.13", "Location_Y": "113.26", "Scale": "20", "Label": "广州"}),
        ("link", {"Title": "领取补贴", "Description": "点击领取", "Url": "http://example.invalid/"}),
    ],
)
async def test_media_gets_asked_to_describe_it_in_words(msg_type, extra):
    h = harness()
    reply = await h.ask(message_xml(msg_type, MsgId=next(_msg_ids), **extra))
    assert reply["Content"] == TEXTS.media(msg_type)
    assert TEXTS.kinds[msg_type] in reply["Content"]
    assert h.bot.received == []


async def test_unknown_message_type_gets_a_clear_reply():
    h = harness()
    reply = await h.ask(message_xml("hologram", MsgId=next(_msg_ids), Payload="?"))
    assert reply["Content"] == TEXTS.unsupported
    assert h.bot.received == []


@pytest.mark.parametrize("safe", [False, True])
async def test_subscribe_sends_the_greeting_intent_and_shows_the_bot_answer(safe):
    h = harness(safe=safe)
    reply = await h.ask(event_xml("subscribe", EventKey=""))
    assert h.bot.texts == ["/greet"]
    assert h.bot.received[0].metadata["wechat"]["event"] == "subscribe"
    assert reply["Content"] == "收到：/greet"
    await h.ask(event_xml("subscribe", user="oUser_scanned", EventKey="qrscene_42", Ticket="t"))
    assert h.bot.texts == ["/greet", "/greet"]


async def test_unsubscribe_and_background_events_get_no_reply():
    h = harness()
    for xml in (
        event_xml("unsubscribe", EventKey=""),
        event_xml("LOCATION", Latitude="23.1", Longitude="113.2", Precision="65"),
        event_xml("TEMPLATESENDJOBFINISH", created=int(time.time()) - 1, Status="success"),
    ):
        resp = await h.post(xml)
        assert (resp.status, resp.text) == (200, "success")
    assert h.bot.received == []


async def test_menu_click_with_a_button_payload_is_a_turn_other_keys_a_clear_reply():
    h = harness()
    await h.ask(event_xml("CLICK", EventKey="/report_scammed"))
    assert h.bot.texts == ["/report_scammed"]
    reply = await h.ask(event_xml("CLICK", created=int(time.time()) - 5, EventKey="V1001_TODAY_MUSIC"))
    assert reply["Content"] == TEXTS.unsupported
    assert len(h.bot.received) == 1


async def test_bot_failure_gets_a_polite_reply_and_the_channel_keeps_working():
    async def broken(message: UserMessage) -> None:
        raise RuntimeError("tracker store down")

    h = harness(bot=Bot(answer=broken))
    reply = await h.ask(text_xml("你好"))
    assert reply["Content"] == TEXTS.bot_error
    h.bot.answer = None
    assert (await h.ask(text_xml("再试一次")))["Content"] == "收到：再试一次"


async def test_reply_text_that_closes_cdata_stays_intact():
    h = harness(safe=True)
    tricky = "a]]></Content><MsgType>news</MsgType><Content><![CDATA[b"
    reply = await h.ask(text_xml(tricky))
    assert reply["Content"] == f"收到：{tricky}"
    assert reply["MsgType"] == "text"


# --- buttons as numbered choices ------------------------------------------------------------


async def test_buttons_become_numbers_and_a_typed_number_sends_the_payload():
    h = harness()
    reply = await h.ask(text_xml("菜单"))
    lines = reply["Content"].splitlines()
    assert lines[0] == "请选择："
    assert TEXTS.choose_by_number in lines
    assert lines[-2:] == ["1. 帮我看看是不是诈骗", "2. 我被骗了"]

    await h.ask(text_xml("２"))  # a full-width digit, as Chinese keyboards type it
    assert h.bot.texts[-1] == "/report_scammed"
    assert h.bot.received[-1].metadata["wechat"]["choice"] == "２"
    # The answer to the choice had no buttons: numbers are plain text again.
    await h.ask(text_xml("1"))
    assert h.bot.texts[-1] == "1"


async def test_a_number_outside_the_choices_goes_to_the_bot_as_typed():
    h = harness()
    await h.ask(text_xml("菜单"))
    await h.ask(text_xml("3"))
    assert h.bot.texts[-1] == "3"


async def test_choices_are_per_user():
    h = harness()
    await h.ask(text_xml("菜单"))
    await h.ask(text_xml("1", user="oUser_other"))
    assert h.bot.texts[-1] == "1"


# --- retries, de-duplication, the deadline -------------------------------------------------


@pytest.mark.parametrize("safe", [False, True])
async def test_replayed_msgid_gets_the_same_reply_without_a_second_turn(safe):
    h = harness(safe=safe)
    xml = text_xml("帮我看看这条短信", msg_id=987654321)
    first = await h.ask(xml)
    again = await h.ask(xml)  # WeChat's retry: new timestamp and nonce, same message
    assert first["Content"] == again["Content"] == "收到：帮我看看这条短信"
    assert len(h.bot.received) == 1


async def test_event_retry_is_deduplicated_by_sender_and_time():
    h = harness()
    created = int(time.time())
    await h.ask(event_xml("subscribe", created=created, EventKey=""))
    await h.ask(event_xml("subscribe", created=created, EventKey=""))
    await h.ask(event_xml("subscribe", user="oUser_other", created=created, EventKey=""))
    assert h.bot.texts == ["/greet", "/greet"]
    assert [m.sender_id for m in h.bot.received] == [USER, "oUser_other"]


async def test_retry_while_the_turn_runs_waits_for_the_same_result():
    h = harness(bot=Bot(delay=0.3), reply_deadline=2.0)
    xml = text_xml("对方说我涉嫌洗钱")
    first, retry = await asyncio.gather(h.ask(xml), h.ask(xml))
    assert first["Content"] == retry["Content"] == "收到：对方说我涉嫌洗钱"
    assert len(h.bot.received) == 1


async def test_slow_bot_answer_arrives_as_a_customer_service_message(fake_api):
    h = harness(bot=Bot(delay=0.6), api=fake_api, reply_deadline=0.2)
    xml = text_xml("网上认识的老师带我炒股")
    started = time.monotonic()
    resp = await h.post(xml)
    assert (resp.status, resp.text) == (200, "success")
    assert time.monotonic() - started < 0.5
    # WeChat's retry of the same message while the bot still works: no second turn.
    resp = await h.post(xml)
    assert (resp.status, resp.text) == (200, "success")
    sent = await fake_api.wait_for(1)
    await asyncio.sleep(0.3)  # nothing more may follow
    assert fake_api.texts_to(USER) == ["收到：网上认识的老师带我炒股"]
    assert sent[0]["msgtype"] == "text"
    assert len(h.bot.received) == 1
    # A retry after the turn finished gets "success" too: the reply already went out.
    resp = await h.post(xml)
    assert resp.text == "success"
    assert len(fake_api.sent) == 1


async def test_access_token_is_cached_and_renewed_when_wechat_says_it_expired(fake_api):
    h = harness(bot=Bot(delay=0.3), api=fake_api, reply_deadline=0.1)
    await h.post(text_xml("第一条"))
    await fake_api.wait_for(1)
    await h.post(text_xml("第二条"))
    await fake_api.wait_for(2)
    assert len(fake_api.token_requests) == 1
    assert fake_api.token_requests[0]["grant_type"] == "client_credential"
    fake_api.expired.add(fake_api.sent[-1]["token"])
    await h.post(text_xml("第三条"))
    await fake_api.wait_for(3)
    assert fake_api.texts_to(USER) == ["收到：第一条", "收到：第二条", "收到：第三条"]
    assert len(fake_api.token_requests) == 2
    assert fake_api.sent[-1]["token"] != fake_api.sent[0]["token"]


async def test_customer_service_message_is_retried_after_a_server_error(fake_api):
    sender = CustomerServiceSender(APP_ID, APP_SECRET, fake_api.base_url, retry_delays=(0.05, 0.05))
    h = harness(bot=Bot(delay=0.3), api=fake_api, sender=sender, reply_deadline=0.1)
    fake_api.fail_next = 2
    await h.post(text_xml("转账后对方失联了"))
    await fake_api.wait_for(1)
    assert fake_api.texts_to(USER) == ["收到：转账后对方失联了"]


async def test_long_reply_is_split_within_byte_limits_and_sent_in_order(fake_api):
    paragraphs = [f"第{i}段：" + "不要向任何人透露验证码。" * 20 for i in range(12)]
    long_text = "\n\n".join(paragraphs)

    async def long_answer(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, long_text)

    h = harness(bot=Bot(answer=long_answer), api=fake_api)
    resp = await h.post(text_xml("说详细点"))
    assert resp.text == "success"  # too long for one passive reply: all parts go in order
    sent = await fake_api.wait_for(2)
    deadline = time.monotonic() + 10  # the parts go one by one; a slow machine may still be sending
    while "\n\n".join(fake_api.texts_to(USER)) != long_text and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # and nothing more follows
    parts = fake_api.texts_to(USER)
    assert len(parts) >= 2 and all(utf8_size(p) <= 2048 for p in parts)
    assert "\n\n".join(parts) == long_text
    assert len(h.bot.received) == 1 and len(sent) == len(parts)


async def test_long_reply_without_customer_service_api_fills_one_passive_reply():
    async def long_answer(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "请拨打110。" * 400)

    h = harness(bot=Bot(answer=long_answer))
    reply = await h.ask(text_xml("说详细点"))
    assert 1800 < utf8_size(reply["Content"]) <= 2048
    assert ("请拨打110。" * 400).startswith(reply["Content"])


async def test_server_initiated_messages_go_out_as_customer_service_messages(fake_api):
    h = harness(api=fake_api)
    output = h.channel.get_output_channel()
    assert output is not None and output.name() == "wechat"
    await output.send_response(USER, {"text": "值班人员回复您了", "buttons": [{"title": "好的", "payload": "/affirm"}]})
    assert fake_api.texts_to(USER)[0].splitlines()[-1] == "1. 好的"
    await h.ask(text_xml("1"))
    assert h.bot.texts == ["/affirm"]



async def handoff_answer(message: UserMessage) -> None:
    await message.output_channel.send_text_message(message.sender_id, "我这就请值班人员来和您说。")
    await message.output_channel.send_custom_json(message.sender_id, {"handoff": {"summary": "居民要求转人工"}})


@pytest.mark.parametrize("safe", [False, True])
async def test_a_handoff_is_transferred_to_customer_service_and_the_words_pushed(fake_api, safe):
    h = harness(bot=Bot(answer=handoff_answer), api=fake_api, safe=safe)
    xml = text_xml("转人工")
    reply = await h.ask(xml)
    assert reply["MsgType"] == "transfer_customer_service"
    assert (reply["ToUserName"], reply["FromUserName"]) == (USER, ACCOUNT)
    await fake_api.wait_for(1)
    assert fake_api.texts_to(USER) == ["我这就请值班人员来和您说。"]
    again = await h.ask(xml)  # WeChat's retry of the same message: the same transfer, no second turn
    assert again["MsgType"] == "transfer_customer_service" and len(h.bot.received) == 1


async def test_a_handoff_without_customer_service_api_keeps_the_words_as_the_reply():
    h = harness(bot=Bot(answer=handoff_answer))
    reply = await h.ask(text_xml("转人工"))
    assert reply["MsgType"] == "text" and reply["Content"] == "我这就请值班人员来和您说。"


# --- pictures (image messages) ------------------------------------------------------------
# The OCR is a stand-in here (tests/test_picture_channels.py reads real screenshots).

PICTURE = b"\x89PNG\r\n\x1a\n a resident's screenshot"
READ_WORDS = "【公安局】您的账户涉嫌洗钱\n请转到安全账户，验证码是583920"


@dataclass
class Reader:
    """Stands in for bot.services.pictures.read_picture: records what it was given."""

    delay: float = 0.0
    given: list[bytes] = field(default_factory=list)

    async def __call__(self, data: bytes) -> Reading:
        self.given.append(data)
        await asyncio.sleep(self.delay)
        return Reading(text=READ_WORDS, lines=tuple(READ_WORDS.split("\n")), seconds=self.delay)


@pytest.fixture
def reader(monkeypatch) -> Reader:
    stand_in = Reader()
    monkeypatch.setattr(pictures, "read_picture", stand_in)
    return stand_in


def image_xml(media_id: str) -> str:
    return message_xml("image", PicUrl="http://mmbiz.qpic.cn/mmbiz/x/0", MediaId=media_id, MsgId=next(_msg_ids))


@pytest.mark.parametrize("safe", [False, True])
async def test_a_picture_is_fetched_with_the_cached_token_read_and_checked(fake_api, reader, safe):
    fake_api.media["MEDIA_1"] = PICTURE
    h = harness(api=fake_api, safe=safe)
    reply = await h.ask(image_xml("MEDIA_1"))
    assert reader.given == [PICTURE]
    (turn,) = h.bot.received
    assert "583920" not in turn.text and "安全账户" in turn.text  # masked before the assistant sees it
    assert turn.parse_data["intent"]["name"] == CHECK_INTENT and turn.parse_data["text"] == turn.text
    assert turn.metadata["wechat"]["msg_type"] == "image" and turn.metadata["fanzha"]["picture"] is True
    assert reply["Content"] == f"{NOTICES.picture.read.format(words=turn.text)}\n\n收到：{turn.text}"
    assert fake_api.media_requests[0]["media_id"] == "MEDIA_1"
    assert fake_api.media_requests[0]["access_token"] == "TOKEN1" and len(fake_api.token_requests) == 1
    # The token WeChat says has expired is renewed, and the picture fetched again with the new one.
    fake_api.expired.add("TOKEN1")
    again = await h.ask(image_xml("MEDIA_1"))
    assert again["Content"] == reply["Content"] and len(h.bot.received) == 2
    assert len(fake_api.token_requests) == 2 and fake_api.media_requests[-1]["access_token"] == "TOKEN2"


@pytest.mark.parametrize("declared", [True, False])
async def test_a_picture_over_the_cap_is_not_read_further_and_gets_a_plain_answer(fake_api, reader, monkeypatch, declared):
    monkeypatch.setattr(wechat_module, "MAX_PICTURE_BYTES", 1000)
    fake_api.media["HUGE"] = b"\x89PNG" + b"0" * 50_000
    fake_api.declare_media_length = declared  # without Content-Length: counted as it arrives
    h = harness(api=fake_api)
    reply = await h.ask(image_xml("HUGE"))
    assert reply["Content"] == NOTICES.picture.refusal("too_big")
    assert reader.given == [] and h.bot.received == []


async def test_a_picture_wechat_cannot_give_gets_a_plain_answer(fake_api, reader):
    h = harness(api=fake_api)
    reply = await h.ask(image_xml("EXPIRED_MEDIA"))  # WeChat: 40007 invalid media_id
    assert reply["Content"] == NOTICES.picture.refusal("failed")
    assert reader.given == [] and h.bot.received == []
    h.bot.received.clear()
    assert (await h.ask(text_xml("你好")))["Content"] == "收到：你好"  # the channel goes on


async def test_a_slow_picture_turn_arrives_as_customer_service_messages(fake_api, reader):
    reader.delay = 0.6
    fake_api.media["MEDIA_2"] = PICTURE
    h = harness(api=fake_api, reply_deadline=0.2)
    resp = await h.post(image_xml("MEDIA_2"))
    assert (resp.status, resp.text) == (200, "success")
    await fake_api.wait_for(1)
    (turn,) = h.bot.received
    assert fake_api.texts_to(USER) == [f"{NOTICES.picture.read.format(words=turn.text)}\n\n收到：{turn.text}"]


# --- configuration ----------------------------------------------------------------------


async def test_unconfigured_channel_answers_503_with_the_reason():
    channel = WeChatChannel.from_credentials(None)
    h = Harness(channel, Bot(), Platform())
    resp = await h.post(text_xml("你好"))
    assert resp.status == 503 and "FANZHA_WECHAT_TOKEN" in resp.text
    _, resp = await h.client.get(URL, params={**h.platform.query(), "echostr": "1"})
    assert resp.status == 503
    assert h.bot.received == []


async def test_credentials_yml_entry_loads_as_rasa_loads_it_without_any_wechat_settings():
    # What rasa.core.run does for a channel named by class path.
    from rasa.shared.utils.common import class_from_module_path

    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))
    name = "bot.channels.wechat.channel.WeChatChannel"
    assert name in credentials
    channel = class_from_module_path(name).from_credentials(credentials[name])
    assert isinstance(channel, WeChatChannel) and channel.settings is None
    assert channel.url_prefix() == "wechat"


def test_settings_come_from_the_environment_and_credentials_override(monkeypatch):
    monkeypatch.setenv("FANZHA_WECHAT_TOKEN", "envToken1")
    monkeypatch.setenv("FANZHA_WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("FANZHA_WECHAT_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("FANZHA_WECHAT_AES_KEY", AES_KEY)
    channel = WeChatChannel.from_credentials(None)
    assert channel.settings.token == "envToken1" and channel.safe is not None
    assert channel.sender is not None
    assert APP_SECRET not in repr(channel.settings) and AES_KEY not in repr(channel.settings)
    channel = WeChatChannel.from_credentials({"token": "yamlToken2", "reply_deadline": 3})
    assert channel.settings.token == "yamlToken2" and channel.settings.reply_deadline == 3.0


@pytest.mark.parametrize(
    "credentials, complaint",
    [
        ({"token": "x"}, "3 to 32"),
        ({"token": "abc123", "aes_key": AES_KEY}, "APP_ID"),
        ({"token": "abc123", "app_id": APP_ID, "aes_key": "short"}, "43-character"),
        ({"token": "abc123", "reply_deadline": 6}, "reply_deadline"),
        ({"token": "abc123", "tokn": "typo"}, "tokn"),
        ({"token": "abc123", "api_base_url": "ftp://x"}, "api_base_url"),
    ],
)
async def test_wrong_settings_switch_the_channel_off_with_the_reason(credentials, complaint):
    channel = WeChatChannel.from_credentials(credentials)
    assert channel.settings is None and complaint in channel.problem
    h = Harness(channel, Bot(), Platform())
    resp = await h.post(text_xml("你好"))
    assert resp.status == 503 and complaint in resp.text


# --- building blocks ------------------------------------------------------------------------


def test_split_text_respects_bytes_paragraphs_and_characters():
    text = "一二三四五\n\n六七八\n九十" + "\n\n" + "长" * 50
    pieces = split_text(text, 30)
    assert all(utf8_size(p) <= 30 for p in pieces)
    assert pieces[0] == "一二三四五"  # "一二三四五\n\n六七八" is 32 bytes: cut between paragraphs
    assert pieces[1] == "六七八\n九十"
    assert "".join(pieces[2:]) == "长" * 50
    assert split_text("", 30) == []
    assert split_text("😀" * 3, 4) == ["😀"] * 3


def test_ttl_store_expires_and_bounds_its_entries():
    now = [0.0]
    store: MemoryTTLStore[int] = MemoryTTLStore(ttl=10, max_entries=3, clock=lambda: now[0])
    store.put("a", 1)
    now[0] = 5
    store.put("b", 2)
    assert store.get("a") == 1
    now[0] = 10.5
    assert store.get("a") is None and store.get("b") == 2
    for key in "cde":
        store.put(key, 0)
    assert store.get("b") is None and len(store) == 3
