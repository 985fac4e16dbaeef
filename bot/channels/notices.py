"""Load what every channel says on its own (bot/channels/notices.yml): the rate-limit and
long-message notices. Numbers come from knowledge/contacts.yml, as in voice_texts.yml."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from knowledge.loader import KNOWLEDGE_DIR, KnowledgeError, load_contacts

from .voice_texts import _Texts

NOTICES_FILE = Path(__file__).resolve().parent / "notices.yml"


class NoticesError(KnowledgeError):
    """notices.yml is malformed: the file, the field and the reason."""


class _NoticeTexts(_Texts):
    def fail(self, name: str, reason: str) -> NoticesError:  # type: ignore[override]
        return NoticesError(self.path, name, reason)


@dataclass(frozen=True)
class ChannelNotices:
    rate_limited: str
    truncated: str  # {max_chars}


@lru_cache(maxsize=None)
def load_notices(path: Path = NOTICES_FILE, contacts_path: Path | None = None) -> ChannelNotices:
    contacts = load_contacts(contacts_path or KNOWLEDGE_DIR / "contacts.yml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoticesError(path, "(file)", "file is missing") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise NoticesError(path, "(file)", f"not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise NoticesError(path, "(file)", "must be a YAML mapping at the top level")
    texts = _NoticeTexts(path, data, contacts)
    return ChannelNotices(rate_limited=texts.text("rate_limited"), truncated=texts.text("truncated", "max_chars"))
