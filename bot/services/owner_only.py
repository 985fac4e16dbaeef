"""Whether a Unix socket can only be this user's: the understanding server's socket
(bot/cli/nlu_server.py, bot/rasa_patches/nlu_offload.py) sits in a folder only this user can open.

Nobody else can then create, replace or reach a file in it; so whatever listens on a socket
there was started by this user (or root), and nobody else can connect to it. Plain Python, no
Rasa, so that the server checks its folder before loading anything.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional


def why_folder_is_unsafe(folder: str) -> Optional[str]:
    """Why another user could put a socket in ``folder`` (an absolute path without symlinks),
    or reach one there; None when nobody but this user (and root) can."""
    me = os.geteuid()
    try:
        for above in reversed(Path(folder).parents):
            found = os.lstat(above)
            # Sticky, as /tmp is: others may add their own entries, never rename or remove ours.
            open_to_others = found.st_mode & 0o022 and not found.st_mode & stat.S_ISVTX
            if not stat.S_ISDIR(found.st_mode) or found.st_uid not in (0, me) or open_to_others:
                return f"{above} can be changed by another user"
        found = os.lstat(folder)
    except OSError as error:
        return f"{folder}: {error.strerror}"
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != me:
        return f"{folder} is not a folder of this user"
    if found.st_mode & 0o077:
        return f"{folder} is open to other users (mode {found.st_mode & 0o777:o}, not 700)"
    return None


def why_socket_is_not_ours(socket_path: str) -> Optional[str]:
    """Why the socket at ``socket_path`` may not be this user's server (for the log, after "the server
    at PATH"); None when it can only be."""
    problem = why_folder_is_unsafe(os.path.dirname(socket_path))
    if problem:
        return "refused: " + problem
    try:
        found = os.lstat(socket_path)
    except FileNotFoundError:
        return "is not listening (no socket yet)"
    if not stat.S_ISSOCK(found.st_mode) or found.st_uid != os.geteuid():
        return f"refused: {socket_path} is not a socket of this user"
    return None
