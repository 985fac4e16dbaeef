"""Load what the phone line says on its own (bot/channels/voice/texts.yml).

The numbers and short phone advice come from knowledge/contacts.yml: a text writes
``{police_110.number}`` or ``{antifraud_96110.voice}`` and gets them filled in at load time.
The other placeholders (``{heard}``, ``{title}``, …) are filled per call. A malformed file,
an unknown placeholder or a missing one stops loading with the file, the field and the reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from knowledge.loader import KnowledgeError
from knowledge.texts_file import TextsFile, read_texts

TEXTS_FILE = Path(__file__).resolve().parent / "texts.yml"
_PAYLOAD = re.compile(r"^/[a-z_]+$")


class VoiceTextsError(KnowledgeError):
    """texts.yml (the voice texts) is malformed: the file, the field and the reason, as for knowledge files."""


@dataclass(frozen=True)
class MenuOption:
    key: str
    say: str
    payload: str


@dataclass(frozen=True)
class VoiceTexts:
    greeting: str
    menu_intro: str
    menu: tuple[MenuOption, ...]
    repeat_key: str
    repeat_say: str
    unknown_key: str
    button_option: str  # {title} {key}
    silence_repeat: str
    silence_menu: str
    silence_goodbye: str
    confirm_ask: str  # {heard}
    confirm_yes_key: str
    confirm_no_key: str
    yes_words: frozenset[str]
    no_words: frozenset[str]
    confirm_retry: str
    empty_reply: str
    bot_error: str
    sms_sent: str
    sms_body: str  # {links}
    handoff_connecting: str
    handoff_whisper: str  # {summary}
    summary_from_caller: str  # {said}
    summary_unknown: str
    handoff_no_answer: str
    callback_recorded: str
    callback_impossible: str
    callback_failed: str
    handoff_continue: str
    after_agent: str

    def payload_for(self, key: str) -> str | None:
        return next((option.payload for option in self.menu if option.key == key), None)

    @property
    def menu_sayings(self) -> tuple[str, ...]:
        return (self.menu_intro, *(option.say for option in self.menu), self.repeat_say)


def _menu(texts: TextsFile) -> tuple[MenuOption, ...]:
    options = texts.raw("menu.options")
    if not isinstance(options, list) or not options:
        raise texts.fail("menu.options", "must be a list of options")
    menu: list[MenuOption] = []
    for i, item in enumerate(options):
        where = f"menu.options[{i}]"
        if not isinstance(item, dict):
            raise texts.fail(where, "must be a mapping with key, say and payload")
        sub = TextsFile(texts.path, item, texts.contacts, texts.error)
        try:
            option = MenuOption(key=sub.key("key"), say=sub.text("say"), payload=sub.word("payload"))
        except VoiceTextsError as error:
            raise texts.fail(f"{where}.{error.field}", error.reason) from None
        if not _PAYLOAD.match(option.payload):
            raise texts.fail(f"{where}.payload", f"'{option.payload}' must look like /intent_name")
        if any(o.key == option.key for o in menu):
            raise texts.fail(f"{where}.key", f"key '{option.key}' is used twice")
        menu.append(option)
    return tuple(menu)


def load_voice_texts(path: Path = TEXTS_FILE, contacts_path: Path | None = None) -> VoiceTexts:
    t = read_texts(path, contacts_path, VoiceTextsError)
    menu = _menu(t)
    repeat_key = t.key("menu.repeat_key")
    if any(option.key == repeat_key for option in menu):
        raise t.fail("menu.repeat_key", f"key '{repeat_key}' is already a menu option")
    yes_key, no_key = t.key("confirm.yes_key"), t.key("confirm.no_key")
    if yes_key == no_key:
        raise t.fail("confirm.no_key", "must differ from confirm.yes_key")
    return VoiceTexts(
        greeting=t.text("greeting"),
        menu_intro=t.text("menu.intro"),
        menu=menu,
        repeat_key=repeat_key,
        repeat_say=t.text("menu.repeat_say"),
        unknown_key=t.text("menu.unknown_key"),
        button_option=t.text("button_option", "title", "key"),
        silence_repeat=t.text("silence.repeat"),
        silence_menu=t.text("silence.menu"),
        silence_goodbye=t.text("silence.goodbye"),
        confirm_ask=t.text("confirm.ask", "heard"),
        confirm_yes_key=yes_key,
        confirm_no_key=no_key,
        yes_words=t.words("confirm.yes_words"),
        no_words=t.words("confirm.no_words"),
        confirm_retry=t.text("confirm.retry"),
        empty_reply=t.text("empty_reply"),
        bot_error=t.text("bot_error"),
        sms_sent=t.text("sms_sent"),
        sms_body=t.text("sms_body", "links"),
        handoff_connecting=t.text("handoff.connecting"),
        handoff_whisper=t.text("handoff.whisper", "summary"),
        summary_from_caller=t.text("handoff.summary_from_caller", "said"),
        summary_unknown=t.text("handoff.summary_unknown"),
        handoff_no_answer=t.text("handoff.no_answer"),
        callback_recorded=t.text("handoff.callback_recorded"),
        callback_impossible=t.text("handoff.callback_impossible"),
        callback_failed=t.text("handoff.callback_failed"),
        handoff_continue=t.text("handoff.continue"),
        after_agent=t.text("handoff.after_agent"),
    )
