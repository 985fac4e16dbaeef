"""Agent console sessions: signed cookies, CSRF tokens, and the key that signs them.

The cookie holds the agent's name, a random session id and an expiry, signed with HMAC-SHA256
under the console key (``FANZHA_CONSOLE_SECRET``, or ``var/keys/console.key`` created owner-only).
The agent is only ever taken from a valid cookie, never from a request's body. Every POST must
carry the session's CSRF token (an HMAC of the session id) in ``X-CSRF-Token``; the cookie is
HttpOnly and SameSite=Strict as well (and Secure when the console is reached over HTTPS).

A valid signature is not enough: the session must also be open in the shared database
(``TicketStore.open_session``). A logout ends it, a new password (``fanzha agent passwd``) or
``fanzha agent disable`` ends all of that agent's, on every replica and across restarts.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from bot.services.runtime_state import CONSOLE_KEY, private_folder

ENV_SECRET = "FANZHA_CONSOLE_SECRET"
DEFAULT_KEY_FILE = CONSOLE_KEY
COOKIE = "fanzha_console"
SESSION_SECONDS = 12 * 3600  # one duty shift
MIN_SECRET_CHARS = 32


class ConsoleKeyError(RuntimeError):
    pass


def load_secret(key_file: Path = DEFAULT_KEY_FILE, env: Mapping[str, str] = os.environ) -> bytes:
    if env.get(ENV_SECRET):
        secret = env[ENV_SECRET].strip()
        if len(secret) < MIN_SECRET_CHARS:
            raise ConsoleKeyError(f"{ENV_SECRET} must have at least {MIN_SECRET_CHARS} characters")
        return secret.encode("utf-8")
    try:
        return key_file.read_bytes().strip()
    except FileNotFoundError:
        pass
    private_folder(key_file.parent)
    new_secret = secrets.token_hex(32).encode("ascii")
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by another process a moment ago
        return key_file.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(new_secret + b"\n")
    return new_secret


@dataclass(frozen=True)
class Session:
    agent: str
    sid: str
    expires: float


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    def __init__(self, secret: bytes, clock=time.time, lifetime: float = SESSION_SECONDS) -> None:
        self._key = hmac.new(secret, b"fanzha console session", hashlib.sha256).digest()
        self._csrf_key = hmac.new(secret, b"fanzha console csrf", hashlib.sha256).digest()
        self._clock = clock
        self.lifetime = lifetime

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def issue(self, agent: str) -> tuple[Session, str]:
        session = Session(agent, secrets.token_urlsafe(18), self._clock() + self.lifetime)
        payload = _b64(json.dumps({"a": session.agent, "s": session.sid, "e": int(session.expires)}).encode("utf-8"))
        return session, f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged or expired."""
        # Only ASCII can be a cookie this class issued (and hmac compares ASCII strings only).
        if not cookie or not cookie.isascii() or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(str(data["a"]), str(data["s"]), float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < self._clock():
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return _b64(hmac.new(self._csrf_key, session.sid.encode("ascii"), hashlib.sha256).digest())

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        # As bytes: a header with non-ASCII characters is simply wrong, not an error.
        given = (token or "").encode("utf-8", "surrogateescape")
        return bool(token) and hmac.compare_digest(self.csrf_token(session).encode("ascii"), given)


class LoginThrottle:
    """Back-off after failed console logins, per agent name and per client address.

    Up to ``free`` failures in ``window`` seconds cost nothing; each one after that locks the
    name (or the address) for twice as long as the last, from ``first_lock`` seconds up to
    ``max_lock``. A locked login is refused before its password is hashed, so guessing costs
    the guesser time and the server no scrypt. A success clears the name and the address.
    Kept in this process's memory: a restart forgets it, and replicas count separately.
    """

    def __init__(self, free: int = 5, window: float = 900.0, first_lock: float = 30.0, max_lock: float = 900.0,
                 clock=time.monotonic) -> None:
        self.free, self.window, self.first_lock, self.max_lock = free, window, first_lock, max_lock
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def wait_seconds(self, *keys: str) -> int:
        """How long any of ``keys`` is still locked (0: free to try)."""
        now = self._clock()
        return max([0] + [math.ceil(self._locked_until[k] - now) for k in keys if self._locked_until.get(k, 0.0) > now])

    def failed(self, *keys: str) -> None:
        now = self._clock()
        if len(self._failures) > 10_000:  # a flood of names: forget the old ones, keep the memory bounded
            self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - self.window}
        for key in keys:
            recent = [t for t in self._failures.get(key, []) if t > now - self.window] + [now]
            self._failures[key] = recent
            over = len(recent) - self.free
            if over > 0:
                self._locked_until[key] = now + min(self.max_lock, self.first_lock * 2 ** (over - 1))

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
            self._locked_until.pop(key, None)
