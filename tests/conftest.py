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


@pytest.fixture(scope="session")
def shortcut_serving_agent():
    """The server's loader with the FAQ and TED shortcuts (bot/rasa_patches/) in place, for
    comparing with ``plain_serving_agent``: a load costs seconds, and the two never meet (the FAQ
    shortcut changes only the understanding, the TED one only the choice of the next action)."""
    from bot.rasa_patches import faq_selector, ted_shortcut
    from tests.agents import serving_agent

    return serving_agent(faq_selector, ted_shortcut)


@pytest.fixture(scope="session")
def shared_assistant(tmp_path_factory):
    """One real assistant on the project's defaults (scripts/run.sh, tests/assistant.py) for the
    test files that only talk to it, each test in conversations of its own: a start costs about
    30 s. A test that changes its settings or restarts it starts its own; one that reads the log
    reads the part written while it ran (tests/test_faults.py)."""
    from tests.assistant import Assistant

    running = Assistant(tmp_path_factory.mktemp("shared-assistant"))
    yield running
    running.stop()


# Session fixtures that load the model: each worker using one pays for the load, so their tests share a worker.
SHARED_PER_WORKER = ("shared_assistant", "plain_serving_agent", "shortcut_serving_agent")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test unit / model / e2e / browser from what it uses (tests/tiers.py); with
    ``-n N --dist loadgroup`` (`make pytest`) also put each file on one worker, as its module
    fixtures start assistants and browsers, and the files using one of SHARED_PER_WORKER on the same one."""
    from tests.tiers import tiers

    if getattr(config.option, "loadgroup", False):  # what pytest-xdist sets on its workers for --dist loadgroup
        group = {item.path: item.path.stem for item in items}
        for item in items:  # a whole file, as its module fixtures would otherwise start twice
            used = getattr(item, "fixturenames", ())
            group[item.path] = next((shared for shared in SHARED_PER_WORKER if shared in used), group[item.path])
        for item in items:
            item.add_marker(pytest.mark.xdist_group(group[item.path]))
    for item in items:
        test = getattr(item, "function", None)
        if test is None:
            continue
        info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the fixtures a test uses
        fixtures = [defs[-1].func for defs in info.name2fixturedefs.values() if defs] if info else []
        for tier in sorted(tiers(test, fixtures)):
            item.add_marker(tier)
