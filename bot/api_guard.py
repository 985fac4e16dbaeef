"""Rasa's HTTP API answers a body it cannot read with a 400 and a reason, before Rasa reads it.

Rasa's handlers (rasa/server.py) read the body as JSON and turn much of what goes wrong into a
500: a body that is not JSON (/model/parse), JSON that is not the object they call ``.get``
on, a lone surrogate ("\\ud800", which the tracker store cannot encode), a message without
text. Here the routes that read JSON get their body checked first; a bad one gets Rasa's own
error format with status 400, and nothing reaches the agent or the tracker store. The check
runs before Rasa's token check: a refusal names only what is wrong with the body.

Training and test routes (/model/train, /model/test/*) take YAML and are left to Rasa.

The API token is compared in constant time: Rasa checks ``provided == token``, which stops at
the first differing character. The token handed to Rasa is a ``str`` whose ``==`` uses
``hmac.compare_digest``; Python asks a subclass of the left operand's type first, so Rasa's
own comparison runs it.
"""
from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any, Optional

from sanic import Sanic
from sanic.request import Request

from bot.json_body import decode_json, has_lone_surrogate

Shape = Callable[[Any], Optional[str]]  # why the decoded body does not fit a route, or None


def any_json(_: Any) -> str | None:
    return None


def an_object(data: Any) -> str | None:
    return None if isinstance(data, dict) else "the body must be a JSON object"


def a_text(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "the body must be a JSON object"
    return None if isinstance(data.get("text"), str) else '"text" must be a string'


def events(data: Any) -> str | None:
    if isinstance(data, dict) or (isinstance(data, list) and data):
        return None
    return "the body must be an event or a non-empty list of events"


# Rasa's handlers that read the body as JSON (route names in rasa/server.py's create_app),
# and what each needs the JSON to be.
BODY_SHAPES: dict[str, Shape] = {
    "parse": a_text,  # POST /model/parse
    "add_message": a_text,  # POST /conversations/<id>/messages
    "trigger_intent": an_object,  # POST /conversations/<id>/trigger_intent
    "execute_action": an_object,  # POST /conversations/<id>/execute
    "append_events": events,  # POST /conversations/<id>/tracker/events
    "replace_events": any_json,  # PUT /conversations/<id>/tracker/events (Rasa checks the events)
    "tracker_predict": any_json,  # POST /model/predict (Rasa checks the events)
    "load_model": an_object,  # PUT /model
}


def read_body(body: bytes, shape: Shape) -> tuple[Any, str | None]:
    """(the decoded body, None), or (None, why Rasa should not read it)."""
    if not body:
        return None, "the body is empty: it must be JSON"
    data, problem = decode_json(body)
    if problem is None and has_lone_surrogate(data):
        problem = "the body holds a lone surrogate (such as \\ud800), which is not text"
    problem = problem or shape(data)
    return (None, problem) if problem else (data, None)


async def refuse_unreadable_body(request: Request) -> None:
    """Request middleware for the routes in BODY_SHAPES."""
    from rasa.server import ErrorResponse  # here: the server imports Rasa after its own settings

    data, problem = read_body(request.body, BODY_SHAPES[request.route.name.split(".", 1)[1]])
    if problem:
        raise ErrorResponse(HTTPStatus.BAD_REQUEST, "BadRequest", problem, {"in": "body"})
    request.parsed_json = data  # Rasa reads the JSON that was checked, not a second parse


def guard(app: Sanic) -> Sanic:
    """Check the JSON body of each of Rasa's routes that reads one, on Rasa's ``app``."""
    names = {route.name for route in app.router.routes}
    wanted = {f"{app.name}.{handler}" for handler in BODY_SHAPES}
    missing = wanted - names
    if missing:  # a Rasa upgrade renamed a handler: it would go unchecked
        raise RuntimeError(f"Rasa's HTTP API has no route named {sorted(missing)}")
    app.register_named_middleware(refuse_unreadable_body, wanted, "request")
    return app


class ConstantTimeToken(str):
    """A token whose equality takes as long whatever the other string is."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(self.encode("utf-8", "surrogatepass"), other.encode("utf-8", "surrogatepass"))

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__


def install() -> None:
    """Every Rasa HTTP API this process creates from now on gets ``guard``."""
    import rasa.server

    create_app = rasa.server.create_app
    if hasattr(create_app, "__wrapped__"):
        return  # installed already

    @wraps(create_app)
    def create_guarded_app(*args: Any, **kwargs: Any) -> Sanic:
        if isinstance(kwargs.get("auth_token"), str):
            kwargs["auth_token"] = ConstantTimeToken(kwargs["auth_token"])
        return guard(create_app(*args, **kwargs))

    rasa.server.create_app = create_guarded_app  # rasa.core.run calls server.create_app
