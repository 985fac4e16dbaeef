"""The risk list the anti-fraud centre keeps: links, phone numbers and accounts (issue #19).

Kept in the report database (bot/services/reports/store.py: FANZHA_DATABASE_URL, else var/db/fanzha.db), so every
replica reads the same list. Values are stored in one normalised form (knowledge/risk_values.py),
each under an HMAC-SHA256 of its kind and value; the look-up is one indexed query on (kind, hash).

Phone numbers and accounts are personal (a friend's number can be listed by mistake; a mule's
account belongs to a person): only their keyed hash is stored. The HMAC key is derived (HKDF)
from the report key, because that key (1) is already shared by all replicas, which must open
the same reports; (2) lives in var/keys/, apart from var/db/, so a copy of the database holds no key, and
a mobile number's hash without the key cannot be reversed by trying all 10^10 numbers; (3) is
checked against the database on open, so a replica with another key stops instead of silently
missing every hit. (The console secret is not that one: another secret, with another purpose.)
Links are not personal and are kept in clear too, for ``risklist show`` and ``export``.

``fanzha erase`` and ``purge`` leave the list alone: it is the centre's, not residents' data.
"""
from __future__ import annotations

import base64
import csv
import hmac
import io
import os
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, Date, Integer, LargeBinary, MetaData, String, Table, Text, and_, bindparam, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot.services.reports.crypto import DEFAULT_KEY_FILE, load_key
from bot.services.reports.errors import StorageError
from bot.services.reports.schema import risk_entries_table as entries_table, risk_sources_table as sources_table
from bot.services.reports.store import LOCAL_TZ, ReportStore
from bot.services.risklist_csv import LEVELS, Entry, FileProblem, LineError, read_entries
from knowledge.risk_values import KINDS, ValueProblem, normalise

__all__ = ["RiskHit", "RiskList", "normalise", "ValueProblem", "FileProblem", "ImportRejected", "UnknownSource"]

HASH_PREFIX = "hmac-sha256:"  # how an export writes a personal value
MAX_ERRORS_SHOWN = 50
_BATCH = 10_000
_MAX_PATH_FORMS = 8  # pages above a link that are looked up: its first eight path levels
_KEY_INFO = b"fanzha risk list"

