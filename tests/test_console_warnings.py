"""The early warnings on the agent console (bot/channels/console/early_warnings.py): the console's own
blueprint on a real report database, agents logging in through its API, as tests/test_console_sessions.py."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie
from typing import Any, Iterator

import pytest
from cryptography.fernet import Fernet
from sanic import Sanic

from bot.channels.console.channel import CONSOLE_DIR, LOGIN_MARK, AgentConsoleChannel
from bot.services.console_auth import COOKIE, Sessions
from bot.services.early_warnings.store import OUTCOMES, NewWarning, WarningError, WarningStore
from bot.services.handoff import TicketStore
from bot.services.reports.store import LOCAL_TZ, ReportStore

AGENTS = {"duty.wang": "wang-password-42", "duty.li": "li-password-4242"}
PHONE = "13812345678"
EVIL = "http://evil.example"


class Console:
    """The console app and a logged-in agent's cookie and CSRF token."""

    def __init__(self, app: Sanic, store: ReportStore) -> None:
        self.app, self.store = app, store
        self.cookie, self.csrf = "", ""

    async def login(self, name: str = "duty.wang") -> "Console":
        _, reply = await self.app.asgi_client.post(
            "/console/api/login", json={"name": name, "password": AGENTS[name]}, headers={"x-requested-with": LOGIN_MARK}
        )
        assert reply.status == 200, reply.text
        self.cookie = SimpleCookie(reply.headers["set-cookie"])[COOKIE].value
        self.csrf = (await self.get("/console/api/me")).json["csrf"]
        return self

    async def get(self, path: str) -> Any:
        _, reply = await self.app.asgi_client.get(path, cookies={COOKIE: self.cookie})
        return reply

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        _, reply = await self.app.asgi_client.post(
            path, json=body, cookies={COOKIE: self.cookie}, headers={"x-csrf-token": self.csrf, **(headers or {})}
        )
        return reply

    async def add(self, **fields: str) -> Any:
        return await self.post("/console/api/warnings", {"phone": PHONE, "level": "yellow", "scam_type": "",
                                                         "note": "", "source": "反诈中心", "time": "", **fields})

    async def open_list(self) -> list[dict[str, Any]]:
        reply = await self.get("/console/api/warnings")
        assert reply.status == 200, reply.text
        return reply.json["warnings"]


@pytest.fixture
def database(tmp_path, monkeypatch) -> Iterator[ReportStore]:
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv("FANZHA_WARNING_MERGE_HOURS", raising=False)
    with ReportStore(f"sqlite:///{tmp_path / 'fanzha.db'}") as store:
        for name, password in AGENTS.items():
            TicketStore(store).add_agent(name, password)
        yield store


