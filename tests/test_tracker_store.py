"""The default SQLite tracker store writes and reads exactly what Rasa's SQL tracker store does."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores.tracker_store import WALSQLTrackerStore
from tests.conftest import ROOT

START = 1_700_000_000.0


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain"))


def session(at: float) -> list[Event]:
    return [ActionExecuted("action_session_start", timestamp=at), SessionStarted(timestamp=at + 0.1),
            ActionExecuted("action_listen", timestamp=at + 0.2)]


def turn(at: float, text: str, intent: str, *after: Event) -> list[Event]:
    parse_data = {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}
    return [UserUttered(text, parse_data["intent"], [], parse_data, timestamp=at), *after,
            BotUttered("好的，请放心。", timestamp=at + 0.2), ActionExecuted("action_listen", timestamp=at + 0.3)]


# What Rasa saves at the end of each turn: two conversation sessions, the second after a pause.
TURNS = [
    session(START),
    turn(START + 1, "你好", "greet", ActionExecuted("utter_greet", timestamp=START + 1.1)),
    turn(START + 2, "我被骗了", "scammed", SlotSet("check_pending", True, timestamp=START + 2.1)),
    session(START + 7200),
    turn(START + 7201, "谢谢", "thanks", ActionExecuted("utter_thanks", timestamp=START + 7201.1)),
]


async def play(store: Any, domain: Domain, sender: str = "resident") -> None:
    """Each turn as Rasa's processor does it: read the conversation, add the turn, save."""
    for events in TURNS:
        tracker = await store.retrieve(sender) or DialogueStateTracker(sender, domain.slots)
        for event in events:
            tracker.update(event)
        await store.save(tracker)


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id").fetchall()


def events_of(tracker: DialogueStateTracker | None) -> list[dict]:
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


async def test_it_writes_the_rows_rasas_store_writes(domain: Domain, tmp_path: Path) -> None:
    ours = WALSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "ours.db"))
    rasas = SQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "rasa.db"))
    await play(ours, domain)
    await play(rasas, domain)
    written = rows(tmp_path / "ours.db")
    assert written == rows(tmp_path / "rasa.db")
    assert len(written) == sum(len(events) for events in TURNS)  # each event once


@pytest.mark.parametrize("writer", ["ours", "rasa"])
async def test_each_store_reads_what_the_other_wrote(domain: Domain, tmp_path: Path, writer: str) -> None:
    db = str(tmp_path / "t.db")
    ours = WALSQLTrackerStore(domain=domain, dialect="sqlite", db=db)
    rasas = SQLTrackerStore(domain=domain, dialect="sqlite", db=db)
    await play(ours if writer == "ours" else rasas, domain)
    latest = events_of(await ours.retrieve("resident"))
    assert latest == events_of(await rasas.retrieve("resident"))
    # The latest session only: from its session_started on (its action_session_start came just before).
    assert latest[0]["event"] == "session_started" and latest[0]["timestamp"] == START + 7200.1
    assert len(latest) == len(TURNS[-2]) - 1 + len(TURNS[-1])
    full = events_of(await ours.retrieve_full_tracker("resident"))
    assert full == events_of(await rasas.retrieve_full_tracker("resident"))
    assert len(full) == sum(len(events) for events in TURNS)
    assert await ours.retrieve("someone else") is None


async def test_a_conversation_without_a_session_start_is_read_whole(domain: Domain, tmp_path: Path) -> None:
    ours = WALSQLTrackerStore(domain=domain, dialect="sqlite", db=str(tmp_path / "t.db"))
    tracker = DialogueStateTracker("old", domain.slots)
    for event in turn(START, "你好", "greet"):
        tracker.update(event)
    await ours.save(tracker)
    await ours.save(tracker)  # nothing new: nothing written
    assert events_of(await ours.retrieve("old")) == events_of(tracker)
    assert len(rows(tmp_path / "t.db")) == len(tracker.events)