# The file's entries wait here, on the importing connection only, until every line is checked:
# the shared table is then changed in one short transaction (on SQLite, writers wait for it).
_staging = Table(
    "risk_import",
    MetaData(),
    Column("line", Integer, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("value_hash", LargeBinary(32), nullable=False),
    Column("link", Text),
    Column("level", String(8), nullable=False),
    Column("source", String(64), nullable=False),
    Column("listed_on", Date, nullable=False),
    Column("scam_type", String(64)),
    prefixes=["TEMPORARY"],
)
_COPIED = ("kind", "value_hash", "link", "level", "source", "listed_on", "scam_type")
_STAGED = ("line", *_COPIED)
_SQLITE_STAGE = f"INSERT INTO risk_import ({', '.join(_STAGED)}) VALUES ({', '.join('?' * len(_STAGED))})"
_LOOKUP = select(
    entries_table.c.kind, entries_table.c.level, entries_table.c.source, entries_table.c.listed_on, entries_table.c.scam_type
).where(entries_table.c.kind == bindparam("kind"), entries_table.c.value_hash.in_(bindparam("hashes", expanding=True)))


@dataclass(frozen=True)
class RiskHit:
    kind: str  # "link" | "phone" | "account"
    level: str  # "high" | "medium" | "low"
    source: str  # which list (the import's source name)
    listed_on: date  # the date in the imported line
    scam_type: str | None


@dataclass(frozen=True)
class ListSource:
    name: str
    entries: int
    imported_at: datetime  # aware, UTC


@dataclass(frozen=True)
class ImportSummary:
    imported: dict[str, int]  # source -> entries now on the list
    replaced: dict[str, int]  # source -> entries it had before (sources that were on the list)


@dataclass(frozen=True)
class ListedValue:
    """One entry as ``export`` writes it: a personal value only as its hash."""

    kind: str
    value: str  # the link, or HASH_PREFIX + hex for a phone number or account
    level: str
    source: str
    listed_on: date
    scam_type: str | None


class ImportRejected(ValueError):
    """Bad lines in the file: nothing was imported."""

    def __init__(self, errors: list[LineError], bad_lines: int) -> None:
        self.errors = errors  # the first MAX_ERRORS_SHOWN
        self.bad_lines = bad_lines
        super().__init__(f"{bad_lines} bad line(s); nothing imported")


class UnknownSource(StorageError):
    def __init__(self, source: str, known: list[str]) -> None:
        lists = ", ".join(known) if known else "none"
        super().__init__(f"no list named {source!r} (the lists are: {lists})")


def _level_rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


class RiskList:
    """The centre's risk list. One per process; safe to share between threads."""

    def __init__(self, store: ReportStore, key_file: Path = DEFAULT_KEY_FILE, env: Mapping[str, str] = os.environ) -> None:
        """On ``store``'s database and connection pool (the action server can pass its report
        store: one pool), with the key file and environment ``store`` was opened with."""
        self._store = store
        self._engine = store.engine
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
            base64.urlsafe_b64decode(load_key(key_file, create=False, env=env))
        )
        self._owns_store = False

    @classmethod
    def open(
        cls,
        url: str | None = None,
        key_file: Path = DEFAULT_KEY_FILE,
        create: bool = True,
        env: Mapping[str, str] = os.environ,
    ) -> "RiskList":
        """On its own ReportStore (closed with the list); ``create=False`` never makes a database or key."""
        store = ReportStore(url=url, key_file=key_file, create=create, env=env)
        try:
            risk_list = cls(store, key_file=key_file, env=env)
        except BaseException:
            store.close()
            raise
        risk_list._owns_store = True
        return risk_list

    @classmethod
    def from_environment(cls) -> "RiskList":
        """The report database (FANZHA_DATABASE_URL, else var/db/fanzha.db, made like the report store's)."""
        return cls.open()

    def close(self) -> None:
        if self._owns_store:
            self._store.close()

    def __enter__(self) -> "RiskList":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _hash(self, kind: str, value: str) -> bytes:
        return hmac.digest(self._key, f"{kind}\n{value}".encode("utf-8"), "sha256")

    # --- look-up ---------------------------------------------------------------------------

    def lookup(self, kind: str, value: str) -> list[RiskHit]:
        """Every entry for ``value`` (as found in text; normalised here), most serious first.

        A link also hits the entries of the pages above it and of its host and the domains above
        that ("evil.example" listed: "pay.evil.example/login?id=1" hits). A value that is not a valid ``kind`` cannot be on
        the list: []. No hit never means safe. Raises StorageError if the database fails."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        try:
            normalised = normalise(kind, value)
        except ValueProblem:
            return []
        forms = _link_forms(normalised) if kind == "link" else [normalised]
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(_LOOKUP, {"kind": kind, "hashes": [self._hash(kind, form) for form in forms]}).all()
        except SQLAlchemyError as error:
            raise StorageError(f"the risk list could not be read: {error.__class__.__name__}") from None
        hits = [RiskHit(row.kind, row.level, row.source, row.listed_on, row.scam_type) for row in rows]
        return sorted(hits, key=lambda hit: (_level_rank(hit.level), -hit.listed_on.toordinal(), hit.source))

    def sources(self) -> list[ListSource]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(sources_table).order_by(sources_table.c.name)).all()
        return [ListSource(row.name, row.entries, row.imported_at.replace(tzinfo=timezone.utc)) for row in rows]

    # --- import ----------------------------------------------------------------------------

    def import_file(self, path: Path, scam_types: Iterable[str]) -> ImportSummary:
        """Import a CSV file (bot/services/risklist_csv.py): all of it or, if any line is bad, nothing
        (ImportRejected; FileProblem for the file as a whole). Each source named in the file
        replaces that source's entries, in one transaction; other sources stay as they were."""
        try:
            handle = path.open("rb")
        except OSError as error:
            raise FileProblem(f"cannot read {path}: {error.strerror}") from None
        with handle:
            today = datetime.now(LOCAL_TZ).date()
            return self.import_entries(read_entries(handle, frozenset(scam_types), today))

    def import_entries(self, items: Iterable[Entry | LineError]) -> ImportSummary:
        try:
            with self._engine.connect() as conn:
                _staging.drop(conn, checkfirst=True)  # left by an import that died on this connection
                _staging.create(conn)
                try:
                    errors, bad_lines = self._stage(conn, items)
                    if not bad_lines:
                        errors, bad_lines = self._duplicates(conn)
                    if bad_lines:
                        raise ImportRejected(errors, bad_lines)
                    summary = self._replace(conn)
                    conn.commit()
                finally:
                    conn.rollback()
                    _staging.drop(conn, checkfirst=True)
                    conn.commit()
        except SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            raise StorageError(f"the risk list was not changed: the database failed ({cause.__class__.__name__}: {cause})") from None
        return summary

    def _stage(self, conn: Connection, items: Iterable[Entry | LineError]) -> tuple[list[LineError], int]:
        errors: list[LineError] = []
        bad_lines, last_bad = 0, 0
        rows: list[tuple[Any, ...]] = []
        for item in items:
            if isinstance(item, LineError):
                if len(errors) < MAX_ERRORS_SHOWN:
                    errors.append(item)
                if item.line != last_bad:
                    bad_lines, last_bad = bad_lines + 1, item.line
                continue
            if bad_lines:
                continue  # nothing will be imported: only look for more bad lines
            link = item.value if item.kind == "link" else None
            rows.append((item.line, item.kind, self._hash(item.kind, item.value), link, item.level, item.source,
                         item.listed_on, item.scam_type))
            if len(rows) >= _BATCH:
                _insert_staged(conn, rows)
                rows = []
        if rows and not bad_lines:
            _insert_staged(conn, rows)
        return errors, bad_lines

    def _duplicates(self, conn: Connection) -> tuple[list[LineError], int]:
        """A value twice in one source (after normalisation): the later lines are errors."""
        s = _staging.c
        first = (
            select(s.source, s.kind, s.value_hash, func.min(s.line).label("line"))
            .group_by(s.source, s.kind, s.value_hash)
            .having(func.count() > 1)
            .subquery()
        )
        same = and_(s.source == first.c.source, s.kind == first.c.kind, s.value_hash == first.c.value_hash)
        query = select(s.line, s.kind, s.source, first.c.line.label("first")).join(first, same).where(s.line != first.c.line)
        errors: list[LineError] = []
        count = 0
        for row in conn.execute(query.order_by(s.line)):
            count += 1
            if len(errors) < MAX_ERRORS_SHOWN:
                errors.append(LineError(row.line, "value", f"the same {row.kind} as line {row.first} of source {row.source!r}"))
        return errors, count

    def _replace(self, conn: Connection) -> ImportSummary:
        s = _staging.c
        counts = {row.source: row.entries for row in conn.execute(
            select(s.source, func.count().label("entries")).group_by(s.source))}
        names = sorted(counts)
        replaced = {row.name: row.entries for row in conn.execute(
            select(sources_table).where(sources_table.c.name.in_(names)))}
        conn.execute(entries_table.delete().where(entries_table.c.source.in_(names)))
        # In index order: the (kind, hash) index then grows at its end instead of at random
        # places, four times faster for a million rows than in file order.
        conn.execute(entries_table.insert().from_select(
            list(_COPIED), select(*(s[name] for name in _COPIED)).order_by(s.kind, s.value_hash)))
        conn.execute(sources_table.delete().where(sources_table.c.name.in_(names)))
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        conn.execute(insert(sources_table), [{"name": name, "entries": counts[name], "imported_at": now} for name in names])
        return ImportSummary(imported=counts, replaced=replaced)

    # --- export and delete -------------------------------------------------------------------

    def export(self, source: str | None = None) -> Iterator[ListedValue]:
        """The entries (of one source), by source and type; phone numbers and accounts as
        their hash. An unknown source is UnknownSource at once, before anything is read."""
        if source is not None:
            self._known(source)
        e = entries_table.c
        query = select(e.kind, e.value_hash, e.link, e.level, e.source, e.listed_on, e.scam_type).order_by(e.source, e.kind, e.id)
        return self._listed(query if source is None else query.where(e.source == source))

    def _listed(self, query: Any) -> Iterator[ListedValue]:
        with self._engine.connect() as conn:
            for row in conn.execution_options(stream_results=True).execute(query):
                value = row.link if row.link is not None else HASH_PREFIX + bytes(row.value_hash).hex()
                yield ListedValue(row.kind, value, row.level, row.source, row.listed_on, row.scam_type)

    def delete_source(self, source: str) -> int:
        """Remove one source's entries, in one transaction; returns how many."""
        self._known(source)
        with self._engine.begin() as conn:
            deleted = conn.execute(entries_table.delete().where(entries_table.c.source == source)).rowcount
            conn.execute(sources_table.delete().where(sources_table.c.name == source))
        return deleted

    def _known(self, source: str) -> None:
        names = [listed.name for listed in self.sources()]
        if source not in names:
            raise UnknownSource(source, names)


