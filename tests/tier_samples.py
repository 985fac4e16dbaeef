"""Functions for tests/test_tiers.py to tier: never called."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.assistant import Assistant


def names_the_assistant(assistant: Assistant) -> None:
    """Starts nothing, though scripts/run.sh and Assistant are named here."""


def calls_a_helper_that_starts_it() -> None:
    _starts_it()


def _starts_it() -> None:
    Assistant(Path("never-called"))


def runs_this_module_as_a_program() -> None:
    subprocess.run([sys.executable, "-m", "tests.tier_samples"], check=True)


def names_this_module() -> str:
    return "tests.tier_samples"


if __name__ == "__main__":
    _starts_it()
