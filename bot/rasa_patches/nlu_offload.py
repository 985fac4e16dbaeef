"""Understanding messages in a second process, on the machine's other core (serving only;
installed by bot/cli/rasa_server.py when FANZHA_NLU_URL is set).

One Rasa server is one Python process: it uses one core, and understanding a message (jieba,
the featurizers, the entity CRF, DIET) is a third of the work of a turn. The run command starts
a second server with the same model that only answers ``/model/parse``, Rasa's HTTP API for
understanding a text (bot/cli/nlu_server.py); the dialogue server asks it, and keeps deciding,
acting and storing. A scam wave's load is then spread over two cores instead of one.

The other server gets every resident's words and its answers steer the conversation, so it
must be ours: it listens on a Unix socket (FANZHA_NLU_URL=unix:/path/to/socket), never a TCP
port that any local process could take first. Before each request the socket's folder must be
this user's and closed to everyone else, no folder above it replaceable by another user, and
the socket this user's (bot/services/owner_only.py); otherwise the server is not asked. Nobody else
could have put a socket there, so the answer comes from this user's process, and no API token
is sent.

The dialogue server still holds the whole model. Whenever the understanding server does not
answer in time (not started yet, restarting, overloaded, an error), the dialogue server
understands the message itself, exactly as without this, and leaves the other server alone
for ``RETRY_AFTER_S`` seconds: a resident never waits for it or gets a worse answer.

Rasa's own ``nlu`` endpoint does the same without the fallback: it answers "no intent" when
that server fails, waits up to five minutes, and logs what the resident wrote.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Mapping, Optional

import aiohttp
import rasa.core.run
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.trackers import DialogueStateTracker

from bot.services.breaker import Breaker
from bot.services.owner_only import why_socket_is_not_ours

log = logging.getLogger(__name__)

ENV_URL = "FANZHA_NLU_URL"
UNIX = "unix:"
TIMEOUT_S = 2.0
RETRY_AFTER_S = 5.0
KEEP_ALIVE_S = 3.0


def socket_path(url: str) -> str:
    """The socket's absolute path, symlinks resolved once here, from ``unix:/path/to/socket``."""
    if not url.startswith(UNIX) or len(url) == len(UNIX):
        raise SystemExit(f"{ENV_URL} must be unix:/path/to/socket (the understanding server's Unix socket, "
                         f"bot/cli/nlu_server.py), not {url!r}: whatever listens on a TCP port could be another "
                         f"local program, and would get residents' messages")
    return os.path.realpath(url[len(UNIX):])


class RemoteUnderstanding:
    """Client of the understanding server's ``/model/parse``; ``None`` whenever it has no good answer."""

    def __init__(self, socket_path: str, timeout_s: float = TIMEOUT_S, retry_after_s: float = RETRY_AFTER_S) -> None:
        self.socket_path = socket_path
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.breaker = Breaker(retry_after_s)
        self._session: Optional[aiohttp.ClientSession] = None

    async def parse(self, text: str) -> Optional[dict[str, Any]]:
        if self.breaker.open():
            return None
        problem = why_socket_is_not_ours(self.socket_path)
        if problem:
            self._failed(problem)
            return None
        if self._session is None or self._session.closed:
            # Idle connections are dropped before the server's 5 s keep-alive ends, so a request
            # never goes out on a connection the server is closing.
            connector = aiohttp.UnixConnector(path=self.socket_path, keepalive_timeout=KEEP_ALIVE_S)
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        try:
            async with self._session.post("http://localhost/model/parse", json={"text": text}) as response:
                if response.status == 200:
                    found = await response.json()
                    if isinstance(found, dict) and isinstance(found.get("intent"), dict):
                        self._healthy()
                        return found
                problem = f"answered HTTP {response.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            problem = type(error).__name__
        self._failed(problem)
        return None

    def _healthy(self) -> None:
        if self.breaker.succeeded():
            log.warning("The understanding server at %s answers again.", self.socket_path)

    def _failed(self, problem: str) -> None:
        if self.breaker.failed():  # once per outage, never with the resident's words
            log.warning("The understanding server at %s %s: understanding messages here for now.",
                        self.socket_path, problem)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


_remote: Optional[RemoteUnderstanding] = None
_parse_here = MessageProcessor.parse_message
_close_resources = rasa.core.run.close_resources


async def parse_message(self: MessageProcessor, message: UserMessage, tracker: Optional[DialogueStateTracker] = None,
                        only_output_properties: bool = True) -> dict[str, Any]:
    """MessageProcessor.parse_message, asking the understanding server first."""
    found = await _remote.parse(message.text) if _remote is not None and only_output_properties and message.text else None
    if found is None:
        return await _parse_here(self, message, tracker, only_output_properties)
    # What Rasa's parse_message adds after its graph (the other server did too; both are idempotent).
    self._update_full_retrieval_intent(found)
    self._check_for_unseen_features(found)
    return found


async def close_resources(app: Any, loop: Any) -> None:
    """Rasa's shutdown, then this client's connections (else asyncio reports them at exit)."""
    await _close_resources(app, loop)
    if _remote is not None:
        await _remote.close()


def install(env: Mapping[str, str] = os.environ) -> bool:
    """Ask the server at FANZHA_NLU_URL from now on; False (and nothing changed) when unset.
    SystemExit, with the reason, for anything but a Unix socket."""
    global _remote
    url = env.get(ENV_URL, "").strip()
    if not url:
        return False
    _remote = RemoteUnderstanding(socket_path(url))
    MessageProcessor.parse_message = parse_message  # type: ignore[method-assign]
    rasa.core.run.close_resources = close_resources
    return True


def uninstall() -> None:
    global _remote
    _remote = None
    MessageProcessor.parse_message = _parse_here  # type: ignore[method-assign]
    rasa.core.run.close_resources = _close_resources
