"""The early warnings and their audit trail, in the report database (FANZHA_DATABASE_URL, else
var/db/fanzha.db), encrypted with the report key like the reports.

Every replica's dispatcher works on the same rows: a warning is taken with a lease won by a
compare-and-set UPDATE (``claim_due``), so two processes never call the same resident twice for
one attempt, and an attempt is written down ("placing") before Twilio is asked, so a dispatcher
killed in between leaves a trace to recover from. Each method is its own short transaction.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot.services.early_warnings.schema import warning_events_table as events_table, warnings_table
from bot.services.reports.errors import StorageError, UnknownReference
from bot.services.reports.schema import WARNING_ADD_LOCK, settings_table
from bot.services.reports.store import LOCAL_TZ, ReportStore, normalize_reference
from knowledge.privacy import mask_sensitive

LEVELS = ("red", "orange", "yellow")  # most urgent first
OPEN, CLOSED = "open", "closed"
# One place for the outcomes and their labels (the console and the CLI show these).
OUTCOMES: dict[str, str] = {
    "dissuaded": "已劝阻",
    "handed_to_desk": "已转值班民警",
    "paid_report_started": "已被骗，已引导报案",
    "not_scam": "核实不是诈骗",
    "visited": "联系不上，已上门",
    "unreachable": "联系不上，已发短信",
    "wrong_number": "号码有误",
}
EVENT_KINDS = ("imported", "merged", "call", "desk_call", "sms", "answer", "outcome", "error")
ATTEMPT_KINDS = ("call", "desk_call", "sms")
PLACING, PLACED, ERROR, MACHINE = "placing", "placed", "error", "machine"
# Twilio's CallStatus values, in the order a call goes through them; the last five end a call.
CALL_STATES = ("queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled")
FINAL_STATES = frozenset(("completed", "busy", "no-answer", "failed", "canceled", MACHINE))
ENV_MERGE_HOURS = "FANZHA_WARNING_MERGE_HOURS"
DEFAULT_MERGE_WINDOW = timedelta(hours=24)
MAX_NOTE_CHARS = 500
MAX_SOURCE_CHARS = 64
_CLAIM_ROUNDS = 4
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_STATE = re.compile(r"[a-z][a-z_-]{0,31}")


class WarningError(StorageError):
    """A warning or a change to one is not valid; the message names the field and the reason."""


class UnknownWarning(WarningError):
    def __init__(self, warning_id: int) -> None:
        self.warning_id = warning_id
        super().__init__(f"warning {warning_id}: no such warning")


@dataclass(frozen=True)
class NewWarning:
    phone: str  # already normalised E.164 (+86…) by warning_csv.parse_warning
    level: str  # one of LEVELS
    scam_type: str | None  # a knowledge scam type code, or None
    note: str
    source: str
    received_at: datetime  # aware


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the contract's name; the builtin is not used here
    id: int
    phone: str
    level: str
    scam_type: str | None
    note: str
    source: str
    received_at: datetime
    status: str
    outcome: str | None
    outcome_by: str | None
    reference: str | None
    merged: int
    calls_made: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None

    @property
    def urgent(self) -> bool:
        return self.level == "red" and self.status == OPEN


@dataclass(frozen=True)
class WarningEvent:
    id: int
    warning_id: int
    kind: str
    state: str
    twilio_sid: str | None
    detail: str | None
    actor: str
    created_at: datetime
    updated_at: datetime


def merge_window_from_env(env: Mapping[str, str] = os.environ) -> timedelta:
    """FANZHA_WARNING_MERGE_HOURS (default 24): a warning for a number with an open one received
    that close in time is merged into it."""
    raw = env.get(ENV_MERGE_HOURS, "").strip()
    if not raw:
        return DEFAULT_MERGE_WINDOW
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= 24 * 30:
        raise WarningError(f"{ENV_MERGE_HOURS}: must be a number of hours from 0 to 720, not {raw!r}")
    return timedelta(hours=hours)


def masked_phone(phone: str) -> str:
    """"+8613812345678" -> "138****5678": enough for the duty desk to tell warnings apart."""
    national = phone[3:] if phone.startswith("+86") else phone
    return national[:3] + "*" * max(len(national) - 7, 0) + national[-4:] if len(national) > 7 else "*" * len(national)


def more_urgent(a: str, b: str) -> str:
    return a if LEVELS.index(a) <= LEVELS.index(b) else b


def _naive(value: datetime, field: str = "time") -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise WarningError(f"{field}: must be a date and time with its time zone")
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=timezone.utc)


def _text(value: Any, field: str, limit: int, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise WarningError(f"{field}: must be given")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise WarningError(f"{field}: must be a text of at most {limit} characters")
    return value


def _state_rank(state: str) -> int:
    """How far along an attempt is: a status callback never moves it back (they can arrive out of order)."""
    if state == MACHINE:
        return 6
    if state in FINAL_STATES:
        return 5
    if state in CALL_STATES:
        return 2 + (state == "ringing") + 2 * (state == "in-progress")
    return {PLACING: 0, ERROR: 1, PLACED: 1}.get(state, 2)


class WarningStore:
    """Warnings in the report database. Safe to share between threads; one per process."""

    def __init__(self, reports: ReportStore, merge_window: timedelta = DEFAULT_MERGE_WINDOW) -> None:
        self._reports = reports
        self._engine = reports.engine
        self._cipher = reports.cipher
        self.merge_window = merge_window

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._reports.clock

    def _now(self) -> datetime:
        return self._reports.clock().astimezone(timezone.utc).replace(tzinfo=None)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as error:  # down, locked, full: the caller keeps what it has and retries
            raise StorageError(f"the warning database failed: {error.__class__.__name__}") from None

    def _secret(self, text: str | None) -> str | None:
        return None if text is None else self._cipher.encrypt(mask_sensitive(text).text)

    # --- records ------------------------------------------------------------------------

    def _warning(self, row: Any) -> Warning:
        return Warning(
            id=row.id,
            phone=self._cipher.decrypt(row.phone) or "",
            level=row.level,
            scam_type=row.scam_type,
            note=self._cipher.decrypt(row.note) or "",
            source=row.source,
            received_at=_aware(row.received_at),  # type: ignore[arg-type]
            status=row.status,
            outcome=row.outcome,
            outcome_by=row.outcome_by,
            reference=row.reference,
            merged=row.merged,
            calls_made=row.calls_made,
            next_attempt_at=_aware(row.next_attempt_at),
            created_at=_aware(row.created_at),  # type: ignore[arg-type]
            updated_at=_aware(row.updated_at),  # type: ignore[arg-type]
            lease_owner=row.lease_owner,
            lease_until=_aware(row.lease_until),
        )

    def _event(self, row: Any) -> WarningEvent:
        return WarningEvent(
            id=row.id,
            warning_id=row.warning_id,
            kind=row.kind,
            state=row.state,
            twilio_sid=row.twilio_sid,
            detail=self._cipher.decrypt(row.detail),
            actor=row.actor,
            created_at=_aware(row.created_at),  # type: ignore[arg-type]
            updated_at=_aware(row.updated_at),  # type: ignore[arg-type]
        )

    def _warnings(self, query: Any) -> list[Warning]:
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [self._warning(row) for row in rows]

    def _append(self, conn: Connection, warning_id: int, kind: str, state: str, actor: str,
                detail: str | None, now: datetime, sid: str | None = None) -> int:
        if kind not in EVENT_KINDS:
            raise WarningError(f"kind: must be one of {', '.join(EVENT_KINDS)}, not {kind!r}")
        if not isinstance(state, str) or not _STATE.fullmatch(state):
            raise WarningError(f"state: must be a short code like 'placed', not {state!r}")
        _text(actor, "actor", 64)
        touched = conn.execute(update(warnings_table).where(warnings_table.c.id == warning_id).values(updated_at=now)).rowcount
        if not touched:
            raise UnknownWarning(warning_id)
        return conn.execute(insert(events_table).values(
            warning_id=warning_id, kind=kind, state=state, twilio_sid=sid, detail=self._secret(detail),
            actor=actor, created_at=now, updated_at=now,
        )).inserted_primary_key[0]

    # --- warnings in ----------------------------------------------------------------------

    def _check(self, new: NewWarning) -> None:
        if not isinstance(new.phone, str) or not _E164.fullmatch(new.phone):
            raise WarningError(f"phone: must be an E.164 number like +8613812345678, not {new.phone!r}")
        if new.level not in LEVELS:
            raise WarningError(f"level: must be one of {', '.join(LEVELS)}, not {new.level!r}")
        _text(new.scam_type, "scam_type", 64, required=False)
        if not isinstance(new.note, str) or len(new.note) > MAX_NOTE_CHARS:
            raise WarningError(f"note: must be a text of at most {MAX_NOTE_CHARS} characters")
        _text(new.source, "source", MAX_SOURCE_CHARS)
        _naive(new.received_at, "received_at")

    def add(self, new: NewWarning, actor: str) -> tuple[Warning, bool]:
        """Store a warning, or merge it into an open one for the same number received within the
        merge window (True). See ``add_many``."""
        return self.add_many([new], actor)[0]

    def add_many(self, news: Iterable[NewWarning], actor: str, batch: int = 500) -> list[tuple[Warning, bool]]:
        """``add`` for many warnings, ``batch`` to a transaction (an import of a thousand lines
        takes a second, not a thousand commits). Each is checked before any is written."""
        news = list(news)
        for new in news:
            self._check(new)
        _text(actor, "actor", 64)
        results: list[tuple[int, bool]] = []
        for start in range(0, len(news), batch):
            with self._begin() as conn:
                # Taken first: a concurrent import of the same number waits here, then merges.
                conn.execute(update(settings_table).where(settings_table.c.name == WARNING_ADD_LOCK)
                             .values(value=settings_table.c.value))
                results.extend(self._add_one(conn, new, actor) for new in news[start:start + batch])
        return [(self.get(warning_id), merged) for warning_id, merged in results]

    def _add_one(self, conn: Connection, new: NewWarning, actor: str) -> tuple[int, bool]:
        now = self._now()
        received = _naive(new.received_at)
        phone_hash = self._cipher.lookup_hash(new.phone)
        w = warnings_table.c
        same = conn.execute(
            select(warnings_table)
            .where(w.phone_hash == phone_hash, w.status == OPEN,
                   w.received_at >= received - self.merge_window, w.received_at <= received + self.merge_window)
            .order_by(w.received_at.desc(), w.id.desc()).limit(1)
        ).first()
        note = mask_sensitive(new.note.strip()).text
        if same is None:
            warning_id = conn.execute(insert(warnings_table).values(
                phone_hash=phone_hash, phone=self._cipher.encrypt(new.phone), level=new.level,
                scam_type=new.scam_type, note=self._cipher.encrypt(note), source=new.source,
                received_at=received, status=OPEN, merged=0, calls_made=0, next_attempt_at=now,
                created_at=now, updated_at=now,
            )).inserted_primary_key[0]
            self._append(conn, warning_id, "imported", new.level, actor, f"source {new.source}", now)
            return warning_id, False
        level = more_urgent(same.level, new.level)
        old_note = self._cipher.decrypt(same.note) or ""
        values: dict[str, Any] = {"level": level, "merged": same.merged + 1, "updated_at": now}
        changes = [f"source {new.source}"]
        if level != same.level:
            changes.append(f"level {same.level} -> {level}")
            if level == "red":  # a person may be paying now: call at once, whatever was scheduled
                values["next_attempt_at"] = now
        if note and note not in old_note.split("\n"):
            values["note"] = self._cipher.encrypt(f"{old_note}\n{note}" if old_note else note)
            changes.append("note added")
        if new.scam_type and not same.scam_type:
            values["scam_type"] = new.scam_type
            changes.append(f"scam_type {new.scam_type}")
        conn.execute(update(warnings_table).where(w.id == same.id).values(**values))
        self._append(conn, same.id, "merged", level, actor, "; ".join(changes), now)
        return same.id, True

    # --- reading --------------------------------------------------------------------------

    def get(self, warning_id: int) -> Warning:
        found = self._warnings(select(warnings_table).where(warnings_table.c.id == warning_id))
        if not found:
            raise UnknownWarning(warning_id)
        return found[0]

    def open_warnings(self) -> list[Warning]:
        """Open warnings: red, then orange, then yellow; within a level the oldest first."""
        w = warnings_table.c
        level = case({name: rank for rank, name in enumerate(LEVELS)}, value=w.level, else_=len(LEVELS))
        return self._warnings(select(warnings_table).where(w.status == OPEN).order_by(level, w.received_at, w.id))

    def warnings_between(self, since: datetime | None = None, until: datetime | None = None) -> list[Warning]:
        """Warnings received in [since, until), oldest first."""
        w = warnings_table.c
        query = select(warnings_table)
        if since is not None:
            query = query.where(w.received_at >= _naive(since, "since"))
        if until is not None:
            query = query.where(w.received_at < _naive(until, "until"))
        return self._warnings(query.order_by(w.received_at, w.id))

    def find_by_phone(self, phone: str) -> list[Warning]:
        """The warnings for this E.164 number, newest first."""
        w = warnings_table.c
        query = select(warnings_table).where(w.phone_hash == self._cipher.lookup_hash(phone))
        return self._warnings(query.order_by(w.received_at.desc(), w.id.desc()))

    def events(self, warning_id: int) -> list[WarningEvent]:
        """The audit trail of one warning, oldest first."""
        e = events_table.c
        with self._begin() as conn:
            rows = conn.execute(select(events_table).where(e.warning_id == warning_id).order_by(e.id)).all()
        return [self._event(row) for row in rows]

    def get_event(self, event_id: int) -> WarningEvent | None:
        with self._begin() as conn:
            row = conn.execute(select(events_table).where(events_table.c.id == event_id)).first()
        return None if row is None else self._event(row)

    # --- the dispatcher's side ------------------------------------------------------------

    def claim_due(self, worker: str, now: datetime, lease: timedelta, limit: int) -> list[Warning]:
        """Take up to ``limit`` due warnings for ``worker`` until ``now + lease``: red first, then
        the longest waiting. Each is won by a compare-and-set, so no two workers hold one."""
        _text(worker, "worker", 64)
        at, w = _naive(now, "now"), warnings_table.c
        free = or_(w.lease_until.is_(None), w.lease_until < at)
        due = and_(w.status == OPEN, w.next_attempt_at.is_not(None), w.next_attempt_at <= at, free)
        red_first = case((w.level == "red", 0), else_=1)
        won: list[int] = []
        with self._begin() as conn:
            for _ in range(_CLAIM_ROUNDS):  # another worker may win some: look again for the rest
                candidates = conn.execute(
                    select(w.id).where(due).order_by(red_first, w.next_attempt_at, w.id).limit(limit - len(won))
                ).scalars().all()
                for warning_id in candidates:
                    claimed = conn.execute(
                        update(warnings_table).where(w.id == warning_id, due)
                        .values(lease_owner=worker, lease_until=at + lease)
                    ).rowcount
                    if claimed == 1:
                        won.append(warning_id)
                if len(won) >= limit or not candidates:
                    break
            rows = conn.execute(select(warnings_table).where(w.id.in_(won))).all() if won else []
        by_id = {row.id: self._warning(row) for row in rows}
        return [by_id[warning_id] for warning_id in won]

    def release(self, warning_id: int, worker: str, next_attempt_at: datetime | None) -> None:
        """Give the warning back, due again at ``next_attempt_at`` (None: nothing scheduled). Does
        nothing if ``worker`` lost the lease meanwhile; a closed warning stays unscheduled."""
        w = warnings_table.c
        at = None if next_attempt_at is None else _naive(next_attempt_at, "next_attempt_at")
        with self._begin() as conn:
            conn.execute(
                update(warnings_table).where(w.id == warning_id, w.lease_owner == worker)
                .values(lease_owner=None, lease_until=None,
                        next_attempt_at=None if at is None else case((w.status == OPEN, at), else_=None))
            )

    def start_attempt(self, warning_id: int, kind: str, actor: str) -> WarningEvent:
        """Write an attempt down ("placing") BEFORE Twilio is asked: a dispatcher killed in
        between leaves a trace (``unfinished_attempts``)."""
        if kind not in ATTEMPT_KINDS:
            raise WarningError(f"kind: an attempt is one of {', '.join(ATTEMPT_KINDS)}, not {kind!r}")
        return self.record(warning_id, kind, PLACING, actor)

    def attempt_placed(self, event_id: int, twilio_sid: str) -> None:
        """Twilio took the attempt. A call to the resident counts in ``calls_made`` once."""
        _text(twilio_sid, "twilio_sid", 64)
        with self._begin() as conn:
            row = self._event_row(conn, event_id)
            if row.state in (PLACING, ERROR):
                self._advance(conn, row, PLACED, twilio_sid)
            elif row.twilio_sid is None:  # a status callback came first (by event id)
                conn.execute(update(events_table).where(events_table.c.id == event_id).values(twilio_sid=twilio_sid))

    def attempt_failed(self, event_id: int, detail: str) -> None:
        """Twilio refused the attempt or could not be reached: "error", not a call, nothing counted."""
        e = events_table.c
        with self._begin() as conn:
            self._event_row(conn, event_id)
            # Only from "placing": a status callback that came first shows Twilio did place it.
            conn.execute(update(events_table).where(e.id == event_id, e.state == PLACING)
                         .values(state=ERROR, updated_at=self._now()))
            conn.execute(update(events_table).where(e.id == event_id).values(detail=self._secret(detail)))

    def unfinished_attempts(self, older_than: datetime) -> list[WarningEvent]:
        """Attempts still "placing" that were started before ``older_than``, oldest first."""
        e = events_table.c
        with self._begin() as conn:
            rows = conn.execute(select(events_table).where(e.state == PLACING, e.created_at < _naive(older_than, "older_than"))
                                .order_by(e.created_at, e.id)).all()
        return [self._event(row) for row in rows]

    def call_status(self, twilio_sid: str, status: str, answered_by: str | None = None,
                    event_id: int | None = None) -> WarningEvent | None:
        """Twilio's status callback for an attempt, found by its sid, else by ``event_id`` (the
        callback URL carries it) if its sid was never recorded. None when unknown."""
        state = status.strip().lower() if isinstance(status, str) else ""
        answered = (answered_by or "").strip().lower()
        if answered.startswith("machine") or answered == "fax":
            state = MACHINE
        if not _STATE.fullmatch(state):
            raise WarningError(f"status: not a call status: {status!r}")
        e = events_table.c
        with self._begin() as conn:
            row = conn.execute(select(events_table).where(e.twilio_sid == twilio_sid).order_by(e.id.desc()).limit(1)).first() \
                if twilio_sid else None
            if row is None and event_id is not None:
                row = conn.execute(select(events_table).where(e.id == event_id)).first()
                if row is not None and row.twilio_sid not in (None, twilio_sid):
                    row = None  # the event is another call's
            if row is None:
                return None
            if _state_rank(state) > _state_rank(row.state) or (
                _state_rank(state) == _state_rank(row.state) < 5 and state != row.state
            ):
                self._advance(conn, row, state, twilio_sid or row.twilio_sid)
            elif row.twilio_sid is None and twilio_sid:
                conn.execute(update(events_table).where(e.id == row.id).values(twilio_sid=twilio_sid))
            row = conn.execute(select(events_table).where(e.id == row.id)).one()
        return self._event(row)

    def _event_row(self, conn: Connection, event_id: int) -> Any:
        row = conn.execute(select(events_table).where(events_table.c.id == event_id)).first()
        if row is None:
            raise WarningError(f"event {event_id}: no such event")
        return row

    def _advance(self, conn: Connection, row: Any, state: str, sid: str | None) -> None:
        """Move an attempt to ``state``, compare-and-set on the state it had; a call to the
        resident that leaves "placing" (or a recovered "error") is counted then, once."""
        e = events_table.c
        moved = conn.execute(update(events_table).where(e.id == row.id, e.state == row.state)
                             .values(state=state, twilio_sid=sid, updated_at=self._now())).rowcount
        if moved and row.kind == "call" and row.state in (PLACING, ERROR):
            conn.execute(update(warnings_table).where(warnings_table.c.id == row.warning_id)
                         .values(calls_made=warnings_table.c.calls_made + 1))

    def calls_on_day(self, phone: str, day: date) -> int:
        """Calls to this E.164 number started on this Beijing day, except those Twilio refused
        (an attempt still "placing" counts: it is most likely ringing)."""
        start = datetime.combine(day, time.min, LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)
        end = datetime.combine(day + timedelta(days=1), time.min, LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)
        e, w = events_table.c, warnings_table.c
        query = (
            select(func.count()).select_from(events_table.join(warnings_table, e.warning_id == w.id))
            .where(w.phone_hash == self._cipher.lookup_hash(phone), e.kind == "call", e.state != ERROR,
                   e.created_at >= start, e.created_at < end)
        )
        with self._begin() as conn:
            return conn.execute(query).scalar_one()

    # --- audit and outcomes ---------------------------------------------------------------

    def record(self, warning_id: int, kind: str, state: str, actor: str, detail: str | None = None) -> WarningEvent:
        """Add an event to the warning's audit trail (the detail is masked and encrypted)."""
        with self._begin() as conn:
            event_id = self._append(conn, warning_id, kind, state, actor, detail, self._now())
            row = conn.execute(select(events_table).where(events_table.c.id == event_id)).one()
        return self._event(row)

    def purge_closed_before(self, cutoff: datetime, dry_run: bool = False) -> tuple[int, int]:
        """Erase warnings closed (last changed) before ``cutoff`` with their audit trails, for
        ``fanzha purge``: they hold residents' numbers. Open ones stay whatever their age: the
        desk has not finished with them. Returns (warnings, events); ``dry_run`` only counts."""
        closed = and_(warnings_table.c.status == CLOSED, warnings_table.c.updated_at < _naive(cutoff, "cutoff"))
        ids = select(warnings_table.c.id).where(closed)
        their_events = events_table.c.warning_id.in_(ids)
        with self._begin() as conn:
            if dry_run:
                counts = (select(func.count()).select_from(t).where(w) for t, w in
                          ((warnings_table, closed), (events_table, their_events)))
                warnings, events = (conn.execute(query).scalar_one() for query in counts)
                return warnings, events
            events = conn.execute(events_table.delete().where(their_events)).rowcount
            warnings = conn.execute(warnings_table.delete().where(closed)).rowcount
        return warnings, events

    def set_outcome(self, warning_id: int, outcome: str, actor: str, note: str | None = None,
                    reference: str | None = None) -> Warning:
        """Close the warning with ``outcome`` (one of OUTCOMES). Setting it again (an agent
        correcting) is allowed; every setting is in the audit trail."""
        if outcome not in OUTCOMES:
            raise WarningError(f"outcome: must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        _text(actor, "actor", 64)
        if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_CHARS):
            raise WarningError(f"note: must be a text of at most {MAX_NOTE_CHARS} characters")
        values: dict[str, Any] = {"status": CLOSED, "outcome": outcome, "outcome_by": actor, "next_attempt_at": None}
        if reference:
            try:
                values["reference"] = normalize_reference(reference)
            except UnknownReference as error:
                raise WarningError(f"reference: {error}") from None
        now = self._now()
        with self._begin() as conn:
            self._append(conn, warning_id, "outcome", outcome, actor, note or None, now)
            conn.execute(update(warnings_table).where(warnings_table.c.id == warning_id).values(**values))
        return self.get(warning_id)
