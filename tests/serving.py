"""A Sanic app on a real loopback port, and raw HTTP requests to it.

Sanic's ASGI test client hands the handler a body it already holds; what the server reads from
the socket, and when it answers, shows only over a real connection.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sanic import Sanic

from tests.assistant import free_port

# Rasa names every app it creates "rasa_server"; in test mode Sanic lets a test make another
# (as Sanic's own test clients do).
Sanic.test_mode = True


@asynccontextmanager
async def serving(app: Sanic) -> AsyncIterator[int]:
    """``app`` listening on 127.0.0.1 for the block; yields the port."""
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield port
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


async def answer_to_head(port: int, method: str, path: str, content_length: int, seconds: float = 2) -> int:
    """The status the server answers a request with only its head sent: a Content-Length of
    ``content_length`` and not one byte of the body. A server that reads the body first never
    answers (asyncio.TimeoutError after ``seconds``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {content_length}\r\n\r\n".encode("ascii"))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), seconds)
        return int(status_line.split()[1])
    finally:
        writer.close()
