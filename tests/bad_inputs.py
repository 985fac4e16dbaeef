"""The catalogue of bad input every entry point is tested with (tests/test_bad_input*.py).

``TEXTS`` are things a person (or a script) can type: each must get a sensible answer on every
channel. The byte and JSON catalogues are malformed protocol input: each must be refused with
a 4xx and a reason, and nothing may be stored.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from bot.channels.masking import MAX_MESSAGE_CHARS


@dataclass(frozen=True)
class Text:
    id: str
    text: str

    @property
    def cut(self) -> bool:
        """Longer than the channels read: the answer ends with the notice that it was cut."""
        return len(self.text) > MAX_MESSAGE_CHARS

    @property
    def encodable(self) -> bool:
        """Can travel as UTF-8 (lone surrogates are what undecodable bytes turn into)."""
        try:
            self.text.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True

    @property
    def xml_legal(self) -> bool:
        return self.encodable and not _NOT_XML_CHAR.search(self.text)


_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

TEXTS: tuple[Text, ...] = (
    Text("empty", ""),
    Text("whitespace", " \n\t\u3000 "),
    Text("huge", "对方自称客服说我的账户异常，要我按他说的操作。" * 300),  # 6,600 characters
    Text("binary", bytes(range(256)).decode("latin-1")),
    Text("control-chars", "你好\x00\x07\x1b[31m世界\x7f\x9b"),
    Text("invalid-utf8", "对方让我\udcff\udcfe转到安全账户\ud800"),  # undecodable bytes, lone surrogates
    Text("emoji", "😀🙏🏻👨‍👩‍👧 对方说转账🚨💰 🇨🇳"),
    Text("invisible", "\u202e\u200b\ufeff安全\u200d账户\u2066"),
    Text("sql-injection", "'; DROP TABLE events; -- \" OR 1=1 --"),
    Text("script-injection", "<script>alert(1)</script><img src=x onerror=alert(1)>"),
    Text("template-injection", "{{7*7}} ${jndi:ldap://127.0.0.1/a} {0.__class__} %s%n"),
    Text("xml-in-text", "]]><xml><MsgType>event</MsgType></xml><!--"),
    Text("fake-command", '/restart{"requested_slot": "x"}'),
)


def cleaned(text: str) -> str:
    """What is stored of a typed text: printable characters, newlines and tabs, cut to the
    channels' limit (bot/channels/masking.py), without the spaces around (Rasa strips them)."""
    return "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")[:MAX_MESSAGE_CHARS].strip()


# --- malformed protocol input -------------------------------------------------------------

INVALID_UTF8 = b"\xff\xfe\xc3\x28\xa0\xa1\xf0\x28\x8c\xbc"
MALFORMED_JSON: dict[str, bytes] = {
    "empty-body": b"",
    "not-json": "这不是JSON".encode(),
    "invalid-utf8": b'{"sender": "x", "message": "' + INVALID_UTF8 + b'"}',
    "truncated": b'{"sender": "x", "message": "hi',
    "trailing-garbage": b'{"a": 1} {"b": 2}',
    "binary": bytes(range(256)),
    "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
}
# A deflate body that unpacks to 64 MiB (rasa_sdk unpacks "Content-Encoding: deflate" bodies).
DEFLATE_BOMB = zlib.compress(b" " * (64 * 1024 * 1024), 9)


def wrong_shapes(sender_field: str, sender: str) -> dict[str, object]:
    """JSON that parses but is not a chat message; ``sender`` is used where a sender goes, so
    the test can check that nothing was stored under it."""
    return {
        "list": [{sender_field: sender, "message": "你好"}],
        "string": "你好",
        "null": None,
        "number": 5,
        "message-number": {sender_field: sender, "message": 5},
        "message-object": {sender_field: sender, "message": {"text": "你好"}},
        "message-missing": {sender_field: sender},
        "metadata-list": {sender_field: sender, "message": "你好", "metadata": [1]},
        "sender-number": {sender_field: 12345, "message": "你好"},
        "sender-empty": {sender_field: "", "message": "你好"},
        "sender-control": {sender_field: sender + "\x00\n", "message": "你好"},
        "sender-huge": {sender_field: sender + "x" * 10_000, "message": "你好"},
    }
