"""What every channel does to a user's message before Rasa stores or classifies it."""
from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage

from knowledge.privacy import mask_sensitive

from .notices import load_notices
from .rate_limit import limiter_from_env

# Long enough for a pasted chat log; longer texts are cut (the user is told, see metadata).
MAX_MESSAGE_CHARS = 2000
_BUTTON_PAYLOAD = re.compile(r"^/[a-z_]+$")


def clean_text(text: str | None) -> tuple[str, dict[str, Any]]:
    """Mask secrets and cut overlong text; return the text and what was done to it.

    The text is masked before the cut, so a card number across the cut is masked whole
    rather than left as a shorter run of digits; and cut roughly first (four times the limit,
    more than anyone pastes), so a 20 MB message costs no more than a long one."""
    text = text or ""
    notes: dict[str, Any] = {}
    if len(text) > MAX_MESSAGE_CHARS * 4:
        text = text[: MAX_MESSAGE_CHARS * 4]
        notes["truncated"] = True
    text = "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")
    masked = mask_sensitive(text)
    text = masked.text
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS]
        notes["truncated"] = True
    if masked.changed:
        notes["masked"] = list(masked.kinds)
    return text, notes


def clean_user_message(message: UserMessage) -> UserMessage:
    text, notes = clean_text(message.text)
    # Buttons send "/intent"; entity payloads ("/intent{...}") could set slots, so only the
    # bare form passes as a command.
    if text.startswith("/") and not _BUTTON_PAYLOAD.match(text):
        text = text.lstrip("/")
        notes["command_ignored"] = True
    message.text = text
    if notes:
        message.metadata = {**(message.metadata or {}), "fanzha": notes}
    return message


class MaskingMixin:
    """Put in front of a Rasa InputChannel: wraps the callback every handler calls."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Any:
        limiter, notices = limiter_from_env(), load_notices()

        async def cleaned(message: UserMessage) -> Any:
            # One limiter per channel, keyed by sender only (REST callers choose input_channel).
            if limiter and not limiter.allow(str(message.sender_id)):
                # Over the rate limit: Rasa never sees (or stores) it; the sender is told why.
                await message.output_channel.send_text_message(message.sender_id, notices.rate_limited)
                return None
            result = await on_new_message(clean_user_message(message))
            if (message.metadata or {}).get("fanzha", {}).get("truncated"):
                truncated = notices.truncated.format(max_chars=MAX_MESSAGE_CHARS)
                await message.output_channel.send_text_message(message.sender_id, truncated)
            return result

        return super().blueprint(cleaned)  # type: ignore[misc]
