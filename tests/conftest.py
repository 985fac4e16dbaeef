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


# What a test costs on a worker, roughly, by tier; and a group that loads the model or starts a
# server pays for that once. Only the order of the groups depends on these numbers.
TIER_COST = {"browser": 2.0, "e2e": 2.0, "model": 1.0, "unit": 0.1}
START_COST = 15.0


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test unit / model / e2e / browser from what it uses (tests/tiers.py); with
    ``-n N --dist loadgroup`` (`make pytest`) also put each file on one worker, as its module
    fixtures start assistants and browsers, and the files using one of SHARED_PER_WORKER on the
    same one; the costliest groups first, which workers take in this order with
    ``--no-loadscope-reorder`` (otherwise pytest-xdist orders them by their number of tests, and
    a one-test file that starts an assistant runs last while the other worker waits)."""
    from tests.tiers import tiers

    item_tiers: dict[pytest.Item, set[str]] = {}
    for item in items:
        test = getattr(item, "function", None)
        if test is None:
            continue
        info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the fixtures a test uses
        fixtures = [defs[-1].func for defs in info.name2fixturedefs.values() if defs] if info else []
        item_tiers[item] = set(tiers(test, fixtures))
        for tier in sorted(item_tiers[item]):
            item.add_marker(tier)
    if not getattr(config.option, "loadgroup", False):  # what pytest-xdist sets on its workers for --dist loadgroup
        return
    group = {item.path: item.path.stem for item in items}
    for item in items:  # a whole file, as its module fixtures would otherwise start twice
        used = getattr(item, "fixturenames", ())
        group[item.path] = next((shared for shared in SHARED_PER_WORKER if shared in used), group[item.path])
    cost: dict[str, float] = {}
    for item in items:
        found = item_tiers.get(item, {"unit"})
        heavy = max((TIER_COST[tier] for tier in found), default=TIER_COST["unit"])
        cost[group[item.path]] = cost.get(group[item.path], START_COST if heavy > TIER_COST["unit"] else 0.0) + heavy
    order = {name: rank for rank, name in enumerate(sorted(cost, key=lambda name: -cost[name]))}
    items.sort(key=lambda item: order[group[item.path]])  # stable: a file's tests keep their order
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group[item.path]))
