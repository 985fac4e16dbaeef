"""What the REST channel refuses to carry: bodies far beyond any message, and large metadata
(stored with every turn). The socket.io channel checks metadata the same way."""
from __future__ import annotations

import asyncio
import json

from bot.channels.request_checks import MAX_METADATA_CHARS, MAX_REST_BODY_BYTES, message_problem
from tests.serving import answer_to_head, serving
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


async def test_a_long_body_is_refused_before_it_is_read():
    """Over a real connection: the 413 comes for the Content-Length alone, and a chunked body
    is stopped once it passes the cap, its end never sent."""
    rasa = Rasa()
    async with serving(rest_app(rasa)) as port:
        assert await answer_to_head(port, "POST", URL, MAX_REST_BODY_BYTES + 1) == 413
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        chunk = b"a" * (MAX_REST_BODY_BYTES + 1)
        head = f"POST {URL} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{len(chunk):x}\r\n"
        writer.write(head.encode() + chunk + b"\r\n")  # one chunk past the cap, and no end
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 2)
        writer.close()
        assert int(status_line.split()[1]) == 413 and rasa.received == []
