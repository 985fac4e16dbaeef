"""The default tracker store: Rasa's SQL tracker store, tuned for a SQLite file.

Rasa's own SQLTrackerStore opens a new SQLite connection for every query (SQLAlchemy 1.4's
default for files) in rollback-journal mode: each turn pays for several connects and two
synced journal writes. This store keeps a small pool of open connections in WAL mode, so
readers never wait for the one writer and a crash cannot corrupt the file. Any other
database (PostgreSQL for several replicas) is left exactly as Rasa configures it.

endpoints.yml:  tracker_store: {type: bot.tracker_store.WALSQLTrackerStore, dialect: sqlite, db: …}
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.pool import QueuePool

from bot.sqlite_pragmas import set_pragmas



class WALSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name != "sqlite" or self.engine.url.database in (None, "", ":memory:"):
            return
        url = self.engine.url
        self.engine.dispose()
        # Rasa's server uses the store from one event loop thread; the pool lends each
        # connection to one caller at a time.
        self.engine = sa.create_engine(
            url, poolclass=QueuePool, pool_size=2, connect_args={"check_same_thread": False}
        )
        # In WAL mode NORMAL never corrupts the file; a power cut may undo the last few turns.
        set_pragmas(self.engine, "journal_mode = WAL", "synchronous = NORMAL")
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
