"""tests/browser.py's screenshot helper: Chromium's passing refusal is asked again, nothing else is."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from playwright.sync_api import Error

from tests.browser import screenshot

REFUSED = "Protocol error (Page.captureScreenshot): Unable to capture screenshot"


class Target:
    """Stands in for a Playwright Locator: ``screenshot`` raises the given errors first."""

    def __init__(self, *errors: str) -> None:
        self.errors = list(errors)
        self.calls: list[dict] = []
        self.waited: list[float] = []
        self.page = SimpleNamespace(wait_for_timeout=self.waited.append)

    def screenshot(self, **options: object) -> bytes:
        self.calls.append(options)
        if self.errors:
            raise Error(self.errors.pop(0))
        return b"\x89PNG"


def test_a_refused_capture_is_taken_again_with_the_same_options():
    target = Target(REFUSED, REFUSED)
    assert screenshot(target, full_page=True) == b"\x89PNG"  # type: ignore[arg-type]
    assert target.calls == [{"full_page": True}] * 3
    assert target.waited == [200, 400]


def test_a_capture_refused_every_time_fails_with_chromiums_error():
    target = Target(REFUSED, REFUSED, REFUSED)
    with pytest.raises(Error, match="Unable to capture screenshot"):
        screenshot(target)  # type: ignore[arg-type]
    assert len(target.calls) == 3


def test_any_other_error_is_raised_at_once():
    target = Target("Target page, context or browser has been closed")
    with pytest.raises(Error, match="has been closed"):
        screenshot(target)  # type: ignore[arg-type]
    assert len(target.calls) == 1 and not target.waited
