"""Debian's Chromium driven by Playwright, the one way every browser test starts it.

Never `playwright install`: the browser comes from the system (scripts/system_packages.sh).
The flags keep Chromium from reaching out to the network on its own.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from playwright.sync_api import Browser, Error, Locator, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"no browser at {CHROMIUM}: run scripts/system_packages.sh as root"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(target: Page | Locator, attempts: int = 3, **options: Any) -> bytes:
    """``target.screenshot(**options)``. Chromium now and then refuses a capture ("Unable to
    capture screenshot", most often the first after a cold start) and takes the same picture
    when asked again a moment later, so that one error is asked again; any other is raised."""
    attempt = 1
    while True:
        try:
            return target.screenshot(**options)
        except Error as error:
            if "Unable to capture screenshot" not in str(error) or attempt == attempts:
                raise
        (target if isinstance(target, Page) else target.page).wait_for_timeout(200 * attempt)
        attempt += 1
