"""Reports and call-back requests, kept with everything personal encrypted: the queries.

Where: ``var/db/fanzha.db`` (SQLite, relative to the working folder like the tracker store), or any
SQLAlchemy URL in ``FANZHA_DATABASE_URL``. The schema (bot/services/reports/schema.py) is created
and migrated forward on open.

What is encrypted (Fernet, with the report key of bot/services/reports/crypto.py): a report's
answers (receiving account, account name, the scammer's phone, WeChat/QQ ids, the story …), the
sender id, a call-back's phone number and reason. In clear: the reference number, channel, scam
type, risk, status and times, which the duty officer sorts and counts by. Senders are found by a
keyed hash, never by the id in clear.

Everything passes knowledge.privacy.mask_sensitive first: no verification code, PIN, password,
CVV, ID number or own card number is ever stored (the receiving account is kept on purpose).
"""
from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import Table, create_engine, false, func, insert, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import QueuePool

from bot.services import trends
from bot.services.reports.crypto import DEFAULT_KEY_FILE, ENV_REPORT_KEY, _Cipher, load_key
from bot.services.reports.errors import ReportKeyError, StorageError, UnknownReference
from bot.services.reports.schema import callbacks_table, migrate, reports_table, settings_table, tickets_table
from bot.services.runtime_state import REPORT_DATABASE, private_folder
from bot.services.sqlite_pragmas import set_pragmas
from knowledge.case_summary import mask_report_fields
from knowledge.privacy import mask_sensitive

DEFAULT_DATABASE = REPORT_DATABASE
ENV_DATABASE_URL = "FANZHA_DATABASE_URL"
# Reference numbers and export dates follow the residents' calendar.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

FINISHED, ABANDONED = "finished", "abandoned"
STATUSES = (FINISHED, ABANDONED)

# Reference numbers: FZ-YYYYMMDD-XXXX. No 0/O, 1/I/L, 2/Z, 5/S, 8/B: nothing to mishear or misread.
REFERENCE_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
REFERENCE_CODE_LENGTH = 4
_REFERENCE = re.compile(rf"^FZ(\d{{8}})([{REFERENCE_ALPHABET}]{{{REFERENCE_CODE_LENGTH}}})$")
# Encrypted into the database when it is made: a key that cannot decrypt it is the wrong key.
_KEY_CHECK = b"fanzha report key check"


# --- reference numbers --------------------------------------------------------------------


def new_reference(day: date) -> str:
    code = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_CODE_LENGTH))
    return f"FZ-{day:%Y%m%d}-{code}"


def normalize_reference(text: str) -> str:
    """'fz 20261122 7k3q' -> 'FZ-20261122-7K3Q'; anything else is UnknownReference."""
    compact = re.sub(r"[\s\-_—–]", "", text or "").upper()
    match = _REFERENCE.match(compact)
    if not match:
        raise UnknownReference(text, "not a reference number like FZ-20261122-7K3Q")
    try:
        datetime.strptime(match.group(1), "%Y%m%d")
    except ValueError:
        raise UnknownReference(text, "the date in this reference number does not exist") from None
    return f"FZ-{match.group(1)}-{match.group(2)}"


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredReport:
    reference: str
    fields: dict[str, Any]
    scam_type: str | None
    risk: str | None
    channel: str
    status: str
    sender: str | None
    created_at: datetime  # aware, UTC
    updated_at: datetime


@dataclass(frozen=True)
class CallbackRequest:
    id: int
    sender: str | None
    channel: str
    phone: str | None
    reason: str
    created_at: datetime


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _plain(text: str | None, what: str, limit: int = 64) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > limit:
        raise StorageError(f"{what} must be a text of at most {limit} characters")
    return text


