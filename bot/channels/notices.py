"""Load what every channel says on its own (bot/channels/notices.yml): the rate-limit,
busy and long-message notices. Numbers come from knowledge/contacts.yml, as in voice_texts.yml."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from knowledge.loader import KnowledgeError

from .voice_texts import read_texts

NOTICES_FILE = Path(__file__).resolve().parent / "notices.yml"


class NoticesError(KnowledgeError):
    """notices.yml is malformed: the file, the field and the reason."""


@dataclass(frozen=True)
class ChannelNotices:
    rate_limited: str  # this sender sent too many
    busy: str  # too many from one address, or from everybody
    truncated: str  # {max_chars}


@lru_cache(maxsize=None)
def load_notices(path: Path = NOTICES_FILE, contacts_path: Path | None = None) -> ChannelNotices:
    texts = read_texts(path, contacts_path, NoticesError)
    return ChannelNotices(rate_limited=texts.text("rate_limited"), busy=texts.text("busy"),
                          truncated=texts.text("truncated", "max_chars"))
