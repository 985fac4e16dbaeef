"""The circuit breaker bot/rasa_patches/action_guard.py and bot/rasa_patches/nlu_offload.py share."""
from __future__ import annotations

from bot.services.breaker import Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_rests_the_service_then_it_is_tried_again() -> None:
    clock = Clock()
    breaker = Breaker(5.0, clock=clock)
    assert not breaker.open()
    assert breaker.failed() is True  # the outage starts: the caller logs it once
    clock.now += 4.9
    assert breaker.open()
    clock.now += 0.2
    assert not breaker.open()  # the rest is over: the next call asks the service


def test_each_failure_restarts_the_rest_and_only_the_first_starts_an_outage() -> None:
    clock = Clock()
    breaker = Breaker(5.0, clock=clock)
    breaker.failed()
    clock.now += 6
    assert breaker.failed() is False  # still the same outage: no second log line
    clock.now += 4
    assert breaker.open()
    assert breaker.succeeded() is True  # the outage ends here
    assert not breaker.open()
    assert breaker.succeeded() is False
    assert breaker.failed() is True  # a new outage


def test_a_shorter_rest_counts_at_once() -> None:
    clock = Clock()
    breaker = Breaker(5.0, clock=clock)
    breaker.failed()
    breaker.rest_s = 0.0
    assert not breaker.open()
