"""Load what the phone line says on its own (bot/channels/voice_texts.yml).

The numbers and short phone advice come from knowledge/contacts.yml: a text writes
``{police_110.number}`` or ``{antifraud_96110.voice}`` and gets them filled in at load time.
The other placeholders (``{heard}``, ``{title}``, …) are filled per call. A malformed file,
an unknown placeholder or a missing one stops loading with the file, the field and the reason.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knowledge.loader import KNOWLEDGE_DIR, Contact, KnowledgeError, load_contacts

TEXTS_FILE = Path(__file__).resolve().parent / "voice_texts.yml"
KEYS = "0123456789*#"
_PAYLOAD = re.compile(r"^/[a-z_]+$")
_CONTACT_FIELDS = ("number", "voice", "name")


class VoiceTextsError(KnowledgeError):
    """voice_texts.yml is malformed: the file, the field and the reason, as for knowledge files."""


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


class _Texts:
    """Reads fields by dotted name and fills the contact placeholders."""

    def __init__(self, path: Path, data: dict[str, Any], contacts: dict[str, Contact],
                 error: type[KnowledgeError] = VoiceTextsError) -> None:
        self.path = path
        self.data = data
        self.contacts = contacts
        self.error = error

    def fail(self, name: str, reason: str) -> KnowledgeError:
        return self.error(self.path, name, reason)

    def raw(self, name: str) -> Any:
        value: Any = self.data
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def word(self, name: str) -> str:
        value = self.raw(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "must be a non-empty text")
        return value.strip()

    def text(self, name: str, *placeholders: str) -> str:
        """The text with contact fields filled in and exactly ``placeholders`` left for later."""
        template = self.word(name)
        out: list[str] = []
        left: set[str] = set()
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as error:
            raise self.fail(name, f"unbalanced braces: {error}") from None
        for literal, field_name, spec, conversion in parsed:
            out.append(literal.replace("{", "{{").replace("}", "}}"))
            if field_name is None:
                continue
            if spec or conversion:
                raise self.fail(name, f"placeholder '{{{field_name}}}' must be a plain name")
            if field_name in placeholders:
                out.append("{" + field_name + "}")
                left.add(field_name)
            else:
                out.append(self._contact(name, field_name).replace("{", "{{").replace("}", "}}"))
        missing = set(placeholders) - left
        if missing:
            raise self.fail(name, f"must contain {', '.join('{' + m + '}' for m in sorted(missing))}")
        return "".join(out)

    def _contact(self, name: str, field_name: str) -> str:
        contact_id, _, attribute = field_name.partition(".")
        contact = self.contacts.get(contact_id)
        if contact is None or attribute not in _CONTACT_FIELDS:
            raise self.fail(
                name,
                f"unknown placeholder '{{{field_name}}}': use <contact id>.number, .voice or .name "
                f"with a contact id from knowledge/contacts.yml",
            )
        value = getattr(contact, attribute)
        if not value:
            raise self.fail(name, f"contact '{contact_id}' has no {attribute}")
        return value

    def key(self, name: str) -> str:
        value = self.word(name)
        if len(value) != 1 or value not in KEYS:
            raise self.fail(name, f"must be one phone key of {KEYS}")
        return value

    def words(self, name: str) -> frozenset[str]:
        value = self.raw(name)
        if not isinstance(value, list) or not value or not all(isinstance(w, str) and w.strip() for w in value):
            raise self.fail(name, "must be a list of non-empty texts")
        return frozenset(w.strip() for w in value)


def _menu(texts: _Texts) -> tuple[MenuOption, ...]:
    options = texts.raw("menu.options")
    if not isinstance(options, list) or not options:
        raise texts.fail("menu.options", "must be a list of options")
    menu: list[MenuOption] = []
    for i, item in enumerate(options):
        where = f"menu.options[{i}]"
        if not isinstance(item, dict):
            raise texts.fail(where, "must be a mapping with key, say and payload")
        sub = _Texts(texts.path, item, texts.contacts, texts.error)
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


def read_texts(path: Path, contacts_path: Path | None = None,
               error: type[KnowledgeError] = VoiceTextsError) -> _Texts:
    """A channel's texts file, ready to read field by field; ``error`` names what is malformed."""
    contacts = load_contacts(contacts_path or KNOWLEDGE_DIR / "contacts.yml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(path, "(file)", "file is missing") from None
    except (yaml.YAMLError, UnicodeDecodeError) as problem:
        raise error(path, "(file)", f"not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise error(path, "(file)", "must be a YAML mapping at the top level")
    return _Texts(path, data, contacts, error)


def load_voice_texts(path: Path = TEXTS_FILE, contacts_path: Path | None = None) -> VoiceTexts:
    t = read_texts(path, contacts_path)
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
