"""Rasa's HTTP API refuses bodies it cannot read with a 400 and a reason, and a request without
the token or over the body cap before reading its body (bot/rasa_patches/api_guard.py).

The app is Rasa's own create_app, guarded as the server guards it, without a model: a body that
passes the guard reaches Rasa's handler, which answers 409 ("no agent loaded"). The real
server's answers, and that nothing is stored, are checked in tests/test_bad_input.py.
"""
from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Iterator

import pytest
import rasa.server
from sanic import Sanic

from bot.rasa_patches import api_guard
from bot.services import json_body
from bot.services.json_body import has_lone_surrogate
from tests.bad_inputs import MALFORMED_JSON
from tests.serving import answer_to_head, serving

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


# --- before the body is read: the token, and one cap on every body (real connections) -------------

TEN_MB = 10 * 1024 * 1024
BODY_ROUTES = [("POST", "/model/parse"), ("PUT", "/conversations/someone/tracker/events"), ("POST", "/model/train")]


@pytest.fixture
async def served() -> AsyncIterator[int]:
    """Rasa's API, guarded as the server guards it, on a loopback port."""
    rasas = rasa.server.create_app
    api_guard.install()
    try:
        app = rasa.server.create_app(auth_token=TOKEN)
    finally:
        rasa.server.create_app = rasas
    async with serving(app) as port:
        yield port


@pytest.mark.parametrize("query", ["", "?token=wrong", f"?token={TOKEN}x"])
async def test_a_request_without_the_token_is_refused_before_its_body_is_sent(served, query):
    """The 401 comes while not one byte of a 10 MB body has been sent (it was decoded first)."""
    for method, path in BODY_ROUTES:
        assert await answer_to_head(served, method, path + query, TEN_MB) == 401, path


async def test_a_10_mb_body_without_the_token_is_never_decoded(app, monkeypatch):
    decoded = []
    monkeypatch.setattr(api_guard, "decode_json", lambda body: decoded.append(len(body)) or json_body.decode_json(body))
    body = json.dumps({"text": "啊" * (TEN_MB // 6)}).encode()
    for token in (None, "wrong"):
        response = await post(app, "/model/parse", body, token=token)
        assert response.status == 401 and response.json["reason"] == "NotAuthenticated"
    assert decoded == []
    assert (await post(app, "/model/parse", b'{"text": "hi"}')).status == 409 and decoded == [14]  # with it: read


@pytest.mark.parametrize("length", [api_guard.MAX_REQUEST_BYTES + 1, 200_000_000])
async def test_a_body_over_the_cap_is_refused_413_before_it_is_sent(served, length):
    for method, path in BODY_ROUTES:
        assert await answer_to_head(served, method, f"{path}?token={TOKEN}", length) == 413, path


async def test_a_very_long_tracker_is_still_taken_with_the_token(served):
    """A conversation's events as the API sends them back: 4.4 KB a turn measured; 2,000 turns."""
    said = "对方说我涉嫌洗钱，让我把钱转到安全账户" * 20
    turn = [{"event": "user", "text": said, "parse_data": {"intent": {"name": "report_scam"}}},
            {"event": "action", "name": "action_listen"}]
    body = json.dumps(turn * 2000).encode()
    assert 4_000_000 < len(body) < api_guard.MAX_REQUEST_BYTES
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    writer.write(f"PUT /conversations/someone/tracker/events?token={TOKEN} HTTP/1.1\r\nHost: x\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    status = int((await asyncio.wait_for(reader.readline(), 30)).split()[1])
    writer.close()
    assert status == 409  # read, checked and handed to Rasa, which has no model loaded here


async def test_with_jwt_a_valid_bearer_token_passes_and_none_is_refused_before_the_body():
    """Rasa's other way in (--jwt-secret): the early check asks Rasa's JWT extension too."""
    import jwt

    secret = "jwt-test-secret-" + "z" * 32
    rasas = rasa.server.create_app
    api_guard.install()
    try:
        app = rasa.server.create_app(jwt_secret=secret, jwt_method="HS256")
    finally:
        rasa.server.create_app = rasas
    bearer = jwt.encode({"user": {"username": "ops", "role": "admin"}}, secret, algorithm="HS256")
    _, answer = await app.asgi_client.post("/model/parse", content=b'{"text": "hi"}',
                                           headers={"Authorization": f"Bearer {bearer}"})
    assert answer.status == 409  # authenticated: Rasa's handler, which has no model here
    forged = jwt.encode({"user": {"username": "ops", "role": "admin"}}, secret + "x", algorithm="HS256")
    _, refused = await app.asgi_client.post("/model/parse", content=b'{"text": "hi"}',
                                            headers={"Authorization": f"Bearer {forged}"})
    assert refused.status == 401
    async with serving(app) as port:
        assert await answer_to_head(port, "POST", "/model/parse", TEN_MB) == 401
