"""The web chat in a real browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright,
against the assistant that scripts/run.sh starts.

One browser for the module. The browser tests run in file order and share one conversation on
a phone-sized page: greeting, a scam check, a report, quick replies, a masked code, a reload,
screenshots sent with the picture button and pasted with Ctrl+V (read by the real OCR), then the
one-tag embed on another site, and last the check that nothing left 127.0.0.1.
Screenshots of each step go to results/screenshots/web-*.png.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from playwright.sync_api import Frame, Page

from bot.channels.notices import load_notices
from bot.services.pictures import MAX_PICTURE_BYTES
from tests.assistant import Assistant
from tests.browser import chromium, screenshot
from tests.conftest import ROOT
from tests.http_stub import StubServer

SHOTS = ROOT / "results" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
REPLY_SECONDS = 60
STORE_KEY = "fanzha.chat.v1"
SCAM = "有人说我涉嫌洗钱，让我把钱转到安全账户"
CODE = "583920"


@dataclass
class Web:
    assistant: Assistant
    page: Page
    urls: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def assistant(shared_assistant: Assistant) -> Assistant:
    return shared_assistant  # each page opens conversations of its own (tests/conftest.py)


@pytest.fixture(scope="module")
def web(assistant):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        context = browser.new_context(viewport=PHONE, locale="zh-CN")
        session = Web(assistant, context.new_page())
        context.on("request", lambda request: session.urls.append(request.url))
        session.page.on("websocket", lambda socket: session.urls.append(socket.url))
        context.on("page", lambda page: page.on("websocket", lambda socket: session.urls.append(socket.url)))
        session.page.goto(f"{assistant.url}/chat")
        yield session


def shot(page: Page, name: str) -> None:
    screenshot(page, path=str(SHOTS / f"web-{name}.png"))


def bot_count(where: Page | Frame) -> int:
    return where.locator("#log .msg.bot").count()


def wait_until(check: Callable[[], bool], what: str, seconds: float = REPLY_SECONDS) -> None:
    """Poll from Python: the page's CSP (rightly) forbids the string eval wait_for_function uses."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:.0f} s waiting until {what}")
        time.sleep(0.2)


def wait_for_replies(where: Page | Frame, before: int) -> list[str]:
    """Wait for the bot's answer to arrive and settle; return the new bot messages."""
    wait_until(lambda: bot_count(where) > before, "the assistant answers")
    count, since = bot_count(where), time.monotonic()
    while time.monotonic() - since < 1.5:  # answers come as several messages in a burst
        time.sleep(0.25)
        if bot_count(where) != count:
            count, since = bot_count(where), time.monotonic()
    return where.locator("#log .msg.bot .msg-text").all_inner_texts()[before:]


def say(where: Page | Frame, text: str) -> list[str]:
    """Type a message and press Enter, as a resident would."""
    before = bot_count(where)
    where.fill("#message", text)
    where.press("#message", "Enter")
    return wait_for_replies(where, before)


def stored(page: Page) -> str:
    return page.evaluate(f"window.localStorage.getItem('{STORE_KEY}') || ''")


def transcript(page: Page) -> list[tuple[str, str, str | None]]:
    """Who said what, and the risk colour a verdict was shown in."""
    return page.locator("#log .msg").evaluate_all(
        "items => items.map(e => [e.className, e.querySelector('.msg-text').textContent, e.dataset.risk || null])"
    )


# --- served files, over plain HTTP ------------------------------------------------------------

