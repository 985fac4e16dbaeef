"""The outbound dissuasion call: the anti-fraud centre phones the resident a warning is about.

The dispatcher (bot/services/early_warnings/dispatch.py) places the call through Twilio with these
routes as its TwiML and status URLs; they live on the voice channel's blueprint under
``/webhooks/voice/warning/…``, all POST, all Twilio-signed (403 on a bad signature, 503
without FANZHA_TWILIO_AUTH_TOKEN: the channel's ``_guarded``):

- ``call?warning=&event=``  the resident picked up. A machine (AnsweredBy machine_*/fax) hears a
  short voicemail. A person hears who is calling and why (≤ 20 s), then the type's yes/no
  questions (knowledge/dissuasion.yml), by key or by voice;
- ``answer?warning=&type=&step=&retry=``  each question's answer. A "yes" means money is moving / still
  in touch, or already paid: the resident is told what to do and put through to the duty desk
  at once. "No" to every question: the type's key warning, outcome ``dissuaded``. Silence or an
  unclear answer twice: the key warning, hang up, the warning stays open for the desk;
- ``dial?warning=&answer=``  how the transfer ended: answered → ``handed_to_desk`` (or
  ``paid_report_started``); not answered → "call 110", an ``error desk_no_answer`` event;
- ``whisper?warning=&answer=``  read to the officer before the resident is joined;
- ``status?event=``  Twilio's status callback for the resident's and the desk's calls;
- ``desk?warning=``  the TwiML of the parallel call to the duty desk for a red warning.

No state is kept between requests: the step and the answer travel in the (signed) URLs and
everything else is in the warning store, so any replica can answer any request. Writing to the
store never stands in the way of a resident in danger: a failed write is logged, the call goes on.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.masking import clean_text
from bot.channels.voice.channel import AGENT_TALKED, BadRequest
from bot.channels.voice.speech import PHONE_DIGITS, speakable
from bot.channels.voice.twiml import Twiml, VoiceSettings
from bot.services.early_warnings import duty_desk
from bot.services.early_warnings.call_texts import WarningTexts, default_warning_texts
from bot.services.early_warnings.store import (
    CLOSED,
    OPEN,
    UnknownWarning,
    Warning,
    WarningError,
    WarningStore,
    merge_window_from_env,
)
from bot.services.reports.errors import StorageError
from bot.services.reports.store import ReportStore
from knowledge.dissuasion import MAX_SENTENCE_CHARS, MONEY_MOVING, PAID, Dissuasion
from knowledge.loader import default_knowledge
from knowledge.spoken import digits_aloud

if TYPE_CHECKING:
    from bot.channels.voice.channel import VoiceInput

logger = logging.getLogger(__name__)

ACTOR = "call"
MAX_DESK_NOTE_CHARS = 80  # the officer hears the start; the console shows the whole note
_NOT_WORD = re.compile(r"[\W_]+")
YES, NO = "yes", "no"
Blocks = list[tuple[str, ...]]


def duty_number(settings: VoiceSettings, env: Mapping[str, str] = os.environ) -> str:
    """The desk to transfer to (bot/services/early_warnings/duty_desk.py); may be empty."""
    try:
        return duty_desk.duty_number(env, settings.duty_number, "credentials.yml, voice channel, duty_number") or ""
    except duty_desk.DutyNumberError as error:
        raise InvalidConfigException(str(error)) from None


def open_warning_store() -> WarningStore:
    return WarningStore(ReportStore(), merge_window_from_env())


def is_machine(answered_by: str | None) -> bool:
    answered = (answered_by or "").strip().lower()
    return answered.startswith("machine") or answered == "fax"


def _one_of(said: str, words: frozenset[str]) -> bool:
    """``said`` is one of the words, or one word said again and again ("对对对", "没有没有")."""
    return any(said and len(said) % len(word) == 0 and said == word * (len(said) // len(word)) for word in words)


class WarningCallFlow:
    def __init__(
        self,
        channel: "VoiceInput",
        open_store: Callable[[], WarningStore] | None = None,
        texts: WarningTexts | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> None:
        self.channel = channel
        self.texts = texts or default_warning_texts()
        # The officer hears the type's name; loaded with the routes, not during a call.
        self.type_names = {code: scam.name for code, scam in default_knowledge().scam_types.items()}
        self._open_store = open_store or open_warning_store
        self._store: WarningStore | None = None
        self.duty_number = duty_number(channel.settings, env)
        self.twiml = Twiml(replace(channel.settings, duty_number=self.duty_number))

    # --- the store ----------------------------------------------------------------------

    @property
    def store(self) -> WarningStore:
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def _warning(self, warning_id: int) -> Warning | None:
        """The warning; None when the store cannot be read (the call goes on with the general
        texts). UnknownWarning propagates: that call gets the short generic message."""
        try:
            return self.store.get(warning_id)
        except UnknownWarning:
            raise
        except StorageError:
            logger.exception("Warning call %s: the warning could not be read; using the general texts.", warning_id)
            return None

    def _write(self, what: str, action: Callable[[], Any]) -> None:
        """Store something about the call; a failure (or a warning deleted meanwhile) is logged."""
        try:
            action()
        except StorageError:
            logger.exception("Warning call: could not store %s.", what)

    def _record_answer(self, warning_id: int, state: str, detail: str) -> None:
        self._write(f"the answer {state}", lambda: self.store.record(warning_id, "answer", state, ACTOR, detail))

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _number(request: Request, name: str) -> int:
        raw = (request.args.get(name) or "").strip()
        if not raw.isdigit():
            raise BadRequest(f"Query parameter {name} must be a whole number, got {raw!r}.")
        return int(raw)

    def _optional_number(self, request: Request, name: str) -> int | None:
        return self._number(request, name) if (request.args.get(name) or "").strip() else None

    @staticmethod
    def _meaning(request: Request) -> str:
        meaning = (request.args.get("answer") or "").strip()
        if meaning not in (MONEY_MOVING, PAID):
            raise BadRequest(f"Query parameter answer must be {MONEY_MOVING} or {PAID}, got {meaning!r}.")
        return meaning

    def spoken(self, *texts: str) -> Blocks:
        blocks = [speakable(text, MAX_SENTENCE_CHARS).sentences for text in texts]
        return [block for block in blocks if block]

    def _goodbye(self, *texts: str) -> HTTPResponse:
        return self.channel._xml(self.twiml.goodbye(self.spoken(*texts)))

    def _entry(self, warning: Warning | None) -> Dissuasion:
        return self.texts.dissuasion.for_type(warning.scam_type if warning else None)

    def _url(self, request: Request, route: str, **query: Any) -> str:
        return self.channel._url(request, route, **{k: str(v) for k, v in query.items() if v is not None})

    def _ask(self, request: Request, warning_id: int, entry: Dissuasion, step: int,
             before: tuple[str, ...] = (), retry: int = 0) -> HTTPResponse:
        # The questions' type travels with the call: a merge may fill in the type mid-call.
        action = self._url(request, "answer", warning=warning_id, type=entry.code, step=step, retry=retry)
        blocks = self.spoken(*before, entry.questions[step].ask, self.texts.keys)
        return self.channel._xml(self.twiml.prompt(blocks, action))

    def _heard(self, request: Request) -> tuple[str | None, str]:
        """YES, NO or None (nothing, or not understood), and what it was, for the audit trail."""
        digits = (request.form.get("Digits") or "").strip()
        speech = (request.form.get("SpeechResult") or "").strip()
        if digits:
            answer = {self.texts.yes_key: YES, self.texts.no_key: NO}.get(digits[:1])
            return answer, f"key {digits[:1]}"
        if not speech:
            return None, "silence"
        said = _NOT_WORD.sub("", speech)
        heard = f"said {clean_text(speech)[0][:60]}"
        if _one_of(said, self.texts.no_words):  # first: "不是" holds "是"
            return NO, heard
        if _one_of(said, self.texts.yes_words):
            return YES, heard
        return None, heard

    # --- routes -------------------------------------------------------------------------

    async def call(self, request: Request) -> HTTPResponse:
        warning_id = self._number(request, "warning")
        event_id = self._optional_number(request, "event")
        call_sid = self.channel._field(request, "CallSid")
        answered_by = request.form.get("AnsweredBy")
        status = (request.form.get("CallStatus") or "in-progress").strip()
        self._write("the call's status", lambda: self.store.call_status(call_sid, status, answered_by, event_id))
        if is_machine(answered_by):
            logger.info("Warning call %s: a machine answered; leaving the voicemail.", warning_id)
            return self._goodbye(self.texts.voicemail)
        try:
            warning = self._warning(warning_id)
        except UnknownWarning:
            logger.warning("Warning call for unknown warning %s.", warning_id)
            return self._goodbye(self.texts.unknown_warning)
        entry = self._entry(warning)
        if warning is not None and warning.status == CLOSED:
            # Settled meanwhile (an agent reached them): the warning, no questions.
            return self._goodbye(self.texts.opening, entry.reason, *entry.warning, self.texts.goodbye)
        opening = (self.texts.opening, entry.reason, self.texts.opening_ask)
        return self._ask(request, warning_id, entry, 0, before=opening)

    async def answer(self, request: Request) -> HTTPResponse:
        warning_id = self._number(request, "warning")
        step = self._number(request, "step")
        retry = self._optional_number(request, "retry") or 0
        try:
            warning = self._warning(warning_id)
        except UnknownWarning:
            return self._goodbye(self.texts.unknown_warning)
        asked = (request.args.get("type") or "").strip()  # the type whose questions were asked
        entry = self.texts.dissuasion.for_type(asked) if asked else self._entry(warning)
        if step >= len(entry.questions):
            raise BadRequest(f"Query parameter step must be below {len(entry.questions)}, got {step}.")
        question = entry.questions[step]
        answer, heard = self._heard(request)
        if answer is None:
            if retry >= 1:
                logger.info("Warning call %s: no answer twice; reading the warning and hanging up.", warning_id)
                self._record_answer(warning_id, "no_response", f"{question.id}: {heard}")
                return self._goodbye(*entry.warning, self.texts.goodbye)
            return self._ask(request, warning_id, entry, step, before=(self.texts.not_heard,), retry=1)
        if answer == YES:
            self._record_answer(warning_id, question.yes_means, f"{question.id}: {heard}")
            return self._transfer(request, warning_id, question.yes_means)
        if step + 1 < len(entry.questions):
            return self._ask(request, warning_id, entry, step + 1)
        self._record_answer(warning_id, "no", f"{', '.join(q.id for q in entry.questions)}: no")
        if warning is not None and warning.status == OPEN:  # an agent's outcome is never overwritten
            self._write("the outcome", lambda: self.store.set_outcome(warning_id, "dissuaded", ACTOR))
        return self._goodbye(*entry.warning, self.texts.goodbye)

    def _transfer(self, request: Request, warning_id: int, meaning: str) -> HTTPResponse:
        advice = self.texts.money_moving if meaning == MONEY_MOVING else self.texts.paid
        if not self.duty_number:
            logger.error("Warning call %s: nobody to transfer to (set %s or the voice duty_number).",
                         warning_id, duty_desk.ENV_DUTY_NUMBER)
            self._write("the missing desk", lambda: self.store.record(warning_id, "error", "no_duty_number", ACTOR))
            return self._goodbye(advice, self.texts.desk_no_answer)
        logger.info("Warning call %s: the resident says %s; transferring to the duty desk.", warning_id, meaning)
        blocks = self.spoken(advice, self.texts.connecting, self.texts.if_cut_off)
        dial = self._url(request, "dial", warning=warning_id, answer=meaning)
        whisper = self._url(request, "whisper", warning=warning_id, answer=meaning)
        return self.channel._xml(self.twiml.transfer(blocks, dial, whisper))

    async def dial(self, request: Request) -> HTTPResponse:
        warning_id = self._number(request, "warning")
        meaning = self._meaning(request)
        status = self.channel._field(request, "DialCallStatus")
        if status in AGENT_TALKED:
            outcome = "paid_report_started" if meaning == PAID else "handed_to_desk"

            def settle() -> None:
                if self.store.get(warning_id).status == OPEN:  # an agent's outcome is never overwritten
                    self.store.set_outcome(warning_id, outcome, ACTOR, note=f"duty desk: {status}")

            self._write("the outcome", settle)
            return self._goodbye(self.texts.after_desk)
        logger.warning("Warning call %s: the duty desk did not answer (%s).", warning_id, status)
        self._write("the desk's silence",
                    lambda: self.store.record(warning_id, "error", "desk_no_answer", ACTOR, status))
        return self._goodbye(self.texts.desk_no_answer)

    async def whisper(self, request: Request) -> HTTPResponse:
        warning_id = self._number(request, "warning")
        meaning = self._meaning(request)
        try:
            warning = self._warning(warning_id)
        except UnknownWarning:
            warning = None
        answer = self.texts.answer_paid if meaning == PAID else self.texts.answer_money_moving
        text = self.texts.whisper.format(level=self._level(warning), scam_type=self._type_name(warning), answer=answer)
        return self.channel._xml(self.twiml.whisper(self.spoken(text)))

    async def status(self, request: Request) -> HTTPResponse:
        call_sid = self.channel._field(request, "CallSid")
        status = self.channel._field(request, "CallStatus")
        event_id = self._optional_number(request, "event")
        try:
            event = self.store.call_status(call_sid, status, request.form.get("AnsweredBy"), event_id)
        except WarningError as error:
            raise BadRequest(str(error)) from None
        if event is None:
            logger.warning("Warning status callback for an unknown call (event %s): %s.", event_id, status)
        return response.empty()

    async def desk(self, request: Request) -> HTTPResponse:
        warning_id = self._number(request, "warning")
        try:
            warning = self.store.get(warning_id)
        except UnknownWarning:
            return self._goodbye(self.texts.unknown_warning)
        national = re.sub(r"^\+86", "", warning.phone)
        note = clean_text(warning.note)[0].strip().replace("\n", "；")
        if len(note) > MAX_DESK_NOTE_CHARS:
            note = note[:MAX_DESK_NOTE_CHARS] + "……"
        text = self.texts.desk.format(
            level=self._level(warning),
            scam_type=self._type_name(warning),
            number=digits_aloud(national, PHONE_DIGITS),
            note=note or self.texts.note_empty,
        )
        return self._goodbye(text)

    def _level(self, warning: Warning | None) -> str:
        return self.texts.level_name(warning.level) if warning else ""

    def _type_name(self, warning: Warning | None) -> str:
        name = self.type_names.get(warning.scam_type or "") if warning else None
        return name or self.texts.scam_type_unknown

    # --- mounting -----------------------------------------------------------------------

    def mount(self, blueprint: Blueprint) -> None:
        routes: dict[str, Callable[[Request], Awaitable[HTTPResponse]]] = {
            "call": self.call,
            "answer": self.answer,
            "dial": self.dial,
            "whisper": self.whisper,
            "status": self.status,
            "desk": self.desk,
        }
        for name, handler in routes.items():
            blueprint.add_route(self.channel._guarded(handler), f"/warning/{name}", methods=["POST"], name=f"warning_{name}")
