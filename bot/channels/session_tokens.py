"""Signed web chat sessions: a conversation id alone no longer opens a resident's conversation.

When the socket.io channel starts a session it gives the page the session id and a token, an
HMAC-SHA256 of the id; the page keeps both and sends both to resume the session. An id without
its token gets a new session, so a second socket that knows (or guesses) an id neither receives
that resident's replies nor speaks in their chat.

The key is derived from the console's signing secret (``FANZHA_CONSOLE_SECRET``, or
``var/keys/console.key`` created owner-only; bot/services/console_auth.py) under a label of its own: every
replica already shares that secret, and a chat token can never pass for a console cookie or the
other way round. Changing that secret starts every web chat afresh on the server (the page keeps
its transcript). A token does not expire: it lasts as long as the page keeps it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from bot.services.console_auth import load_secret

LABEL = b"fanzha web chat session"


class SessionTokens:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, LABEL, hashlib.sha256).digest()

    def issue(self, session_id: str) -> str:
        digest = hmac.new(self._key, session_id.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def valid(self, session_id: str, token: Any) -> bool:
        """Whether ``token`` is the one issued for ``session_id`` (compared in constant time)."""
        # Only ASCII can be a token issued here (and hmac compares ASCII strings only).
        return isinstance(token, str) and token.isascii() and hmac.compare_digest(self.issue(session_id), token)


def session_tokens() -> SessionTokens:
    """The tokens of this installation, the same on every replica."""
    return SessionTokens(load_secret())
