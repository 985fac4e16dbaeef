"""Rasa's Redis lock store, with every change to a conversation's lock made atomically.

Rasa 3.6's RedisLockStore reads a lock, changes it in Python and writes it back: two replicas
taking a ticket for the same conversation at the same moment can both get the first one, both
handle their message at once, and one message's events are then not stored (seen in
tests/test_scale_out.py). Here each change runs in a Redis transaction on the lock's key
(WATCH … MULTI … EXEC, retried when another replica changed it meanwhile), and a lock left
without tickets is deleted in the same transaction.

endpoints.yml: ``lock_store: {type: bot.stores.lock_store.AtomicRedisLockStore, url: …, port: …, …}``
(the settings of Rasa's ``redis`` lock store).
"""
from __future__ import annotations

import json
from typing import Any, Callable, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

T = TypeVar("T")


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        super().__init__(host=endpoint_config.url or "localhost", **endpoint_config.kwargs)

    def _change(self, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
        key = self.key_prefix + conversation_id
        outcome: list[Any] = []

        def in_transaction(pipe: Any) -> None:
            raw = pipe.get(key)
            lock = TicketLock.from_dict(json.loads(raw)) if raw else TicketLock(conversation_id)
            outcome[:] = [change(lock)]
            pipe.multi()
            if lock.tickets:
                pipe.set(key, lock.dumps())
            else:
                pipe.delete(key)

        self.red.transaction(in_transaction, key)
        return outcome[0]

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            return self._change(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))
        except Exception as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        self._change(conversation_id, lambda lock: lock.remove_expired_tickets())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._change(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        # finish_serving already deletes a lock left without tickets, in the same transaction;
        # Rasa's separate "anyone waiting? then delete" could delete a ticket issued in between.
        self.finish_serving(conversation_id, ticket_number)
