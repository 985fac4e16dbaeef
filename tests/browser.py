"""Debian's Chromium driven by Playwright, the one way every browser test starts it.

Never `playwright install`: the browser comes from the system (scripts/system_packages.sh).
The flags keep Chromium from reaching out to the network on its own.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from playwright.sync_api import Browser, sync_playwright

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
