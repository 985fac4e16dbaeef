"""Rasa's REST channel (``/webhooks/rest/webhook``) with secrets masked on the way in.

Browsers may post here only from the server's own pages and the configured widget origins
(bot/rasa_patches/origins.py): a ``text/plain`` POST needs no CORS preflight, so without this check any web
page a resident opens could speak in a conversation of its choosing. Clients without an Origin
header (curl, servers, the benches) are not browsers and pass.

A picture goes to ``POST /webhooks/rest/picture`` as ``{"sender": "…", "picture": "<base64>",
"metadata": {…}}``; the answer is the same list of messages, the first saying what was read
(bot/channels/pictures.py). Its own route, so that its larger cap (MAX_PICTURE_POST_BYTES) is
known from the path before the body is read, and messages keep their 64 KB."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import client_address
from bot.channels.masking import MaskingMixin
from bot.channels.pictures import PictureMessage
from bot.channels.request_checks import (
    MAX_PICTURE_POST_BYTES,
    MAX_REST_BODY_BYTES,
    handler_name,
    read_picture_post,
    read_rest_body,
    refuse_long_bodies_unread,
    request_environ,
)
from bot.rasa_patches.origins import origin_allowed, widget_origins

logger = logging.getLogger(__name__)
PICTURE_HANDLER = "picture"  # the handler's name: POST /webhooks/rest/picture


class RestChannel(MaskingMixin, RestInput):
    knows_client_address = True  # the rate limit per address (bot/channels/rate_limit.py)

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        allowed = widget_origins()
        refuse_long_bodies_unread(blueprint, MAX_REST_BODY_BYTES, {PICTURE_HANDLER: MAX_PICTURE_POST_BYTES})

        # A body that is not {"sender": "…", "message": "…"} gets 400 and the reason; Rasa's
        # handler would answer 500 or store a turn under a malformed sender id.
        @blueprint.middleware("request")
        async def check_body(request: Request) -> HTTPResponse | None:
            if request.method != "POST":
                return None
            if not origin_allowed(request.headers.get("origin"), request_environ(request), allowed):
                return response.json({"error": "posts from other web sites are refused"}, status=403)
            picture = request.route is not None and handler_name(request.route) == PICTURE_HANDLER
            cap = MAX_PICTURE_POST_BYTES if picture else MAX_REST_BODY_BYTES
            if len(request.body or b"") > cap:
                return response.json({"error": f"the body must be at most {cap} bytes"}, status=413)
            if picture:
                data, request.ctx.picture, problem = read_picture_post(request.body or b"")
            else:
                data, problem = read_rest_body(request.body or b"")
            if problem:
                return response.json({"error": problem}, status=400)
            data.pop("input_channel", None)  # the channel is this one, whatever the client says
            request.parsed_json = data  # type: ignore[assignment]  # Rasa's handler reads this, not a second parse
            client_address.remember(client_address.address_of(request))
            return None

        @blueprint.route("/picture", methods=["POST"], name=PICTURE_HANDLER)
        async def picture(request: Request) -> HTTPResponse:
            data: dict[str, Any] = request.parsed_json  # type: ignore[assignment]  # set by the check above
            collector = CollectingOutputChannel()
            message = PictureMessage(request.ctx.picture, collector, data["sender"], input_channel=self.name(),
                                     metadata=data.get("metadata"))
            request.ctx.picture = b""  # the decoded picture: only the message holds it, until it is read
            try:
                await self.on_cleaned_message(message)
            except Exception as error:  # as Rasa's own REST handler: answer with what was said
                logger.error("rest: a picture turn failed: %s", type(error).__name__)
            return response.json(collector.messages)

        return blueprint
