"""Settings each SQLite connection gets as it opens (reports, tracker store, purge)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# The Rasa server, the action server and `fanzha` commands may write the same file at once.
BUSY_TIMEOUT_MS = 5000


def set_pragmas(engine: Engine, *pragmas: str) -> None:
    """``PRAGMA busy_timeout`` and each of ``pragmas`` on every new connection of a SQLite
    ``engine``; any other database is left as it is."""
    if engine.dialect.name != "sqlite":
        return
    statements = (f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", *(f"PRAGMA {pragma}" for pragma in pragmas))

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()

    event.listen(engine, "connect", on_connect)
