"""Rasa's HTTP API answers a body it cannot read with a 400 and a reason, before Rasa reads it.

Rasa's handlers (rasa/server.py) read the body as JSON and turn much of what goes wrong into a
500: a body that is not JSON (/model/parse), JSON that is not the object they call ``.get``
on, a lone surrogate ("\\ud800", which the tracker store cannot encode), a message without
text. Here the routes that read JSON get their body checked first; a bad one gets Rasa's own
error format with status 400, and nothing reaches the agent or the tracker store.

Sanic reads a request's whole body before any middleware or handler runs, and Rasa checks the
token in the handler: a 10 MB body without a token was read and decoded before its 401. Here the
token of every route Rasa protects is checked as soon as the route is known, before the body is
read (Sanic's "http.routing.after" signal): a request without it gets Rasa's 401 at once, and its
body is only drained, never kept or decoded. And one cap holds for every body the server reads
(MAX_REQUEST_BYTES; Sanic's default is 100 MB): a Content-Length over it gets 413 before a byte
of the body is read.

Training and test routes (/model/train, /model/test/*) take YAML and are left to Rasa.

The API token is compared in constant time: Rasa checks ``provided == token``, which stops at
the first differing character. The token handed to Rasa is a ``str`` whose ``==`` uses
``hmac.compare_digest``; Python asks a subclass of the left operand's type first, so Rasa's
own comparison runs it.
"""
from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any, Optional

from sanic import Sanic
from sanic.request import Request
from sanic_routing import Route

from bot.services.json_body import decode_json, has_lone_surrogate

Shape = Callable[[Any], Optional[str]]  # why the decoded body does not fit a route, or None

# The largest body the API takes is a conversation's tracker (PUT /conversations/<id>/tracker/
# events): 60 turns of fanzha's conversations measured 261 KB (4.4 KB a turn), so 16 MB holds
# about 3,800 turns; training data (POST /model/train) is 160 KB. Sanic's own setting
# SANIC_REQUEST_MAX_SIZE still overrides it. The chat routes have their own, smaller caps.
MAX_REQUEST_BYTES = 16 * 1024 * 1024


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


def _token_checked_by_rasa() -> Any:
    """The code of the wrapper Rasa's ``requires_auth`` puts around each route it protects: a
    route whose handler runs this code is one of Rasa's API routes, whatever its name."""
    from rasa.server import requires_auth

    return requires_auth(None, None)(any_json).__code__  # type: ignore[arg-type]  # app: only kept


async def _authenticated(request: Request, token: str | None) -> bool:
    """Rasa's own decision (rasa.server.requires_auth), from the query and headers alone."""
    from rasa.utils.common import call_potential_coroutine

    provided = request.args.get("token")
    if token is not None and isinstance(provided, str) and token == provided:  # in constant time
        return True
    use_jwt = request.app.config.get("USE_JWT")
    if use_jwt and await call_potential_coroutine(request.app.ctx.auth.is_authenticated(request)):
        return True
    return token is None and use_jwt is None  # Rasa runs without authentication then


def refuse_unauthenticated_before_the_body(app: Sanic, token: str | None) -> None:
    """Rasa's 401 for its API routes, as soon as the route is known: Sanic reads the body next."""
    from rasa.server import ErrorResponse

    checked_by_rasa = _token_checked_by_rasa()
    token = ConstantTimeToken(token) if isinstance(token, str) else None

    @app.signal("http.routing.after")
    async def check_the_token(request: Request, route: Route, **_: Any) -> None:
        if getattr(route.handler, "__code__", None) is checked_by_rasa and not await _authenticated(request, token):
            raise ErrorResponse(HTTPStatus.UNAUTHORIZED, "NotAuthenticated", "User is not authenticated.")


def guard(app: Sanic, token: str | None = None) -> Sanic:
    """On Rasa's ``app`` (its API token ``token``): the token checked before the body is read,
    one cap on every body, and the JSON body of each of Rasa's routes that reads one checked."""
    names = {route.name for route in app.router.routes}
    wanted = {f"{app.name}.{handler}" for handler in BODY_SHAPES}
    missing = wanted - names
    if missing:  # a Rasa upgrade renamed a handler: it would go unchecked
        raise RuntimeError(f"Rasa's HTTP API has no route named {sorted(missing)}")
    refuse_unauthenticated_before_the_body(app, token)
    if "SANIC_REQUEST_MAX_SIZE" not in os.environ:
        app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES
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
        return guard(create_app(*args, **kwargs), kwargs.get("auth_token"))

    rasa.server.create_app = create_guarded_app  # rasa.core.run calls server.create_app


def uninstall() -> None:
    import rasa.server

    rasa.server.create_app = getattr(rasa.server.create_app, "__wrapped__", rasa.server.create_app)
