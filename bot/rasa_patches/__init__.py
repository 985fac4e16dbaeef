"""Every change fanzha makes to Rasa's own behaviour, and the one call that makes them.

Rasa's command line with these in place is ``python -m bot.cli.rasa_server``; the
understanding server (bot/cli/nlu_server.py) takes only the ones that concern understanding.
Nothing here changes Rasa when imported: only :func:`install` does, and :func:`uninstall`
puts Rasa back. Each module has its own ``install``/``uninstall`` and says why it exists.

Outside this package Rasa is extended only where it asks to be: the stores named in
endpoints.yml (bot/stores/), the channels in credentials.yml (bot/channels/) and the actions.
"""
from __future__ import annotations

import importlib
from types import ModuleType

# In the order they are installed (model_loading first: it must run before TensorFlow loads).
EVERY_PATCH = (
    "model_loading",  # neural models built for answering only: 730 MB instead of 1.33 GB
    "crf_loading",  # the entity CRF read from var/cache/ instead of trained again at each start
    "event_types",  # each event's class looked up once per type, not per event and turn
    "proxy",  # which forwarded headers name the client, from FANZHA_PROXIES_COUNT etc.
    "ted_shortcut",  # TED runs only when its answer can still win
    "faq_selector",  # the FAQ answer is chosen only for the faq intent
    "api_guard",  # Rasa's HTTP API: 400 with a reason for unreadable bodies, constant-time token
    "nlu_offload",  # messages understood by a second server (FANZHA_NLU_URL) when it answers
    "origins",  # CORS only for the widget's sites and routes, never with credentials
    "action_guard",  # a failed custom action still answers (110, 96110); the action token
)
# The understanding server answers /model/parse only.
FOR_UNDERSTANDING = ("model_loading", "crf_loading", "faq_selector")


def _module(name: str) -> ModuleType:
    if name not in EVERY_PATCH:
        raise ValueError(f"no such change to Rasa: {name}")
    return importlib.import_module(f"{__name__}.{name}")


def install(names: tuple[str, ...] = EVERY_PATCH) -> None:
    """Make the changes ``names`` (all by default), before Rasa loads a model or builds its app."""
    for name in names:
        _module(name).install()


def uninstall(names: tuple[str, ...] = EVERY_PATCH) -> None:
    """Put Rasa back as it was, in the reverse order."""
    for name in reversed(names):
        _module(name).uninstall()