def test_the_pages_are_served_with_their_types_and_caching(assistant):
    chat = requests.get(f"{assistant.url}/chat", timeout=10)
    assert chat.status_code == 200
    assert chat.headers["Content-Type"] == "text/html; charset=utf-8"
    assert chat.headers["Cache-Control"] == "no-cache"
    assert "connect-src 'self'" in chat.headers["Content-Security-Policy"]
    assert chat.headers["X-Content-Type-Options"] == "nosniff"
    again = requests.get(f"{assistant.url}/chat", headers={"If-None-Match": chat.headers["ETag"]}, timeout=10)
    assert again.status_code == 304 and not again.content

    assets = re.findall(r'(?:src|href)="(/static/[^"?]+)\?v=([0-9a-f]+)"', chat.text)
    assert {path for path, _ in assets} == {
        "/static/chat.css", "/static/chat.js", "/static/vendor/socket.io.min.js"
    }
    kinds = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
    for path, version in assets:
        versioned = requests.get(f"{assistant.url}{path}", params={"v": version}, timeout=10)
        assert versioned.status_code == 200, path
        assert versioned.headers["Content-Type"] == kinds[Path(path).suffix], path
        assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable", path
        plain = requests.get(f"{assistant.url}{path}", timeout=10)
        assert plain.headers["Cache-Control"] == "no-cache", "an unversioned URL must be revalidated"

    loader = requests.get(f"{assistant.url}/widget.js", timeout=10)
    assert loader.status_code == 200
    assert loader.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert loader.headers["Cache-Control"] == "public, max-age=300"
    assert loader.headers["Cross-Origin-Resource-Policy"] == "cross-origin"

    licence = requests.get(f"{assistant.url}/static/vendor/LICENSE", timeout=10)
    assert licence.status_code == 200 and "MIT License" in licence.text
    for path in ("/static/../credentials.yml", "/static/%2e%2e/credentials.yml", "/static/vendor/README.md",
                 "/static/nothing.js"):
        assert requests.get(f"{assistant.url}{path}", timeout=10).status_code == 404, path


def test_the_mask_endpoint_hides_codes_and_refuses_bad_input(assistant):
    masked = requests.post(f"{assistant.url}/chat/mask", json={"text": f"验证码是 {CODE}"}, timeout=10)
    assert masked.status_code == 200
    assert CODE not in masked.json()["text"] and masked.json()["text"].startswith("验证码是")
    for body in (b"not json", b'{"message": "x"}', b'{"text": 5}', b"[]"):
        refused = requests.post(f"{assistant.url}/chat/mask", data=body, timeout=10)
        assert refused.status_code == 400 and "text" in refused.json()["error"], body
    too_long = requests.post(f"{assistant.url}/chat/mask", json={"text": "喂" * 100_000}, timeout=10)
    assert too_long.status_code == 413


# --- the conversation in the browser ----------------------------------------------------------

def test_the_chat_opens_with_a_greeting_and_the_call_bar(web, knowledge):
    page = web.page
    greeting = wait_for_replies(page, 0)
    assert greeting, "a new conversation opens with the assistant's greeting"
    links = page.locator("nav.calls a")
    assert links.evaluate_all("links => links.map(a => a.getAttribute('href'))") == ["tel:110", "tel:96110"]
    for link, contact_id in zip(links.all(), ("police_110", "antifraud_96110")):
        contact = knowledge.contacts[contact_id]
        assert link.inner_text().split("\n") == [contact.name, contact.voice]
        box = link.bounding_box()
        assert box and box["y"] + box["height"] <= PHONE["height"] / 3, "the call bar is at the top of the screen"
    shot(page, "01-chat-opened")


def test_a_scam_check_shows_the_verdict_in_its_risk_colour(web, knowledge):
    from knowledge.checker import RISK_COLOURS

    page = web.page
    replies = say(page, SCAM)
    assert any(knowledge.scam_types["impersonate_police"].name in text for text in replies), replies
    verdict = page.locator("#log .msg.bot[data-risk]").last
    assert verdict.get_attribute("data-risk") == "high"
    assert RISK_COLOURS["high"] in verdict.inner_text()
    red, green, blue = map(int, re.findall(r"\d+", verdict.evaluate("e => getComputedStyle(e).borderLeftColor"))[:3])
    assert red > 150 and green < 80 and blue < 80, "a high-risk verdict is framed in red"
    # The verdict is long: its first line (the risk) is in view, not scrolled past.
    top = verdict.bounding_box()["y"]
    log_box = page.locator("#log").bounding_box()
    assert log_box["y"] <= top < log_box["y"] + log_box["height"] / 2
    shot(page, "02-verdict")


