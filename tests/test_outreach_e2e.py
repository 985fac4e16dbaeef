"""Outreach mode in a real browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright,
against the outreach pages served by tests/outreach_server.py on 127.0.0.1.

A scenario is played to the end with clicks and keys and the quiz is answered; at every step
what the page shows is compared with the live checker's verdict on the same text. Every
request the browser makes is recorded and anything not for 127.0.0.1 is blocked; the last
test asserts there was none. Screenshots of the projector views and the printed handouts go
to results/screenshots/outreach/.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Page, Route

from tests.browser import chromium, screenshot
from tests.conftest import ROOT

SHOTS = ROOT / "results" / "screenshots" / "outreach"
PROJECTOR = {"width": 1920, "height": 1080}
PUBLIC_URL = "http://192.0.2.44:5005"  # only printed in the QR code; never contacted
SCENARIO = "police_medical_card"
WAIT_MS = 60_000

MARKS_IN_LOG = """() => Array.from(document.querySelectorAll('#log li.msg')).flatMap((li) => {
  let at = Number(li.dataset.start); const out = [];
  for (const node of li.querySelector('.bubble').childNodes) {
    const length = Array.from(node.textContent).length;
    if (node.nodeName === 'MARK') out.push([at, at + length]);
    at += length;
  }
  return out;
})"""
MARKS_IN_MESSAGE = """() => { let at = 0; const out = [];
  for (const node of document.getElementById('message').childNodes) {
    const length = Array.from(node.textContent).length;
    if (node.nodeName === 'MARK') out.push([at, at + length]);
    at += length;
  }
  return out; }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.outreach_server", str(self.port), PUBLIC_URL],
            cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{self.url}/demo", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the outreach server did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.3)
        # The first API call builds the checker (several seconds); do it before the browser waits on it.
        assert requests.get(f"{self.url}/demo/api/quiz/1", timeout=120).status_code == 200

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Browser:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.urls: list[str] = []
        self.blocked: list[str] = []

    def route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("outreach") / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as launched:
        context = launched.new_context(viewport=PROJECTOR, locale="zh-CN")
        session = Browser(context.new_page())
        context.on("request", lambda request: session.urls.append(request.url))
        context.route("**/*", session.route)
        yield session


def covered(spans) -> set[int]:
    return {i for start, end in spans for i in range(start, end)}


def assert_shows_verdict(page: Page, verdict, marks: list[list[int]]) -> None:
    """The page's risk, headline, reasons and highlights are the checker's."""
    risk = page.locator("#risk")
    assert risk.get_attribute("data-risk") == verdict.risk
    assert verdict.risk_colour in risk.inner_text()
    if verdict.scam_type:
        assert verdict.scam_name in page.locator("#headline").inner_text()
    shown = [
        (item.get_attribute("data-flag"), item.locator("q").inner_text(),
         item.inner_text() + (item.get_attribute("title") or ""))
        for item in page.locator("#flags li").all()
    ]
    hits = {(h.flag, h.text): h for h in verdict.red_flags}
    for flag, text, words in shown:
        assert (flag, text) in hits, (flag, text)
        assert hits[(flag, text)].label in words  # the reason, written out or (earlier steps) as its title
    must_show = {h.flag for h in verdict.red_flags if h.scam_type in (None, verdict.scam_type)}
    assert must_show <= {flag for flag, _, _ in shown}
    assert covered(marks) == covered((h.start, h.end) for h in verdict.red_flags)


def test_the_index_lists_every_scenario(server, browser, outreach_files):
    page = browser.page
    page.goto(f"{server.url}/demo")
    cards = page.locator("#cards .card-title").all_inner_texts()
    assert cards == [s.title for s in outreach_files.scenarios.values()]
    screenshot(page, path=str(SHOTS / "demo-index.png"))


