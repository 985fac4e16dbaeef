"""The report database's tables and their migrations (bot/services/reports/store.py queries them).

The schema is created and migrated forward when a store opens the database: migration i brings it
to version i, one transaction each. A change appends a migration, never edits a past one.
"""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    text as text_sql,
    update,
)
from sqlalchemy.engine import Connection, Engine

from bot.services.early_warnings.schema import warning_tables
from bot.services.reports.errors import StorageError
from bot.services.trends import trend_tables

log = logging.getLogger(__name__)


def _schema_v1(metadata: MetaData) -> MetaData:
    """Version 1, frozen: migration 1 creates exactly this."""
    Table(
        "reports",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("reference", String(32), nullable=False, unique=True),
        Column("sender_hash", String(64), index=True),
        Column("sender", Text),  # encrypted
        Column("channel", String(32), nullable=False),
        Column("scam_type", String(64)),
        Column("risk", String(16)),
        Column("status", String(16), nullable=False),
        Column("fields", Text, nullable=False),  # encrypted JSON of the answers
        Column("created_at", DateTime, nullable=False, index=True),  # UTC
        Column("updated_at", DateTime, nullable=False),
    )
    Table(
        "callback_requests",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("sender_hash", String(64), index=True),
        Column("sender", Text),  # encrypted
        Column("channel", String(32), nullable=False),
        Column("phone", Text),  # encrypted, only when given
        Column("reason", Text, nullable=False),  # encrypted
        Column("created_at", DateTime, nullable=False, index=True),
    )
    Table(
        "store_settings",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    return metadata


def _migration_1(conn: Connection) -> None:
    _schema_v1(MetaData()).create_all(conn)


def _handoff_tables(metadata: MetaData) -> MetaData:
    """Added in version 2: agents of the console and handoff tickets (bot/services/handoff.py)."""
    Table(
        "agents",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(64), nullable=False, unique=True),
        Column("password_hash", String(255), nullable=False),  # scrypt, see bot/services/handoff.py
        Column("active", Integer, nullable=False, default=1),
        Column("created_at", DateTime, nullable=False),
    )
    Table(
        "handoff_tickets",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("sender_hash", String(64), index=True),
        Column("sender", Text, nullable=False),  # encrypted: the conversation id
        Column("channel", String(32), nullable=False),
        Column("reason", String(32), nullable=False),
        Column("scam_type", String(64)),
        Column("risk", String(16)),
        Column("details", Text, nullable=False),  # encrypted JSON: report fields, last turns
        Column("status", String(16), nullable=False, index=True),
        Column("claimed_by", String(64)),
        Column("claimed_at", DateTime),
        Column("outcome", String(32)),
        Column("created_at", DateTime, nullable=False, index=True),  # UTC
        Column("closed_at", DateTime),
    )
    return metadata


def _migration_2(conn: Connection) -> None:
    _handoff_tables(MetaData()).create_all(conn)


def _console_sessions(metadata: MetaData) -> MetaData:
    """Added in version 3: the agent console's open sessions (bot/services/console_auth.py). Kept here,
    not in one server's memory, so that a logout or a new password ends a session on every
    replica and a restart does not bring it back."""
    Table(
        "console_sessions",
        metadata,
        Column("sid_hash", String(64), primary_key=True),  # SHA-256 of the session id: only the cookie holds the id
        Column("agent", String(64), nullable=False, index=True),
        Column("expires_at", DateTime, nullable=False, index=True),  # UTC; expired rows are deleted at logins
    )
    return metadata


def _migration_3(conn: Connection) -> None:
    _console_sessions(MetaData()).create_all(conn)


def _daily_counts(metadata: MetaData) -> MetaData:
    """Added in version 4: how many call-backs and SMS each client and each number asked for on
    a day, and how many were refused (bot/services/daily_limits.py). Shared here so that every replica
    counts the same; the names hold keyed hashes, never a number or an address."""
    Table(
        "daily_counts",
        metadata,
        Column("day", String(10), primary_key=True),  # Beijing date, YYYY-MM-DD
        Column("name", String(100), primary_key=True),  # e.g. "sms:number:<hash>", "refused:callback"
        Column("times", Integer, nullable=False),
    )
    return metadata


