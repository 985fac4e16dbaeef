"""Rasa's socket.io channel (the web widget) with secrets masked on the way in, open only
to the server's own pages and the origins in FANZHA_WIDGET_ORIGINS (bot/rasa_patches/origins.py).

With FANZHA_SOCKETIO_REDIS_URL set, the Rasa server replicas share their socket.io rooms
through Redis: a message for a resident (an agent's reply from the console, the claim-timeout
message, a turn's answers) reaches them from any replica, not only the one holding their socket.

The page sends a picture over HTTP, not the socket: ``POST /webhooks/socketio/picture`` with the
picture's bytes as the body and the session's id and token in the X-Fanzha-Session and
X-Fanzha-Session-Token headers. The origin, the token and the size are checked as soon as the
route is known, before the body is read; the answers (what was read, the check) go to the
session's room like any turn's (bot/channels/pictures.py).
"""
from __future__ import annotations

import logging
import os
import uuid
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import urlsplit

import socketio
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint, response
from sanic.exceptions import Forbidden
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_routing import Route

from bot.channels import client_address
from bot.channels.masking import MaskingMixin
from bot.channels.pictures import PictureMessage
from bot.channels.request_checks import handler_name, message_problem, refuse_long_bodies_unread, request_environ, sender_problem
from bot.channels.session_tokens import SessionTokens, session_tokens
from bot.rasa_patches.origins import origin_allowed, widget_origins
from bot.services.pictures import MAX_PICTURE_BYTES

logger = logging.getLogger(__name__)

SHARED_ROOMS_URL = "FANZHA_SOCKETIO_REDIS_URL"
# Redis pub/sub channels ignore the database number: the name keeps fanzha's apart from other
# programs' socket.io messages on the same Redis.
SHARED_ROOMS_CHANNEL = "fanzha-socketio"
REDIS_SCHEMES = ("redis", "rediss", "unix")
REDIS_CONNECT_TIMEOUT_S = 5
PICTURE_PATH = "/picture"  # under the channel's prefix: /webhooks/socketio/picture
PICTURE_HANDLER = "picture"
SESSION_HEADER = "X-Fanzha-Session"
SESSION_TOKEN_HEADER = "X-Fanzha-Session-Token"


