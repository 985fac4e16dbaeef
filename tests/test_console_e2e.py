"""Human handoff end to end: the real assistant (scripts/run.sh), the web chat and the agent
console in Debian's Chromium (/usr/bin/chromium) driven by Playwright.

A resident asks for a person in the chat; an agent logs in, sees the ticket in the live queue,
claims it and replies; the reply appears in the resident's chat without a reload, and what the
resident writes meanwhile appears on the console while the bot stays silent; the agent hands the
conversation back and the bot answers again. A second request is closed with an outcome. Then
the console's API is checked over plain HTTP: no login, no CSRF token, another agent's token,
a ticket held by another agent, and two agents claiming one ticket at once.

Screenshots of each step: results/screenshots/handoff/. The time from the agent pressing Enter
to the resident's chat showing the reply is printed (docs/performance.md, "Figures").
"""
from __future__ import annotations

import os
import queue
import statistics
import subprocess
import threading
import time
import uuid

import pytest
import requests
import socketio
from cryptography.fernet import Fernet
from playwright.sync_api import Page

from knowledge.handoff import handoff_texts
from tests.assistant import Assistant
from tests.browser import chromium, screenshot
from tests.conftest import ROOT

SHOTS = ROOT / "results" / "screenshots" / "handoff"
REPLY_MS = 60_000
AGENTS = {"duty.wang": "wang-password-42", "duty.li": "li-password-4242"}
TEXTS = handoff_texts()


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("handoff")
    env = {
        "FANZHA_DATABASE_URL": f"sqlite:///{tmp / 'fanzha.db'}",
        "FANZHA_REPORT_KEY": Fernet.generate_key().decode(),
        "FANZHA_CONSOLE_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "FANZHA_DUTY_HOURS": "00:00-24:00",
        "FANZHA_HANDOFF_CLAIM_TIMEOUT": "600",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        for name, password in AGENTS.items():
            added = subprocess.run(
                [str(ROOT / ".venv" / "bin" / "fanzha"), "agent", "add", name, "--password-stdin"],
                input=password + "\n", capture_output=True, text=True, cwd=tmp, env=os.environ.copy(), timeout=60,
            )
            assert added.returncode == 0, added.stderr
        running = Assistant(tmp)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as launched:
        yield launched


def shot(page: Page, name: str) -> None:
    screenshot(page, path=str(SHOTS / f"{name}.png"), full_page=True)


def bot_texts(page: Page) -> list[str]:
    return page.locator("#log .msg.bot .msg-text").all_inner_texts()


def wait_for_bot_text(page: Page, needle: str, timeout: int = REPLY_MS) -> None:
    page.wait_for_function(
        """needle => Array.from(document.querySelectorAll('#log .msg.bot .msg-text'))
                   .some(e => e.textContent.includes(needle))""",
        arg=needle, timeout=timeout,
    )


def settle(page: Page, seconds: float = 1.5) -> int:
    """Wait until no new bot message arrived for ``seconds``; return the count."""
    count, since = len(bot_texts(page)), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.25)
        if len(bot_texts(page)) != count:
            count, since = len(bot_texts(page)), time.monotonic()
    return count


def wait_for_more(page: Page, before: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#log .msg.bot').length > n", arg=before, timeout=REPLY_MS
    )