def _response(name: str) -> str:
    domain = yaml.safe_load((ROOT / "bot" / "domain" / "report_form.yml").read_text(encoding="utf-8"))
    return domain["responses"][name][0]["text"]


def test_a_report_is_answered_with_110_then_the_form_starts(web):
    page = web.page
    replies = say(page, "我被骗了")
    assert "110" in replies[0], replies  # the first thing said is to call 110
    assert replies[-1] == _response("utter_ask_report_happened_at")
    shot(page, "03-report")
    # The resident stops the form; the chat is free for other questions again.
    replies = say(page, "不填了")
    assert replies[0] == _response("utter_report_stopped")


def test_quick_replies_are_big_and_work_from_the_keyboard(web):
    page = web.page
    say(page, "你能做什么")
    buttons = page.locator("#replies .reply")
    assert buttons.count() >= 2, "the capabilities answer offers quick replies"
    for button in buttons.all():
        box = button.bounding_box()
        assert box["height"] >= 48 and box["width"] >= 96
        assert float(button.evaluate("e => getComputedStyle(e).fontSize")[:-2]) >= 18
    shot(page, "04-quick-replies")
    title = buttons.first.inner_text()
    before = bot_count(page)
    buttons.first.focus()
    page.keyboard.press("Enter")
    assert wait_for_replies(page, before), "a quick reply chosen with the keyboard is answered"
    assert page.locator("#log .msg.user .msg-text").last.inner_text() == title


def test_a_later_message_without_buttons_keeps_the_quick_replies_on_offer(web):
    """An answer comes as several messages: the buttons of the first stay when a later one has none
    (they used to vanish, and with them a button the resident had focused with the keyboard)."""
    options = [{"title": "我已经转账了", "payload": "/report_paid"}, {"title": "还没转账", "payload": "/deny"}]
    transcript = [
        {"from": "user", "text": "有人让我转钱"},
        {"from": "bot", "text": "请问您已经转账了吗？", "risk": None, "replies": options},
        {"from": "bot", "text": "不管怎样，先别再转。", "risk": None, "replies": []},
    ]
    context = web.page.context.browser.new_context(viewport=PHONE, locale="zh-CN")
    try:
        saved = {"sessionId": "restored-transcript", "sessionToken": None, "messages": transcript}
        # In place before the page's own script reads it (the greeting of a first visit would overwrite it).
        context.add_init_script(f"localStorage.setItem('{STORE_KEY}', {json.dumps(json.dumps(saved))})")
        page = context.new_page()
        page.goto(f"{web.assistant.url}/chat")
        wait_until(lambda: page.locator("#log .msg").count() >= 3, "the transcript is restored", 10)
        assert page.locator("#replies .reply").all_inner_texts() == [o["title"] for o in options]
    finally:
        context.close()


def test_a_typed_code_is_masked_before_the_page_keeps_it(web):
    page = web.page
    say(page, f"他让我把验证码告诉他，验证码是 {CODE}")
    last_typed = page.locator("#log .msg.user .msg-text").last
    wait_until(lambda: CODE not in last_typed.inner_text(), "the typed code is masked", 10)
    assert CODE not in stored(page)
    assert CODE not in page.locator("#log").inner_text()


def test_the_page_suits_older_residents_on_a_phone(web):
    page = web.page
    assert page.locator('meta[name="viewport"]').get_attribute("content") == "width=device-width, initial-scale=1"
    for selector in ("body", "#log .msg.bot .msg-text", "#message", "#send"):
        size = float(page.locator(selector).first.evaluate("e => getComputedStyle(e).fontSize")[:-2])
        assert size >= 18, f"{selector} is {size}px"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling"
    log = page.locator("#log")
    assert log.get_attribute("aria-live") == "polite" and log.get_attribute("role") == "log"
    label = page.locator('label[for="message"]').inner_text()
    assert page.get_by_label(label).evaluate("e => e.id") == "message"
    assert page.get_by_role("button", name="发送").is_visible()