def shared_rooms_manager(env: Mapping[str, str] = os.environ) -> socketio.AsyncRedisManager | None:
    """The Redis client manager the replicas share, or None (one process: rooms in memory)."""
    url = env.get(SHARED_ROOMS_URL, "").strip()
    if not url:
        return None
    # AsyncRedisManager connects only on the first message, so a wrong URL would go unnoticed
    # until then: refuse it at start.
    parts = urlsplit(url)
    problem = (f"its scheme is {parts.scheme!r}" if parts.scheme not in REDIS_SCHEMES
               else "it names no host" if not (parts.hostname or parts.path) else None)
    if problem:  # the URL itself is not quoted: it may hold the password
        raise ValueError(f"{SHARED_ROOMS_URL} must be redis://[:password@]host:port/db (or rediss://, unix://): {problem}")
    # Each emit publishes after delivering locally: a Redis that does not answer must not hold
    # up a turn's replies for the system's TCP timeout (no read timeout: the listener waits).
    return socketio.AsyncRedisManager(url, channel=SHARED_ROOMS_CHANNEL,
                                      redis_options={"socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S})


class SocketIOChannel(MaskingMixin, SocketIOInput):
    knows_client_address = True  # the rate limit per address (bot/channels/rate_limit.py)

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint
        # Rasa builds the AsyncServer inside its blueprint; its manager is swapped before the
        # first connection, which is when python-socketio starts the manager's Redis listener.
        # Every emit (SocketIOOutput, which the console's Desk uses too) then goes through it.
        manager = shared_rooms_manager()
        if manager is not None:
            sio.manager = manager
            manager.set_server(sio)
            logger.info("socket.io: rooms shared with the other replicas through Redis")
        allowed = widget_origins()
        tokens = session_tokens()
        rasa_connect = sio.handlers[self.namespace or "/"]["connect"]

        # Rasa turned engine.io's CORS off for its --cors on every route; here engine.io answers
        # the widget sites' long-polling requests with CORS headers itself, on this path only and
        # without credentials (the chat uses no cookie), and refuses other origins (bot/rasa_patches/origins.py).
        sio.eio.cors_allowed_origins = lambda origin, environ: origin_allowed(origin, environ, allowed)
        sio.eio.cors_credentials = False

        # Browsers apply no CORS to WebSockets: a page on any site could open the chat. Only
        # the server's own pages and the configured widget origins may connect.
        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: Any = None) -> bool:
            if not origin_allowed(environ.get("HTTP_ORIGIN"), environ, allowed):
                logger.info("socket.io: refused a connection from origin %s", environ.get("HTTP_ORIGIN"))
                return False
            return await rasa_connect(sid, environ, auth)

        # Rasa 3.6 calls sio.enter_room() without await; python-socketio >= 5.10 made it a
        # coroutine, so with session_persistence the browser never joined its session's room
        # and never saw a reply (RasaHQ/rasa#13027). This handler replaces Rasa's.
        # A socket follows one session: Rasa's handler left the socket in every session it had
        # asked for, so a connection that asked again and again grew the server's rooms (about
        # 1 KB each) until it closed, and got the replies of sessions it had left.
        # A session is resumed only with the token it was confirmed with (bot/channels/
        # session_tokens.py): anyone can send an id, only its own page has the token.
        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            token = data.get("session_token") if isinstance(data, dict) else None
            if sender_problem(session_id, "session_id") or not tokens.valid(session_id, token):  # type: ignore[arg-type]
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                for room in sio.rooms(sid, namespace=self.namespace):
                    if room not in (sid, session_id):
                        await sio.leave_room(sid, room, namespace=self.namespace)
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            # An object, as Rasa's own web chat widget also reads it.
            confirm = {"session_id": session_id, "session_token": tokens.issue(session_id)}  # type: ignore[arg-type]  # a str by now
            await sio.emit("session_confirm", confirm, room=sid, namespace=self.namespace)

        # Rasa's handler fails on a message that is not {"message": "…", "session_id": "…"};
        # such a message is logged and dropped here, and the connection goes on.
        rasa_handler = sio.handlers[self.namespace or "/"][self.user_message_evt]

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            sender_field = "session_id" if self.session_persistence else None
            problem = message_problem(data, sender_field, metadata_as_text=True)
            if problem:
                logger.warning("socket.io: dropped a malformed message from %s: %s", sid, problem)
                return
            # Rasa takes the sender from the message: only the session this socket was confirmed
            # in (the room it is in) may be spoken in, not any id the client names.
            session_id = data.get("session_id")
            if sender_field and (session_id == sid or session_id not in sio.rooms(sid, namespace=self.namespace)):
                logger.warning("socket.io: dropped a message from %s for a session it was not confirmed in", sid)
                return
            # The connection's address, for the rate limit per address (this event's task only).
            client_address.remember(client_address.socket_address(sio.get_environ(sid, namespace=self.namespace)))
            await rasa_handler(sid, data)

        if self.session_persistence:  # a picture's answers go to its session's room
            self._add_picture_route(blueprint, allowed, tokens)
        return blueprint

    def _add_picture_route(self, blueprint: Blueprint, allowed: tuple[str, ...], tokens: SessionTokens) -> None:
        def refusal(request: Request) -> str | None:
            if not origin_allowed(request.headers.get("origin"), request_environ(request), allowed):
                return "pictures from other web sites are refused"
            session_id = request.headers.get(SESSION_HEADER)
            if sender_problem(session_id, SESSION_HEADER) or not tokens.valid(session_id, request.headers.get(SESSION_TOKEN_HEADER)):  # type: ignore[arg-type]
                return "a picture needs its chat session's id and token"
            return None

        # Before the body is read: a request that may not post here never gets it read.
        refuse_long_bodies_unread(blueprint, MAX_PICTURE_BYTES)

        @blueprint.signal("http.routing.after")
        async def check_the_session(request: Request, route: Route, **_: Any) -> None:
            if route in blueprint.routes and handler_name(route) == PICTURE_HANDLER:
                problem = refusal(request)
                if problem:
                    raise Forbidden(problem)

        @blueprint.route(PICTURE_PATH, methods=["POST"], name=PICTURE_HANDLER)
        async def picture(request: Request) -> HTTPResponse:
            if len(request.body or b"") > MAX_PICTURE_BYTES:  # only reached without Sanic's own HTTP (ASGI)
                return response.json({"error": f"the picture must be at most {MAX_PICTURE_BYTES} bytes"}, status=413)
            client_address.remember(client_address.address_of(request))
            message = PictureMessage(request.body, self.get_output_channel(), request.headers[SESSION_HEADER],
                                     input_channel=self.name())
            try:
                await self.on_cleaned_message(message)
            except Exception as error:  # the answer so far went out through the socket
                logger.error("socket.io: a picture turn failed: %s", type(error).__name__)
            # The resident's answers went to the session's room; this says only what became of it.
            return response.json({"outcome": message.outcome}, headers={"Cache-Control": "no-store"})
