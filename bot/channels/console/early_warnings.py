"""The centre's early warnings (预警) on the agent console: ``/console/warnings``.

GET  /console/warnings                     the page (login first)
GET  /console/api/warnings                 open warnings: red first, then orange, yellow; oldest first.
                                           The number masked (138****5678). ``?brief=1``: counts only.
GET  /console/api/warnings/<id>            one warning with the full number (the desk must call or
                                           visit) and its audit trail
POST /console/api/warnings                 a warning typed in by an agent, JSON like a CSV line
                                           {"phone", "level", "scam_type", "note", "source", "time"};
                                           400 "field: reason" when a field is wrong
POST /console/api/warnings/<id>/outcome    {"outcome", "note"}: closes it, audited with the agent's name

Any logged-in agent, under the console's rules (console.guarded: session cookie, and on a POST the
session's CSRF token from the console's own origin). The store is bot/services/early_warnings/store.py on the
console's report database; validation is warning_csv.parse_warning, as for an imported file.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from functools import cached_property, partial
from typing import Any, Callable, Mapping, TypeVar

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.console.channel import HEADERS, AgentConsoleChannel, _json
from bot.channels.console.desk import DeskError
from bot.services.console_auth import Session
from bot.services.early_warnings.store import (
    OUTCOMES,
    UnknownWarning,
    Warning,
    WarningError,
    WarningEvent,
    WarningStore,
    masked_phone,
    merge_window_from_env,
)
from bot.services.early_warnings.warning_csv import FIELDS, parse_warning, scam_type_names
from bot.services.reports.errors import StorageError
from knowledge.loader import default_knowledge

logger = logging.getLogger(__name__)

LEVEL_LABELS = {"red": "红色", "orange": "橙色", "yellow": "黄色"}
MAX_BODY = 16 * 1024
# A call to the resident still going on: as the dispatcher counts it (bot/services/early_warnings/dispatch.py).
LIVE_CALL = ("placing", "placed", "queued", "ringing", "in-progress")
LIVE_CALL_FOR = timedelta(minutes=15)
T = TypeVar("T")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def event_json(event: WarningEvent) -> dict[str, Any]:
    return {"id": event.id, "kind": event.kind, "state": event.state, "actor": event.actor,
            "detail": event.detail, "at": _iso(event.created_at), "updated_at": _iso(event.updated_at)}


class WarningsDesk:
    """The console's view of the warnings; one per console channel, the store opened on first use."""

    def __init__(self, channel: AgentConsoleChannel, env: Mapping[str, str] = os.environ) -> None:
        self.channel = channel
        self.merge_window = merge_window_from_env(env)  # a wrong value stops the server at start, with the reason

    @cached_property
    def scam_names(self) -> dict[str, str]:
        return {code: scam.name for code, scam in default_knowledge().scam_types.items()}

    @cached_property
    def scam_types(self) -> dict[str, str]:
        """What may be given for a type, as in a CSV file: a code, name or alias."""
        return scam_type_names()

    @cached_property
    def store(self) -> WarningStore:
        return WarningStore(self.channel.tickets.store, merge_window=self.merge_window)

    def needs_visit(self, warning: Warning, events: list[WarningEvent], now: datetime) -> bool:
        """A red warning nobody could be reached for ("上门"): its calls are exhausted and none is
        still going on. The dispatcher tells exhausted calls two ways (dispatch.py): it texts the
        resident only after the last call, and schedules nothing more after that."""
        if not warning.urgent or warning.calls_made == 0:
            return False
        exhausted = warning.next_attempt_at is None or any(e.kind == "sms" for e in events)
        calls = [e for e in events if e.kind == "call"]
        live = bool(calls) and calls[-1].state in LIVE_CALL and now - calls[-1].created_at < LIVE_CALL_FOR
        return exhausted and not live

    def warning_json(self, warning: Warning, now: datetime, events: list[WarningEvent]) -> dict[str, Any]:
        return {
            "id": warning.id,
            "level": warning.level,
            "level_label": LEVEL_LABELS.get(warning.level, warning.level),
            "scam_type": warning.scam_type,
            "scam_type_name": self.scam_names.get(warning.scam_type or "", warning.scam_type),
            "phone": masked_phone(warning.phone),
            "source": warning.source,
            "received_at": _iso(warning.received_at),
            "age_minutes": max(0, int((now - warning.received_at).total_seconds() // 60)),
            "status": warning.status,
            "urgent": warning.urgent,
            "needs_visit": self.needs_visit(warning, events, now),
            "calls_made": warning.calls_made,
            "merged": warning.merged,
            "next_attempt_at": _iso(warning.next_attempt_at),
            "outcome": warning.outcome,
            "outcome_label": OUTCOMES.get(warning.outcome or ""),
            "outcome_by": warning.outcome_by,
            "last_event": event_json(events[-1]) if events else None,
        }

    # --- what the routes do (blocking: run off the event loop) ----------------------------------

    def open_list(self, brief: bool) -> dict[str, Any]:
        warnings = self.store.open_warnings()
        counts = {level: sum(w.level == level for w in warnings) for level in LEVEL_LABELS}
        if brief:
            return {"counts": counts}
        now = self.store.clock()
        listed = []
        for warning in warnings:
            listed.append(self.warning_json(warning, now, self.store.events(warning.id)))
        return {"warnings": listed, "counts": counts, "now": _iso(now),
                "outcomes": dict(OUTCOMES), "scam_types": self.scam_names, "levels": LEVEL_LABELS}

    def detail(self, warning_id: int, agent: str) -> dict[str, Any]:
        warning = self.store.get(warning_id)
        events = self.store.events(warning_id)
        # Who saw a full number, in the server log: the number itself never goes there.
        logger.info("console: %s opened warning %d", agent, warning_id)
        data = self.warning_json(warning, self.store.clock(), events)
        data.update(phone=warning.phone, phone_masked=masked_phone(warning.phone), note=warning.note,
                    reference=warning.reference, updated_at=_iso(warning.updated_at),
                    events=[event_json(e) for e in events])
        return data

    def add(self, raw: Mapping[str, str | None], agent: str) -> tuple[dict[str, Any], bool]:
        new = parse_warning(raw, self.scam_types, self.store.clock())
        warning, merged = self.store.add(new, actor=f"console:{agent}")
        logger.info("console: %s added warning %d (%s%s)", agent, warning.id, warning.level, ", merged" if merged else "")
        return self.warning_json(warning, self.store.clock(), self.store.events(warning.id)), merged

    def set_outcome(self, warning_id: int, outcome: str, note: str | None, agent: str) -> dict[str, Any]:
        warning = self.store.set_outcome(warning_id, outcome, actor=f"console:{agent}", note=note or None)
        logger.info("console: %s set warning %d to %s", agent, warning_id, outcome)
        return self.warning_json(warning, self.store.clock(), self.store.events(warning_id))


def json_object(request: Request, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, str | None]:
    """The body as {field: text or None}; DeskError 400 naming the field otherwise."""
    if len(request.body or b"") > MAX_BODY:
        raise DeskError(400, f"body: at most {MAX_BODY} bytes")
    try:
        body = json.loads(request.body or b"")
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise DeskError(400, "body: must be a JSON object")
    for field, value in body.items():
        if field not in allowed:
            raise DeskError(400, f"{field[:40]}: unknown field (expected {', '.join(allowed)})")
        if value is not None and not isinstance(value, str):
            raise DeskError(400, f"{field}: must be text")
        try:
            (value or "").encode("utf-8")  # JSON may carry lone surrogates, which the database cannot take
        except UnicodeEncodeError:
            raise DeskError(400, f"{field}: not valid text") from None
    for field in required:
        if not body.get(field):
            raise DeskError(400, f"{field}: required")
    return body


async def _off_loop(work: Callable[[], T]) -> T:
    """Run a database call in a thread; the store's errors become the HTTP answer."""
    try:
        return await asyncio.get_running_loop().run_in_executor(None, work)
    except UnknownWarning as error:
        raise DeskError(404, str(error)) from None
    except WarningError as error:
        raise DeskError(400, str(error)) from None
    except StorageError as error:  # the database is down or locked: nothing was changed, try again
        logger.error("console: warnings: %s", error)
        raise DeskError(503, "预警数据库暂时不可用，请稍后再试") from None


def add_warning_routes(console: Blueprint, channel: AgentConsoleChannel) -> WarningsDesk:
    """Mount the warnings page and API on the console's blueprint."""
    desk = WarningsDesk(channel)

    @console.route("/console/warnings", methods=["GET"], name="warnings_page")
    async def page(request: Request) -> HTTPResponse:
        if channel.session(request) is None:
            return response.redirect("/console/login", headers=HEADERS)
        return channel._page("warnings.html")

    async def listing(request: Request, session: Session) -> HTTPResponse:
        return _json(await _off_loop(partial(desk.open_list, request.args.get("brief") == "1")))

    async def detail(request: Request, session: Session, warning_id: int) -> HTTPResponse:
        return _json(await _off_loop(partial(desk.detail, warning_id, session.agent)))

    async def add(request: Request, session: Session) -> HTTPResponse:
        raw = json_object(request, FIELDS)
        warning, merged = await _off_loop(partial(desk.add, raw, session.agent))
        return _json({"warning": warning, "merged": merged}, 200 if merged else 201)

    async def outcome(request: Request, session: Session, warning_id: int) -> HTTPResponse:
        body = json_object(request, ("outcome", "note"), required=("outcome",))
        return _json(await _off_loop(partial(desk.set_outcome, warning_id, body["outcome"], body.get("note"), session.agent)))  # type: ignore[arg-type]  # required

    console.add_route(channel.guarded(listing), "/console/api/warnings", methods=["GET"], name="warnings")
    console.add_route(channel.guarded(add), "/console/api/warnings", methods=["POST"], name="warning_add")
    console.add_route(channel.guarded(detail), "/console/api/warnings/<warning_id:int>", methods=["GET"], name="warning")
    console.add_route(channel.guarded(outcome), "/console/api/warnings/<warning_id:int>/outcome", methods=["POST"],
                      name="warning_outcome")
    return desk
