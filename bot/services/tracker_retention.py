"""Erase conversations from the tracker store: old ones (``fanzha purge``) or one resident's
(``fanzha erase``, ``fanzha report delete``).

The store is found the way the Rasa server finds it: the ``tracker_store`` entry of the
endpoints file (``FANZHA_ENDPOINTS``, default ``endpoints.yml``; ``${VAR}`` filled from the
environment). SQL (type ``SQL`` or a subclass of Rasa's SQLTrackerStore): Rasa keeps every event
in one table ``events`` (sender_id, timestamp in Unix seconds); a purged conversation goes as a
whole once its newest event is older than the cut-off, so a conversation still going on keeps
its beginning; a SQLite write-ahead log is emptied afterwards. Redis (``fanzha erase`` only;
purge leaves it to ``record_exp``): one key per conversation, deleted.
"""
from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.services.reports.store import empty_write_ahead_log
from bot.services.sqlite_pragmas import set_pragmas

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


def _kind(store_type: str | None) -> str:
    """``sql``, ``redis`` or ``other`` for the tracker store type of an endpoints file."""
    if store_type is None or store_type.lower() in ("sql", "redis"):
        return (store_type or "sql").lower()
    if "." not in store_type:
        return "other"
    from rasa.core.tracker_store import RedisTrackerStore, SQLTrackerStore

    module_name, _, class_name = store_type.rpartition(".")
    try:
        store_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise RetentionError(f"tracker store type {store_type!r} cannot be loaded: {error}") from None
    for kind, base in (("sql", SQLTrackerStore), ("redis", RedisTrackerStore)):
        if isinstance(store_class, type) and issubclass(store_class, base):
            return kind
    return "other"


def _tracker_config(path: Path) -> Any:
    """The ``tracker_store`` entry of ``path`` (an EndpointConfig); None when it keeps nothing (in memory)."""
    from rasa.utils.endpoints import read_endpoint_config

    if not path.is_file():
        raise RetentionError(f"no endpoints file at {path} (run from the project folder or set {ENV_ENDPOINTS})")
    config = read_endpoint_config(str(path), "tracker_store")
    if config is None or (config.type or "").lower() == "in_memory":
        return None
    return config


def tracker_store_url(path: Path) -> str | None:
    """The SQLAlchemy URL of the tracker store in ``path``; None when it keeps nothing (in memory)."""
    config = _tracker_config(path)
    if config is None:
        return None
    if _kind(config.type) != "sql":
        raise RetentionError(
            f"the tracker store in {path} is of type {config.type!r}; fanzha purge erases conversations "
            "only from an SQL tracker store (for Redis set record_exp to the retention in seconds)"
        )
    return _sql_url(config)


def _sql_url(config: Any) -> str:
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
    old = (
        select(events.c.sender_id)
        .group_by(events.c.sender_id)
        .having(func.max(events.c.timestamp) < cutoff.timestamp())
    )
    return _delete_events(url, old, dry_run)


def erase_conversation(path: Path, sender: str, dry_run: bool = False) -> ConversationCounts | None:
    """Erase (or count) one conversation in the tracker store of the endpoints file ``path``;
    None when that store keeps nothing (in memory)."""
    config = _tracker_config(path)
    if config is None:
        return None
    kind = _kind(config.type)
    if kind == "sql":
        return _delete_events(_sql_url(config), select(events.c.sender_id).where(events.c.sender_id == sender).distinct(), dry_run)
    if kind == "redis":
        return _erase_from_redis(config, sender, dry_run)
    raise RetentionError(
        f"the tracker store in {path} is of type {config.type!r}; fanzha erases conversations only from SQL "
        "and Redis tracker stores: erase this conversation with the store's own tools"
    )


def _delete_events(url: str, conversations: Any, dry_run: bool) -> ConversationCounts:
    """Delete (or count) every event of the conversations ``conversations`` selects (sender ids)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise RetentionError(f"no tracker database at {parsed.database} (run from the project folder or set {ENV_ENDPOINTS})")
    engine = create_engine(url, future=True)
    set_pragmas(engine, "secure_delete = ON")  # erased text is overwritten, not left in free pages
    try:
        with engine.begin() as conn:
            if not engine.dialect.has_table(conn, "events"):
                return ConversationCounts(0, 0)  # the server has not stored a conversation yet
            found = conn.execute(select(func.count()).select_from(conversations.subquery())).scalar_one()
            doomed = events.c.sender_id.in_(conversations.scalar_subquery())
            if dry_run:
                removed = conn.execute(select(func.count()).select_from(events).where(doomed)).scalar_one()
            else:
                removed = conn.execute(events.delete().where(doomed)).rowcount
        # While the server runs, the erased rows stay readable in tracker.db-wal until a
        # checkpoint copies the pages (zeroed by secure_delete) back and the log is emptied.
        if not dry_run and not empty_write_ahead_log(engine):
            raise RetentionError(
                f"erased, but a long read kept the erased events in the write-ahead log of {parsed.database}; "
                "run the command again to empty it"
            )
    except SQLAlchemyError as error:
        raise RetentionError(f"cannot erase from the tracker store {parsed.render_as_string()}: {error}") from None
    finally:
        engine.dispose()
    return ConversationCounts(found, removed)


def _erase_from_redis(config: Any, sender: str, dry_run: bool) -> ConversationCounts:
    """Delete the conversation's key; Rasa's own class names it (its key prefix rules)."""
    import redis
    from rasa.core.tracker_store import RedisTrackerStore
    from rasa.shared.core.domain import Domain

    store = RedisTrackerStore(Domain.empty(), host=config.url or "localhost", **config.kwargs)
    key = store.key_prefix + sender
    try:
        stored = store.red.get(key)
        if stored is not None and not dry_run:
            store.red.delete(key)
    except redis.RedisError as error:
        raise RetentionError(f"cannot erase from the Redis tracker store at {config.url}: {error}") from None
    finally:
        store.red.close()
    if stored is None:
        return ConversationCounts(0, 0)
    return ConversationCounts(1, len(json.loads(stored).get("events") or []))
