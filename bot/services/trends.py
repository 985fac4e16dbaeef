"""Daily counts for the trends dashboard: one row per (day, metric, key1, key2).

Counted where each event happens, one atomic upsert per event (``INSERT … ON CONFLICT DO
UPDATE`` on SQLite and PostgreSQL), so replicas sharing the database add to the same rows:

=============  ==================  ==================  ====================================
metric         key1                key2                total
=============  ==================  ==================  ====================================
check          scam type / none    risk                —
report         scam type / unknown payment channel     yuan reported lost
handoff        reason              channel             —
handoff_wait   answered/unanswered —                   seconds waited before an agent came
callback       channel             —                   —
channel        channel             event (check …)     —
=============  ==================  ==================  ====================================

Keys are codes (``[a-z0-9_.-]``, anything else becomes ``other``): never text, a sender id,
a phone number or an account. ``fanzha purge`` and ``fanzha erase`` leave these rows alone,
so the trend outlives the conversations; nothing in them points back to a conversation.

This module imports nothing from bot.services.reports (whose schema creates the table in its migration 6).
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Mapping

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, and_, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from knowledge.amounts import find_amounts, parse_amount

CHECK, REPORT, HANDOFF, WAIT, CALLBACK, CHANNEL = "check", "report", "handoff", "handoff_wait", "callback", "channel"
METRICS = (CHECK, REPORT, HANDOFF, WAIT, CALLBACK, CHANNEL)
ANSWERED, UNANSWERED = "answered", "unanswered"
NO_TYPE, UNKNOWN, OTHER = "none", "unknown", "other"
_KEY = re.compile(r"^[a-z0-9_.\-]{1,64}$")


def trend_tables(metadata: MetaData) -> MetaData:
    """Added in version 6 of the report database (bot/services/reports/schema.py)."""
    Table(
        "trend_counts",
        metadata,
        Column("day", String(10), primary_key=True),  # Beijing date, YYYY-MM-DD
        Column("metric", String(16), primary_key=True),
        Column("key1", String(64), primary_key=True),
        Column("key2", String(64), primary_key=True),
        Column("events", Integer, nullable=False),
        Column("total", Float, nullable=False),  # yuan or seconds; 0 where nothing is summed
    )
    return metadata


trend_table = trend_tables(MetaData()).tables["trend_counts"]


def code(value: Any, empty: str = UNKNOWN) -> str:
    """A key fit to keep: a short lower-case code, else ``other`` (free text never gets in)."""
    if value is None or value == "":
        return empty
    text = str(value).strip().lower()
    return text if _KEY.fullmatch(text) else OTHER


def add(conn: Connection, day: date, metric: str, key1: Any = "", key2: Any = "", total: float = 0.0) -> None:
    """One event: +1 on its row and ``total`` added, in ``conn``'s transaction."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}")
    c = trend_table.c
    values = dict(day=day.isoformat(), metric=metric, key1=code(key1, ""), key2=code(key2, ""), events=1, total=float(total))
    dialects = {"sqlite": sqlite, "postgresql": postgresql}
    dialect = dialects.get(conn.dialect.name)
    if dialect is not None:
        statement = dialect.insert(trend_table).values(**values)
        conn.execute(statement.on_conflict_do_update(
            index_elements=[c.day, c.metric, c.key1, c.key2],
            set_={"events": c.events + 1, "total": c.total + statement.excluded.total},
        ))
        return
    # Other databases: add to the row, or make it; a savepoint lets a replica that made it
    # first win without losing this event.
    row = and_(c.day == values["day"], c.metric == metric, c.key1 == values["key1"], c.key2 == values["key2"])
    bump = update(trend_table).where(row).values(events=c.events + 1, total=c.total + values["total"])
    if conn.execute(bump).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(insert(trend_table).values(**values))
    except IntegrityError:
        conn.execute(bump)


def add_event(conn: Connection, day: date, event: str, channel: Any, metric_keys: tuple[Any, ...] = (), total: float = 0.0) -> None:
    """An event counted under its own metric and under the channel it came through."""
    add(conn, day, event, *metric_keys, total=total)  # type: ignore[misc]  # at most two keys
    add(conn, day, CHANNEL, channel, event)


def report_keys(fields: Mapping[str, Any]) -> tuple[str, float]:
    """The payment channel (the first one named) and the yuan lost, from a report's answers."""
    channels = fields.get("payment_channel")
    payment = channels[0] if isinstance(channels, list) and channels else UNKNOWN
    amount = fields.get("amount")
    yuan = 0.0
    if isinstance(amount, str):
        # "一次2000，一次8000": every amount with a unit; a bare "50000" answers "how much" too.
        found = find_amounts(amount)
        yuan = sum(value for _, _, value in found) if found else (parse_amount(amount) or 0.0)
    return code(payment), yuan
