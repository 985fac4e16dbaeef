"""The phone line (Twilio Programmable Voice) in Mandarin: ``/webhooks/voice/…``.

Routes (all POST from Twilio, all signed; a wrong or missing ``X-Twilio-Signature`` gets
403 and nothing is processed; without ``FANZHA_TWILIO_AUTH_TOKEN`` every route answers 503):

- ``webhook``  the number's "A call comes in" URL and every ``<Gather>``'s action;
- ``status``   the number's "Call status changes" URL: forgets an ended call;
- ``dial``     the ``<Dial>`` action: how a transfer to the duty desk ended;
- ``whisper``  the TwiML read to the duty officer before the caller is joined;
- ``warning/…`` the anti-fraud centre's outbound warning calls (:mod:`bot.channels.voice.warning_calls`).

A call goes: greeting and key menu (first request of a CallSid) → each speech result or
key press is one Rasa turn (sender id = CallSid, so no phone number reaches the tracker
store; channel name ``voice``, which the actions read to answer shorter). Keys: the bot's
buttons are read as "…请按1" and their keys map to their payloads for the next turn;
otherwise the menu in voice_texts.yml applies (1 /report_scammed, 2 /check_situation,
0 /request_human, * repeats). Silence: the prompt is repeated once, then the menu is read,
then the line says goodbye with the 110/96110 advice and hangs up. A speech result whose
Confidence is below ``min_confidence`` is read back (masked) and sent to the bot only once
the caller presses 1 or says 是.

Handoff payload. A custom action asks for a person with a custom message::

    dispatcher.utter_message(json_message={"handoff": {"summary": "来电人说已向安全账户转账两万"}})

``summary`` (optional, plain text) is read to the duty officer before the caller is put
through; without it the officer hears the caller's last utterance. The number dialled is
always ``duty_number`` from credentials.yml, never one from the payload, so no bot reply can
send a caller to a number nobody configured. When ``duty_number`` is empty the payload is
ignored (the bot's own words, which give 96110 and 110, are still spoken). If the desk does
not answer (DialCallStatus no-answer, busy, failed or canceled) the caller hears the 110/96110
advice, a call-back request is stored (:mod:`bot.channels.voice.callbacks`, the report database) and the
conversation with the assistant goes on.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import os
import re
from typing import Any, Awaitable, Callable, Coroutine, Iterable, Sequence
from urllib.parse import parse_qs, urlencode

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot.channels.masking import MaskingMixin, clean_text
from bot.channels.voice.callbacks import CallbackQueue, CallbackRequest, InMemoryCallbackQueue, StoredCallbackQueue
from bot.channels.voice.calls import CallState, CallStore, InMemoryCallStore
from bot.channels.voice.sms import SMS_TIMEOUT_SECONDS, SmsSender, TwilioSms
from bot.channels.voice.speech import speakable
from bot.channels.voice.texts import VoiceTexts, load_voice_texts
from bot.channels.voice.twiml import Twiml, VoiceSettings
from bot.services.reports.errors import StorageError
from bot.services.sms import SmsError, TwilioSettings

logger = logging.getLogger(__name__)

AUTH_TOKEN_ENV = "FANZHA_TWILIO_AUTH_TOKEN"
MAX_BUTTONS = 9  # keys 1-9; 0 and * keep their menu meaning
ENDED_CALL = {"completed", "busy", "failed", "no-answer", "canceled"}
AGENT_TALKED = {"completed", "answered"}
# What Twilio puts in From when the caller withholds the number.
WITHHELD = {"anonymous", "restricted", "unknown", "private", "+266696687"}
_CALLABLE = re.compile(r"^\+?\d{6,15}$")
_NOT_WORD = re.compile(r"[\W_]+")

Blocks = list[tuple[str, ...]]


class BadRequest(Exception):
    """A webhook without a field Twilio always sends: answered 400, nothing changed."""


class VoiceOutput(CollectingOutputChannel):
    """Collects the bot's turn; named ``voice`` so responses with ``channel: voice`` apply."""

    @classmethod
    def name(cls) -> str:
        return "voice"


class VoiceInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "voice"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> "VoiceInput":
        settings = VoiceSettings.from_credentials(credentials)
        token = os.environ.get(AUTH_TOKEN_ENV, "").strip() or None
        if token is None:
            logger.warning("Voice channel: %s is not set; its webhooks answer 503.", AUTH_TOKEN_ENV)
        try:
            twilio_sms = TwilioSettings.from_env()
        except SmsError as error:
            raise InvalidConfigException(f"voice channel: {error}") from None
        return cls(
            settings, token, callbacks=StoredCallbackQueue(), sms=TwilioSms(twilio_sms) if twilio_sms else None
        )

    def __init__(
        self,
        settings: VoiceSettings,
        auth_token: str | None,
        texts: VoiceTexts | None = None,
        calls: CallStore | None = None,
        callbacks: CallbackQueue | None = None,
        sms: SmsSender | None = None,
        warning_store: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        # Opens the early-warning store for the outbound calls' routes (voice_warning.py);
        # None: the report database, opened on the first warning call.
        self.warning_store = warning_store
        self.validator = RequestValidator(auth_token) if auth_token else None
        self.texts = texts or load_voice_texts()
        self.calls: CallStore = InMemoryCallStore() if calls is None else calls
        self.callbacks: CallbackQueue = InMemoryCallbackQueue() if callbacks is None else callbacks
        self.sms = sms
        self.twiml = Twiml(settings)

    # --- speech -----------------------------------------------------------------------

    def spoken(self, *texts: str) -> Blocks:
        blocks = [speakable(text, self.settings.max_sentence_chars).sentences for text in texts]
        return [block for block in blocks if block]

    def _menu(self) -> Blocks:
        """The key menu as one block (one <Say>)."""
        return [tuple(sentence for block in self.spoken(*self.texts.menu_sayings) for sentence in block)]

    # --- requests ---------------------------------------------------------------------

    def _public_base(self, request: Request) -> str:
        return self.settings.public_url.rstrip("/") or f"{request.scheme}://{request.host}"

    def _url(self, request: Request, route: str, **query: str) -> str:
        """Absolute URL of one of this channel's routes, as Twilio must call it."""
        mount = request.path.rsplit("/", 1)[0]
        return f"{self._public_base(request)}{mount}/{route}" + (f"?{urlencode(query)}" if query else "")

    def _refusal(self, request: Request) -> HTTPResponse | None:
        if self.validator is None:
            return response.text(
                f"The voice channel is not configured: set {AUTH_TOKEN_ENV} to the Twilio auth token "
                "and restart the server.",
                status=503,
            )
        url = self._public_base(request) + request.path + (f"?{request.query_string}" if request.query_string else "")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not self.validator.validate(url, _signed_form(request), signature):
            logger.warning("Voice webhook refused: bad or missing X-Twilio-Signature for %s", url)
            return response.text(
                "X-Twilio-Signature is missing or does not match this request. Behind a proxy, set "
                "public_url for the voice channel in credentials.yml to the URL Twilio calls.",
                status=403,
            )
        return None

    @staticmethod
    def _field(request: Request, name: str) -> str:
        value = (request.form.get(name) or "").strip()
        if not value:
            raise BadRequest(f"Missing form field {name}.")
        return value

    @staticmethod
    def _confidence(request: Request) -> float | None:
        raw = (request.form.get("Confidence") or "").strip()
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise BadRequest(f"Confidence must be a number from 0 to 1, got {raw!r}.") from None
        if not 0.0 <= value <= 1.0:
            raise BadRequest(f"Confidence must be a number from 0 to 1, got {raw!r}.")
        return value

    @staticmethod
    def _xml(twiml: Any) -> HTTPResponse:
        return response.text(str(twiml), content_type="text/xml; charset=utf-8")

    def _guarded(self, handler: Callable[[Request], Awaitable[HTTPResponse]]) -> Callable[[Request], Coroutine[Any, Any, HTTPResponse]]:
        async def guarded(request: Request) -> HTTPResponse:
            refused = self._refusal(request)
            if refused is not None:
                return refused
            try:
                return await handler(request)
            except BadRequest as error:
                return response.text(str(error), status=400)
            except Exception:
                # Twilio would play an English error message; the caller hears 110/96110 instead.
                logger.exception("Voice webhook %s failed.", request.path)
                return self._xml(self.twiml.goodbye(self.spoken(self.texts.bot_error)))

        return guarded

    # --- answers ----------------------------------------------------------------------

    def _prompt(self, request: Request, call_sid: str, state: CallState, blocks: Blocks, remember: bool = True) -> HTTPResponse:
        if remember:
            state.last_prompt = tuple(sentence for block in blocks for sentence in block)
        self.calls.save(call_sid, state)
        return self._xml(self.twiml.prompt(blocks, self._url(request, "webhook")))

    def _goodbye(self, call_sid: str, blocks: Blocks) -> HTTPResponse:
        self.calls.forget(call_sid)
        return self._xml(self.twiml.goodbye(blocks))

    # --- the bot ----------------------------------------------------------------------

    async def _ask_bot(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]], call_sid: str, text: str
    ) -> list[dict[str, Any]] | None:
        output = VoiceOutput()
        message = UserMessage(text, output, call_sid, input_channel=self.name())
        # Shielded: on a timeout the caller is answered, but the bot still finishes its turn
        # so the tracker stays whole.
        task = asyncio.ensure_future(on_new_message(message))
        try:
            await asyncio.wait_for(asyncio.shield(task), self.settings.bot_timeout)
        except asyncio.TimeoutError:
            logger.error("Voice call %s: the bot took longer than %.0f s.", call_sid, self.settings.bot_timeout)
            return None
        except Exception:
            logger.exception("Voice call %s: the bot failed.", call_sid)
            return None
        return output.messages

    def _read_reply(self, messages: Iterable[dict[str, Any]]) -> tuple[list[str], dict[str, str], dict[str, Any] | None, list[str]]:
        """Texts to say, keys offered by buttons, the handoff request, links left out."""
        texts: list[str] = []
        choices: dict[str, str] = {}
        handoff: dict[str, Any] | None = None
        links: list[str] = []
        for message in messages:
            if message.get("text"):
                spoken = speakable(message["text"], self.settings.max_sentence_chars)
                links.extend(spoken.links)
                texts.append(message["text"])
            for button in message.get("buttons") or []:
                payload, title = button.get("payload"), speakable(button.get("title")).text.rstrip("。")
                if len(choices) == MAX_BUTTONS or not payload or not title:
                    continue
                key = str(len(choices) + 1)
                choices[key] = payload
                texts.append(self.texts.button_option.format(title=title, key=key))
            custom = message.get("custom")
            if isinstance(custom, dict) and "handoff" in custom:
                handoff = custom["handoff"] if isinstance(custom["handoff"], dict) else {}
        return texts, choices, handoff, links

    async def _text_links(self, caller: str, links: Sequence[str]) -> bool:
        if self.sms is None or not links or not _callable(caller):
            return False
        body = self.texts.sms_body.format(links="\n".join(dict.fromkeys(links)))
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(None, self.sms.send, caller, body), SMS_TIMEOUT_SECONDS)
        except Exception:
            logger.exception("Voice: texting links to the caller failed.")
            return False
        return True

    async def _bot_turn(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        call_sid: str,
        state: CallState,
        text: str,
    ) -> HTTPResponse:
        messages = await self._ask_bot(on_new_message, call_sid, text)
        if messages is None:
            state.choices = {}
            return self._prompt(request, call_sid, state, self.spoken(self.texts.bot_error))
        texts, state.choices, handoff, links = self._read_reply(messages)
        if await self._text_links(request.form.get("From") or "", links):
            texts.append(self.texts.sms_sent)
        if handoff is not None and self.settings.duty_number:
            state.handoff_summary = self._summary(state, handoff)
            self.calls.save(call_sid, state)
            logger.info("Voice call %s: transferring to the duty desk.", call_sid)
            blocks = self.spoken(*texts, self.texts.handoff_connecting)
            whisper = self._url(request, "whisper", call=call_sid)
            return self._xml(self.twiml.transfer(blocks, self._url(request, "dial"), whisper))
        return self._prompt(request, call_sid, state, self.spoken(*texts) or self.spoken(self.texts.empty_reply))

    def _summary(self, state: CallState, handoff: dict[str, Any]) -> str:
        summary = clean_text(str(handoff.get("summary") or ""))[0].strip()
        if summary:
            return summary
        if state.heard:
            return self.texts.summary_from_caller.format(said=state.heard[-1])
        return self.texts.summary_unknown

    # --- one turn ---------------------------------------------------------------------

    async def _turn(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        call_sid = self._field(request, "CallSid")
        confidence = self._confidence(request)
        speech = (request.form.get("SpeechResult") or "").strip()
        digits = (request.form.get("Digits") or "").strip()
        state = self.calls.get(call_sid)
        if state is None:
            state = CallState()
            if not speech and not digits:
                logger.info("Voice call %s: new call.", call_sid)
                return self._prompt(request, call_sid, state, self.spoken(self.texts.greeting) + self._menu())
        if not speech and not digits:
            return self._silence(request, call_sid, state)
        state.silences = 0
        if state.pending is not None:
            answered = await self._confirmation(request, on_new_message, call_sid, state, speech, digits)
            if answered is not None:
                return answered
        if digits:
            return await self._key(request, on_new_message, call_sid, state, digits)
        masked = clean_text(speech)[0]
        if confidence is not None and confidence < self.settings.min_confidence:
            state.pending = masked
            return self._prompt(request, call_sid, state, self.spoken(self.texts.confirm_ask.format(heard=masked)))
        state.remember(masked)
        return await self._bot_turn(request, on_new_message, call_sid, state, speech)

    def _silence(self, request: Request, call_sid: str, state: CallState) -> HTTPResponse:
        state.silences += 1
        if state.silences == 1:
            blocks = self.spoken(self.texts.silence_repeat) + [state.last_prompt]
            return self._prompt(request, call_sid, state, blocks, remember=False)
        if state.silences == 2:
            return self._prompt(request, call_sid, state, self.spoken(self.texts.silence_menu) + self._menu(), remember=False)
        logger.info("Voice call %s: no answer three times, hanging up.", call_sid)
        return self._goodbye(call_sid, self.spoken(self.texts.silence_goodbye))

    async def _confirmation(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]],
        call_sid: str, state: CallState, speech: str, digits: str,
    ) -> HTTPResponse | None:
        """The answer to "您是说……吗"; None when the caller simply said something new."""
        pending, state.pending = state.pending or "", None
        said = _NOT_WORD.sub("", speech)
        if digits == self.texts.confirm_yes_key or (not digits and said in self.texts.yes_words):
            state.remember(pending)
            return await self._bot_turn(request, on_new_message, call_sid, state, pending)
        if digits == self.texts.confirm_no_key or (not digits and said in self.texts.no_words):
            return self._prompt(request, call_sid, state, self.spoken(self.texts.confirm_retry))
        if digits:  # another key: ask again
            state.pending = pending
            return self._prompt(request, call_sid, state, [state.last_prompt], remember=False)
        return None

    async def _key(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]],
        call_sid: str, state: CallState, digits: str,
    ) -> HTTPResponse:
        if digits == self.texts.repeat_key:
            return self._prompt(request, call_sid, state, [state.last_prompt], remember=False)
        payload = state.choices.get(digits) or self.texts.payload_for(digits)
        if payload is None:
            blocks = self.spoken(self.texts.unknown_key) + self._menu()
            return self._prompt(request, call_sid, state, blocks, remember=False)
        return await self._bot_turn(request, on_new_message, call_sid, state, payload)

    # --- transfer ---------------------------------------------------------------------

    async def _dial_result(self, request: Request) -> HTTPResponse:
        call_sid = self._field(request, "CallSid")
        status = self._field(request, "DialCallStatus")
        if status in AGENT_TALKED:
            return self._goodbye(call_sid, self.spoken(self.texts.after_agent))
        state = self.calls.get(call_sid) or CallState()
        caller = request.form.get("From") or ""
        summary, state.handoff_summary = state.handoff_summary or self.texts.summary_unknown, None
        note = self.texts.callback_impossible
        if _callable(caller):
            try:
                self.callbacks.record(
                    CallbackRequest(
                        call_sid=call_sid,
                        caller=caller,
                        reason=status,
                        summary=summary,
                        requested_at=datetime.datetime.now(datetime.timezone.utc),
                    )
                )
                note = self.texts.callback_recorded
            except StorageError:
                logger.exception("Voice call %s: the call-back request could not be stored.", call_sid)
                note = self.texts.callback_failed
        logger.info("Voice call %s: the duty desk did not answer (%s).", call_sid, status)
        blocks = self.spoken(self.texts.handoff_no_answer, note, self.texts.handoff_continue)
        state.choices = {}
        return self._prompt(request, call_sid, state, blocks)

    async def _whisper(self, request: Request) -> HTTPResponse:
        call_sid = (request.args.get("call") or "").strip()
        if not call_sid:
            raise BadRequest("Missing query parameter call.")
        state = self.calls.get(call_sid)
        summary = state.handoff_summary if state and state.handoff_summary else self.texts.summary_unknown
        return self._xml(self.twiml.whisper(self.spoken(self.texts.handoff_whisper.format(summary=summary))))

    async def _status(self, request: Request) -> HTTPResponse:
        call_sid = self._field(request, "CallSid")
        if self._field(request, "CallStatus") in ENDED_CALL:
            self.calls.forget(call_sid)
        return response.empty()

    # --- routes -----------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        voice = Blueprint("voice_webhook", __name__)

        async def turn(request: Request) -> HTTPResponse:
            return await self._turn(request, on_new_message)

        @voice.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "configured": self.validator is not None})

        voice.add_route(self._guarded(turn), "/webhook", methods=["POST"], name="webhook")
        voice.add_route(self._guarded(self._status), "/status", methods=["POST"], name="status")
        voice.add_route(self._guarded(self._dial_result), "/dial", methods=["POST"], name="dial")
        voice.add_route(self._guarded(self._whisper), "/whisper", methods=["POST"], name="whisper")
        from bot.channels.voice.warning_calls import WarningCallFlow  # imported here: it builds on this module

        WarningCallFlow(self, self.warning_store).mount(voice)  # /warning/…: the outbound warning calls
        return voice


def _signed_form(request: Request) -> RequestParameters:
    """The form as Twilio signed it: with its empty fields (FromCity=, CallerZip=, …), which
    Sanic's ``request.form`` leaves out."""
    if not (request.content_type or "").startswith("application/x-www-form-urlencoded"):
        return request.form
    return RequestParameters(parse_qs((request.body or b"").decode("utf-8", "replace"), keep_blank_values=True))


def _callable(number: str) -> bool:
    return number.lower() not in WITHHELD and bool(_CALLABLE.match(number))


class VoiceChannel(MaskingMixin, VoiceInput):
    """The phone line as configured in credentials.yml; callers' words are masked first."""
