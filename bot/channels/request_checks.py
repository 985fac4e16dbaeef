"""The shape of a chat message from a REST client or the web widget, checked before Rasa sees it.

Rasa's REST and socket.io channels read ``sender``, ``message`` and ``metadata`` without
checking them: a JSON list or a number where text belongs fails deep inside (an HTTP 500 or
an exception in the socket.io handler), and an odd sender id reaches the tracker store. Here a
malformed message gets a clear reason instead, and is not processed.
"""
from __future__ import annotations

import json
from typing import Any

from sanic import Blueprint
from sanic.http import Http
from sanic.request import Request
from sanic_routing import Route

from bot.json_body import decode_json

# The SQL tracker store keeps sender ids in a VARCHAR(255) column.
MAX_SENDER_CHARS = 255
# Metadata is stored with every turn and read back with the tracker: a widget sends a few
# fields, so more than this is refused rather than carried in every later turn.
MAX_METADATA_CHARS = 4096
# A REST body: ten times the longest message the channels read (2,000 characters, \u-escaped).
MAX_REST_BODY_BYTES = 64 * 1024


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
    if metadata is not None and not isinstance(metadata, dict):
        return '"metadata" must be a JSON object'
    if metadata and len(json.dumps(metadata, ensure_ascii=False)) > MAX_METADATA_CHARS:
        return f'"metadata" must be at most {MAX_METADATA_CHARS} characters as JSON'
    if data.get("input_channel") is not None and not isinstance(data.get("input_channel"), str):
        return '"input_channel" must be a string'
    return None


def read_rest_body(body: bytes) -> tuple[Any, str | None]:
    """(the decoded body, None), or (None, why it is not ``{"sender": "…", "message": "…"}``)."""
    data, problem = decode_json(body)
    problem = problem or message_problem(data, "sender")
    return (None, problem) if problem else (data, None)


def refuse_long_bodies_unread(blueprint: Blueprint, max_bytes: int) -> None:
    """Sanic reads a body whole, up to the server's cap, before any middleware runs. On the
    routes of ``blueprint`` the cap is ``max_bytes``: Sanic answers 413 to a longer
    Content-Length before reading a byte of the body, and stops a chunked one when it passes."""

    # A blueprint's signal runs for every request to the app, hence the check of the route.
    @blueprint.signal("http.routing.after")
    async def cap_the_body(request: Request, route: Route, **_: Any) -> None:
        if isinstance(request.stream, Http) and route in blueprint.routes:  # Http: not the ASGI test client
            request.stream.request_max_size = min(request.stream.request_max_size, max_bytes)
