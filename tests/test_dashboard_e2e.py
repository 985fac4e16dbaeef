"""The trends dashboard in Debian's Chromium, and its API over plain HTTP.

A month of activity is generated through the real counting places with distinctive phone
numbers, names and sender ids; a supervisor logs in, opens the dashboard, and every chart is
screenshot (results/screenshots/trends/); every dashboard response (page, JSON per day and per
week, every CSV) is checked for anything personal; an agent without the role gets 403.
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from cryptography.fernet import Fernet

from bot.services.handoff import SUPERVISOR, TicketStore
from bot.services.reports.store import ReportStore
from bot.services.trends_report import CHART_IDS, RISING_ID
from tests.assistant import free_port
from tests.browser import chromium, screenshot
from tests.conftest import ROOT
from tests.dashboard_server import running
from tests.test_trends import Clock, generate_month

SHOTS = ROOT / "results" / "screenshots" / "trends"
AGENTS = {"chief.zhao": "zhao-password-42", "duty.wang": "wang-password-42"}
# What generate_month puts in reports, call-backs and tickets: none of it may come out.
# The page's first answer (per day) arrives late, after the supervisor asked for weeks: the page
# must keep showing what was asked last.
LATE_FIRST_ANSWER = """
const fetchNow = window.fetch.bind(window);
window.fetch = (url, options) => fetchNow(url, options).then(reply =>
  String(url).includes("period=day") ? new Promise(done => setTimeout(() => done(reply), 1500)) : reply);
"""
PERSONAL = ("13912345678", "139 1234 5678", "张三丰", "6222020200112233445", "sender-", "想找民警")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trends")
    env = {
        **os.environ,
        "FANZHA_DATABASE_URL": f"sqlite:///{tmp / 'fanzha.db'}",
        "FANZHA_REPORT_KEY": Fernet.generate_key().decode(),
        "FANZHA_CONSOLE_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
    }
    # The month before today: the server counts days by the real clock.
    start = datetime.now(timezone.utc) - timedelta(days=31)
    clock = Clock(start)
    store = ReportStore(env["FANZHA_DATABASE_URL"], env=env, clock=clock)
    tickets = TicketStore(store)
    generate_month(store, tickets, clock, start=start)
    tickets.add_agent("chief.zhao", AGENTS["chief.zhao"], [SUPERVISOR])
    tickets.add_agent("duty.wang", AGENTS["duty.wang"])
    store.close()
    with running(env, free_port()) as base:
        yield base


def login(base: str, name: str) -> requests.Session:
    session = requests.Session()
    reply = session.post(base + "/console/api/login", json={"name": name, "password": AGENTS[name]},
                         headers={"X-Requested-With": "fanzha-console"}, timeout=10)
    assert reply.status_code == 200, reply.text
    return session


def test_the_dashboard_draws_every_chart_in_chromium(server) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.add_init_script(LATE_FIRST_ANSWER)
        page.goto(server + "/console/login")
        page.fill("#name", "chief.zhao")
        page.fill("#password", AGENTS["chief.zhao"])
        page.press("#password", "Enter")
        page.wait_for_url(server + "/console")
        page.wait_for_selector("#trends-link:not([hidden])")
        page.click("#trends-link")
        page.wait_for_url(server + "/console/trends")
        page.select_option("#period", "week")
        page.fill("#span", "8")
        page.click("#controls button[type=submit]")
        page.wait_for_selector("body[data-loaded=week]")
        page.wait_for_timeout(2000)  # the late answer per day has come meanwhile
        assert page.get_attribute("body", "data-loaded") == "week"
        for chart_id in CHART_IDS:
            box = page.locator(f"#chart-{chart_id}")
            box.scroll_into_view_if_needed()
            drawn = box.locator("canvas").evaluate("c => c.toDataURL().length")
            assert drawn > 5000, f"{chart_id}: the canvas is empty"
            screenshot(box, path=str(SHOTS / f"{chart_id}.png"))
        screenshot(page.locator(".rising-box"), path=str(SHOTS / "rising.png"))
        page.emulate_media(media="print")
        screenshot(page, path=str(SHOTS / "printed.png"), full_page=True)
        assert page.locator("#print").is_hidden()  # the print stylesheet hides the controls
        assert not errors, errors


def test_nothing_personal_in_any_dashboard_response(server) -> None:
    chief = login(server, "chief.zhao")
    replies = [chief.get(server + "/console/trends", timeout=10), chief.get(server + "/console/api/me", timeout=10)]
    for period, span in (("day", "40"), ("week", "53")):
        data = chief.get(server + "/console/api/trends", params={"period": period, "span": span}, timeout=30)
        assert data.status_code == 200, data.text
        assert sum(sum(s["events"]) for s in data.json()["charts"][0]["series"]) > 500  # the month is in it
        replies.append(data)
        for chart in [*CHART_IDS, RISING_ID]:
            csv = chief.get(server + "/console/api/trends.csv", params={"chart": chart, "period": period, "span": span}, timeout=30)
            assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv"), csv.text
            replies.append(csv)
    for reply in replies:
        for personal in PERSONAL:
            assert personal not in reply.text, (reply.url, personal)
    assert any("<5" in r.text for r in replies if "csv" in r.url)


def test_only_supervisors_see_the_dashboard(server) -> None:
    duty = login(server, "duty.wang")
    assert duty.get(server + "/console/trends", allow_redirects=False, timeout=10).status_code == 403
    assert duty.get(server + "/console/api/trends", timeout=10).status_code == 403
    assert duty.get(server + "/console/api/trends.csv", params={"chart": "channels"}, timeout=10).status_code == 403
    assert duty.get(server + "/console/api/me", timeout=10).json()["roles"] == []
    anonymous = requests.get(server + "/console/api/trends", timeout=10)
    assert anonymous.status_code == 401
    assert requests.get(server + "/console/trends", allow_redirects=False, timeout=10).status_code == 302
    chief = login(server, "chief.zhao")
    assert chief.get(server + "/console/api/trends", params={"period": "year"}, timeout=10).status_code == 400
    assert chief.get(server + "/console/api/trends.csv", params={"chart": "nope"}, timeout=10).status_code == 400
