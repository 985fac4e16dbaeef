"""The action server refuses a malformed call with 400 and the reason.

rasa_sdk's ``/webhook`` reads the call without checking it: a JSON list, a missing tracker or
undecodable bytes end in an HTTP 500 (whose error handler then fails again reading the body).
A request middleware, attached through rasa_sdk's own plugin hook, checks the call's shape
first; a call that passes is handled by rasa_sdk unchanged.
"""
from __future__ import annotations

import json
import zlib
from typing import Any

import pluggy
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

hookimpl = pluggy.HookimplMarker("rasa_sdk")

# A long conversation's tracker is a few MB at most; a compressed body may not unpack beyond this.
MAX_CALL_BYTES = 32 * 1024 * 1024
_TRACKER_FIELDS = {"slots": dict, "latest_message": dict, "events": list, "active_loop": dict}


def _body(request: Request) -> tuple[bytes | None, str | None]:
    body = request.body or b""
    if request.headers.get("content-encoding") != "deflate":
        return body, None
    unpacker = zlib.decompressobj()
    try:
        data = unpacker.decompress(body, MAX_CALL_BYTES)
    except zlib.error:
        return None, "the body is not deflate-compressed data"
    if unpacker.unconsumed_tail:
        return None, f"the body unpacks to more than {MAX_CALL_BYTES} bytes"
    return data, None


def call_problem(request: Request) -> str | None:
    """Why the request is not an action call (None when it is one)."""
    body, problem = _body(request)
    if problem or body is None:
        return problem
    try:
        call = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return "the body must be JSON in UTF-8"
    except ValueError as error:
        return f"the body is not valid JSON: {error}"
    if not isinstance(call, dict):
        return "an action call must be a JSON object"
    if not isinstance(call.get("next_action"), str) or not call["next_action"]:
        return '"next_action" must name an action'
    tracker = call.get("tracker")
    if not isinstance(tracker, dict) or not isinstance(tracker.get("sender_id"), str):
        return '"tracker" must be an object with a "sender_id"'
    for field, kind in _TRACKER_FIELDS.items():
        if tracker.get(field) is not None and not isinstance(tracker[field], kind):
            return f'"tracker.{field}" must be a JSON {"object" if kind is dict else "array"}'
    if not all(isinstance(event, dict) for event in tracker.get("events") or []):
        return '"tracker.events" must hold objects'
    if call.get("domain") is not None and not isinstance(call["domain"], dict):
        return '"domain" must be a JSON object'
    return None


async def check_call(request: Request) -> HTTPResponse | None:
    if request.method != "POST" or request.path != "/webhook":
        return None
    problem = call_problem(request)
    return response.json({"error": problem}, status=400) if problem else None


class RequestCheck:
    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        app.register_middleware(check_call, "request")


def install() -> None:
    """Called when the actions package loads; ``rasa run actions`` then attaches the check."""
    manager: Any = plugin_manager()
    if not any(isinstance(plugin, RequestCheck) for plugin in manager.get_plugins()):
        manager.register(RequestCheck())
