"""Bot messages as WeChat text: buttons become numbered choices, long text is split.

WeChat text messages carry no buttons, so a reply lists its buttons as "1. …", "2. …" and
the channel remembers the payloads; typing the number sends the payload. WeChat limits a
text by bytes (UTF-8), not characters: a Chinese character takes three bytes.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import yaml

TEXTS_FILE = Path(__file__).with_name("texts.yml")
_CHOICE = re.compile(r"^(\d{1,2})[.、]?$")


@dataclass(frozen=True)
class ChannelTexts:
    voice_not_recognised: str
    only_words: str
    kinds: Mapping[str, str]
    unsupported: str
    choose_by_number: str
    bot_error: str

    def media(self, msg_type: str) -> Optional[str]:
        """The 'only words' reply for a picture, video, location or link; None for others."""
        kind = self.kinds.get(msg_type)
        return self.only_words.format(kind=kind) if kind else None


@lru_cache(maxsize=None)
def load_texts(path: Path = TEXTS_FILE) -> ChannelTexts:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a mapping")

    def text(key: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{path}: field '{key}': must be a non-empty text")
        return value.strip()

    kinds = data.get("kinds")
    if not isinstance(kinds, dict) or not all(
        isinstance(v, str) and v.strip() for v in kinds.values()
    ):
        raise ValueError(f"{path}: field 'kinds': must map message types to names")
    if "{kind}" not in text("only_words"):
        raise ValueError(f"{path}: field 'only_words': must contain {{kind}}")
    return ChannelTexts(
        voice_not_recognised=text("voice_not_recognised"),
        only_words=text("only_words"),
        kinds={str(k): v.strip() for k, v in kinds.items()},
        unsupported=text("unsupported"),
        choose_by_number=text("choose_by_number"),
        bot_error=text("bot_error"),
    )


@dataclass(frozen=True)
class Rendered:
    text: str
    choices: tuple[str, ...]  # payload of choice n is choices[n - 1]
    handoff: bool = False  # the bot asked for a person (custom payload {"handoff": …})


def render(messages: Iterable[Mapping[str, Any]], texts: ChannelTexts) -> Rendered:
    """Join Rasa's collected messages into one text; number the buttons across all of them."""
    parts: list[str] = []
    choices: list[str] = []
    handoff = False
    for message in messages:
        custom = message.get("custom")
        handoff = handoff or (isinstance(custom, Mapping) and "handoff" in custom)
        lines = [str(message[key]) for key in ("text", "image", "attachment") if message.get(key)]
        buttons = [b for b in message.get("buttons") or [] if b.get("title")]
        if buttons:
            lines.append(texts.choose_by_number)
        for button in buttons:
            choices.append(str(button.get("payload") or button["title"]))
            lines.append(f"{len(choices)}. {button['title']}")
        if lines:
            parts.append("\n".join(lines))
    return Rendered("\n\n".join(parts).strip(), tuple(choices), handoff)


def chosen_payload(text: str, choices: Sequence[str]) -> Optional[str]:
    """The payload for a typed choice number ("2", "２", "2."), or None."""
    match = _CHOICE.match(unicodedata.normalize("NFKC", text).strip())
    if not match:
        return None
    number = int(match.group(1))
    return choices[number - 1] if 1 <= number <= len(choices) else None


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def split_text(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` UTF-8 bytes.

    Cuts between paragraphs where it can, then between lines, then between characters;
    never inside a character.
    """
    if limit < 4:
        raise ValueError("limit must hold at least one character (4 bytes)")
    return [piece for piece in _pack(text.strip(), limit, ("\n\n", "\n", "")) if piece]


def _pack(text: str, limit: int, separators: Sequence[str]) -> list[str]:
    if utf8_size(text) <= limit:
        return [text]
    separator, finer = separators[0], separators[1:]
    pieces = text.split(separator) if separator else list(text)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current}{separator}{piece}" if current else piece
        if utf8_size(joined) <= limit:
            current = joined
            continue
        if current:
            chunks.append(current)
        if utf8_size(piece) <= limit:
            current = piece
        else:
            *full, current = _pack(piece, limit, finer)
            chunks.extend(full)
    if current:
        chunks.append(current)
    return chunks