def empty_write_ahead_log(engine: Engine) -> bool:
    """After an erase: copy SQLite's write-ahead log back into the database and empty it, so the
    erased rows do not stay readable in the ``-wal`` file while the servers keep it open.
    False when a reader held the log past the busy timeout (it is then left as it was)."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as conn:
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()[0]
    return not busy


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class ReportStore:
    """The report database. One per process; safe to share between threads."""

    def __init__(
        self,
        url: str | None = None,
        key_file: Path = DEFAULT_KEY_FILE,
        create: bool = True,
        env: Mapping[str, str] = os.environ,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.url = url or env.get(ENV_DATABASE_URL) or f"sqlite:///{DEFAULT_DATABASE}"
        self._clock = clock
        path = _sqlite_file(self.url)
        if path is not None:
            if not path.exists():
                if not create:
                    raise StorageError(f"no report database at {path} (set {ENV_DATABASE_URL} or run from the project folder)")
                private_folder(path.parent)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # owner-only from the start
        if path is not None:
            # Keep connections open (SQLAlchemy 1.4 would open one per query for a SQLite file and
            # checkpoint the log on every close); the pool hands each to one thread at a time.
            self.engine = create_engine(
                self.url, future=True, poolclass=QueuePool, connect_args={"check_same_thread": False}
            )
        else:
            self.engine = create_engine(self.url, future=True)
        set_pragmas(
            self.engine,
            "journal_mode = WAL",  # readers do not wait for the writer
            "secure_delete = ON",  # an erased report is overwritten, not left in free pages
        )
        try:
            migrate(self.engine)
            self._cipher = self._open_cipher(key_file, create, env)
        except SQLAlchemyError as error:
            self.engine.dispose()
            raise StorageError(f"cannot open the report database {self.url}: {error}") from None
        except StorageError:
            self.engine.dispose()
            raise

    def _open_cipher(self, key_file: Path, create: bool, env: Mapping[str, str]) -> _Cipher:
        with self.engine.begin() as conn:
            check = conn.execute(select(settings_table.c.value).where(settings_table.c.name == "key_check")).scalar()
            # A new key only with a new database: a lost key file next to old reports is an error.
            key = load_key(key_file, create=create and check is None, env=env)
            where = ENV_REPORT_KEY if env.get(ENV_REPORT_KEY) else str(key_file)
            cipher = _Cipher(key, where)
            if check is None:
                conn.execute(insert(settings_table).values(name="key_check", value=cipher.encrypt(_KEY_CHECK.decode())))
            else:
                try:
                    cipher.decrypt(check)
                except ReportKeyError:
                    raise ReportKeyError(
                        f"the report key from {where} does not open the reports in {self.url}; "
                        "use the key these reports were written with"
                    ) from None
        return cipher

    @property
    def cipher(self) -> _Cipher:
        """Encryption and sender look-up with this database's key (for bot/services/handoff.py)."""
        return self._cipher

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    def close(self) -> None:
        self.engine.dispose()

    def today(self) -> date:
        """Today in the residents' calendar (the day the trend counts file an event under)."""
        return self._clock().astimezone(LOCAL_TZ).date()

    def count_check(self, *, channel: str, scam_type: str | None, risk: str | None) -> None:
        """A checker verdict given to a resident, for the trends dashboard (bot/services/trends.py)."""
        try:
            with self.engine.begin() as conn:
                trends.add_event(conn, self.today(), trends.CHECK, channel,
                                 (trends.code(scam_type, trends.NO_TYPE), trends.code(risk)))
        except SQLAlchemyError as error:
            raise StorageError(f"the check was not counted: {error.__class__.__name__}") from None

    def __enter__(self) -> "ReportStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reports ----------------------------------------------------------------------

    def _encrypt_fields(self, fields: Mapping[str, Any]) -> str:
        masked = mask_report_fields(fields)
        return self._cipher.encrypt(json.dumps(masked, ensure_ascii=False, sort_keys=True))  # type: ignore[return-value]

    def _report(self, row: Any) -> StoredReport:
        return StoredReport(
            reference=row.reference,
            fields=json.loads(self._cipher.decrypt(row.fields) or "{}"),
            scam_type=row.scam_type,
            risk=row.risk,
            channel=row.channel,
            status=row.status,
            sender=self._cipher.decrypt(row.sender),
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
        )

    @staticmethod
    def _status(status: str) -> str:
        if status not in STATUSES:
            raise StorageError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        return status

    def save_report(
        self,
        fields: Mapping[str, Any],
        *,
        channel: str,
        scam_type: str | None = None,
        risk: str | None = None,
        status: str = FINISHED,
        sender: str | None = None,
        created_at: datetime | None = None,
    ) -> StoredReport:
        """Store a new report (answers masked, then encrypted) under a new reference number.

        ``created_at``: when the resident finished it, if that was earlier (a queued report)."""
        if not channel:
            raise StorageError("channel must be given")
        now = (created_at or self._clock()).astimezone(timezone.utc)
        values = dict(
            sender_hash=self._cipher.lookup_hash(sender),
            sender=self._cipher.encrypt(sender),
            channel=_plain(channel, "channel"),
            scam_type=_plain(scam_type, "scam_type"),
            risk=_plain(risk, "risk", 16),
            status=self._status(status),
            fields=self._encrypt_fields(fields),
            created_at=now.replace(tzinfo=None),
            updated_at=now.replace(tzinfo=None),
        )
        day = now.astimezone(LOCAL_TZ).date()
        for _ in range(20):  # 25^4 codes a day: a clash is rare, a second try settles it
            reference = new_reference(day)
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(reports_table).values(reference=reference, **values))
                    if status == FINISHED:  # counted with the report: a queued one once, when stored
                        payment, yuan = trends.report_keys(fields)
                        trends.add_event(conn, day, trends.REPORT, channel,
                                         (trends.code(scam_type), payment), total=yuan)
            except IntegrityError:
                continue
            except SQLAlchemyError as error:  # down, locked, full: the caller keeps the report elsewhere
                raise StorageError(f"the report database did not take the report: {error.__class__.__name__}") from None
            # Not read back: a failed read after a good insert must not queue the report twice.
            return StoredReport(reference=reference, fields=mask_report_fields(fields), scam_type=scam_type,
                                risk=risk, channel=channel, status=status, sender=sender,
                                created_at=now, updated_at=now)
        raise StorageError("could not find a free reference number; try again")

    def update_report(
        self,
        reference: str,
        *,
        fields: Mapping[str, Any] | None = None,
        status: str | None = None,
        scam_type: str | None = None,
        risk: str | None = None,
    ) -> StoredReport:
        """Add or change answers (merged into the stored ones) and set status, scam type or risk."""
        reference = normalize_reference(reference)
        with self.engine.begin() as conn:
            row = conn.execute(select(reports_table).where(reports_table.c.reference == reference)).first()
            if row is None:
                raise UnknownReference(reference)
            values: dict[str, Any] = {"updated_at": self._clock().astimezone(timezone.utc).replace(tzinfo=None)}
            if fields is not None:
                merged = {**json.loads(self._cipher.decrypt(row.fields) or "{}"), **fields}
                values["fields"] = self._encrypt_fields(merged)
            if status is not None:
                values["status"] = self._status(status)
            if scam_type is not None:
                values["scam_type"] = _plain(scam_type, "scam_type")
            if risk is not None:
                values["risk"] = _plain(risk, "risk", 16)
            conn.execute(update(reports_table).where(reports_table.c.reference == reference).values(**values))
        return self.get_report(reference)

    def get_report(self, reference: str) -> StoredReport:
        reference = normalize_reference(reference)
        with self.engine.connect() as conn:
            row = conn.execute(select(reports_table).where(reports_table.c.reference == reference)).first()
        if row is None:
            raise UnknownReference(reference)
        return self._report(row)

    def delete_report(self, reference: str) -> None:
        """Erase one report for good (the resident's right to erasure)."""
        reference = normalize_reference(reference)
        with self.engine.begin() as conn:
            deleted = conn.execute(reports_table.delete().where(reports_table.c.reference == reference)).rowcount
        if not deleted:
            raise UnknownReference(reference)
        self._empty_write_ahead_log()

    def _empty_write_ahead_log(self) -> None:
        if not empty_write_ahead_log(self.engine):
            raise StorageError(
                f"erased, but a long read kept the erased rows in the write-ahead log of {self.url}; "
                "run the command again to empty it"
            )

    def reports_since(self, since: date) -> list[StoredReport]:
        """Reports created on or after ``since`` (a Beijing-time calendar day), oldest first."""
        start = datetime.combine(since, time.min, LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)
        query = select(reports_table).where(reports_table.c.created_at >= start).order_by(reports_table.c.created_at, reports_table.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._report(row) for row in rows]

    def reports_for_sender(self, sender: str) -> list[StoredReport]:
        query = select(reports_table).where(reports_table.c.sender_hash == self._cipher.lookup_hash(sender))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(reports_table.c.created_at, reports_table.c.id)).all()
        return [self._report(row) for row in rows]

    # --- call-back requests ---------------------------------------------------------------

    def request_callback(self, *, sender: str | None, channel: str, reason: str, phone: str | None = None) -> CallbackRequest:
        """Note that a resident asked the duty officer to call back (phone only if they gave one)."""
        if not channel:
            raise StorageError("channel must be given")
        if not isinstance(reason, str) or not reason.strip():
            raise StorageError("reason must be a non-empty text")
        now = self._clock().astimezone(timezone.utc).replace(tzinfo=None)
        with self.engine.begin() as conn:
            new_id = conn.execute(
                insert(callbacks_table).values(
                    sender_hash=self._cipher.lookup_hash(sender),
                    sender=self._cipher.encrypt(sender),
                    channel=_plain(channel, "channel"),
                    phone=self._cipher.encrypt(mask_sensitive(phone).text if phone else None),
                    reason=self._cipher.encrypt(mask_sensitive(reason.strip()).text),
                    created_at=now,
                )
            ).inserted_primary_key[0]
            trends.add_event(conn, self.today(), trends.CALLBACK, channel, (channel,))
            row = conn.execute(select(callbacks_table).where(callbacks_table.c.id == new_id)).one()
        return self._callback(row)

    def _callback(self, row: Any) -> CallbackRequest:
        return CallbackRequest(
            id=row.id,
            sender=self._cipher.decrypt(row.sender),
            channel=row.channel,
            phone=self._cipher.decrypt(row.phone),
            reason=self._cipher.decrypt(row.reason) or "",
            created_at=_utc(row.created_at),
        )

    def callbacks_for_sender(self, sender: str) -> list[CallbackRequest]:
        query = select(callbacks_table).where(callbacks_table.c.sender_hash == self._cipher.lookup_hash(sender))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(callbacks_table.c.created_at, callbacks_table.c.id)).all()
        return [self._callback(row) for row in rows]

    def callbacks_since(self, since: date) -> list[CallbackRequest]:
        start = datetime.combine(since, time.min, LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)
        query = select(callbacks_table).where(callbacks_table.c.created_at >= start)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(callbacks_table.c.created_at, callbacks_table.c.id)).all()
        return [self._callback(row) for row in rows]

    # --- retention ------------------------------------------------------------------------

    def purge_older_than(self, cutoff: datetime, dry_run: bool = False) -> "PurgeCounts":
        """Erase reports last changed, call-backs made and tickets closed (or, never closed,
        opened) before ``cutoff``; with ``dry_run`` only count them. Used by ``fanzha purge``."""
        before = _utc(cutoff).replace(tzinfo=None)
        ticket_time = func.coalesce(tickets_table.c.closed_at, tickets_table.c.created_at)
        return self._erase(
            reports_table.c.updated_at < before,
            callbacks_table.c.created_at < before,
            ticket_time < before,
            dry_run,
        )

    def erase_conversation(self, sender: str | None, only_report: str | None = None, dry_run: bool = False) -> "PurgeCounts":
        """Erase what this database keeps of one conversation (the resident's right to erasure):
        its call-back requests, its handoff tickets (their details copy the report's answers and
        the last turns) and its reports, only ``only_report`` if given. ``dry_run``: count only."""
        def mine(table: Table) -> Any:
            # A report stored without a sender has no conversation: its NULL must match nothing.
            return false() if sender is None else table.c.sender_hash == self._cipher.lookup_hash(sender)

        reports = reports_table.c.reference == normalize_reference(only_report) if only_report else mine(reports_table)
        return self._erase(reports, mine(callbacks_table), mine(tickets_table), dry_run)

    def _erase(self, reports: Any, callbacks: Any, tickets: Any, dry_run: bool) -> "PurgeCounts":
        counts: list[int] = []
        with self.engine.begin() as conn:
            for table, condition in ((reports_table, reports), (callbacks_table, callbacks), (tickets_table, tickets)):
                if dry_run:
                    counts.append(conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one())
                else:
                    counts.append(conn.execute(table.delete().where(condition)).rowcount)
        if not dry_run:
            self._empty_write_ahead_log()
        return PurgeCounts(*counts)


@dataclass(frozen=True)
class PurgeCounts:
    reports: int
    callbacks: int
    tickets: int


def local_time(value: datetime) -> datetime:
    """A stored UTC time in the residents' time zone, for showing and exporting."""
    return _utc(value).astimezone(LOCAL_TZ)
