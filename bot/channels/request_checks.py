"""The shape of a chat message from a REST client or the web widget, checked before Rasa sees it.

Rasa's REST and socket.io channels read ``sender``, ``message`` and ``metadata`` without
checking them: a JSON list or a number where text belongs fails deep inside (an HTTP 500 or
an exception in the socket.io handler), and an odd sender id reaches the tracker store. Here a
malformed message gets a clear reason instead, and is not processed.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Mapping

from sanic import Blueprint
from sanic.http import Http
from sanic.request import Request
from sanic_routing import Route

from bot.services.json_body import decode_json
from bot.services.pictures import MAX_PICTURE_BYTES

# The SQL tracker store keeps sender ids in a VARCHAR(255) column.
MAX_SENDER_CHARS = 255
# Metadata is stored with every turn and read back with the tracker: a widget sends a few
# fields, so more than this is refused rather than carried in every later turn.
MAX_METADATA_CHARS = 4096
# A REST body: ten times the longest message the channels read (2,000 characters, \u-escaped).
MAX_REST_BODY_BYTES = 64 * 1024
# A REST picture post (POST /webhooks/rest/picture): the largest picture, base64-encoded, and
# room for the sender id and metadata. Only that route takes it; a message keeps its 64 KB.
MAX_PICTURE_POST_BYTES = 4 * math.ceil(MAX_PICTURE_BYTES / 3) + MAX_REST_BODY_BYTES


def sender_problem(sender: Any, field: str) -> str | None:
    if not isinstance(sender, str) or not sender.strip():
        return f'"{field}" must be a non-empty string'
    if len(sender) > MAX_SENDER_CHARS:
        return f'"{field}" must have at most {MAX_SENDER_CHARS} characters'
    if not sender.isprintable():
        return f'"{field}" must not contain control characters'
    return None


def message_problem(data: Any, sender_field: str | None, metadata_as_text: bool = False) -> str | None:
    """Why ``data`` is not a chat message (None when it is one); ``sender_field`` names the
    sender id's key, or None when the channel chooses the sender itself; ``metadata_as_text``:
    metadata may also come as JSON text (Rasa's socket.io channel reads it so)."""
    if not isinstance(data, dict):
        return "the message must be a JSON object"
    if sender_field is not None:
        problem = sender_problem(data.get(sender_field), sender_field)
        if problem:
            return problem
    if not isinstance(data.get("message"), str):
        return '"message" must be a string'
    metadata = data.get("metadata")
    if metadata_as_text and isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return '"metadata" must be a JSON object'
    problem = metadata_problem(metadata)
    if problem:
        return problem
    if data.get("input_channel") is not None and not isinstance(data.get("input_channel"), str):
        return '"input_channel" must be a string'
    return None


def metadata_problem(metadata: Any) -> str | None:
    if metadata is not None and not isinstance(metadata, dict):
        return '"metadata" must be a JSON object'
    if metadata and len(json.dumps(metadata, ensure_ascii=False)) > MAX_METADATA_CHARS:
        return f'"metadata" must be at most {MAX_METADATA_CHARS} characters as JSON'
    return None


def read_rest_body(body: bytes) -> tuple[Any, str | None]:
    """(the decoded body, None), or (None, why it is not ``{"sender": "…", "message": "…"}``)."""
    data, problem = decode_json(body)
    problem = problem or message_problem(data, "sender")
    return (None, problem) if problem else (data, None)


def read_picture_post(body: bytes) -> tuple[dict[str, Any], bytes, str | None]:
    """A REST picture post ``{"sender": "…", "picture": "<base64>", "metadata": {…}}``:
    (its fields but the picture, the picture's bytes, None), or ({}, b"", why it is not one).
    The picture may be wrapped in lines (as the base64 tool writes it); it is checked as a
    picture later (bot.services.pictures), so a resident gets a plain answer for what is not one."""
    data, problem = decode_json(body)
    if problem is None and not isinstance(data, dict):
        problem = "the picture post must be a JSON object"
    if problem is None:
        problem = (sender_problem(data.get("sender"), "sender") or metadata_problem(data.get("metadata"))
                   or ('"message" cannot go with a picture: send the text as a message of its own'
                       if "message" in data else None))
    encoded = data.pop("picture", None) if problem is None else None
    if problem is None and (not isinstance(encoded, str) or not encoded.strip()):
        problem = '"picture" must be the picture in base64'
    if problem:
        return {}, b"", problem
    try:
        picture = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        return {}, b"", '"picture" is not valid base64'
    return data, picture, None


def refuse_long_bodies_unread(blueprint: Blueprint, max_bytes: int, by_handler: Mapping[str, int] | None = None) -> None:
    """Sanic reads a body whole, up to the server's cap, before any middleware runs. On the
    routes of ``blueprint`` the cap is ``max_bytes`` (or ``by_handler[name]`` for the route whose
    handler is so named): Sanic answers 413 to a longer Content-Length before reading a byte of
    the body, and stops a chunked one when it passes."""
    caps = dict(by_handler or {})

    # A blueprint's signal runs for every request to the app, hence the check of the route.
    @blueprint.signal("http.routing.after")
    async def cap_the_body(request: Request, route: Route, **_: Any) -> None:
        if isinstance(request.stream, Http) and route in blueprint.routes:  # Http: not the ASGI test client
            cap = caps.get(handler_name(route), max_bytes)
            request.stream.request_max_size = min(request.stream.request_max_size, cap)


def handler_name(route: Route) -> str:
    """The name of a route's handler: Sanic names a route <app>.<blueprint>.<handler>."""
    return route.name.rsplit(".", 1)[-1]


def request_environ(request: Request) -> dict[str, str]:
    """The request's host, scheme and forwarded headers, named as bot.rasa_patches.origins reads them."""
    environ = {"HTTP_HOST": request.host, "wsgi.url_scheme": request.scheme}
    for header in ("x-forwarded-proto", "x-forwarded-host"):
        if header in request.headers:
            environ["HTTP_" + header.upper().replace("-", "_")] = request.headers[header]
    return environ
