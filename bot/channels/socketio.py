"""Rasa's socket.io channel (the web widget) with secrets masked on the way in."""
from rasa.core.channels.socketio import SocketIOInput

from .masking import MaskingMixin


class SocketIOChannel(MaskingMixin, SocketIOInput):
    @classmethod
    def name(cls) -> str:
        return "socketio"