def _migration_4(conn: Connection) -> None:
    _daily_counts(MetaData()).create_all(conn)


def _risk_list(metadata: MetaData) -> MetaData:
    """Added in version 5: the risk list the anti-fraud centre imports (bot/services/risklist.py). Phone
    numbers and accounts only as a keyed hash; links, which are not personal, also in clear."""
    entries = Table(
        "risk_entries",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("kind", String(8), nullable=False),  # link, phone, account
        Column("value_hash", LargeBinary(32), nullable=False),  # HMAC-SHA256 of the normalised value
        Column("link", Text),  # the normalised link; NULL for the personal kinds
        Column("level", String(8), nullable=False),
        Column("source", String(64), nullable=False),
        Column("listed_on", Date, nullable=False),
        Column("scam_type", String(64)),
    )
    Index("ix_risk_entries_lookup", entries.c.kind, entries.c.value_hash)
    Table(
        "risk_sources",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("entries", Integer, nullable=False),
        Column("imported_at", DateTime, nullable=False),  # UTC
    )
    return metadata


def _migration_5(conn: Connection) -> None:
    _risk_list(MetaData()).create_all(conn)


def _migration_6(conn: Connection) -> None:
    """Version 6: the trends dashboard's daily counts (bot/services/trends.py), and agents' roles
    (a space-separated list; "supervisor" may see the dashboard)."""
    trend_tables(MetaData()).create_all(conn)
    conn.execute(text_sql("ALTER TABLE agents ADD COLUMN roles VARCHAR(64) NOT NULL DEFAULT ''"))


# The row ``fanzha warnings`` imports lock first, so that two imports of the same number merge
# instead of both inserting (bot/services/early_warnings/store.py).
WARNING_ADD_LOCK = "warnings_add_lock"


def _migration_7(conn: Connection) -> None:
    """Version 7: the anti-fraud centre's early warnings and their audit trail (bot/services/early_warnings)."""
    warning_tables(MetaData()).create_all(conn)
    conn.execute(insert(settings_table).values(name=WARNING_ADD_LOCK, value="0"))


# Forward migrations, in order: migration i brings the schema to version i. A new one appends a
# function (ALTER/CREATE through ``conn``) and updates the current tables below to match.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _migration_1, _migration_2, _migration_3, _migration_4, _migration_5, _migration_6, _migration_7
)

_version_metadata = MetaData()
schema_version = Table("schema_version", _version_metadata, Column("version", Integer, nullable=False))

# The current schema, used by the queries.
metadata = warning_tables(trend_tables(_risk_list(_daily_counts(_console_sessions(_handoff_tables(_schema_v1(MetaData())))))))
metadata.tables["agents"].append_column(Column("roles", String(64), nullable=False, default=""))
reports_table = metadata.tables["reports"]
callbacks_table = metadata.tables["callback_requests"]
settings_table = metadata.tables["store_settings"]
agents_table = metadata.tables["agents"]
tickets_table = metadata.tables["handoff_tickets"]
console_sessions_table = metadata.tables["console_sessions"]
daily_counts_table = metadata.tables["daily_counts"]
risk_entries_table = metadata.tables["risk_entries"]
risk_sources_table = metadata.tables["risk_sources"]
trend_counts_table = metadata.tables["trend_counts"]


def schema_version_of(engine: Engine) -> int:
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, "schema_version"):
            return 0
        return conn.execute(select(schema_version.c.version)).scalar() or 0


def migrate(engine: Engine, migrations: tuple[Callable[[Connection], None], ...] = MIGRATIONS) -> int:
    """Bring the database to the newest version, one migration per transaction; return the version."""
    with engine.begin() as conn:
        _version_metadata.create_all(conn)
        if conn.execute(select(schema_version.c.version)).scalar() is None:
            conn.execute(insert(schema_version).values(version=0))
    while True:
        with engine.begin() as conn:
            current = conn.execute(select(schema_version.c.version)).scalar_one()
            if current > len(migrations):
                raise StorageError(
                    f"the database is at schema version {current}, newer than this program knows "
                    f"({len(migrations)}); update the program instead of opening it with an older one"
                )
            if current == len(migrations):
                return current
            migrations[current](conn)
            conn.execute(update(schema_version).values(version=current + 1))
            log.info("report database migrated to schema version %d", current + 1)
