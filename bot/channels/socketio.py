"""Rasa's socket.io channel (the web widget) with secrets masked on the way in."""
from __future__ import annotations

import uuid
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from .masking import MaskingMixin


class SocketIOChannel(MaskingMixin, SocketIOInput):
    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint

        # Rasa 3.6 calls sio.enter_room() without await; python-socketio >= 5.10 made it a
        # coroutine, so with session_persistence the browser never joined its session's room
        # and never saw a reply (RasaHQ/rasa#13027). This handler replaces Rasa's.
        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not isinstance(session_id, str) or not session_id.strip():
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        return blueprint