def test_the_conversation_survives_a_reload(web):
    page = web.page
    before, session = transcript(page), page.evaluate(f"JSON.parse(localStorage.getItem('{STORE_KEY}')).sessionId")
    assert len(before) >= 8
    page.reload()
    wait_until(lambda: page.locator("#log .msg").count() >= len(before), "the transcript is restored", 10)
    assert transcript(page) == before
    assert page.locator("#log .msg.bot[data-risk='high']").count() >= 1
    assert CODE not in page.locator("#log").inner_text()
    shot(page, "05-after-reload")

    # Rasa's tracker for the same session goes on: the earlier and the new message are in it.
    assert say(page, "谢谢")
    # The server confirmed the same session: the page asked with the token it was given.
    kept = page.evaluate(f"JSON.parse(localStorage.getItem('{STORE_KEY}'))")
    assert kept["sessionId"] == session and kept["sessionToken"]
    tracker = requests.get(
        f"{web.assistant.url}/conversations/{session}/tracker", params={"token": web.assistant.token}, timeout=10
    ).json()
    said = [event["text"] for event in tracker["events"] if event["event"] == "user"]
    assert SCAM in said and "谢谢" in said
    assert not any(CODE in text for text in said)


# --- pictures: a screenshot chosen with the button, or pasted ----------------------------------

PICTURE_TEXTS = load_notices().picture
SCAM_SMS = "【市公安局】您好，您的银行账户涉嫌洗钱，请立即把资金转到安全账户配合调查，否则将冻结。"
TASK_CHAT = f"刷单做任务，先垫付500元，返佣金日结。验证码{CODE}发我帮你开通"


def screenshot_of(web: Web, text: str, look: str, theme: str) -> bytes:
    """A phone screenshot of ``text`` (tests/screenshots.py), rendered in this module's browser."""
    from tests.screenshots import Bubble, page_html, scenes

    scene = dataclasses.replace(scenes(1)[0], look=look, theme=theme, typed=text, bubbles=(Bubble(text, outgoing=False),))
    page = web.page.context.browser.new_page(viewport=PHONE, device_scale_factor=2, locale="zh-CN")
    try:
        page.set_content(page_html(scene))
        return screenshot(page, type="png")
    finally:
        page.close()


def picture_posts(web: Web) -> int:
    return sum(url.endswith("/webhooks/socketio/picture") for url in web.urls)


def test_a_screenshot_chosen_with_the_button_is_read_and_checked(web, knowledge):
    page = web.page
    button = page.get_by_role("button", name="发图片")
    box = button.bounding_box()
    assert box["height"] >= 48 and box["width"] >= 72, "a big target on a phone"
    assert float(button.evaluate("e => getComputedStyle(e).fontSize")[:-2]) >= 18
    png = screenshot_of(web, SCAM_SMS, "sms", "light")
    before = bot_count(page)
    with page.expect_file_chooser() as chooser:
        button.click()
    chooser.value.set_files(files=[{"name": "截图.png", "mimeType": "image/png", "buffer": png}])
    replies = wait_for_replies(page, before)
    assert page.locator("#log .msg.user .msg-text").last.inner_text() == PICTURE_TEXTS.sent
    assert replies[0].startswith(PICTURE_TEXTS.read.split("{words}")[0]) and "安全账户" in replies[0].replace("\n", "")
    assert any(knowledge.scam_types["impersonate_police"].name in text for text in replies), replies
    assert page.locator("#log .msg.bot").last.get_attribute("data-risk") == "high"
    shot(page, "08-picture")
    kept = stored(page)
    assert "iVBORw0KGgo" not in kept and "data:image" not in kept and "blob:" not in kept  # the picture is not kept


def test_a_screenshot_pasted_with_ctrl_v_is_read_masked_and_checked(web):
    page = web.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.assistant.url)
    png = screenshot_of(web, TASK_CHAT, "chat", "dark")
    # The resident copied the screenshot: the system clipboard holds a PNG.
    page.evaluate(
        """async (data) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            await navigator.clipboard.write([new ClipboardItem({"image/png": new Blob([bytes], {type: "image/png"})})]);
        }""",
        base64.b64encode(png).decode("ascii"),
    )
    before = bot_count(page)
    page.focus("#message")
    page.keyboard.press("Control+V")
    replies = wait_for_replies(page, before)
    assert page.input_value("#message") == "", "the picture is not pasted as text"
    assert replies[0].startswith(PICTURE_TEXTS.read.split("{words}")[0]) and "〔验证码已隐去〕" in replies[0]
    verdict = page.locator("#log .msg.bot[data-risk]").last
    assert verdict.get_attribute("data-risk") in ("high", "medium")
    assert CODE not in page.locator("#log").inner_text() and CODE not in stored(page)


