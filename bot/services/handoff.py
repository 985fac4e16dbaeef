"""Human handoff: tickets, console agents, duty hours.

A ticket is opened by ``action_handoff`` (action server) and worked on in the agent console
(bot/channels/console/channel.py, inside the Rasa server); both reach the same database through
:class:`bot.services.reports.store.ReportStore`. A conversation is paused while its ticket is ``waiting`` or
``claimed``; hand-back, close and the claim timeout end the ticket and resume the bot.

Every change of state is one ``UPDATE … WHERE <expected state>``: of two agents claiming the
same ticket at once exactly one gets it, and nobody acts on a ticket another agent holds.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any, Mapping, Sequence

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.services import trends
from bot.services.reports.errors import StorageError
from bot.services.reports.schema import agents_table, console_sessions_table, tickets_table
from bot.services.reports.store import LOCAL_TZ, ReportStore

ENV_DUTY_HOURS = "FANZHA_DUTY_HOURS"
ENV_CLAIM_TIMEOUT = "FANZHA_HANDOFF_CLAIM_TIMEOUT"
DEFAULT_DUTY_HOURS = "08:00-22:00"
DEFAULT_CLAIM_TIMEOUT = 300.0  # seconds a ticket waits for an agent before the resident is told

WAITING, CLAIMED, RETURNED, CLOSED, UNANSWERED = "waiting", "claimed", "returned", "closed", "unanswered"
ACTIVE = (WAITING, CLAIMED)  # the bot is paused for these
# Channels an agent's reply reaches (bot/channels/console/desk.py sends through the channel's
# output channel): the web chat's socket.io room, WeChat's customer-service messages (with
# FANZHA_WECHAT_APP_SECRET). REST has no way back to the resident, and the phone line dials the
# duty desk instead: a ticket from them could never be answered.
DESK_CHANNELS = frozenset({"socketio", "wechat"})
LAST_TURNS = 12  # turns of the conversation copied into the ticket

# Roles beyond the duty desk every agent has: a supervisor may see the trends dashboard.
SUPERVISOR = "supervisor"
ROLES = (SUPERVISOR,)
_AGENT_NAME = re.compile(r"^[\w.\-]{2,32}$")
MIN_PASSWORD_CHARS = 10
# scrypt at n=2**15, r=8: 32 MiB and about 0.1 s per try (the work factor OWASP suggests).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024


class HandoffError(StorageError):
    """Bad input or settings for handoff; the message says what to change."""


# --- duty hours -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DutyHours:
    """Beijing-time windows like ``08:00-22:00`` or ``08:00-12:00,14:00-22:00``; a window may
    pass midnight (``22:00-06:00``); ``00:00-24:00`` is always."""

    windows: tuple[tuple[time, time | None], ...]  # end None: midnight at the end of the day
    text: str

    @classmethod
    def parse(cls, text: str) -> "DutyHours":
        windows = []
        for part in (text or "").split(","):
            match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", part)
            if not match:
                raise HandoffError(f"{ENV_DUTY_HOURS}: '{part.strip()}' is not a window like 08:00-22:00")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
                raise HandoffError(f"{ENV_DUTY_HOURS}: '{part.strip()}' is not a valid time of day")
            start, end = time(h1, m1), None if h2 == 24 else time(h2, m2)
            if start == end:
                raise HandoffError(f"{ENV_DUTY_HOURS}: '{part.strip()}' starts and ends at the same time")
            windows.append((start, end))
        return cls(tuple(windows), ", ".join(p.strip() for p in text.split(",")))

    def on_duty(self, now: datetime) -> bool:
        local = now.astimezone(LOCAL_TZ).time()
        for start, end in self.windows:
            if end is None:
                if local >= start:
                    return True
            elif start < end:
                if start <= local < end:
                    return True
            elif local >= start or local < end:  # passes midnight
                return True
        return False


@dataclass(frozen=True)
class HandoffSettings:
    duty_hours: DutyHours
    claim_timeout: float  # seconds

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "HandoffSettings":
        hours = DutyHours.parse(env.get(ENV_DUTY_HOURS) or DEFAULT_DUTY_HOURS)
        raw = env.get(ENV_CLAIM_TIMEOUT) or str(DEFAULT_CLAIM_TIMEOUT)
        try:
            timeout = float(raw)
        except ValueError:
            raise HandoffError(f"{ENV_CLAIM_TIMEOUT}: '{raw}' is not a number of seconds") from None
        if not 5 <= timeout <= 24 * 3600:
            raise HandoffError(f"{ENV_CLAIM_TIMEOUT}: must be from 5 to 86400 seconds, not {raw}")
        return cls(hours, timeout)


# --- passwords ------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_SCRYPT_MAXMEM, dklen=32
    )
    b64 = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt)}${b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            maxmem=_SCRYPT_MAXMEM, dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# A hash to check against when the name is unknown, so both cases take as long.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


# --- tickets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    id: int
    sender: str
    channel: str
    reason: str
    scam_type: str | None
    risk: str | None
    details: dict[str, Any]  # report: {slot: value}, turns: [{from, text}]
    status: str
    claimed_by: str | None
    claimed_at: datetime | None
    outcome: str | None
    created_at: datetime  # aware, UTC
    closed_at: datetime | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def waiting_seconds(self, now: datetime) -> float:
        end = self.claimed_at or self.closed_at or now
        return max(0.0, (end - self.created_at).total_seconds())


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=timezone.utc)


class TicketStore:
    """Tickets and agents in the report database (encrypted with the same key)."""

    def __init__(self, store: ReportStore) -> None:
        self.store = store
        self.engine = store.engine
        self._cipher = store.cipher

    def _now(self) -> datetime:
        return self.store.clock().astimezone(timezone.utc).replace(tzinfo=None)

    def _ticket(self, row: Any) -> Ticket:
        return Ticket(
            id=row.id,
            sender=self._cipher.decrypt(row.sender) or "",
            channel=row.channel,
            reason=row.reason,
            scam_type=row.scam_type,
            risk=row.risk,
            details=json.loads(self._cipher.decrypt(row.details) or "{}"),
            status=row.status,
            claimed_by=row.claimed_by,
            claimed_at=_aware(row.claimed_at),
            outcome=row.outcome,
            created_at=_aware(row.created_at),  # type: ignore[arg-type]
            closed_at=_aware(row.closed_at),
        )

    def open_ticket(
        self,
        *,
        sender: str,
        channel: str,
        reason: str,
        scam_type: str | None = None,
        risk: str | None = None,
        report: Mapping[str, Any] | None = None,
        turns: Sequence[Mapping[str, str]] = (),
    ) -> Ticket:
        """A new waiting ticket, or the conversation's active one (one at a time per conversation)."""
        if not sender or not channel or not reason:
            raise HandoffError("a ticket needs a sender, a channel and a reason")
        existing = self.active_for(sender)
        if existing is not None:
            return existing
        details = {"report": dict(report or {}), "turns": [dict(t) for t in turns][-LAST_TURNS:]}
        with self.engine.begin() as conn:
            new_id = conn.execute(
                insert(tickets_table).values(
                    sender_hash=self._cipher.lookup_hash(sender),
                    sender=self._cipher.encrypt(sender),
                    channel=channel[:32],
                    reason=reason[:32],
                    scam_type=(scam_type or None) and scam_type[:64],
                    risk=(risk or None) and risk[:16],
                    details=self._cipher.encrypt(json.dumps(details, ensure_ascii=False)),
                    status=WAITING,
                    created_at=self._now(),
                )
            ).inserted_primary_key[0]
            trends.add_event(conn, self.store.today(), trends.HANDOFF, channel, (reason,))
        return self.get(new_id)

    def get(self, ticket_id: int) -> Ticket:
        with self.engine.connect() as conn:
            row = conn.execute(select(tickets_table).where(tickets_table.c.id == ticket_id)).first()
        if row is None:
            raise HandoffError(f"no ticket {ticket_id}")
        return self._ticket(row)

    def active_for(self, sender: str) -> Ticket | None:
        query = (
            select(tickets_table)
            .where(tickets_table.c.sender_hash == self._cipher.lookup_hash(sender), tickets_table.c.status.in_(ACTIVE))
            .order_by(tickets_table.c.id.desc())
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._ticket(row)

    def queue(self) -> list[Ticket]:
        """Active tickets, the longest-waiting first."""
        query = select(tickets_table).where(tickets_table.c.status.in_(ACTIVE)).order_by(tickets_table.c.created_at, tickets_table.c.id)
        with self.engine.connect() as conn:
            return [self._ticket(row) for row in conn.execute(query).all()]

    def _change(self, ticket_id: int, condition: Any, waited: str | None = None, **values: Any) -> bool:
        """``waited``: the change ends the ticket's wait for an agent (answered or unanswered);
        the wait is counted for the trends dashboard in the same transaction."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(tickets_table).where(and_(tickets_table.c.id == ticket_id, condition)).values(**values)
            ).rowcount
            if changed == 1 and waited:
                self._count_wait(conn, ticket_id, waited)
        return changed == 1

    def _count_wait(self, conn: Any, ticket_id: int, waited: str) -> None:
        row = conn.execute(select(tickets_table).where(tickets_table.c.id == ticket_id)).one()
        if waited == trends.ANSWERED and row.claimed_at != row.closed_at and row.closed_at is not None:
            return  # closed by the agent who claimed it earlier: that wait was counted at the claim
        end = row.claimed_at if waited == trends.ANSWERED else row.closed_at
        trends.add(conn, self.store.today(), trends.WAIT, waited, total=(end - row.created_at).total_seconds())

    def claim(self, ticket_id: int, agent: str) -> bool:
        """True for the one agent who gets the ticket; False if anybody holds it or it is over."""
        return self._change(
            ticket_id,
            and_(tickets_table.c.status == WAITING, tickets_table.c.claimed_by.is_(None)),
            waited=trends.ANSWERED, status=CLAIMED, claimed_by=agent, claimed_at=self._now(),
        )

    def _held_by(self, agent: str) -> Any:
        return and_(tickets_table.c.status == CLAIMED, tickets_table.c.claimed_by == agent)

    def holds(self, ticket_id: int, agent: str) -> bool:
        ticket = self.get(ticket_id)
        return ticket.status == CLAIMED and ticket.claimed_by == agent

    def hand_back(self, ticket_id: int, agent: str) -> bool:
        return self._change(ticket_id, self._held_by(agent), status=RETURNED, closed_at=self._now())

    def close(self, ticket_id: int, agent: str, outcome: str, outcomes: Sequence[str]) -> bool:
        """Close with an outcome; the agent must hold the ticket, or it is still waiting."""
        if outcome not in outcomes:
            raise HandoffError(f"outcome must be one of {', '.join(outcomes)}")
        may = or_(self._held_by(agent), and_(tickets_table.c.status == WAITING, tickets_table.c.claimed_by.is_(None)))
        now = self._now()
        return self._change(
            ticket_id, may, waited=trends.ANSWERED, status=CLOSED, outcome=outcome, closed_at=now,
            claimed_by=func.coalesce(tickets_table.c.claimed_by, agent),
            claimed_at=func.coalesce(tickets_table.c.claimed_at, now),
        )

    def expire_unclaimed(self, older_than: timedelta) -> list[Ticket]:
        """Mark waiting tickets older than ``older_than`` as unanswered; return those this call marked."""
        cutoff = self._now() - older_than
        query = select(tickets_table.c.id).where(tickets_table.c.status == WAITING, tickets_table.c.created_at <= cutoff)
        with self.engine.connect() as conn:
            candidates = [row.id for row in conn.execute(query).all()]
        expired = []
        for ticket_id in candidates:
            if self._change(ticket_id, tickets_table.c.status == WAITING, waited=trends.UNANSWERED,
                            status=UNANSWERED, closed_at=self._now()):
                expired.append(self.get(ticket_id))
        return expired

    # --- agents -----------------------------------------------------------------------------

    def add_agent(self, name: str, password: str, roles: Sequence[str] = ()) -> None:
        roles_text = _roles_text(roles)
        if not _AGENT_NAME.fullmatch(name or ""):
            raise HandoffError("an agent name is 2 to 32 letters, digits, '.', '_' or '-'")
        if len(password or "") < MIN_PASSWORD_CHARS:
            raise HandoffError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(agents_table).values(name=name, password_hash=hash_password(password), active=1,
                                                created_at=self._now(), roles=roles_text)
                )
        except IntegrityError:
            raise HandoffError(f"there is already an agent called {name}") from None

    def set_password(self, name: str, password: str) -> None:
        if len(password or "") < MIN_PASSWORD_CHARS:
            raise HandoffError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(agents_table).where(agents_table.c.name == name).values(password_hash=hash_password(password), active=1)
            ).rowcount
            conn.execute(self._sessions_of(name))  # whoever knew the old password is logged out
        if not changed:
            raise HandoffError(f"no agent called {name}")

    def disable_agent(self, name: str) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(update(agents_table).where(agents_table.c.name == name).values(active=0)).rowcount
            conn.execute(self._sessions_of(name))
        if not changed:
            raise HandoffError(f"no agent called {name}")

    def agents(self) -> list[tuple[str, bool]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(agents_table.c.name, agents_table.c.active).order_by(agents_table.c.name)).all()
        return [(row.name, bool(row.active)) for row in rows]

    def set_roles(self, name: str, roles: Sequence[str]) -> None:
        roles_text = _roles_text(roles)
        with self.engine.begin() as conn:
            changed = conn.execute(update(agents_table).where(agents_table.c.name == name).values(roles=roles_text)).rowcount
        if not changed:
            raise HandoffError(f"no agent called {name}")

    def roles_of(self, name: str) -> frozenset[str]:
        """The agent's roles, read on every request: a role taken away counts at once."""
        with self.engine.connect() as conn:
            text = conn.execute(
                select(agents_table.c.roles).where(agents_table.c.name == name, agents_table.c.active == 1)
            ).scalar()
        return frozenset((text or "").split())

    def agent_active(self, name: str) -> bool:
        with self.engine.connect() as conn:
            active = conn.execute(select(agents_table.c.active).where(agents_table.c.name == name)).scalar()
        return bool(active)

    def verify_agent(self, name: str, password: str) -> bool:
        """True when ``name`` is an active agent with this password (same time either way)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(agents_table).where(agents_table.c.name == name)).first()
        ok = check_password(password or "", row.password_hash if row else _DUMMY_HASH)
        return bool(row and row.active and ok)

    # --- console sessions: bot/services/console_auth.py signs the cookies, the database says which are open

    def open_session(self, sid: str, agent: str, expires: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions_table).where(console_sessions_table.c.expires_at < self._now()))
            conn.execute(
                insert(console_sessions_table).values(
                    sid_hash=_session_hash(sid), agent=agent, expires_at=expires.astimezone(timezone.utc).replace(tzinfo=None)
                )
            )

    def session_open(self, sid: str, agent: str) -> bool:
        """True until the session is logged out, its agent's password changed or the agent disabled."""
        sessions = console_sessions_table.c
        query = (
            select(agents_table.c.active)
            .join(console_sessions_table, sessions.agent == agents_table.c.name)
            .where(sessions.sid_hash == _session_hash(sid), sessions.agent == agent)
        )
        with self.engine.connect() as conn:
            return bool(conn.execute(query).scalar())

    def end_session(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions_table).where(console_sessions_table.c.sid_hash == _session_hash(sid)))

    @staticmethod
    def _sessions_of(agent: str) -> Any:
        return delete(console_sessions_table).where(console_sessions_table.c.agent == agent)


def _roles_text(roles: Sequence[str]) -> str:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise HandoffError(f"unknown role {', '.join(sorted(unknown))}: roles are {', '.join(ROLES)}")
    return " ".join(sorted(set(roles)))


def _session_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii")).hexdigest()
