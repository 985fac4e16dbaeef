"""Functions for tests/test_tiers.py to tier: never called."""
from __future__ import annotations

from pathlib import Path

from tests.assistant import Assistant


def names_the_assistant(assistant: Assistant) -> None:
    """Starts nothing, though scripts/run.sh and Assistant are named here."""


def calls_a_helper_that_starts_it() -> None:
    _starts_it()


def _starts_it() -> None:
    Assistant(Path("never-called"))
