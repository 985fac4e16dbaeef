from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Fixtures shared by several test files.
pytest_plugins = ["tests.fake_twilio"]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
# The container image test builds a 4 GB image for minutes: only `make container-test` runs it.
collect_ignore = [] if os.environ.get("FANZHA_CONTAINER_TEST") == "1" else ["test_container.py"]


@pytest.fixture(scope="session")
def knowledge():
    from knowledge.loader import load_knowledge

    return load_knowledge()


@pytest.fixture(scope="session")
def checker(knowledge):
    from knowledge.checker import Checker

    return Checker(knowledge)


@pytest.fixture(scope="session")
def plain_serving_agent():
    """The model as the server's loader loads it, without the serving shortcuts."""
    from tests.agents import serving_agent

    return serving_agent()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test unit / model / e2e / browser from what it uses (tests/tiers.py)."""
    from tests.tiers import tiers

    for item in items:
        test = getattr(item, "function", None)
        if test is None:
            continue
        info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the fixtures a test uses
        fixtures = [defs[-1].func for defs in info.name2fixturedefs.values() if defs] if info else []
        for tier in sorted(tiers(test, fixtures)):
            item.add_marker(tier)
