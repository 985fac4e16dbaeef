"""The action server refuses a malformed call with 400 and answers a repeated call once.

rasa_sdk's ``/webhook`` reads the call without checking it: a JSON list, a missing tracker or
undecodable bytes end in an HTTP 500 (whose error handler then fails again reading the body).
A request middleware, attached through rasa_sdk's own plugin hook, checks the call's shape
first; a call that passes is handled by rasa_sdk unchanged.

A compressed call (Content-Encoding: deflate, what Rasa sends with
COMPRESS_ACTION_SERVER_REQUEST) is unpacked at most to MAX_CALL_BYTES, the raw size limit: a
small "deflate bomb" gets 413 after that much, not the memory it would unpack to. Other
encodings (gzip, …) get 415: rasa_sdk reads only deflate, and Rasa sends nothing else.

A call is the whole tracker, so Rasa never sends the same call twice for two turns; the
same bytes again are a retry (a proxy, a client that timed out). The retry gets the first
call's answer and the action does not run again: a report is stored once.
"""
from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pluggy
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.signals import Event

from bot.services.json_body import decode_json

from .caller_check import MAX_CALL_BYTES

hookimpl = pluggy.HookimplMarker("rasa_sdk")

REPLAY_ENTRIES = 1000  # answers kept for retries, newest last
REPLAY_WAIT_S = 60.0  # a retry waits this long for the first call's answer
_TRACKER_FIELDS = {"slots": dict, "latest_message": dict, "events": list, "active_loop": dict}


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str


def _body(request: Request) -> bytes | Refusal:
    body = request.body or b""
    encoding = request.headers.get("content-encoding", "identity")  # exactly as rasa_sdk compares it
    if encoding == "identity":
        return body
    if encoding != "deflate":
        return Refusal(415, f"Content-Encoding {encoding!r} is not accepted: send deflate or none")
    unpacker = zlib.decompressobj()
    try:
        # One byte over the limit tells "too big" from "exactly the limit" without unpacking more.
        data = unpacker.decompress(body, MAX_CALL_BYTES + 1)
    except zlib.error:
        return Refusal(400, "the body is not deflate-compressed data")
    if len(data) > MAX_CALL_BYTES:
        return Refusal(413, f"the body unpacks to more than {MAX_CALL_BYTES} bytes")
    if not unpacker.eof:
        return Refusal(400, "the deflate-compressed body is cut short")
    return data


def read_call(request: Request) -> tuple[Any, Refusal | None]:
    """(the decoded action call, None), or (None, why the request is not one)."""
    body = _body(request)
    if isinstance(body, Refusal):
        return None, body
    call, problem = decode_json(body)
    problem = problem or _call_problem(call)
    return (None, Refusal(400, problem)) if problem else (call, None)


def _call_problem(call: Any) -> str | None:
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


class Replies:
    """Answers of recent calls by the SHA-256 of their body; calls in flight as futures."""

    def __init__(self, entries: int = REPLAY_ENTRIES) -> None:
        self.entries = entries
        self.calls: OrderedDict[str, "asyncio.Future[bytes]"] = OrderedDict()

    async def check(self, request: Request) -> HTTPResponse | None:
        if request.method != "POST" or request.path != "/webhook" or getattr(request.ctx, "failed", False):
            return None
        call, refusal = read_call(request)
        if refusal:
            return response.json({"error": refusal.error}, status=refusal.status)
        if request.headers.get("content-encoding") != "deflate":
            request.parsed_json = call  # rasa_sdk reads the call checked here, not a second parse
        key = hashlib.sha256(request.body or b"").hexdigest()
        earlier = self.calls.get(key)
        if earlier is not None:
            body = await asyncio.wait_for(asyncio.shield(earlier), REPLAY_WAIT_S)
            return response.raw(body, content_type="application/json")
        self.calls[key] = asyncio.get_running_loop().create_future()
        while len(self.calls) > self.entries:
            self.calls.popitem(last=False)
        request.ctx.call_key = key
        return None

    async def keep(self, request: Request, answer: HTTPResponse) -> None:
        key = getattr(request.ctx, "call_key", None)
        future = self.calls.pop(key, None) if key else None
        if future is None or future.done():
            return
        if answer.status == 200:
            future.set_result(answer.body or b"")
            self.calls[key] = future  # type: ignore[index]  # answered: a retry gets this (key is set: future was found)
        else:
            future.set_exception(RuntimeError("the first call failed"))
            future.exception()  # retrieved: nobody may be waiting


async def _mark_failed(request: Request | None, **_: Any) -> None:
    """Sanic runs the request middleware again before it answers an error (a caller refused, a
    body over the limit and never read, a handler that raised): those stay the error's answer."""
    if request is not None:
        request.ctx.failed = True


class RequestCheck:
    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        replies = Replies()
        app.register_middleware(replies.check, "request")
        app.register_middleware(replies.keep, "response")  # type: ignore[arg-type]  # Sanic's hint omits HTTPResponse
        app.signal(Event.HTTP_LIFECYCLE_EXCEPTION.value)(_mark_failed)


def install() -> None:
    """Called when the actions package loads; ``rasa run actions`` then attaches the check."""
    manager: Any = plugin_manager()
    if not any(isinstance(plugin, RequestCheck) for plugin in manager.get_plugins()):
        manager.register(RequestCheck())
