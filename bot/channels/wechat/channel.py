"""WeChat Official Account (微信公众号) channel: ``/webhooks/wechat/webhook``.

Set the server URL in the WeChat admin console to ``https://<host>/webhooks/wechat/webhook``;
the Token (and, for safe mode, the EncodingAESKey and AppID) come from the environment,
see :mod:`bot.channels.wechat.settings`.

How a message is answered:

- Every request is checked first: signature over token/timestamp/nonce (and ``msg_signature``
  over the ciphertext in safe mode), a fresh timestamp, a size limit, XML without DTD or
  entities. Refused requests never reach the assistant.
- Text, recognised voice, a typed choice number, the subscribe event (sent as the greeting
  intent) and a menu click whose key is a button payload become one turn of the assistant.
  A picture (MsgType image) is fetched by its MediaId through WeChat's API with the cached
  access token, read and checked like typed text (bot/channels/pictures.py), within the same
  reply window as any turn; without AppID/AppSecret there is no API to fetch it, and it gets
  the short reply asking for words, as videos, locations and links do. Other message
  types get a clear "cannot handle this"; unsubscribe and other events get no reply.
- WeChat waits 5 s and then retries the same message. Each message (MsgId; sender and time
  for events) starts one turn at most; a retry waits for that same turn. When the assistant
  has not answered by ``reply_deadline``, the request is answered ``success`` and the reply
  goes out later as customer-service messages. A reply too long for one passive reply goes
  out the same way, so its parts arrive in order. Without AppID/AppSecret there is no
  customer-service API: the request then waits through WeChat's retries instead.
- A reply that asks for a person (custom payload ``{"handoff": …}``, actions/handoff.py) is
  answered ``transfer_customer_service``, so the message reaches the account's customer-service
  staff; the bot's own words (where, why, 110) then go out as customer-service messages. Without
  AppID/AppSecret they are the passive reply instead (a transfer would swallow them).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.events import ClickEvent, SubscribeEvent, SubscribeScanEvent, UnsubscribeEvent
from wechatpy.messages import BaseMessage, ImageMessage, TextMessage, VoiceMessage

from bot.channels.masking import MaskingMixin
from bot.channels.pictures import Picture, PictureMessage
from bot.channels.wechat.protocol import (
    RequestRejected,
    SafeMode,
    SignedQuery,
    parse,
    read_fields,
    text_reply,
    transfer_reply,
    verify_query,
)
from bot.channels.wechat.push import CustomerServiceSender
from bot.channels.wechat.replies import ChannelTexts, Rendered, chosen_payload, load_texts, render, split_text
from bot.channels.wechat.settings import NotConfigured, SettingsError, WeChatSettings, load_settings
from bot.channels.wechat.store import MemoryTTLStore, Store
from bot.services.pictures import MAX_PICTURE_BYTES

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
SUCCESS = "success"  # WeChat's "received, no reply": it neither shows anything nor retries
GREETING_PAYLOAD = "/greet"  # the greeting intent of bot/domain/core.yml
# WeChat tries a message three times, 5 s apart; without the customer-service API a slow
# turn can still be answered by one of the retries.
RETRY_WINDOW = 15.0
CHOICES_TTL = 24 * 3600.0
_PAYLOAD = re.compile(r"^/[a-z_]+$")


class Transfer:
    """The passive reply hands the message to WeChat's customer-service staff."""