def _insert_staged(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert the way each database takes it fastest: SQLAlchemy's own per-row handling
    would take longer than the rest of an import (a million rows)."""
    if conn.dialect.name == "sqlite":
        # The driver's executemany; dates as the ISO text SQLAlchemy's Date type keeps in SQLite.
        conn.exec_driver_sql(_SQLITE_STAGE, [(*row[:6], row[6].isoformat(), row[7]) for row in rows])
    elif conn.dialect.driver == "psycopg2":
        # COPY: five times faster than multi-row INSERTs. CSV: an empty field is NULL, bytea is \x<hex>.
        buffer = io.StringIO()
        csv.writer(buffer).writerows(
            (line, kind, "\\x" + digest.hex(), link or "", level, source, day.isoformat(), scam_type or "")
            for line, kind, digest, link, level, source, day, scam_type in rows
        )
        buffer.seek(0)
        with closing(conn.connection.cursor()) as cursor:
            cursor.copy_expert(f"COPY risk_import ({', '.join(_STAGED)}) FROM STDIN WITH (FORMAT csv)", buffer)
    else:
        conn.execute(insert(_staging), [dict(zip(_STAGED, row)) for row in rows])


def _link_forms(link: str) -> list[str]:
    """What a listed entry may be for this link: the link; the link without its query and each
    page above it ("a.example/pay/step2" -> "a.example/pay"); its host with and without the port;
    each domain above the host, down to two labels."""
    page = link.partition("?")[0]
    cut = page.find("/") if "/" in page else len(page)
    authority = page[:cut]
    host = authority if authority.startswith("[") else authority.partition(":")[0]
    if authority.startswith("[") and "]:" in authority:
        host = authority.partition("]")[0] + "]"
    segments = page[cut:].split("/")[1:]
    pages = ["/".join([authority, *segments[:n]]) for n in range(min(len(segments), _MAX_PATH_FORMS), 0, -1)]
    forms = [link, page, *pages, authority, host]
    labels = host.split(".")
    if not host.startswith("[") and not labels[-1].isdigit():  # not an IP address
        forms += [".".join(labels[i:]) for i in range(1, len(labels) - 1)]
    return list(dict.fromkeys(forms))
