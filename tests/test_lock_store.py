"""Replicas taking a conversation's lock at the same moment get distinct tickets, one at a time."""
from __future__ import annotations

import threading
import uuid
from typing import Iterator

import pytest
from rasa.utils.endpoints import EndpointConfig

from bot.stores.lock_store import AtomicRedisLockStore
from tests.shared_stores import Redis


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    server = Redis(password="redis-" + uuid.uuid4().hex)
    yield server
    server.stop()


def store(redis: Redis) -> AtomicRedisLockStore:
    """One per replica: each has its own connection, as each Rasa server does."""
    config = EndpointConfig(url="127.0.0.1", type="bot.stores.lock_store.AtomicRedisLockStore",
                            port=redis.port, password=redis.password, db=1)
    return AtomicRedisLockStore(config)


def test_tickets_taken_at_the_same_moment_are_all_distinct(redis: Redis) -> None:
    conversation = uuid.uuid4().hex
    replicas = [store(redis) for _ in range(8)]
    start = threading.Barrier(len(replicas))
    tickets: list[int] = []

    def take(replica: AtomicRedisLockStore) -> None:
        start.wait()
        for _ in range(25):
            tickets.append(replica.issue_ticket(conversation))

    threads = [threading.Thread(target=take, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(tickets) == list(range(200))
    lock = replicas[0].get_lock(conversation)
    assert lock is not None and len(lock.tickets) == 200


async def test_a_lock_is_held_by_one_ticket_and_gone_when_all_are_served(redis: Redis) -> None:
    conversation = uuid.uuid4().hex
    a, b = store(redis), store(redis)
    first, second = a.issue_ticket(conversation), b.issue_ticket(conversation)
    lock = a.get_lock(conversation)
    assert lock.is_locked(second) and not lock.is_locked(first)  # the first ticket is served
    a.cleanup(conversation, first)
    assert not b.get_lock(conversation).is_locked(second)
    b.cleanup(conversation, second)
    assert a.get_lock(conversation) is None  # no tickets left: the key is deleted

    async with a.lock(conversation) as held:  # Rasa's own lock() over the atomic changes
        assert held.conversation_id == conversation
    assert a.get_lock(conversation) is None
