"""The default tracker store: Rasa's SQL tracker store, tuned for a SQLite file.

Rasa's own SQLTrackerStore opens a new SQLite connection for every query (SQLAlchemy 1.4's
default for files) in rollback-journal mode: each turn pays for several connects and two
synced journal writes. This store keeps a small pool of open connections in WAL mode, so
readers never wait for the one writer and a crash cannot corrupt the file.

It also reads and writes with three fixed SQL statements where Rasa builds ORM queries and
objects for every turn (a fifth of the server's time in a turn): the same rows, the same
"latest session" rule (events from the last ``session_started`` on, by timestamp, or all
when there is none) and the same columns, so Rasa's store reads what this one wrote and the
other way round. Any other database (PostgreSQL for several replicas) is left exactly as
Rasa configures it.

endpoints.yml:  tracker_store: {type: bot.stores.tracker_store.WALSQLTrackerStore, dialect: sqlite, db: …}
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.pool import QueuePool

from bot.services.sqlite_pragmas import set_pragmas

_SESSION_START = "SELECT max(timestamp) FROM {table} WHERE sender_id = :sender_id AND type_name = :session_started"
_IN_LATEST_SESSION = f"(timestamp >= ({_SESSION_START}) OR ({_SESSION_START}) IS NULL)"


class WALSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fixed_sql = False
        # has-type: Rasa's SQLTrackerStore assigns its engine without a type.
        if self.engine.dialect.name != "sqlite" or self.engine.url.database in (None, "", ":memory:"):  # type: ignore[has-type]
            return
        url = self.engine.url  # type: ignore[has-type]
        self.engine.dispose()  # type: ignore[has-type]
        # Rasa's server uses the store from one event loop thread; the pool lends each
        # connection to one caller at a time.
        self.engine = sa.create_engine(
            url, poolclass=QueuePool, pool_size=2, connect_args={"check_same_thread": False}
        )
        # In WAL mode NORMAL never corrupts the file; a power cut may undo the last few turns.
        set_pragmas(self.engine, "journal_mode = WAL", "synchronous = NORMAL")
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        table = self.SQLEvent.__table__
        self._insert = table.insert()
        in_session = f"sender_id = :sender_id AND {_IN_LATEST_SESSION.format(table=table.name)}"
        self._all_events = sa.text(f"SELECT data FROM {table.name} WHERE sender_id = :sender_id ORDER BY id")
        self._session_events = sa.text(f"SELECT data FROM {table.name} WHERE {in_session} ORDER BY id")
        self._session_count = sa.text(f"SELECT count(*) FROM {table.name} WHERE {in_session}")
        self._fixed_sql = True

    def _params(self, sender_id: str) -> dict[str, str]:
        return {"sender_id": sender_id, "session_started": SessionStarted.type_name}

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        if not self._fixed_sql:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        query = self._all_events if fetch_events_from_all_sessions else self._session_events
        with self.session_scope() as session:
            events = [json.loads(data) for data in session.execute(query, self._params(sender_id)).scalars()]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        if not self._fixed_sql:
            return await super().save(tracker)
        await self.stream_events(tracker)
        with self.session_scope() as session:
            stored = session.execute(self._session_count, self._params(tracker.sender_id)).scalar_one()
            rows = [self._row(tracker.sender_id, event) for event in itertools.islice(tracker.events, stored, None)]
            if rows:
                session.execute(self._insert, rows)
            session.commit()

    @staticmethod
    def _row(sender_id: str, event: Event) -> dict[str, Any]:
        """The columns Rasa's SQLTrackerStore.save writes for an event."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }
