"""Rasa's REST channel (``/webhooks/rest/webhook``) with secrets masked on the way in."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from .masking import MaskingMixin
from .request_checks import read_rest_body


class RestChannel(MaskingMixin, RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)

        # A body that is not {"sender": "…", "message": "…"} gets 400 and the reason; Rasa's
        # handler would answer 500 or store a turn under a malformed sender id.
        @blueprint.middleware("request")
        async def check_body(request: Request) -> HTTPResponse | None:
            if request.method != "POST":
                return None
            data, problem = read_rest_body(request.body or b"")
            if problem:
                return response.json({"error": problem}, status=400)
            request.parsed_json = data  # Rasa's handler reads this, not a second parse
            return None

        return blueprint
