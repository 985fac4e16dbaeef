"""Where a REST post or a web-chat connection comes from, and the key the actions count by.

The address is Sanic's ``request.remote_addr`` when a proxy is configured (bot/rasa_patches/proxy.py:
``FANZHA_PROXIES_COUNT``, ``FANZHA_REAL_IP_HEADER``, ``FANZHA_FORWARDED_SECRET``): only then
does Sanic read the forwarded headers, so without that setting a forged ``X-Forwarded-For``
changes nothing and the socket's peer (``request.ip``) is the address.

The channel that handles a message remembers its address for the rest of that message's
handling (a context variable: Rasa's channels hand the masking wrapper a UserMessage, not the
request). Only REST and the web chat set or read it (MaskingMixin.knows_client_address).

The actions never see the address. They get ``client_key``: an HMAC of the address and the
Beijing day, under a key derived from the console secret (``FANZHA_CONSOLE_SECRET`` or
``var/keys/console.key``, per installation and the same on every replica). It lands in the tracker
store with the message's metadata; it tells apart the day's clients, not who they are, and it
cannot be linked across days without the secret.
"""
from __future__ import annotations

import hashlib
import hmac
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Mapping

from sanic.request import Request

from bot.services.console_auth import load_secret
from bot.services.reports.store import LOCAL_TZ

_current: ContextVar[str | None] = ContextVar("fanzha_client_address", default=None)
KEY_HEX_CHARS = 32


def address_of(request: Request) -> str:
    """The client's address: the configured proxy's report of it, else the socket's peer."""
    return request.remote_addr or request.ip


def socket_address(environ: Mapping[str, Any] | None) -> str | None:
    """A socket.io connection's address. engine.io's Sanic driver puts the connecting request
    in the environ (its REMOTE_ADDR is a fixed 127.0.0.1, so it is not used)."""
    request = (environ or {}).get("sanic.request")
    return address_of(request) if request is not None else None


def remember(address: str | None) -> None:
    """The address of the message now being handled (by this task)."""
    _current.set(address or None)


def current() -> str | None:
    return _current.get()


@lru_cache(maxsize=1)
def _key() -> bytes:
    return hmac.new(load_secret(), b"fanzha client address", hashlib.sha256).digest()


def client_key(address: str, day: date | None = None) -> str:
    """The non-personal key for ``address`` on ``day`` (today in Beijing by default)."""
    day = day or datetime.now(LOCAL_TZ).date()
    message = f"{day.isoformat()}|{address}".encode("utf-8")
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]