def test_a_scenario_plays_to_the_end_with_the_live_checkers_verdicts(server, browser, outreach_files, checker):
    page = browser.page
    scenario = outreach_files.scenarios[SCENARIO]
    page.goto(f"{server.url}/demo/scenario/{SCENARIO}")
    total = len(scenario.steps)
    for upto in range(1, total + 1):
        if upto == 1:
            page.click("#next")
        else:
            page.keyboard.press("ArrowRight" if upto % 2 else "Space")
        page.wait_for_selector(f"body[data-shown-step='{upto}']", timeout=WAIT_MS)
        text, _ = scenario.conversation(upto)
        assert page.locator("#log li.msg .bubble").all_inner_texts() == [s.text for s in scenario.steps[:upto]]
        assert_shows_verdict(page, checker.check(text), page.evaluate(MARKS_IN_LOG))
        assert page.locator("#counter").inner_text() == f"第 {upto} / {total} 步"
        if upto == 6:
            screenshot(page, path=str(SHOTS / "demo-scenario.png"))
    assert page.locator("#next").is_disabled()
    page.keyboard.press("ArrowRight")  # past the end: nothing changes
    page.wait_for_timeout(300)
    assert page.locator("body").get_attribute("data-shown-step") == str(total)
    screenshot(page, path=str(SHOTS / "demo-scenario-end.png"))
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(f"body[data-shown-step='{total - 1}']", timeout=WAIT_MS)


def test_the_quiz_is_answered_with_votes_and_reveals_the_checkers_verdict(server, browser, outreach_files, checker):
    page = browser.page
    page.goto(f"{server.url}/demo/quiz")
    wording = outreach_files.quiz_wording
    shot_scam = shot_ordinary = False
    for question in outreach_files.quiz:
        page.wait_for_selector(f"body[data-number='{question.number}']:not([data-revealed])", timeout=WAIT_MS)
        assert page.locator("#message").inner_text() == question.text
        for _ in range(question.number % 3 + 1):
            page.click("#vote-scam")
        page.keyboard.press("2")
        assert page.locator("#tally-scam").inner_text() == str(question.number % 3 + 1)
        assert page.locator("#tally-ok").inner_text() == "1"
        page.keyboard.press("Space")
        page.wait_for_selector("body[data-revealed='true']", timeout=WAIT_MS)
        assert page.locator("#answer").inner_text() == (wording.scam_answer if question.scam else wording.ordinary_answer)
        assert page.locator("#why").inner_text() == question.why
        assert page.locator("#message").inner_text() == question.text
        assert_shows_verdict(page, checker.check(question.text), page.evaluate(MARKS_IN_MESSAGE))
        if question.scam and not shot_scam:
            screenshot(page, path=str(SHOTS / "quiz-reveal-scam.png"))
            shot_scam = True
        if not question.scam and not shot_ordinary:
            screenshot(page, path=str(SHOTS / "quiz-reveal-ordinary.png"))
            shot_ordinary = True
        page.keyboard.press("ArrowRight")
    assert page.locator("#next").is_disabled()


def test_handouts_print_on_one_a4_page_with_the_qr_code(server, browser, knowledge):
    page = browser.page
    page.emulate_media(media="print")
    for path, name in [("/demo/handout", "general"), *((f"/demo/handout/{c}", c) for c in knowledge.scam_types)]:
        page.goto(server.url + path)
        assert page.locator("svg.qr").is_visible(), path
        assert not page.locator(".toolbar").is_visible(), path
        assert PUBLIC_URL + "/chat" in page.locator(".qr-box").inner_text()
        pdf = page.pdf(format="A4", print_background=True)
        SHOTS.joinpath(f"handout-{name}.pdf").write_bytes(pdf)
        pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
        assert pages == 1, f"{path} prints on {pages} pages"
        if name in ("general", "impersonate_police"):
            page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
            screenshot(page, path=str(SHOTS / f"handout-{name}-print.png"), full_page=True)
            page.set_viewport_size(PROJECTOR)
    page.emulate_media(media="screen")


def test_nothing_left_127_0_0_1(browser):
    assert browser.urls, "the request listener saw nothing"
    assert browser.blocked == []
    assert {urlsplit(url).hostname for url in browser.urls} == {"127.0.0.1"}


@pytest.fixture(scope="module")
def outreach_files(knowledge):
    from knowledge.outreach import load_outreach

    return load_outreach(kb=knowledge)
