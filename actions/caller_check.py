"""Only the Rasa server may run actions, and a call's size is bounded before it is read.

Without this, whatever reaches the action server's port runs any action on a tracker it makes
up: a web page in a local browser may POST one as text/plain (no CORS preflight for that), and
it opens tickets, stores call-backs and reports, or, with SMS set up, texts a report decrypted
by its reference to a number of the sender's choosing.

- Every request but ``GET /health`` (the probe of load balancers and Kubernetes) must carry
  ``Authorization: Bearer <FANZHA_ACTION_TOKEN>`` (bot/services/action_token.py). ``/actions`` too: Rasa
  never asks for it, and it lists what a forged call could run. The check runs as soon as the
  route is known, before the body is read, so a caller without the secret cannot make the
  server hold a body; the comparison takes the same time whatever the guess. Refused: 401 and a
  short JSON error, nothing runs.
- A body may be at most MAX_CALL_BYTES: Sanic refuses a larger one with 413 from its
  Content-Length, or as a chunked body grows past it. A compressed body may not unpack beyond
  the same size (actions/request_check.py).
- Without a secret of at least MIN_TOKEN_CHARS characters the action server does not start.

Attached through rasa_sdk's plugin hook, as the call check is: ``rasa run actions --actions
actions``, or any other way of starting rasa_sdk's server with this package, gets it.
"""
from __future__ import annotations

import hmac
import logging
import os
from typing import Any, Mapping

import pluggy
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.exceptions import SanicException, Unauthorized
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.signals import Event

from bot.services.action_token import ENV_ACTION_TOKEN, HEADER, MIN_TOKEN_CHARS, SCHEME, action_token, header_value

hookimpl = pluggy.HookimplMarker("rasa_sdk")
log = logging.getLogger(__name__)

# Measured (Rasa 3.6, this domain): a 200-turn conversation's call is 1.1 MB, 5.4 KB a turn; a
# turn whose message has the full 2,000 characters adds 60 KB. 16 MiB holds about 3,000 ordinary
# turns or 280 maximal ones in one session; a call beyond it fails and the resident is answered
# with 110 and 96110 (bot/rasa_patches/action_guard.py).
MAX_CALL_BYTES = 16 * 1024 * 1024
OPEN_PATHS = frozenset({"/health"})


def required_token(env: Mapping[str, str] = os.environ) -> str:
    token = action_token(env)
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"{ENV_ACTION_TOKEN} must hold a secret of at least {MIN_TOKEN_CHARS} characters, the same as the "
            "Rasa server's (scripts/run.sh keeps one in var/keys/action_token)"
        )
    return token


def presents(request: Request, token: str) -> bool:
    presented = request.headers.get(HEADER, "")
    # Sanic decodes headers with surrogateescape: any bytes compare, none raise.
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), header_value(token).encode())


def guard(app: Sanic, token: str) -> None:
    """Refuse callers without ``token`` and bodies over MAX_CALL_BYTES on ``app``."""
    app.config.REQUEST_MAX_SIZE = MAX_CALL_BYTES

    async def check_caller(request: Request, **_: Any) -> None:
        if request.path in OPEN_PATHS or presents(request, token):
            return
        log.warning("Refused %s %s from %s: no valid action token", request.method, request.path, request.ip)
        raise Unauthorized(f"this server runs only calls from the Rasa server ({HEADER} header)", scheme=SCHEME)

    # After routing, before Sanic reads the body (request middleware would run after).
    app.signal(Event.HTTP_ROUTING_AFTER.value)(check_caller)
    app.exception(SanicException)(_refusal)


async def _refusal(request: Request, exception: SanicException) -> HTTPResponse:
    """401, 404, 413 … keep their status: rasa_sdk's catch-all handler would answer 500."""
    return response.json({"error": str(exception)}, status=exception.status_code,
                         headers=getattr(exception, "headers", None))


class CallerCheck:
    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        try:
            token = required_token()
        except ValueError as error:
            raise SystemExit(f"The action server cannot start: {error}") from None
        guard(app, token)


def install() -> None:
    """Called when the actions package loads; rasa_sdk's server then attaches the check."""
    manager: Any = plugin_manager()
    if not any(isinstance(plugin, CallerCheck) for plugin in manager.get_plugins()):
        manager.register(CallerCheck())
