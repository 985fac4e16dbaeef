"""Rasa's REST channel (``/webhooks/rest/webhook``) with secrets masked on the way in."""
from rasa.core.channels.rest import RestInput

from .masking import MaskingMixin


class RestChannel(MaskingMixin, RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"
