"""The early warning tables, created by migration 7 of the report database (bot/services/reports/schema.py).

Personal data (the resident's number, the centre's note, event details) is Fernet-encrypted with
the report key; a number is found by its keyed hash (``cipher.lookup_hash``). Level, type,
status, outcome and times stay in clear: the dispatcher and the duty desk sort and count by them.
All times are naive UTC, like the other tables.
"""
from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text


def warning_tables(metadata: MetaData) -> MetaData:
    """Added in version 7 of the report database; frozen: a change needs a new migration."""
    Table(
        "warnings",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("phone_hash", String(64), nullable=False, index=True),  # keyed hash of the E.164 number
        Column("phone", Text, nullable=False),  # encrypted E.164
        Column("level", String(8), nullable=False),  # red, orange, yellow
        Column("scam_type", String(64)),
        Column("note", Text, nullable=False),  # encrypted, masked
        Column("source", String(64), nullable=False),
        Column("received_at", DateTime, nullable=False),  # when the centre issued it
        Column("status", String(8), nullable=False, index=True),  # open, closed
        Column("outcome", String(32)),
        Column("outcome_by", String(64)),
        Column("reference", String(32)),  # a report started for the resident
        Column("merged", Integer, nullable=False, default=0),  # duplicates merged into this one
        Column("calls_made", Integer, nullable=False, default=0),  # calls to the resident that reached Twilio
        Column("next_attempt_at", DateTime, index=True),  # NULL: nothing scheduled
        Column("lease_owner", String(64)),  # the dispatcher working on it now
        Column("lease_until", DateTime),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    Table(
        "warning_events",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("warning_id", Integer, nullable=False, index=True),
        Column("kind", String(16), nullable=False),
        Column("state", String(32), nullable=False),  # 32: an outcome event holds the outcome code
        Column("twilio_sid", String(64), index=True),
        Column("detail", Text),  # encrypted, masked
        Column("actor", String(64), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    )
    return metadata


_tables = warning_tables(MetaData())
warnings_table = _tables.tables["warnings"]
warning_events_table = _tables.tables["warning_events"]
