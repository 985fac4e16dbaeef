"""What the REST channel refuses to carry: bodies far beyond any message, and large metadata
(stored with every turn). The socket.io channel checks metadata the same way."""
from __future__ import annotations

import json

from bot.channels.request_checks import MAX_METADATA_CHARS, MAX_REST_BODY_BYTES, message_problem
from tests.test_rate_limit import Rasa, rest_app

URL = "/webhooks/rest/webhook"


async def test_a_body_far_beyond_any_message_is_refused():
    rasa = Rasa()
    app = rest_app(rasa)
    body = json.dumps({"sender": "r", "message": "啊" * (MAX_REST_BODY_BYTES // 6 + 10)})  # \u-escaped: 6 bytes each
    _, resp = await app.asgi_client.post(URL, content=body, headers={"content-type": "application/json"})
    assert resp.status == 413 and "error" in resp.json and rasa.received == []
    _, long_but_fine = await app.asgi_client.post(URL, json={"sender": "r", "message": "啊" * 6000})
    assert long_but_fine.status == 200 and len(rasa.received) == 1  # cut to 2,000 characters, not refused


async def test_large_metadata_is_refused_and_small_metadata_passes():
    rasa = Rasa()
    app = rest_app(rasa)
    _, refused = await app.asgi_client.post(URL, json={"sender": "r", "message": "你好", "metadata": {"x": "a" * MAX_METADATA_CHARS}})
    assert refused.status == 400 and "metadata" in refused.json["error"] and rasa.received == []
    _, accepted = await app.asgi_client.post(URL, json={"sender": "r", "message": "你好", "metadata": {"page": "/chat"}})
    assert accepted.status == 200 and len(rasa.received) == 1


def test_socketio_metadata_is_held_to_the_same_size():
    big = json.dumps({"x": "a" * MAX_METADATA_CHARS})
    assert "metadata" in message_problem({"message": "你好", "metadata": big}, None, metadata_as_text=True)
    assert message_problem({"message": "你好", "metadata": '{"page": "/chat"}'}, None, metadata_as_text=True) is None
