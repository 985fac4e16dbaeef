"""The agent console: ``/console`` in the Rasa server, for duty officers.

GET  /console                      the console (login first; tickets, transcript, actions)
GET  /console/login                the login page
GET  /console/assets/<file>        its scripts and styles (bot/channels/console/assets/, Chart.js in vendor/: no CDN)
POST /console/api/login            {"name", "password"} → session cookie
POST /console/api/logout
GET  /console/api/me               the agent, the CSRF token, reasons and outcomes
GET  /console/api/tickets          the live queue: active tickets, waiting time
GET  /console/api/refusals         call-backs and SMS refused today / in the last 7 days (counts only)
GET  /console/api/tickets/<id>     a ticket with its summary and transcript (``?since=n``: new lines)
GET  /console/trends               the trends dashboard (agents with the role "supervisor"; 403 otherwise)
GET  /console/api/trends           its figures (``?period=day|week&span=n``), counts only
GET  /console/api/trends.csv       one chart's numbers (``?chart=id``), counts 1-4 written "<5"
POST /console/api/tickets/<id>/claim | reply {"text"} | handback | close {"outcome"}
/console/warnings, /console/api/warnings…  the centre's early warnings (console_warnings.py)

Every /console/api route but login needs the session cookie (401 otherwise); every POST
needs the session's CSRF token in ``X-CSRF-Token`` (403 otherwise), and the login a JSON body
with ``X-Requested-With: fanzha-console``, which a form on another site cannot send. The pages
poll the API (every 2 s for the queue, every second for an open ticket).

A background task ends unclaimed tickets after FANZHA_HANDOFF_CLAIM_TIMEOUT seconds.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable, Coroutine

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.console.desk import Desk, DeskError
from bot.channels.static_files import CONTENT_TYPES, StaticFiles, files_in
from bot.services.console_auth import COOKIE, LoginThrottle, Session, Sessions, load_secret
from bot.services.daily_limits import refusals as daily_refusals
from bot.services.handoff import SUPERVISOR, HandoffSettings, Ticket, TicketStore
from bot.services.reports.store import ReportStore
from bot.services.trends_report import CHART_IDS, PERIODS, RISING_ID, chart_csv, dashboard
from knowledge.handoff import handoff_texts
from knowledge.loader import KNOWLEDGE_DIR, default_knowledge, load_contacts

logger = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent / "assets"
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
LOGIN_MARK = "fanzha-console"
MAX_BODY = 16 * 1024
SWEEP_SECONDS = 5.0


def _json(data: Any, status: int = 200) -> HTTPResponse:
    return response.json(data, status=status, headers=HEADERS, ensure_ascii=False)


def _error(status: int, message: str) -> HTTPResponse:
    return _json({"error": message}, status)


class AgentConsoleChannel(InputChannel):
    """credentials.yml: ``bot.channels.console.channel.AgentConsoleChannel:`` (no settings)."""

    @classmethod
    def name(cls) -> str:
        return "console"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def __init__(self, settings: HandoffSettings | None = None, sessions: Sessions | None = None) -> None:
        # Wrong duty hours or timeout: the server stops at start with the reason.
        self.settings = settings or HandoffSettings.from_env()
        self.sessions = sessions or Sessions(load_secret())
        self.throttle = LoginThrottle()
        self.texts = handoff_texts()
        self.contacts = load_contacts(KNOWLEDGE_DIR / "contacts.yml")
        self._tickets: TicketStore | None = None
        self._labels: dict[str, str] | None = None
        self._sweeper: asyncio.Task | None = None

    def url_prefix(self) -> str:
        return "/"

    @property
    def tickets(self) -> TicketStore:
        if self._tickets is None:
            self._tickets = TicketStore(ReportStore())
        return self._tickets

    def desk(self, request: Request) -> Desk:
        ctx = request.app.ctx
        return Desk(self.tickets, self.texts, self.contacts, ctx.agent, getattr(ctx, "input_channels", []))

    # --- sessions ---------------------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        session = self.sessions.read(request.cookies.get(COOKIE))
        if session is None or not self.tickets.session_open(session.sid, session.agent):
            return None
        return session

    def set_cookie(self, reply: HTTPResponse, request: Request, value: str, max_age: int) -> None:
        """The session cookie, or its removal (max_age 0), with the same attributes either way."""
        reply.cookies[COOKIE] = value
        morsel = reply.cookies[COOKIE]
        morsel["httponly"] = True
        morsel["samesite"] = "Strict"
        morsel["path"] = "/console"
        morsel["max-age"] = max_age
        # request.scheme is the proxy's forwarded scheme when Sanic trusts the proxy (PROXIES_COUNT).
        if request.scheme == "https":
            morsel["secure"] = True

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or origin == f"{request.scheme}://{request.host}"

    def guarded(
        self, handler: Callable[..., Awaitable[HTTPResponse]], role: str | None = None
    ) -> Callable[..., Coroutine[Any, Any, HTTPResponse]]:
        """``role``: only agents with it (read on each request, so taking it away counts at once)."""
        async def run(request: Request, **kwargs: Any) -> HTTPResponse:
            session = self.session(request)
            if session is None:
                return _error(401, "请先登录")
            if role is not None and role not in self.tickets.roles_of(session.agent):
                return _error(403, "只有主管账号可以查看")
            if request.method == "POST" and (
                not self._same_origin(request)
                or not self.sessions.csrf_ok(session, request.headers.get("x-csrf-token"))
            ):
                return _error(403, "请求无效，请刷新页面再试")
            try:
                return await handler(request, session, **kwargs)
            except DeskError as error:
                return _error(error.status, str(error))

        return run

    # --- views ------------------------------------------------------------------------------

    def ticket_json(self, ticket: Ticket, now: float) -> dict[str, Any]:
        reason = self.texts.reasons.get(ticket.reason)
        return {
            "id": ticket.id,
            "channel": ticket.channel,
            "reason": ticket.reason,
            "reason_label": reason.label if reason else ticket.reason,
            "scam_type": ticket.scam_type,
            "risk": ticket.risk,
            "status": ticket.status,
            "claimed_by": ticket.claimed_by,
            "outcome": ticket.outcome,
            "created_at": ticket.created_at.timestamp(),
            "waiting_seconds": round(ticket.waiting_seconds(_utc(now))),
        }

    def _page(self, name: str, status: int = 200) -> HTTPResponse:
        body = (CONSOLE_DIR / name).read_bytes()
        return response.raw(body, status=status, content_type=CONTENT_TYPES[".html"],
                            headers={**HEADERS, "Content-Security-Policy": PAGE_POLICY})

    @property
    def labels(self) -> dict[str, str]:
        """Names of the codes the trends count by, from the knowledge files."""
        if self._labels is None:
            kb = default_knowledge()
            self._labels = {
                **{code: scam.name for code, scam in kb.scam_types.items()},
                **{code: channel.name for code, channel in kb.procedures.payment_channels.items()},
                **{code: reason.label for code, reason in self.texts.reasons.items()},
            }
        return self._labels

    def trends(self, request: Request) -> dict[str, Any]:
        """The dashboard's figures for the query's period and span; ValueError for a bad query."""
        period = request.args.get("period", "day")
        if period not in PERIODS:
            raise ValueError("period must be day or week")
        default, largest = PERIODS[period]
        raw = request.args.get("span", str(default))
        if not raw.isdigit() or not 1 <= int(raw) <= largest:
            raise ValueError(f"span must be a number of {period}s from 1 to {largest}")
        store = self.tickets.store
        return dashboard(store.engine, store.today(), period, int(raw), self.labels)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        console = Blueprint("agent_console", __name__)
        # Its scripts and styles, vendor/ (Chart.js) included; the pages are served below, with their policy.
        StaticFiles("/console/assets", files_in(CONSOLE_DIR, (".js", ".css")), HEADERS, versioned=False).add_to(console)

        @console.listener("after_server_start")
        async def start_sweeper(app: Any, _loop: Any) -> None:
            self._sweeper = asyncio.ensure_future(self._sweep(app))

        @console.listener("before_server_stop")
        async def stop_sweeper(app: Any, _loop: Any) -> None:
            if self._sweeper:
                self._sweeper.cancel()

        @console.route("/console", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            if self.session(request) is None:
                return response.redirect("/console/login", headers=HEADERS)
            return self._page("console.html")

        @console.route("/console/trends", methods=["GET"])
        async def trends_page(request: Request) -> HTTPResponse:
            session = self.session(request)
            if session is None:
                return response.redirect("/console/login", headers=HEADERS)
            if SUPERVISOR not in self.tickets.roles_of(session.agent):
                return self._page("forbidden.html", status=403)
            return self._page("trends.html")

        @console.route("/console/login", methods=["GET"])
        async def login_page(request: Request) -> HTTPResponse:
            return self._page("login.html")

        @console.route("/console/api/login", methods=["POST"])
        async def login(request: Request) -> HTTPResponse:
            if request.headers.get("x-requested-with") != LOGIN_MARK or not self._same_origin(request):
                return _error(403, "请求无效，请刷新页面再试")
            try:
                body = json.loads(request.body or b"")
                name, password = body["name"], body["password"]
                if not isinstance(name, str) or not isinstance(password, str) or len(request.body) > MAX_BODY:
                    raise TypeError
                # JSON may carry lone surrogates ("\ud800"), which the database cannot take.
                name.encode("utf-8"), password.encode("utf-8")
            except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: absurdly nested JSON
                return _error(400, '需要 JSON {"name": "…", "password": "…"}')
            keys = (f"name:{name.strip().lower()}", f"address:{request.remote_addr or request.ip}")
            wait = self.throttle.wait_seconds(*keys)
            if wait:
                logger.warning("console: login for %r from %s refused, locked for %d s after failed logins",
                               name[:32], request.remote_addr or request.ip, wait)
                return _json({"error": f"登录失败次数太多，请 {wait} 秒后再试", "retry_after": wait}, 429)
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(None, self.tickets.verify_agent, name, password)
            if not ok:
                self.throttle.failed(*keys)
                logger.warning("console: failed login for %r from %s", name[:32], request.remote_addr or request.ip)
                return _error(401, "用户名或密码不对")
            self.throttle.succeeded(*keys)
            session, cookie = self.sessions.issue(name)
            self.tickets.open_session(session.sid, name, datetime.fromtimestamp(session.expires, timezone.utc))
            logger.info("console: %s logged in", name)
            reply = _json({"agent": name})
            self.set_cookie(reply, request, cookie, int(self.sessions.lifetime))
            return reply

        async def logout(request: Request, session: Session) -> HTTPResponse:
            self.tickets.end_session(session.sid)
            reply = _json({"ok": True})
            self.set_cookie(reply, request, "", 0)
            return reply

        async def me(request: Request, session: Session) -> HTTPResponse:
            return _json(
                {
                    "agent": session.agent,
                    "roles": sorted(self.tickets.roles_of(session.agent)),
                    "csrf": self.sessions.csrf_token(session),
                    "outcomes": dict(self.texts.outcomes),
                    "claim_timeout": self.settings.claim_timeout,
                    "duty_hours": self.settings.duty_hours.text,
                }
            )

        async def refused(request: Request, session: Session) -> HTTPResponse:
            """Requests over today's caps (bot/services/daily_limits.py): how many, never who."""
            loop = asyncio.get_running_loop()
            return _json(await loop.run_in_executor(None, daily_refusals, self.tickets.store))

        async def trend_figures(request: Request, session: Session) -> HTTPResponse:
            try:
                data = await asyncio.get_running_loop().run_in_executor(None, self.trends, request)
            except ValueError as error:
                return _error(400, str(error))
            return _json(data)

        async def trend_csv(request: Request, session: Session) -> HTTPResponse:
            chart = request.args.get("chart", "")
            if chart not in CHART_IDS and chart != RISING_ID:
                return _error(400, f"chart must be one of {', '.join([*CHART_IDS, RISING_ID])}")
            try:
                data = await asyncio.get_running_loop().run_in_executor(None, self.trends, request)
            except ValueError as error:
                return _error(400, str(error))
            name = f"fanzha-{chart}-{data['period']}-{data['labels'][-1]}.csv"
            # A byte-order mark: spreadsheet programs then read the Chinese headings as UTF-8.
            return response.raw(("\ufeff" + chart_csv(data, chart)).encode("utf-8"), content_type="text/csv; charset=utf-8",
                                headers={**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})

        async def queue(request: Request, session: Session) -> HTTPResponse:
            now = time.time()
            return _json({"tickets": [self.ticket_json(t, now) for t in self.tickets.queue()], "now": now})

        async def ticket(request: Request, session: Session, ticket_id: int) -> HTTPResponse:
            desk = self.desk(request)
            current = desk.ticket(ticket_id)
            try:
                since = max(0, int(request.args.get("since", "0")))
            except ValueError:
                return _error(400, "since must be a number")
            entries = await desk.transcript(current)
            data = self.ticket_json(current, time.time())
            data["details"] = current.details
            data["entries"] = [e.as_json() for e in entries[since:]]
            data["next"] = len(entries)
            return _json(data)

        def body_field(request: Request, field: str) -> str:
            try:
                value = json.loads(request.body or b"{}").get(field)
            except (ValueError, AttributeError, RecursionError):
                value = None
            if not isinstance(value, str) or len(request.body or b"") > MAX_BODY:
                raise DeskError(400, f'需要 JSON {{"{field}": "…"}}')
            return value

        async def claim(request: Request, session: Session, ticket_id: int) -> HTTPResponse:
            done = await self.desk(request).claim(ticket_id, session.agent)
            return _json(self.ticket_json(done, time.time()))

        async def reply(request: Request, session: Session, ticket_id: int) -> HTTPResponse:
            await self.desk(request).reply(ticket_id, session.agent, body_field(request, "text"))
            return _json({"ok": True, "sent_at": time.time()})

        async def hand_back(request: Request, session: Session, ticket_id: int) -> HTTPResponse:
            done = await self.desk(request).hand_back(ticket_id, session.agent)
            return _json(self.ticket_json(done, time.time()))

        async def close(request: Request, session: Session, ticket_id: int) -> HTTPResponse:
            done = await self.desk(request).close(ticket_id, session.agent, body_field(request, "outcome"))
            return _json(self.ticket_json(done, time.time()))

        console.add_route(self.guarded(logout), "/console/api/logout", methods=["POST"], name="logout")
        console.add_route(self.guarded(me), "/console/api/me", methods=["GET"], name="me")
        console.add_route(self.guarded(queue), "/console/api/tickets", methods=["GET"], name="queue")
        console.add_route(self.guarded(refused), "/console/api/refusals", methods=["GET"], name="refusals")
        console.add_route(self.guarded(trend_figures, SUPERVISOR), "/console/api/trends", methods=["GET"], name="trends")
        console.add_route(self.guarded(trend_csv, SUPERVISOR), "/console/api/trends.csv", methods=["GET"], name="trends_csv")
        console.add_route(self.guarded(ticket), "/console/api/tickets/<ticket_id:int>", methods=["GET"], name="ticket")
        for action, handler in (("claim", claim), ("reply", reply), ("handback", hand_back), ("close", close)):
            console.add_route(
                self.guarded(handler), f"/console/api/tickets/<ticket_id:int>/{action}", methods=["POST"], name=action
            )
        from bot.channels.console.early_warnings import add_warning_routes  # it builds on this module

        add_warning_routes(console, self)
        return console

    async def _sweep(self, app: Any) -> None:
        """End tickets nobody claimed in time (the resident gets 110/96110 and a call-back offer)."""
        interval = min(SWEEP_SECONDS, self.settings.claim_timeout / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                desk = Desk(self.tickets, self.texts, self.contacts, app.ctx.agent, getattr(app.ctx, "input_channels", []))
                await desk.expire(self.settings.claim_timeout)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("console: the claim-timeout check failed")


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, timezone.utc)
