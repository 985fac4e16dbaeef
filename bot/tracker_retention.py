"""Erase old conversations from the SQL tracker store (for ``fanzha purge``).

The store is found the way the Rasa server finds it: the ``tracker_store`` entry of the
endpoints file (``FANZHA_ENDPOINTS``, default ``endpoints.yml``; ``${VAR}`` filled from the
environment), type ``SQL`` or a subclass of Rasa's SQLTrackerStore. Rasa keeps every event in
one table ``events`` (sender_id, timestamp in Unix seconds); a conversation goes as a whole
once its newest event is older than the cut-off, so a conversation still going on keeps its
beginning.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.sqlite_pragmas import set_pragmas

ENV_ENDPOINTS = "FANZHA_ENDPOINTS"
DEFAULT_ENDPOINTS = "endpoints.yml"

# Only the columns the purge reads; the table itself is Rasa's.
events = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("timestamp", Float),
)


class RetentionError(RuntimeError):
    """The tracker store cannot be purged; the message says why."""


@dataclass(frozen=True)
class ConversationCounts:
    conversations: int
    events: int


def endpoints_path(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get(ENV_ENDPOINTS) or DEFAULT_ENDPOINTS)


def _is_sql_store(store_type: str | None) -> bool:
    if store_type is None or store_type.lower() == "sql":
        return True
    if "." not in store_type:
        return False
    from rasa.core.tracker_store import SQLTrackerStore

    module_name, _, class_name = store_type.rpartition(".")
    try:
        store_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise RetentionError(f"tracker store type {store_type!r} cannot be loaded: {error}") from None
    return isinstance(store_class, type) and issubclass(store_class, SQLTrackerStore)


def tracker_store_url(path: Path) -> str | None:
    """The SQLAlchemy URL of the tracker store in ``path``; None when it keeps nothing (in memory)."""
    from rasa.utils.endpoints import read_endpoint_config

    if not path.is_file():
        raise RetentionError(f"no endpoints file at {path} (run from the project folder or set {ENV_ENDPOINTS})")
    config = read_endpoint_config(str(path), "tracker_store")
    if config is None or (config.type or "").lower() == "in_memory":
        return None
    if not _is_sql_store(config.type):
        raise RetentionError(
            f"the tracker store in {path} is of type {config.type!r}; fanzha purge erases conversations "
            "only from an SQL tracker store (for Redis set record_exp to the retention in seconds)"
        )
    from rasa.core.tracker_store import SQLTrackerStore

    settings: dict[str, Any] = config.kwargs
    url = SQLTrackerStore.get_db_url(
        settings.get("dialect", "sqlite"),
        config.url or settings.get("host"),
        settings.get("port"),
        settings.get("db", "rasa.db"),
        settings.get("username"),
        settings.get("password"),
        settings.get("login_db"),
        settings.get("query"),
    )
    return str(url) if isinstance(url, str) else url.render_as_string(hide_password=False)


def purge_conversations(url: str, cutoff: datetime, dry_run: bool = False) -> ConversationCounts:
    """Erase (or, with ``dry_run``, count) conversations whose newest event is before ``cutoff``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise RetentionError(f"no tracker database at {parsed.database} (run from the project folder or set {ENV_ENDPOINTS})")
    engine = create_engine(url, future=True)
    set_pragmas(engine, "secure_delete = ON")  # erased text is overwritten, not left in free pages
    old = (
        select(events.c.sender_id)
        .group_by(events.c.sender_id)
        .having(func.max(events.c.timestamp) < cutoff.timestamp())
    )
    try:
        with engine.begin() as conn:
            if not engine.dialect.has_table(conn, "events"):
                return ConversationCounts(0, 0)  # the server has not stored a conversation yet
            conversations = conn.execute(select(func.count()).select_from(old.subquery())).scalar_one()
            doomed = events.c.sender_id.in_(old.scalar_subquery())
            if dry_run:
                removed = conn.execute(select(func.count()).select_from(events).where(doomed)).scalar_one()
            else:
                removed = conn.execute(events.delete().where(doomed)).rowcount
        if not dry_run and engine.dialect.name == "sqlite":
            # While the server runs, the erased rows stay readable in tracker.db-wal until a
            # checkpoint copies the pages (zeroed by secure_delete) back and the log is emptied.
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except SQLAlchemyError as error:
        raise RetentionError(f"cannot purge the tracker store {parsed.render_as_string()}: {error}") from None
    finally:
        engine.dispose()
    return ConversationCounts(conversations, removed)