def start_console(database: ReportStore) -> Console:
    channel = AgentConsoleChannel(sessions=Sessions(b"console-secret-for-the-warning-tests-0123"))
    channel._tickets = TicketStore(database)
    app = Sanic(f"console_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(None), url_prefix=channel.url_prefix())  # as Rasa mounts it
    return Console(app, database)


@pytest.fixture
def console(database) -> Console:
    return start_console(database)


def beijing(ago: timedelta) -> str:
    return (datetime.now(timezone.utc) - ago).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


async def test_nothing_without_a_login(console) -> None:
    added = await WarningStoreFor(console).add_red()
    _, page = await console.app.asgi_client.get("/console/warnings", allow_redirects=False)
    assert page.status in (302, 303) and page.headers["location"] == "/console/login"
    for path in ("/console/api/warnings", "/console/api/warnings?brief=1", f"/console/api/warnings/{added}"):
        assert (await console.get(path)).status == 401, path
    for path, body in (("/console/api/warnings", {"phone": PHONE, "level": "red", "source": "x"}),
                       (f"/console/api/warnings/{added}/outcome", {"outcome": "visited"})):
        assert (await console.post(path, body)).status == 401, path
    assert console.store and len(WarningStore(console.store).open_warnings()) == 1


async def test_a_post_from_another_site_or_without_the_token_is_refused(console) -> None:
    await console.login()
    body = {"phone": PHONE, "level": "red", "note": "", "source": "反诈中心", "scam_type": "", "time": ""}
    assert (await console.post("/console/api/warnings", body, headers={"origin": EVIL})).status == 403
    assert (await console.post("/console/api/warnings", body, headers={"x-csrf-token": "forged"})).status == 403
    assert await console.open_list() == [], "a refused POST stored nothing"
    warning_id = (await console.add(level="red")).json["warning"]["id"]
    outcome = f"/console/api/warnings/{warning_id}/outcome"
    assert (await console.post(outcome, {"outcome": "not_scam"}, headers={"origin": EVIL})).status == 403
    assert [w["id"] for w in await console.open_list()] == [warning_id]


@pytest.mark.parametrize("fields, field", [
    ({"phone": "12345"}, "phone"),
    ({"phone": "+44 20 7946 0958"}, "phone"),  # foreign
    ({"level": "purple"}, "level"),
    ({"scam_type": "not-a-scam-type"}, "scam_type"),
    ({"source": ""}, "source"),
    ({"time": "tomorrow-ish"}, "time"),
    ({"note": "x" * 501}, "note"),
    ({"colour": "red"}, "colour"),  # no such field
    ({"level": 3}, "level"),  # not text
])
async def test_a_bad_field_is_refused_naming_it(console, fields, field) -> None:
    await console.login()
    reply = await console.add(**fields)
    assert reply.status == 400, reply.text
    assert reply.json["error"].startswith(f"{field}:"), reply.json
    assert await console.open_list() == []


async def test_a_good_warning_is_listed_red_before_an_older_yellow(console) -> None:
    await console.login()
    yellow = await console.add(phone="139-0000-1111", level="yellow", time=beijing(timedelta(hours=3)), note="可疑转账")
    red = await console.add(phone="+86 138 1234 5678", level="红色", scam_type="冒充警察", note="正在通话")
    assert (yellow.status, red.status) == (201, 201), (yellow.text, red.text)
    listed = await console.open_list()
    assert [w["id"] for w in listed] == [red.json["warning"]["id"], yellow.json["warning"]["id"]]
    first, second = listed
    assert (first["level"], first["level_label"], first["urgent"]) == ("red", "红色", True)
    assert (second["level"], second["level_label"], second["urgent"]) == ("yellow", "黄色", False)
    assert second["age_minutes"] >= 179 and first["age_minutes"] < 5
    assert (first["scam_type"], first["scam_type_name"]) == ("impersonate_police", "冒充公检法及政府机关")
    assert first["last_event"]["kind"] == "imported" and first["needs_visit"] is False
    brief = (await console.get("/console/api/warnings?brief=1")).json
    assert brief == {"counts": {"red": 1, "orange": 0, "yellow": 1}}


async def test_the_same_number_again_is_merged_not_listed_twice(console) -> None:
    await console.login()
    first = await console.add(level="yellow")
    again = await console.add(level="red", note="又来一次")
    assert (first.status, again.status) == (201, 200)
    assert again.json["merged"] is True and again.json["warning"]["id"] == first.json["warning"]["id"]
    [listed] = await console.open_list()
    assert listed["level"] == "red" and listed["merged"] == 1


async def test_the_merge_window_comes_from_the_environment(database, monkeypatch) -> None:
    monkeypatch.setenv("FANZHA_WARNING_MERGE_HOURS", "1")
    console = await start_console(database).login()
    assert (await console.add(time=beijing(timedelta(hours=3)))).status == 201
    assert (await console.add()).status == 201, "3 hours apart with a 1-hour window: not merged"
    assert len(await console.open_list()) == 2


def is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
        return True
    except ValueError:
        return False


def string_fields(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every text in a JSON answer with the name of its field."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from string_fields(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from string_fields(item, key)
    elif isinstance(value, str):
        yield key, value


async def test_the_list_masks_the_number_and_the_detail_shows_it_in_full(console) -> None:
    await console.login()
    warning_id = (await console.add(level="orange")).json["warning"]["id"]
    listing = await console.get("/console/api/warnings")
    assert listing.json["warnings"][0]["phone"] == "138****5678"
    hidden = PHONE[3:7]  # the digits the mask hides; a timestamp's microseconds may hold them too
    assert not [(key, value) for key, value in string_fields(listing.json) if hidden in value and not is_time(value)]
    detail = await console.get(f"/console/api/warnings/{warning_id}")
    assert detail.status == 200
    assert detail.json["phone"] == "+8613812345678" and detail.json["phone_masked"] == "138****5678"
    assert [e["kind"] for e in detail.json["events"]] == ["imported"]
    assert detail.json["events"][0]["actor"] == "console:duty.wang"
    assert (await console.get("/console/api/warnings/99999")).status == 404


async def test_an_outcome_closes_it_and_is_audited_with_the_agents_name(console) -> None:
    await console.login("duty.li")
    warning_id = (await console.add(level="red")).json["warning"]["id"]
    url = f"/console/api/warnings/{warning_id}/outcome"
    bad = await console.post(url, {"outcome": "gave_up"})
    assert bad.status == 400 and "outcome" in bad.json["error"]
    assert (await console.post(url, {})).json["error"].startswith("outcome:")
    assert (await console.post("/console/api/warnings/99999/outcome", {"outcome": "visited"})).status == 404
    done = await console.post(url, {"outcome": "visited", "note": "社区民警上门，居民已停止转账"})
    assert done.status == 200, done.text
    assert (done.json["status"], done.json["outcome"], done.json["outcome_label"]) == ("closed", "visited", OUTCOMES["visited"])
    assert await console.open_list() == []
    events = (await console.get(f"/console/api/warnings/{warning_id}")).json["events"]
    assert events[-1]["kind"] == "outcome" and events[-1]["actor"] == "console:duty.li"
    assert "visited" in (events[-1]["state"], events[-1]["detail"] or "")
    assert "duty.li" in done.json["outcome_by"]


class WarningStoreFor:
    """The dispatcher's side, straight on the store: what the console shows as it goes."""

    def __init__(self, console: Console) -> None:
        self.store = WarningStore(console.store)

    async def add_red(self) -> int:
        warning, _ = self.store.add(
            NewWarning(phone="+8613812345678", level="red", scam_type=None, note="", source="反诈中心",
                       received_at=datetime.now(timezone.utc)), actor="import:test")
        return warning.id

    def call(self, warning_id: int, last: bool) -> str:
        now = self.store.clock()
        [claimed] = self.store.claim_due("worker-1", now, timedelta(seconds=60), 10)
        assert claimed.id == warning_id
        event = self.store.start_attempt(warning_id, "call", "dispatcher:worker-1")
        sid = "CA" + uuid.uuid4().hex
        self.store.attempt_placed(event.id, sid)
        # The next call due at once (a test cannot wait minutes), or none after the last.
        self.store.release(warning_id, "worker-1", None if last else now - timedelta(seconds=1))
        return sid


async def test_a_red_warning_whose_calls_are_exhausted_needs_a_visit(console) -> None:
    await console.login()
    dispatcher = WarningStoreFor(console)
    warning_id = await dispatcher.add_red()

    async def needs_visit() -> bool:
        [listed] = await console.open_list()
        return listed["needs_visit"]

    assert not await needs_visit(), "not called yet"
    sid = dispatcher.call(warning_id, last=False)
    dispatcher.store.call_status(sid, "no-answer")
    assert not await needs_visit(), "more calls are coming"
    sid = dispatcher.call(warning_id, last=True)
    dispatcher.store.call_status(sid, "ringing")
    assert not await needs_visit(), "the last call is still ringing"
    dispatcher.store.call_status(sid, "no-answer")
    assert await needs_visit()
    detail = (await console.get(f"/console/api/warnings/{warning_id}")).json
    assert detail["needs_visit"] and detail["calls_made"] == 2


async def test_a_red_warning_still_needs_a_visit_while_its_sms_is_being_retried(console) -> None:
    """Twilio refused the SMS after the last call: the dispatcher will try the SMS again later,
    but no more calls; the desk must go to the door meanwhile."""
    await console.login()
    dispatcher = WarningStoreFor(console)
    warning_id = await dispatcher.add_red()
    dispatcher.store.call_status(dispatcher.call(warning_id, last=False), "busy")
    [claimed] = dispatcher.store.claim_due("worker-1", dispatcher.store.clock(), timedelta(seconds=60), 10)
    sms = dispatcher.store.start_attempt(claimed.id, "sms", "dispatcher:worker-1")
    dispatcher.store.attempt_failed(sms.id, "HTTP 429")
    dispatcher.store.release(claimed.id, "worker-1", dispatcher.store.clock() + timedelta(seconds=30))
    [listed] = await console.open_list()
    assert listed["next_attempt_at"] and listed["needs_visit"] is True


async def test_the_page_loads_its_own_script_and_style_and_the_console_links_to_it(console) -> None:
    await console.login()
    page = await console.get("/console/warnings")
    assert page.status == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts and all('src="/console/assets/' in s for s in scripts), "no inline script: the CSP forbids it"
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", page.text), "no inline style or handler"
    for asset in re.findall(r'(?:src|href)="(/console/assets/[^"]+)"', page.text):
        served = await console.get(asset)
        assert served.status == 200, asset
        assert served.headers["cache-control"] == "no-store" and served.headers["x-frame-options"] == "DENY", asset
    for page_file in ("/console/assets/warnings.html", "/console/assets/vendor/README.md"):
        assert (await console.get(page_file)).status == 404, "pages are served only with their policy"
    assert 'href="/console/warnings"' in (await console.get("/console")).text
    for name in ("warnings.js", "console.js", "console_api.js"):
        script = (CONSOLE_DIR / name).read_text(encoding="utf-8")
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", script), name


def test_a_wrong_merge_window_stops_the_console_at_start(database, monkeypatch) -> None:
    channel = AgentConsoleChannel(sessions=Sessions(b"console-secret-for-the-warning-tests-0123"))
    channel._tickets = TicketStore(database)
    for wrong in ("a day", "-3", "9999"):
        monkeypatch.setenv("FANZHA_WARNING_MERGE_HOURS", wrong)
        with pytest.raises(WarningError, match="FANZHA_WARNING_MERGE_HOURS"):
            channel.blueprint(None)


async def test_garbage_bodies_get_a_400_and_store_nothing(console) -> None:
    await console.login()
    for body in (b"", b"not json", b"[1, 2]", b'"text"', b'{"phone": "\\ud800", "level": "red", "source": "x"}',
                 b"[" * 100_000, b'{"note": "' + b"x" * 20_000 + b'"}'):
        _, reply = await console.app.asgi_client.post(
            "/console/api/warnings", content=body, cookies={COOKIE: console.cookie},
            headers={"x-csrf-token": console.csrf, "content-type": "application/json"},
        )
        assert reply.status == 400 and reply.json["error"], (body[:40], reply.text)
    assert await console.open_list() == []
