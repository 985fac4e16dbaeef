"""The trained model loaded as the server loads it (bot/rasa_patches/model_loading.py), for comparing answers."""
from __future__ import annotations

from types import ModuleType

from rasa.core.agent import Agent

from bot.rasa_patches import model_loading
from tests.assistant import MODEL


def serving_agent(*shortcuts: ModuleType) -> Agent:
    """The server's loader, with each of ``shortcuts`` (modules with install/uninstall) in place
    while the model loads; the model keeps them, nothing else in the process does."""
    model_loading.install()
    for shortcut in shortcuts:
        shortcut.install()
    try:
        return Agent.load(str(MODEL))
    finally:
        for shortcut in shortcuts:
            shortcut.uninstall()
        model_loading.uninstall()
