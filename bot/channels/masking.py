"""What every channel does to a user's message before Rasa stores or classifies it."""
from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage

from bot.channels import client_address
from bot.channels.notices import load_notices
from bot.channels.pictures import RATE_LIMITED, PictureMessage, as_check, read_words
from bot.channels.rate_limit import SENDER, limits_from_env
from knowledge.privacy import mask_sensitive

# Long enough for a pasted chat log; longer texts are cut (the user is told, see metadata).
MAX_MESSAGE_CHARS = 2000
_BUTTON_PAYLOAD = re.compile(r"^/[a-z_]+$")
METADATA_KEY = "fanzha"


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


def clean_user_message(message: UserMessage, client: str | None = None, picture: bool = False) -> UserMessage:
    """Clean the text; note in the metadata under "fanzha" what was done, the ``client``
    key (client_address.client_key) the actions count call-backs and SMS by, and whether the
    text was read from a ``picture``."""
    text, notes = clean_text(message.text)
    if picture:
        notes["picture"] = True
    # Buttons send "/intent"; entity payloads ("/intent{...}") could set slots, so only the
    # bare form passes as a command.
    if text.startswith("/") and not _BUTTON_PAYLOAD.match(text):
        text = text.lstrip("/")
        notes["command_ignored"] = True
    if client:
        notes["client"] = client
    message.text = text
    # Only the channel writes "fanzha": a client's own would forge the notes or the client key.
    metadata = {key: value for key, value in (message.metadata or {}).items() if key != METADATA_KEY}
    if notes:
        metadata[METADATA_KEY] = notes
    if metadata or message.metadata is not None:
        message.metadata = metadata
    return message


class MaskingMixin:
    """Put in front of a Rasa InputChannel: wraps the callback every handler calls."""

    # True where the channel remembers each message's client address (client_address.remember):
    # REST and the web chat. WeChat's and Twilio's requests come from their servers.
    knows_client_address = False
    # The wrapped callback, set by ``blueprint``: the channels' picture routes hand it their
    # PictureMessage (bot/channels/pictures.py).
    on_cleaned_message: Callable[[UserMessage], Awaitable[Any]]

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Any:
        limits, notices = limits_from_env(on_new_message), load_notices()

        async def cleaned(message: UserMessage) -> Any:
            address = client_address.current() if self.knows_client_address else None
            picture = isinstance(message, PictureMessage)
            refused = limits.refusal(str(message.sender_id), address)
            if refused:
                # Over a rate limit (bot/channels/rate_limit.py): Rasa never sees (or stores) it;
                # the sender is told to wait. A picture is not even read.
                notice = notices.rate_limited if refused == SENDER else notices.busy
                if picture:
                    message.outcome, message.picture = RATE_LIMITED, b""
                await message.output_channel.send_text_message(message.sender_id, notice)
                return None
            # A picture's words (bot/channels/pictures.py): read, masked, shown, then checked.
            if picture and not await read_words(message, notices.picture):
                return None
            client = client_address.client_key(address) if address else None
            message = clean_user_message(message, client, picture)
            if picture:
                read = notices.picture.read.format(words=message.text)
                await message.output_channel.send_text_message(message.sender_id, read)
                as_check(message)
            result = await on_new_message(message)
            if (message.metadata or {}).get(METADATA_KEY, {}).get("truncated"):
                truncated = notices.truncated.format(max_chars=MAX_MESSAGE_CHARS)
                await message.output_channel.send_text_message(message.sender_id, truncated)
            return result

        self.on_cleaned_message = cleaned
        return super().blueprint(cleaned)  # type: ignore[misc]
