"""A picture a resident sends (web chat, WeChat, REST) is read, then checked like typed text.

A channel hands the masking wrapper (bot/channels/masking.py) a PictureMessage: the picture's
bytes (or, on WeChat, how to fetch them) and no text. The wrapper applies the rate limits first
(reading a picture costs about a second of a core), then:

1. ``read_words`` fetches the picture if need be, reads the words (bot.services.pictures.read_picture:
   OCR in a worker process) and drops the bytes; a picture that cannot be fetched or read gets
   the reason's text from notices.yml, and the assistant never sees it (nothing is stored);
2. the words are masked and cut like any typed message (clean_user_message);
3. the resident is told what was read (``notices.picture.read``), so a wrong reading is visible;
4. ``as_check`` gives the masked words the intent that runs the check (CHECK_INTENT: the rule
   "check a pasted message" in stories/check.yml runs action_check_scam). Rasa takes a message's
   parse data from the channel when it carries one (MessageProcessor._handle_message_with_tracker),
   so the NLU is not asked: a screenshot of a scam is a message to check, even where its words
   read like small talk, and no retraining is needed.

The picture itself is kept nowhere: not in the tracker store (it holds the masked words), not
on disk, not in a log.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, Union

from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.channels.notices import PictureNotices
from bot.services.pictures import PictureError, read_picture

logger = logging.getLogger(__name__)

# The intent of a pasted message (bot/domain/check.yml); stories/check.yml runs the check on it.
CHECK_INTENT = "check_message"
READ = "read"  # PictureMessage.outcome when the words went on to the assistant
RATE_LIMITED = "rate_limited"
# The picture's bytes, or a coroutine function that fetches them (raising PictureError("too_big")
# past bot.services.pictures.MAX_PICTURE_BYTES): WeChat's media are fetched only once the limits let them in.
Picture = Union[bytes, Callable[[], Awaitable[bytes]]]
# A bubble's line wrap splits a number ("我的卡号622202123456" / "7890，…"), sometimes with an
# avatar's letter read in between ("我"): the pieces are joined again (the letter dropped), so
# that the masking (knowledge/privacy.py) sees the whole card number, as it would in typed text.
_WRAPPED_NUMBER = re.compile(r"(?<=\d)[ \t]*\n(?:[^\d\n]{1,2}\n)?[ \t]*(?=\d)")


class PictureMessage(UserMessage):
    """A resident's picture on its way in; ``outcome`` says afterwards what became of it:
    READ, RATE_LIMITED or a bot.services.pictures.PictureError reason."""

    def __init__(
        self,
        picture: Picture,
        output_channel: OutputChannel,
        sender_id: str,
        input_channel: str,
        metadata: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__("", output_channel, sender_id, input_channel=input_channel,
                         message_id=message_id, metadata=metadata)
        self.picture = picture
        self.outcome: str | None = None


async def read_words(message: PictureMessage, notices: PictureNotices) -> bool:
    """Put the picture's words in ``message.text`` and drop its bytes; False (and the resident
    told why) when it cannot be fetched or read."""
    picture, message.picture = message.picture, b""
    try:
        data = picture if isinstance(picture, bytes) else await picture()
        reading = await read_picture(data)
        del data, picture  # nothing holds the picture while the assistant answers
        if not reading.text.strip():
            raise PictureError("no_text")
    except PictureError as refused:
        message.outcome = refused.reason
    except Exception as error:  # a failed fetch or reader must not take the channel with it
        logger.error("pictures: fetching or reading a picture failed: %s", type(error).__name__)  # never the words
        message.outcome = "failed"
    else:
        message.text, message.outcome = _WRAPPED_NUMBER.sub("", reading.text), READ
        return True
    await message.output_channel.send_text_message(message.sender_id, notices.refusal(message.outcome))
    return False


def as_check(message: UserMessage) -> None:
    """The (already masked) words go to the check, whatever the NLU would make of them."""
    intent = {"name": CHECK_INTENT, "confidence": 1.0}
    message.parse_data = {"text": message.text, "intent": intent, "intent_ranking": [intent], "entities": []}