def test_a_picture_the_server_would_refuse_is_refused_in_the_page(web):
    page = web.page
    posts = picture_posts(web)
    for name, kind, size, reason in (("大图.png", "image/png", MAX_PICTURE_BYTES + 1, "too_big"),
                                     ("说明.txt", "text/plain", 100, "not_image")):
        before = bot_count(page)
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="发图片").click()
        chooser.value.set_files(files=[{"name": name, "mimeType": kind, "buffer": b"\x89PNG" + bytes(size - 4)}])
        assert wait_for_replies(page, before) == [PICTURE_TEXTS.refusal(reason)]
    assert picture_posts(web) == posts, "refused in the page, never sent"


def test_another_browser_with_the_session_id_alone_gets_a_new_conversation(web):
    """The resident's session id planted in another browser, without its token: a new session."""
    session = web.page.evaluate(f"JSON.parse(localStorage.getItem('{STORE_KEY}')).sessionId")
    context = web.page.context.browser.new_context(viewport=PHONE, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{web.assistant.url}/chat")
        page.evaluate(f"localStorage.setItem('{STORE_KEY}', JSON.stringify({{sessionId: '{session}', messages: []}}))")
        page.reload()
        assert wait_for_replies(page, 0), "a new conversation opens with the greeting"
        assert page.evaluate(f"JSON.parse(localStorage.getItem('{STORE_KEY}')).sessionId") != session
        say(page, "你好")
        assert SCAM not in page.locator("#log").inner_text()
    finally:
        context.close()


def test_one_script_tag_embeds_the_chat_on_another_site(web):
    server = web.assistant.url
    host_page = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>社区服务中心</title></head>'
        "<body><h1>社区服务中心</h1><p>办事指南、通知公告。</p>"
        f'<script src="{server}/widget.js" data-fanzha-server="{server}"></script></body></html>'
    ).encode("utf-8")

    class HostSite(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(host_page)

        def log_message(self, *args) -> None:
            pass

    site = StubServer(HostSite)
    page = web.page.context.new_page()
    try:
        page.set_viewport_size(DESKTOP)
        page.goto(f"{site.url}/")
        opener = page.get_by_role("button", name="反诈助手")
        opener.wait_for(timeout=10_000)
        assert page.locator("iframe").count() == 0, "the chat loads only when asked for"
        shot(page, "06-embed-closed")

        opener.click()
        frame_element = page.locator('iframe[data-fanzha="chat"]')
        frame_element.wait_for(timeout=10_000)
        assert frame_element.get_attribute("src") == f"{server}/chat"
        assert page.get_by_role("button", name="关闭").get_attribute("aria-expanded") == "true"
        frame = frame_element.element_handle().content_frame()
        frame.wait_for_selector("nav.calls a[href='tel:110']")
        wait_until(lambda: bot_count(frame) > 0, "the embedded chat shows the conversation")
        replies = say(frame, "96110是什么电话")
        assert any("96110" in text for text in replies), replies
        shot(page, "07-embed-open")

        page.get_by_role("button", name="关闭").click()
        assert not frame_element.is_visible()
        assert opener.get_attribute("aria-expanded") == "false"
    finally:
        page.close()
        site.down()


def test_nothing_was_requested_from_any_other_host(web):
    assert any("/socket.io/" in url for url in web.urls) and any(url.endswith("/widget.js") for url in web.urls)
    elsewhere = [
        url for url in web.urls
        if urlsplit(url).scheme not in ("http", "ws") or urlsplit(url).hostname != "127.0.0.1"
    ]
    assert not elsewhere, elsewhere
