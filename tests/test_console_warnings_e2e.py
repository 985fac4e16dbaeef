"""The warnings page in Debian's Chromium (tests/browser.py), on the console alone
(tests/dashboard_server.py): an agent follows the console's link to the warnings, sees the red
ones first and marked urgent in words, the one nobody answered marked "上门", opens it, sees the
full number, records that it was visited, and adds a warning through the form (a bad number is
refused, naming the field). Screenshots: results/screenshots/warnings/.
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet

from bot.services.early_warnings.store import NewWarning, WarningStore
from bot.services.handoff import TicketStore
from bot.services.reports.store import ReportStore
from tests.assistant import free_port
from tests.browser import chromium, screenshot
from tests.conftest import ROOT
from tests.dashboard_server import running

SHOTS = ROOT / "results" / "screenshots" / "warnings"
AGENT, PASSWORD = "duty.wang", "wang-password-42"
UNREACHED, CALLING, YELLOW = "+8613812345678", "+8613900001111", "+8615000002222"


def seed(store: ReportStore) -> None:
    """Two red warnings (one whose calls all went unanswered) and an older yellow one."""
    TicketStore(store).add_agent(AGENT, PASSWORD)
    warnings = WarningStore(store)
    now = datetime.now(timezone.utc)
    for phone, level, ago in ((UNREACHED, "red", 30), (CALLING, "red", 5), (YELLOW, "yellow", 180)):
        warnings.add(NewWarning(phone=phone, level=level, scam_type=None, note="对方自称客服", source="反诈中心",
                                received_at=now - timedelta(minutes=ago)), actor="import:test")
    # The dispatcher's calls, as it takes them (red first, the longest due first): two to the
    # first number, both unanswered, then nothing more scheduled; one to the second, ringing now.
    ids = {w.phone: w.id for w in warnings.open_warnings()}
    now = warnings.clock()
    plan = ((UNREACHED, "no-answer", now), (CALLING, "ringing", now + timedelta(minutes=5)),
            (UNREACHED, "no-answer", None))
    for phone, status, next_call in plan:
        [claimed] = warnings.claim_due("worker-1", warnings.clock(), timedelta(seconds=60), 1)
        assert claimed.id == ids[phone]
        event = warnings.start_attempt(claimed.id, "call", "dispatcher:worker-1")
        sid = "CA" + uuid.uuid4().hex
        warnings.attempt_placed(event.id, sid)
        warnings.call_status(sid, status)
        warnings.release(claimed.id, "worker-1", next_call)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("warnings")
    env = {
        **os.environ,
        "FANZHA_DATABASE_URL": f"sqlite:///{tmp / 'fanzha.db'}",
        "FANZHA_REPORT_KEY": Fernet.generate_key().decode(),
        "FANZHA_CONSOLE_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
    }
    store = ReportStore(env["FANZHA_DATABASE_URL"], env=env)
    seed(store)
    store.close()
    with running(env, free_port()) as base:
        yield base


def test_an_agent_sees_the_red_warnings_first_and_records_a_visit(server) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # A CSP violation shows as a console error; the 400 for the bad number below is expected.
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" and "status of 400" not in message.text else None)
        page.goto(server + "/console/login")
        page.fill("#name", AGENT)
        page.fill("#password", PASSWORD)
        page.press("#password", "Enter")
        page.wait_for_url(server + "/console")
        page.wait_for_selector("#warnings-red:has-text('红色 2')")  # the console itself says red ones are open
        page.click("#warnings-link")
        page.wait_for_url(server + "/console/warnings")
        page.wait_for_selector("#warnings tr")

        rows = page.locator("#warnings tr")
        assert [rows.nth(i).get_attribute("data-level") for i in range(rows.count())] == ["red", "red", "yellow"]
        first = rows.nth(0)
        assert "红色 · 紧急" in first.inner_text() and "138****5678" in first.inner_text()
        assert first.locator(".visit").inner_text() == "上门"
        assert rows.nth(1).locator(".visit").count() == 0, "the second red one is still being called"
        assert "黄色" in rows.nth(2).inner_text() and "紧急" not in rows.nth(2).inner_text()
        red = first.locator(".level").evaluate("e => getComputedStyle(e).backgroundColor")
        yellow = rows.nth(2).locator(".level").evaluate("e => getComputedStyle(e).backgroundColor")
        assert red == "rgb(179, 38, 30)" and red != yellow
        assert "13812345678" not in page.locator("#warnings").inner_text(), "the list shows no full number"
        screenshot(page, path=str(SHOTS / "1-open-warnings.png"), full_page=True)

        first.click()
        page.wait_for_selector("#d-phone:has-text('13812345678')")
        assert page.locator("#d-visit").is_visible()
        assert page.locator("#d-events tr[data-kind=call]").count() == 2
        page.select_option("#outcome", "visited")
        page.fill("#outcome-note", "社区民警上门，居民已停止转账")
        screenshot(page, path=str(SHOTS / "2-detail.png"), full_page=True)
        page.click("#set-outcome")
        page.wait_for_selector("#d-events tr[data-kind=outcome]")
        outcome = page.locator("#d-events tr[data-kind=outcome]").inner_text()
        assert "联系不上，已上门" in outcome and "值班台 duty.wang" in outcome and "停止转账" in outcome
        assert page.locator("#d-visit").is_hidden() and page.locator("#d-level").inner_text() == "红色"
        page.wait_for_function("() => document.querySelectorAll('#warnings tr').length === 2")
        assert page.locator("#warnings tr").nth(0).get_attribute("data-level") == "red"

        page.fill("#add-phone", "12345")
        page.select_option("#add-level", "red")
        page.click("#add")
        page.wait_for_selector("#add-error:has-text('phone:')")
        page.fill("#add-phone", "186 0000 3333")
        page.click("#add")
        page.wait_for_selector("#add-result:has-text('已录入')")
        page.wait_for_selector("#warnings tr:has-text('186****3333')")
        levels = page.locator("#warnings tr").evaluate_all("rows => rows.map(r => r.getAttribute('data-level'))")
        assert levels == ["red", "red", "yellow"]
        screenshot(page, path=str(SHOTS / "3-after.png"), full_page=True)
        assert not errors, errors
