"""Load what a warning call says whatever the scam type (bot/services/early_warnings/call_texts.yml).

Each scam type's own words (why we call, its questions, its key warning) are in
knowledge/dissuasion.yml; :func:`load_warning_texts` loads both and checks them together: every
sentence at most 25 characters (knowledge.dissuasion counts), and every type's whole opening
(``opening`` + the type's reason + ``opening_ask``) within 20 seconds. Numbers come from
knowledge/contacts.yml placeholders, as in bot/channels/voice/texts.yml. A malformed file stops loading with
the file, the field and the reason.

The dispatcher texts ``sms`` to a resident it could not reach (bot/services/early_warnings/dispatch.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.services.early_warnings.store import LEVELS
from knowledge.dissuasion import DissuasionBook, DissuasionError, load_dissuasion, long_sentence
from knowledge.texts_file import read_texts

TEXTS_FILE = Path(__file__).resolve().parent / "call_texts.yml"
SMS_LIMIT = 300  # characters: a few SMS segments, not a letter


class WarningTextsError(DissuasionError):
    """call_texts.yml is malformed: the file, the field and the reason."""


@dataclass(frozen=True)
class WarningTexts:
    opening: str
    opening_ask: str
    keys: str
    yes_key: str
    no_key: str
    yes_words: frozenset[str]
    no_words: frozenset[str]
    not_heard: str
    money_moving: str
    paid: str
    connecting: str
    if_cut_off: str
    desk_no_answer: str
    after_desk: str
    goodbye: str
    voicemail: str
    unknown_warning: str
    whisper: str  # {level} {scam_type} {answer}
    answer_money_moving: str
    answer_paid: str
    desk: str  # {level} {scam_type} {number} {note}
    levels: dict[str, str]
    scam_type_unknown: str
    note_empty: str
    sms: str
    dissuasion: DissuasionBook

    def level_name(self, level: str) -> str:
        return self.levels.get(level, level)


def load_warning_texts(path: Path = TEXTS_FILE, dissuasion_path: Path | None = None,
                       contacts_path: Path | None = None) -> WarningTexts:
    t = read_texts(path, contacts_path, WarningTextsError)

    def said(name: str, *placeholders: str) -> str:
        """A text the resident hears: every fixed sentence short enough."""
        text = t.text(name, *placeholders)
        problem = long_sentence(text.format(**{p: "" for p in placeholders}))
        if problem:
            raise t.fail(name, problem)
        return text

    yes_key, no_key = t.key("yes_key"), t.key("no_key")
    if yes_key == no_key:
        raise t.fail("no_key", "must differ from yes_key")
    yes_words, no_words = t.words("yes_words"), t.words("no_words")
    both = sorted(yes_words & no_words)
    if both:
        raise t.fail("no_words", f"'{both[0]}' is also a yes word")
    levels = {level: t.word(f"levels.{level}") for level in LEVELS}
    sms = t.text("sms")
    if len(sms) > SMS_LIMIT:
        raise t.fail("sms", f"has {len(sms)} characters; at most {SMS_LIMIT}")
    kwargs: dict[str, Path] = {} if dissuasion_path is None else {"path": dissuasion_path}
    book = load_dissuasion(contacts_path=contacts_path, **kwargs)  # type: ignore[arg-type]  # only "path"
    texts = WarningTexts(
        opening=said("opening"),
        opening_ask=said("opening_ask"),
        keys=said("keys"),
        yes_key=yes_key,
        no_key=no_key,
        yes_words=yes_words,
        no_words=no_words,
        not_heard=said("not_heard"),
        money_moving=said("money_moving"),
        paid=said("paid"),
        connecting=said("connecting"),
        if_cut_off=said("if_cut_off"),
        desk_no_answer=said("desk_no_answer"),
        after_desk=said("after_desk"),
        goodbye=said("goodbye"),
        voicemail=said("voicemail"),
        unknown_warning=said("unknown_warning"),
        whisper=said("whisper", "level", "scam_type", "answer"),
        answer_money_moving=said("answer_money_moving"),
        answer_paid=said("answer_paid"),
        desk=said("desk", "level", "scam_type", "number", "note"),
        levels=levels,
        scam_type_unknown=said("scam_type_unknown"),
        note_empty=said("note_empty"),
        sms=sms,
        dissuasion=book,
    )
    try:
        book.check_openings(texts.opening, texts.opening_ask)
    except DissuasionError as error:  # the opening is both files' words: name the type's reason
        reason = f"{error.reason} (with opening and opening_ask of {path.name})"
        raise WarningTextsError(error.path, error.field, reason) from None
    return texts


@lru_cache(maxsize=1)
def default_warning_texts() -> WarningTexts:
    """The project's warning texts, loaded once per process."""
    return load_warning_texts()
