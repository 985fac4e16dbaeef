"""How many call-backs and summary SMS one client and one phone number may ask for in a day.

- ``FANZHA_DAILY_PER_NUMBER`` (default 3): call-back requests for one phone number, and summary
  SMS to one number, each per Beijing day.
- ``FANZHA_DAILY_PER_ADDRESS`` (default 10): call-back requests, and SMS, from one client: on
  REST and the web chat the client address (the channel's non-personal key,
  bot/channels/client_address.py), elsewhere the sender (a WeChat openid).
Each is a number of times or ``off``. A refused request is counted (by kind, per day) for
the agent console; nothing about who asked is kept with that count.

The counts are rows of the report database (``daily_counts``), so every action server replica
counts the same; one client's or number's row is a keyed hash (the report key's look-up key),
and rows of past days are deleted, refusal totals after REFUSALS_KEPT_DAYS.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Mapping

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.services.reports.errors import StorageError
from bot.services.reports.schema import daily_counts_table
from bot.services.reports.store import LOCAL_TZ, ReportStore

ENV_PER_NUMBER = "FANZHA_DAILY_PER_NUMBER"
ENV_PER_CLIENT = "FANZHA_DAILY_PER_ADDRESS"
DEFAULTS = {ENV_PER_NUMBER: 3, ENV_PER_CLIENT: 10}
KINDS = ("callback", "sms")
REFUSED = "refused:"
REFUSALS_KEPT_DAYS = 30
RECENT_DAYS = 7  # what the console shows beside today


class DailyLimitError(ValueError):
    """A daily cap setting is malformed; the message names it."""


class _OverCap(Exception):
    pass


@dataclass(frozen=True)
class DailyCaps:
    per_number: int | None  # None: off
    per_client: int | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "DailyCaps":
        return cls(_cap(env, ENV_PER_NUMBER), _cap(env, ENV_PER_CLIENT))


def _cap(env: Mapping[str, str], name: str) -> int | None:
    raw = (env.get(name) or str(DEFAULTS[name])).strip()
    if raw.lower() == "off":
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise DailyLimitError(f"{name}={raw!r}: write how many times a day (at least 1, default {DEFAULTS[name]}), or off")
    return int(raw)


def number_key(phone: str) -> str:
    """One form per number: '+86 138-1234-5678' and '13812345678' are the same number."""
    digits = re.sub(r"\D", "", phone)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


class DailyLimiter:
    def __init__(self, store: ReportStore, caps: DailyCaps) -> None:
        self.store = store
        self.caps = caps

    def allow(self, kind: str, *, client: str, number: str | None) -> bool:
        """True, and counted, when today's caps for ``client`` and ``number`` leave room for one
        more ``kind`` ("callback" or "sms"); else False, and the refusal is counted."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        hashed = self.store.cipher.lookup_hash
        rows = []
        if self.caps.per_client is not None:
            rows.append((f"{kind}:client:{hashed('client:' + client)}", self.caps.per_client))
        if number and self.caps.per_number is not None:
            rows.append((f"{kind}:number:{hashed('number:' + number_key(number))}", self.caps.per_number))
        day = _today(self.store).isoformat()
        try:
            self._forget_before(day)
            allowed = self._take(day, rows)
            if not allowed:
                self._add(day, REFUSED + kind)
        except SQLAlchemyError as error:
            raise StorageError(f"cannot count today's {kind} requests: {error}") from None
        return allowed

    def _take(self, day: str, rows: list[tuple[str, int]]) -> bool:
        """One more on every row, or on none: two replicas taking the last place at once
        cannot both get it (each UPDATE is conditional, the transaction all or nothing)."""
        for name, _ in rows:
            self._ensure(day, name)
        table = daily_counts_table.c
        try:
            with self.store.engine.begin() as conn:
                for name, cap in rows:
                    taken = conn.execute(
                        update(daily_counts_table)
                        .where(and_(table.day == day, table.name == name, table.times < cap))
                        .values(times=table.times + 1)
                    ).rowcount
                    if taken != 1:
                        raise _OverCap  # rolls back what this transaction took
        except _OverCap:
            return False
        return True

    def _ensure(self, day: str, name: str) -> None:
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(daily_counts_table).values(day=day, name=name, times=0))
        except IntegrityError:
            pass  # there already, or another replica made it a moment ago

    def _add(self, day: str, name: str) -> None:
        self._ensure(day, name)
        table = daily_counts_table.c
        with self.store.engine.begin() as conn:
            conn.execute(update(daily_counts_table).where(and_(table.day == day, table.name == name))
                         .values(times=table.times + 1))

    def _forget_before(self, day: str) -> None:
        table = daily_counts_table.c
        oldest = (date.fromisoformat(day) - timedelta(days=REFUSALS_KEPT_DAYS)).isoformat()
        with self.store.engine.begin() as conn:
            conn.execute(delete(daily_counts_table).where(and_(table.day < day, ~table.name.startswith(REFUSED))))
            conn.execute(delete(daily_counts_table).where(table.day < oldest))



def _today(store: ReportStore) -> date:
    return store.clock().astimezone(LOCAL_TZ).date()


def refusals(store: ReportStore) -> dict[str, dict[str, int]]:
    """Refused requests by kind (for the agent console): ``{"today": {...}, "recent": {...}}``,
    recent being the last RECENT_DAYS days including today. Counts only."""
    today = _today(store)
    since = (today - timedelta(days=RECENT_DAYS - 1)).isoformat()
    table = daily_counts_table.c
    query = select(table.day, table.name, table.times).where(and_(table.day >= since, table.name.startswith(REFUSED)))
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError as error:
        raise StorageError(f"cannot read the refusal counts: {error}") from None
    counts = {"today": dict.fromkeys(KINDS, 0), "recent": dict.fromkeys(KINDS, 0)}
    for row in rows:
        kind = row.name[len(REFUSED):]
        if kind in KINDS:
            counts["recent"][kind] += row.times
            if row.day == today.isoformat():
                counts["today"][kind] += row.times
    return counts
