"""Rasa's REST channel (``/webhooks/rest/webhook``) with secrets masked on the way in.

Browsers may post here only from the server's own pages and the configured widget origins
(bot/origins.py): a ``text/plain`` POST needs no CORS preflight, so without this check any web
page a resident opens could speak in a conversation of its choosing. Clients without an Origin
header (curl, servers, the benches) are not browsers and pass."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.origins import origin_allowed, widget_origins

from . import client_address
from .masking import MaskingMixin
from .request_checks import MAX_REST_BODY_BYTES, read_rest_body, refuse_long_bodies_unread


class RestChannel(MaskingMixin, RestInput):
    knows_client_address = True  # the rate limit per address (bot/channels/rate_limit.py)

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        allowed = widget_origins()
        refuse_long_bodies_unread(blueprint, MAX_REST_BODY_BYTES)

        # A body that is not {"sender": "…", "message": "…"} gets 400 and the reason; Rasa's
        # handler would answer 500 or store a turn under a malformed sender id.
        @blueprint.middleware("request")
        async def check_body(request: Request) -> HTTPResponse | None:
            if request.method != "POST":
                return None
            if not origin_allowed(request.headers.get("origin"), _environ(request), allowed):
                return response.json({"error": "posts from other web sites are refused"}, status=403)
            if len(request.body or b"") > MAX_REST_BODY_BYTES:
                return response.json({"error": f"the body must be at most {MAX_REST_BODY_BYTES} bytes"}, status=413)
            data, problem = read_rest_body(request.body or b"")
            if problem:
                return response.json({"error": problem}, status=400)
            data.pop("input_channel", None)  # the channel is this one, whatever the client says
            request.parsed_json = data  # Rasa's handler reads this, not a second parse
            client_address.remember(client_address.address_of(request))
            return None

        return blueprint


def _environ(request: Request) -> dict[str, str]:
    """The request's host, scheme and forwarded headers, named as bot.origins reads them."""
    environ = {"HTTP_HOST": request.host, "wsgi.url_scheme": request.scheme}
    for header in ("x-forwarded-proto", "x-forwarded-host"):
        if header in request.headers:
            environ["HTTP_" + header.upper().replace("-", "_")] = request.headers[header]
    return environ
