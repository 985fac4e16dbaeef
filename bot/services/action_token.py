"""The secret the Rasa server shows the action server on every custom action call.

It travels in the environment (``FANZHA_ACTION_TOKEN``: scripts/run.sh keeps one per
installation in var/keys/action_token; on Kubernetes the Secret fanzha-secrets), never on a command
line, which every local user can read in /proc. The Rasa server sends it in a header
(bot/rasa_patches/action_guard.py), not in the URL, so that no access log records it; the action server
refuses every call without it (actions/caller_check.py). Light on imports: both servers load it.
"""
from __future__ import annotations

import os
from typing import Mapping

ENV_ACTION_TOKEN = "FANZHA_ACTION_TOKEN"
HEADER = "Authorization"
SCHEME = "Bearer"
MIN_TOKEN_CHARS = 16  # `secrets.token_urlsafe(32)` gives 43


def action_token(env: Mapping[str, str] = os.environ) -> str:
    """The configured secret, or "" when there is none. Surrounding whitespace is dropped: a
    Secret created from a file often ends in a newline, which no header can carry."""
    return env.get(ENV_ACTION_TOKEN, "").strip()


def header_value(token: str) -> str:
    return f"{SCHEME} {token}"
