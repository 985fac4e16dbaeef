"""A stand-in HTTP server in a thread: a ``BaseHTTPRequestHandler`` class on a loopback port.

For services the code under test calls from another process or thread (Twilio, WeChat, a
page that embeds the chat, a program squatting a port). For one in the test's own event
loop, see tests/stand_in.py.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class StubServer:
    """``handler`` on 127.0.0.1:``port`` (0: a free one); it can go down (connection refused)
    and come back on the same port."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self.handler = handler
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
            self.port = self._server.server_address[1]
            # A short poll: down() waits for serve_forever to notice (0.5 s by default, per test).
            threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def stub_server(handler: type[BaseHTTPRequestHandler], port: int = 0) -> Iterator[str]:
    """``handler`` served for the block; yields the base URL (``http://127.0.0.1:<port>``)."""
    server = StubServer(handler, port)
    try:
        yield server.url
    finally:
        server.down()