def type_in_chat(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")


def login(page: Page, url: str, name: str) -> None:
    page.goto(f"{url}/console")
    page.wait_for_url("**/console/login")
    page.fill("#name", name)
    page.fill("#password", AGENTS[name])
    page.click("#submit")
    page.wait_for_url("**/console")
    page.wait_for_selector("#who:has-text('%s')" % name)


def open_newest_ticket(console: Page) -> int:
    row = console.locator("#tickets tr").last
    row.wait_for(timeout=15_000)
    ticket_id = int(row.get_attribute("data-ticket"))
    row.click()
    console.wait_for_selector(f"#t-id:has-text('{ticket_id}')")
    return ticket_id


def test_a_resident_is_handed_to_an_agent_and_back(assistant, browser):
    resident = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    resident.goto(f"{assistant.url}/chat")
    resident.wait_for_selector("#log .msg.bot")
    settle(resident)

    # 1. The resident asks for a person: told where and why, and the bot pauses.
    type_in_chat(resident, "转人工")
    wait_for_bot_text(resident, TEXTS.connecting.split("，")[0])
    wait_for_bot_text(resident, TEXTS.while_waiting)
    settle(resident)
    shot(resident, "1-resident-asks-for-a-person")

    # 2. The console needs a login; the agent logs in and sees the ticket in the live queue.
    console = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    assert requests.get(f"{assistant.url}/console/api/tickets", timeout=10).status_code == 401
    login(console, assistant.url, "duty.wang")
    ticket_id = open_newest_ticket(console)
    row = console.locator(f"#tickets tr[data-ticket='{ticket_id}']")
    assert TEXTS.reasons["request"].label in row.inner_text()
    assert "转人工" in console.locator("#t-log").inner_text(), "the transcript shows what the resident said"
    shot(console, "2-agent-sees-the-queue")

    # 3. Claim: the resident is told a person is there.
    console.click("#claim")
    console.wait_for_selector("#reply-form:not([hidden])")
    wait_for_bot_text(resident, TEXTS.claimed)
    shot(console, "3-agent-claimed")

    # 4. The agent replies; the resident's chat shows it without a reload. Timed from Enter.
    resident.evaluate(
        """() => { window.__seen = {};
           new MutationObserver(() => document.querySelectorAll('#log .msg.bot .msg-text').forEach(e => {
             if (!(e.textContent in window.__seen)) window.__seen[e.textContent] = Date.now(); })
           ).observe(document.getElementById('log'), {childList: true, subtree: true}); }"""
    )
    latencies = []
    for i in range(1, 6):
        text = f"您好，我是值班民警。第{i}个问题：对方让您转账了吗？"
        console.fill("#reply", text)
        sent = console.evaluate("Date.now()")
        console.press("#reply", "Enter")
        shown = TEXTS.agent_says.format(text=text)
        wait_for_bot_text(resident, shown, timeout=15_000)
        latencies.append(resident.evaluate("t => window.__seen[t]", shown) - sent)
    print(f"\nagent reply -> resident's chat: n={len(latencies)} median {statistics.median(latencies):.0f} ms, "
          f"max {max(latencies):.0f} ms ({', '.join(f'{v:.0f}' for v in latencies)})")
    shot(resident, "4-resident-sees-the-agent")

    # 5. While paused, the resident's messages reach the console and the bot says nothing.
    before = settle(resident)
    type_in_chat(resident, "没有转，他还在电话里催我")
    console.wait_for_function(
        "() => document.getElementById('t-log').textContent.includes('他还在电话里催我')", timeout=15_000
    )
    time.sleep(3)
    assert len(bot_texts(resident)) == before, "a paused conversation gets no bot reply"
    shot(console, "5-console-sees-the-resident")

    # 6. Hand back: the bot answers the next message again.
    console.click("#handback")
    wait_for_bot_text(resident, TEXTS.handed_back)
    before = settle(resident)
    type_in_chat(resident, "96110是什么电话")
    wait_for_more(resident, before)
    answer = bot_texts(resident)[before:]
    assert any("96110" in text for text in answer) and not any(t.startswith("值班人员") for t in answer)
    shot(resident, "6-the-bot-answers-again")
    assert console.locator(f"#tickets tr[data-ticket='{ticket_id}']").count() == 0, "a handed-back ticket leaves the queue"

    # 7. A second request is closed with an outcome; the bot is not left paused.
    type_in_chat(resident, "转人工")
    wait_for_bot_text(resident, TEXTS.while_waiting)
    settle(resident)
    console.wait_for_selector(f"#tickets tr[data-ticket='{ticket_id + 1}']", timeout=15_000)
    console.click(f"#tickets tr[data-ticket='{ticket_id + 1}']")
    console.wait_for_selector(f"#t-id:has-text('{ticket_id + 1}')")
    console.click("#claim")
    console.wait_for_selector("#reply-form:not([hidden])")
    console.select_option("#outcome", "advised")
    console.click("#close")
    wait_for_bot_text(resident, TEXTS.closed)
    console.wait_for_selector("#t-status:has-text('已结束')")
    shot(console, "7-ticket-closed")
    before = settle(resident)
    type_in_chat(resident, "110和96110有什么区别")
    wait_for_more(resident, before)
    shot(resident, "8-bot-after-close")


# --- the console's API over plain HTTP ----------------------------------------------------------


def agent_session(url: str, name: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    response = session.post(
        f"{url}/console/api/login", json={"name": name, "password": AGENTS[name]},
        headers={"X-Requested-With": "fanzha-console"}, timeout=30,
    )
    assert response.status_code == 200, response.text
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return session, session.get(f"{url}/console/api/me", timeout=10).json()["csrf"]


def heard(said: queue.Queue, kind: str, wanted, seconds: float = 30):
    """The first ``kind`` event the socket.io client got that is ``wanted``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            got, value = said.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no {kind} event as expected within {seconds:g} s")
        if got == kind and wanted(value):
            return value


def new_ticket(assistant: Assistant) -> int:
    """A resident asks for a person on the web chat (socket.io): REST opens no tickets, since an
    agent's reply could never reach it."""
    said: queue.Queue = queue.Queue()
    resident = socketio.Client(reconnection=False)
    resident.on("session_confirm", lambda confirm: said.put(("confirm", confirm)))
    resident.on("bot_uttered", lambda message: said.put(("bot", message.get("text") or "")))
    # Long-polling only: the installed aiohttp (3.9) lacks what the client's WebSocket upgrade needs.
    resident.connect(assistant.url, transports=["polling"], wait_timeout=10)
    try:
        resident.emit("session_request", {"session_id": None})
        confirm = heard(said, "confirm", lambda value: True)
        session_id = confirm["session_id"] if isinstance(confirm, dict) else confirm
        resident.call("user_uttered", {"message": "/request_human", "session_id": session_id}, timeout=60)
        heard(said, "bot", lambda text: TEXTS.while_waiting in text)
    finally:
        resident.eio.disconnect(abort=True)  # a clean disconnect waits for the held long-poll
    session, _ = agent_session(assistant.url, "duty.li")
    tickets = session.get(f"{assistant.url}/console/api/tickets", timeout=10).json()["tickets"]
    return max(t["id"] for t in tickets)


def test_the_console_refuses_without_login_or_with_a_bad_password(assistant):
    assert requests.get(f"{assistant.url}/console", allow_redirects=False, timeout=10).status_code in (302, 303)
    for path in ("me", "tickets", "tickets/1"):
        assert requests.get(f"{assistant.url}/console/api/{path}", timeout=10).status_code == 401
    assert requests.post(f"{assistant.url}/console/api/tickets/1/claim", timeout=10).status_code == 401
    bad = requests.post(
        f"{assistant.url}/console/api/login", json={"name": "duty.wang", "password": "not-the-password"},
        headers={"X-Requested-With": "fanzha-console"}, timeout=30,
    )
    assert bad.status_code == 401 and "Set-Cookie" not in bad.headers
    forged = requests.get(f"{assistant.url}/console/api/me", cookies={"fanzha_console": "eyJhIjoiZHV0eS53YW5nIn0.x"}, timeout=10)
    assert forged.status_code == 401
    cross_site = requests.post(
        f"{assistant.url}/console/api/login", json={"name": "duty.wang", "password": AGENTS["duty.wang"]}, timeout=30
    )
    assert cross_site.status_code == 403, "a login without the console's header mark is refused"


def test_posts_need_the_sessions_own_csrf_token(assistant):
    ticket_id = new_ticket(assistant)
    wang, wang_csrf = agent_session(assistant.url, "duty.wang")
    li, li_csrf = agent_session(assistant.url, "duty.li")
    claim = f"{assistant.url}/console/api/tickets/{ticket_id}/claim"
    assert wang.post(claim, json={}, timeout=10).status_code == 403
    assert wang.post(claim, json={}, headers={"X-CSRF-Token": li_csrf}, timeout=10).status_code == 403
    assert wang.post(claim, json={}, headers={"X-CSRF-Token": wang_csrf, "Origin": "http://evil.example"}, timeout=10).status_code == 403
    assert wang.post(claim, json={}, headers={"X-CSRF-Token": wang_csrf}, timeout=10).status_code == 200
    # Li cannot act on Wang's ticket.
    for action, body in (("reply", {"text": "我来"}), ("handback", {}), ("close", {"outcome": "advised"}), ("claim", {})):
        response = li.post(f"{assistant.url}/console/api/tickets/{ticket_id}/{action}", json=body, headers={"X-CSRF-Token": li_csrf}, timeout=10)
        assert response.status_code == 409, (action, response.text)
    done = wang.post(f"{assistant.url}/console/api/tickets/{ticket_id}/close", json={"outcome": "not_fraud"},
                     headers={"X-CSRF-Token": wang_csrf}, timeout=10)
    assert done.status_code == 200 and done.json()["status"] == "closed"


def test_two_agents_claiming_at_once_one_gets_it(assistant):
    ticket_id = new_ticket(assistant)
    sessions = [agent_session(assistant.url, name) for name in AGENTS]
    barrier = threading.Barrier(len(sessions))
    results: list[int] = []

    def claim(session: requests.Session, csrf: str) -> None:
        barrier.wait()
        response = session.post(f"{assistant.url}/console/api/tickets/{ticket_id}/claim", json={}, headers={"X-CSRF-Token": csrf}, timeout=30)
        results.append(response.status_code)

    threads = [threading.Thread(target=claim, args=pair) for pair in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409]


def test_rest_gets_the_numbers_instead_of_a_ticket_and_call_backs_stop_at_the_address_cap(assistant):
    """REST: no ticket that no agent's reply could reach. Call-backs asked for under a new sender
    id each time from one address stop at the daily cap (10), and the console counts the refusal."""
    session, _ = agent_session(assistant.url, "duty.wang")
    before = {t["id"] for t in session.get(f"{assistant.url}/console/api/tickets", timeout=10).json()["tickets"]}
    said = [r.get("text") for r in assistant.say("/request_human")]
    assert TEXTS.no_desk.format(why=TEXTS.reasons["request"].why) in said and TEXTS.no_desk_callback in said
    after = {t["id"] for t in session.get(f"{assistant.url}/console/api/tickets", timeout=10).json()["tickets"]}
    assert after == before
    answers = [[r.get("text") for r in assistant.say("/request_callback")] for _ in range(11)]
    assert all(TEXTS.callback_recorded_no_phone in a for a in answers[:10]), answers
    assert TEXTS.callback_limited in answers[10] and TEXTS.callback_recorded_no_phone not in answers[10]
    refused = session.get(f"{assistant.url}/console/api/refusals", timeout=10).json()
    assert refused["today"] == {"callback": 1, "sms": 0}
