"""Rasa's HTTP API refuses bodies it cannot read with a 400 and a reason (bot/api_guard.py).

The app is Rasa's own create_app, guarded as the server guards it, without a model: a body that
passes the guard reaches Rasa's handler, which answers 409 ("no agent loaded"). The real
server's answers, and that nothing is stored, are checked in tests/test_bad_input.py.
"""
from __future__ import annotations

import hmac
import json
from collections.abc import Iterator

import pytest
import rasa.server
from sanic import Sanic

from bot import api_guard
from bot.json_body import has_lone_surrogate
from tests.bad_inputs import MALFORMED_JSON

TOKEN = "guard-test-token"
LONE_SURROGATE = json.dumps({"text": "\ud800", "sender": "user"}).encode()


@pytest.fixture
def installed() -> Iterator[None]:
    """api_guard.install(), undone afterwards: other tests get Rasa's create_app as it is."""
    rasas = rasa.server.create_app
    api_guard.install()
    yield
    rasa.server.create_app = rasas


@pytest.fixture(scope="module")
def app() -> Iterator[Sanic]:
    rasas = rasa.server.create_app
    api_guard.install()
    yield rasa.server.create_app(auth_token=TOKEN)  # as rasa.core.run creates it
    rasa.server.create_app = rasas


async def post(app: Sanic, path: str, body: bytes, method: str = "post", token: str | None = TOKEN):
    params = {"token": token} if token else {}
    _, response = await getattr(app.asgi_client, method)(path, params=params, content=body)
    return response


def test_lone_surrogates_are_found_in_keys_and_values_at_any_depth():
    assert has_lone_surrogate(json.loads(LONE_SURROGATE))
    assert has_lone_surrogate(json.loads('[{"\\udcff": 1}]'))
    assert has_lone_surrogate(json.loads("[" * 500 + '"\\ud800"' + "]" * 500))
    assert not has_lone_surrogate(json.loads('{"text": "\\ud83d\\ude00 我被骗了", "n": [1, null, true]}'))


@pytest.mark.parametrize("name", sorted({**MALFORMED_JSON, "lone-surrogate": LONE_SURROGATE}))
@pytest.mark.parametrize("path", ["/model/parse", "/conversations/someone/messages",
                                  "/conversations/someone/trigger_intent", "/conversations/someone/tracker/events",
                                  "/model/predict", "/model"])
async def test_a_body_rasa_cannot_read_gets_a_400_in_rasas_error_format(app, path, name):
    body = {**MALFORMED_JSON, "lone-surrogate": LONE_SURROGATE}[name]
    response = await post(app, path, body, method="put" if path == "/model" else "post")
    assert response.status == 400, response.text
    answer = response.json
    assert answer["status"] == "failure" and answer["code"] == 400 and answer["reason"] == "BadRequest"
    assert answer["message"].startswith("the body"), answer
    assert answer["version"] == rasa.__version__


@pytest.mark.parametrize("path, body, reason", [
    ("/model/parse", b"[]", "the body must be a JSON object"),
    ("/model/parse", b'{"q": "hi"}', '"text" must be a string'),
    ("/conversations/someone/messages", b'{"text": [], "sender": "user"}', '"text" must be a string'),
    ("/conversations/someone/execute", b'"action_listen"', "the body must be a JSON object"),
    ("/conversations/someone/tracker/events", b"[]", "the body must be an event or a non-empty list of events"),
])
async def test_json_of_the_wrong_shape_is_refused_with_its_reason(app, path, body, reason):
    response = await post(app, path, body)
    assert response.status == 400, response.text
    assert response.json["message"] == reason


async def test_readable_bodies_reach_rasa_and_the_token_is_still_checked(app):
    for path, body in [("/model/parse", '{"text": "对方让我转账 😀"}'),
                       ("/conversations/someone/messages", '{"text": "\\ud83d\\ude00", "sender": "user"}'),
                       ("/conversations/someone/tracker/events", '[{"event": "action", "name": "action_listen"}]')]:
        response = await post(app, path, body.encode())
        assert response.status == 409, response.text  # Rasa's handler: no model loaded
        assert (await post(app, path, body.encode(), token="wrong")).status == 401


async def test_routes_that_do_not_read_json_are_left_to_rasa(app):
    assert (await post(app, "/conversations/someone/predict", b"not json")).status == 409
    assert (await app.asgi_client.get("/version"))[1].status == 200


def test_installing_twice_guards_once_and_a_renamed_rasa_route_is_an_error(installed):
    api_guard.install()
    rasas = rasa.server.create_app.__wrapped__  # type: ignore[attr-defined]
    assert rasas.__module__ == "rasa.server" and not hasattr(rasas, "__wrapped__")
    with pytest.raises(RuntimeError, match="parse"):
        api_guard.guard(Sanic("not_rasa"))


def test_the_token_is_compared_in_constant_time(monkeypatch):
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    token = api_guard.ConstantTimeToken("s3cret")
    assert "s3cret" == token and not ("s3creT" == token) and "x" != token  # Rasa writes provided == token
    assert not ("密钥" == token) and not ("\ud800" == token)  # odd input: no exception
    assert len(compared) == 5


async def test_the_api_answers_the_right_token_only(app):
    assert (await post(app, "/model/parse", b'{"text": "hi"}', token="wrong-token")).status == 401
    assert (await post(app, "/model/parse", b'{"text": "hi"}', token=TOKEN + "x")).status == 401
