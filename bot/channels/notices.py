"""Load what every channel says on its own (bot/channels/notices.yml): the rate-limit,
busy and long-message notices, and what is said about a picture a resident sends. Numbers come
from knowledge/contacts.yml, as in voice_texts.yml."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from bot.services.pictures import MAX_PICTURE_BYTES, REASONS
from knowledge.loader import KnowledgeError
from knowledge.texts_file import read_texts

NOTICES_FILE = Path(__file__).resolve().parent / "notices.yml"


class NoticesError(KnowledgeError):
    """notices.yml is malformed: the file, the field and the reason."""


@dataclass(frozen=True)
class PictureNotices:
    read: str  # {words}: what was read, masked; said before the check's answer
    sent: str  # the web page's stand-in for the resident's picture in the transcript
    reading: str  # the web page's status while the picture is read
    refused: Mapping[str, str]  # by bot.services.pictures.PictureError reason, ready to send

    def refusal(self, reason: str) -> str:
        return self.refused.get(reason) or self.refused["failed"]


@dataclass(frozen=True)
class ChannelNotices:
    rate_limited: str  # this sender sent too many
    busy: str  # too many from one address, or from everybody
    truncated: str  # {max_chars}
    picture: PictureNotices


@lru_cache(maxsize=None)
def load_notices(path: Path = NOTICES_FILE, contacts_path: Path | None = None) -> ChannelNotices:
    texts = read_texts(path, contacts_path, NoticesError)
    max_mb = f"{MAX_PICTURE_BYTES / (1024 * 1024):g}"
    filled = {"too_big": {"max_mb": max_mb}}  # the other reasons take no placeholder
    refused = {reason: texts.text(f"picture.{reason}", *filled.get(reason, {})).format(**filled.get(reason, {}))
               for reason in REASONS}
    picture = PictureNotices(read=texts.text("picture.read", "words"), sent=texts.text("picture.sent"),
                             reading=texts.text("picture.reading"), refused=refused)
    return ChannelNotices(rate_limited=texts.text("rate_limited"), busy=texts.text("busy"),
                          truncated=texts.text("truncated", "max_chars"), picture=picture)