TRANSFER = Transfer()

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class WeChatOutput(CollectingOutputChannel):
    """Collects one turn's messages; named so responses can have a ``channel: wechat`` variant."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL


@dataclass
class Turn:
    task: "asyncio.Task[Rendered]"
    delivery: Optional[str] = None  # "passive" or "push", decided once per message


@dataclass(frozen=True)
class Inbound:
    """What to do with a message: ask the assistant ``text``, or answer ``direct`` at once."""

    text: Optional[str] = None
    direct: str = ""
    metadata: Optional[Dict[str, Any]] = None
    picture: Optional[Picture] = None  # read, then checked, instead of ``text``


class WeChatInput(InputChannel):
    """The protocol and the turns; :class:`WeChatChannel` adds the masking every channel has."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatInput":
        try:
            return cls(load_settings(credentials, os.environ))
        except NotConfigured as problem:
            logger.info("WeChat channel off: %s", problem)
            return cls(None, str(problem))
        except SettingsError as problem:
            logger.error("WeChat channel off, its configuration is wrong: %s", problem)
            return cls(None, str(problem))

    def __init__(
        self,
        settings: Optional[WeChatSettings],
        problem: str = "",
        *,
        sender: Optional[CustomerServiceSender] = None,
        turns: Optional[Store[Turn]] = None,
        choices: Optional[Store[tuple[str, ...]]] = None,
        texts: Optional[ChannelTexts] = None,
    ) -> None:
        self.settings = settings
        self.problem = problem or ("" if settings else "not configured")
        self.texts = texts or load_texts()
        window = 2 * (settings.max_request_age if settings else 300.0)
        # A retry or replay inside the accepted timestamp window must find its turn.
        self.turns: Store[Turn] = turns or MemoryTTLStore(window)
        self.choices: Store[tuple[str, ...]] = choices or MemoryTTLStore(CHOICES_TTL)
        self._bodies: Store[str] = MemoryTTLStore(window)
        self._background: set[asyncio.Task] = set()
        self.safe = (
            SafeMode(settings.token, settings.aes_key, settings.app_id)
            if settings and settings.safe_mode
            else None
        )
        self.sender = sender
        if sender is None and settings and settings.can_push:
            self.sender = CustomerServiceSender(
                settings.app_id, settings.app_secret, settings.api_base_url
            )

    # --- HTTP -------------------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint("wechat_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.settings else "off", "problem": self.problem})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.settings:
                return self._off()
            try:
                verify_query(request.args, self.settings.token, self.settings.max_request_age)
            except RequestRejected as rejected:
                return _refuse(rejected)
            return response.text(request.args.get("echostr") or "")

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            started = time.monotonic()
            if not self.settings:
                return self._off()
            try:
                query = verify_query(request.args, self.settings.token, self.settings.max_request_age)
                body = await self._read_body(request)
                xml = self._open(request, query, body)
                fields = read_fields(xml)
                message = parse(xml, fields)
            except RequestRejected as rejected:
                return _refuse(rejected)
            reply = await self._reply(message, fields, on_new_message, started)
            if not reply:
                return response.text(SUCCESS)
            xml = transfer_reply(message) if reply is TRANSFER else text_reply(message, reply)  # type: ignore[arg-type]  # TRANSFER is the only Transfer
            if self.safe:
                xml = self.safe.encrypt(xml, query.nonce)
            return response.text(xml, content_type="application/xml")

        return webhook

    def _off(self) -> HTTPResponse:
        return response.text(f"WeChat channel is not configured: {self.problem}", status=503)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise RequestRejected(413, f"body over {limit} bytes")
        body = bytearray()
        while True:
            chunk = await request.stream.read()
            if chunk is None:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                raise RequestRejected(413, f"body over {limit} bytes")

    def _open(self, request: Request, query: SignedQuery, body: bytes) -> bytes | str:
        """The message XML: decrypted in safe mode; in plain mode, bound to its signature."""
        encrypted = request.args.get("encrypt_type", "raw") == "aes"
        if self.safe:
            if not encrypted:
                raise RequestRejected(403, "safe mode: only encrypted messages are accepted")
            envelope = read_fields(body)
            return self.safe.decrypt(envelope, query, request.args.get("msg_signature") or "")
        if encrypted:
            raise RequestRejected(400, "encrypted message, but FANZHA_WECHAT_AES_KEY is not set")
        # In plain mode the signature covers the query, not the body: a captured query must not
        # carry a different body while its timestamp is still accepted.
        digest = hashlib.sha256(body).hexdigest()
        seen = self._bodies.get(query.signature)
        if seen is not None and seen != digest:
            raise RequestRejected(403, "signature reused with a different body")
        self._bodies.put(query.signature, digest)
        return body

    # --- turns ------------------------------------------------------------------------

    async def _reply(
        self,
        message: BaseMessage,
        fields: Dict[str, str],
        on_new_message: OnNewMessage,
        started: float,
    ) -> Optional[str | Transfer]:
        """The passive reply text, TRANSFER, or None for ``success``."""
        key = _message_key(fields)
        turn = self.turns.get(key)
        if turn is None:
            turn = Turn(asyncio.create_task(self._answer(message, fields, key, on_new_message)))
            self.turns.put(key, turn)
        else:
            logger.info("wechat: %s arrived again, reusing its turn", key)
        limit = self.settings.reply_deadline if self.sender else RETRY_WINDOW
        try:
            rendered = await asyncio.wait_for(
                asyncio.shield(turn.task), max(0.0, limit - (time.monotonic() - started))
            )
        except asyncio.TimeoutError:
            if self.sender and turn.delivery is None:
                turn.delivery = "push"
                openid = message.source
                turn.task.add_done_callback(lambda done: self._push_when_done(openid, done))
            elif not self.sender:
                logger.error("wechat: no reply within WeChat's retries and no AppSecret to send it later")
            return None
        except asyncio.CancelledError:
            if not turn.task.cancelled():
                raise  # this request was cancelled, not the turn
            logger.warning("wechat: the turn for %s was cancelled (server stopping?)", key)
            return None
        if turn.delivery == "push":
            return None
        if turn.delivery == "transfer":
            return TRANSFER
        if rendered.handoff and self.sender:
            turn.delivery = "transfer"
            self._spawn(self._push(message.source, rendered))
            return TRANSFER
        chunks = split_text(rendered.text, self.settings.passive_reply_bytes)
        if len(chunks) > 1 and self.sender:
            turn.delivery = "push"
            self._spawn(self._push(message.source, rendered))
            return None
        if len(chunks) > 1:
            logger.warning("wechat: reply longer than one message and no AppSecret: sent its first part")
        turn.delivery = "passive"
        return chunks[0] if chunks else None

    async def _answer(
        self, message: BaseMessage, fields: Dict[str, str], key: str, on_new_message: OnNewMessage
    ) -> Rendered:
        openid = message.source
        try:
            inbound = self._inbound(message, fields)
            collector = WeChatOutput()
            metadata = {CHANNEL: inbound.metadata}
            if inbound.picture is not None:
                turn: UserMessage = PictureMessage(inbound.picture, collector, openid, input_channel=CHANNEL,
                                                   message_id=key, metadata=metadata)
            elif inbound.text is not None:
                turn = UserMessage(inbound.text, collector, openid, input_channel=CHANNEL, message_id=key,
                                   metadata=metadata)
            else:
                return Rendered(inbound.direct, ())
            await on_new_message(turn)
            rendered = render(collector.messages, self.texts)
        except Exception:
            logger.exception("wechat: the assistant failed on %s", key)
            return Rendered(self.texts.bot_error, ())
        self._remember_choices(openid, rendered.choices)
        return rendered

    def _inbound(self, message: BaseMessage, fields: Dict[str, str]) -> Inbound:
        msg_type = fields["MsgType"].lower()
        meta: Dict[str, Any] = {"msg_type": msg_type}
        if isinstance(message, TextMessage):
            text = message.content or ""
            payload = chosen_payload(text, self.choices.get(message.source) or ())
            if payload:
                meta["choice"] = text.strip()
            return Inbound(payload or text, metadata=meta)
        if isinstance(message, VoiceMessage):
            recognised = (message.recognition or "").strip()
            if not recognised:
                return Inbound(direct=self.texts.voice_not_recognised)
            return Inbound(recognised, metadata={**meta, "voice": True})
        if isinstance(message, ImageMessage) and message.media_id and self.sender:
            sender, media_id = self.sender, message.media_id
            return Inbound(picture=lambda: sender.fetch_picture(media_id, MAX_PICTURE_BYTES), metadata=meta)
        if msg_type == "event":
            meta["event"] = fields["Event"].lower()
            if isinstance(message, (SubscribeEvent, SubscribeScanEvent)):
                return Inbound(GREETING_PAYLOAD, metadata=meta)
            if isinstance(message, UnsubscribeEvent):
                self.choices.pop(message.source)
                return Inbound()
            if isinstance(message, ClickEvent):
                key = (message.key or "").strip()
                if _PAYLOAD.match(key):
                    return Inbound(key, metadata=meta)
                return Inbound(direct=self.texts.unsupported)
            return Inbound()  # location reports, menu links, job reports: nothing to say
        return Inbound(direct=self.texts.media(msg_type) or self.texts.unsupported)

    def _remember_choices(self, openid: str, choices: tuple[str, ...]) -> None:
        if choices:
            self.choices.put(openid, choices)
        else:
            self.choices.pop(openid)

    # --- customer-service messages ------------------------------------------------------

    def _push_when_done(self, openid: str, task: "asyncio.Task[Rendered]") -> None:
        if not task.cancelled():
            self._spawn(self._push(openid, task.result()))

    async def _push(self, openid: str, rendered: Rendered) -> None:
        chunks = split_text(rendered.text, self.settings.push_message_bytes)
        if chunks:
            await self.sender.send(openid, chunks)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)  # keep a reference until done
        task.add_done_callback(self._background.discard)

    def get_output_channel(self) -> Optional[OutputChannel]:
        """For messages the server sends on its own (``/conversations/<id>/trigger_intent``)."""
        if not (self.settings and self.sender):
            return None
        return WeChatPushOutput(self)


class WeChatChannel(MaskingMixin, WeChatInput):
    """What credentials.yml names: secrets are masked before the assistant sees the text."""


class WeChatPushOutput(OutputChannel):
    """Sends each bot message as customer-service messages."""

    def __init__(self, channel: WeChatInput) -> None:
        self.channel = channel

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        rendered = render([message], self.channel.texts)
        self.channel._remember_choices(recipient_id, rendered.choices)
        await self.channel._push(recipient_id, rendered)


def _message_key(fields: Dict[str, str]) -> str:
    """WeChat's advice: de-duplicate messages by MsgId, events by sender and creation time."""
    if fields.get("MsgId"):
        return f"wechat-msg-{fields['MsgId']}"
    return f"wechat-event-{fields['FromUserName']}-{fields['CreateTime']}-{fields.get('Event', '')}"


def _refuse(rejected: RequestRejected) -> HTTPResponse:
    logger.info("wechat: refused a request (%d): %s", rejected.status, rejected.reason)
    return response.text(rejected.reason, status=rejected.status)
