"""Messages understood by the second server when it answers, and by the Rasa server itself
whenever it does not: the resident gets the same understanding either way."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest
from aiohttp import web
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage

from bot import nlu_offload
from tests.assistant import Assistant
from tests.test_action_guard import closed_port
from tests.test_faults import listening_pid, texts
from tests.stand_in import serving
from tests.test_rasa_server import holdout_texts

GREETING = "你好"


class UnderstandingServer:
    """A stand-in for the second server's /model/parse."""

    def __init__(self) -> None:
        self.mode = "answer"
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    async def parse(self, request: web.Request) -> web.Response:
        self.requests.append({"token": request.query.get("token"), **await request.json()})
        if self.mode == "hang":
            await asyncio.sleep(30)
        if self.mode == "fail":
            return web.json_response({"message": "ParsingError"}, status=500)
        if self.mode == "not json":
            return web.Response(text="<html>proxy error</html>", content_type="text/html")
        # An answer no local parse gives for the greeting, so a test can tell where it came from.
        return web.json_response({"text": (await request.json())["text"], "intent": {"name": "thank", "confidence": 0.99},
                                  "entities": [], "intent_ranking": [{"name": "thank", "confidence": 0.99}]})


@pytest.fixture
async def server() -> AsyncIterator[UnderstandingServer]:
    stand_in = UnderstandingServer()
    async with serving("/model/parse", stand_in.parse) as url:
        stand_in.url = url
        yield stand_in


@pytest.fixture
async def offloaded(server: UnderstandingServer) -> AsyncIterator[UnderstandingServer]:
    assert nlu_offload.install({nlu_offload.ENV_URL: server.url, nlu_offload.ENV_TOKEN: "secret"})
    remote = nlu_offload._remote
    yield server
    nlu_offload.uninstall()
    await remote.close()


async def parse(agent: Agent, text: str = GREETING) -> dict[str, Any]:
    return await agent.processor.parse_message(UserMessage(text, sender_id="t"))


async def test_the_second_servers_understanding_is_used(plain_serving_agent: Agent, offloaded: UnderstandingServer) -> None:
    found = await parse(plain_serving_agent)
    assert found["intent"]["name"] == "thank"
    assert offloaded.requests == [{"token": "secret", "text": GREETING}]


@pytest.mark.parametrize("mode", ["fail", "not json"])
async def test_a_failing_server_leaves_the_understanding_to_the_rasa_server(plain_serving_agent: Agent, mode: str,
                                                                          offloaded: UnderstandingServer) -> None:
    offloaded.mode = mode
    here = await parse(plain_serving_agent)
    assert here["intent"]["name"] == "greet"
    nlu_offload.uninstall()
    assert json.dumps(here, sort_keys=True) == json.dumps(await parse(plain_serving_agent), sort_keys=True)


async def test_a_hanging_server_is_given_up_in_time_then_rested(plain_serving_agent: Agent,
                                                                offloaded: UnderstandingServer) -> None:
    offloaded.mode = "hang"
    started = time.monotonic()
    assert (await parse(plain_serving_agent))["intent"]["name"] == "greet"
    assert nlu_offload.TIMEOUT_S <= time.monotonic() - started < nlu_offload.TIMEOUT_S + 1.5
    started = time.monotonic()
    assert (await parse(plain_serving_agent))["intent"]["name"] == "greet"
    assert time.monotonic() - started < 1  # not asked again while it rests
    assert len(offloaded.requests) == 1


async def test_the_server_is_asked_again_after_its_rest(plain_serving_agent: Agent, offloaded: UnderstandingServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    offloaded.mode = "fail"
    assert (await parse(plain_serving_agent))["intent"]["name"] == "greet"
    offloaded.mode = "answer"
    assert (await parse(plain_serving_agent))["intent"]["name"] == "greet"  # resting
    monkeypatch.setattr(nlu_offload._remote, "_resting_until", time.monotonic() - 1)
    assert (await parse(plain_serving_agent))["intent"]["name"] == "thank"
    assert len(offloaded.requests) == 2


async def test_no_server_listening_costs_nothing_and_logs_no_words(plain_serving_agent: Agent,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    assert nlu_offload.install({nlu_offload.ENV_URL: f"http://127.0.0.1:{closed_port()}"})
    remote = nlu_offload._remote
    try:
        with caplog.at_level(logging.WARNING, logger=nlu_offload.__name__):
            texts = ["我的卡号是6222021234567890123", GREETING]
            found = [await parse(plain_serving_agent, text) for text in texts]
    finally:
        nlu_offload.uninstall()
        await remote.close()
    assert found[1]["intent"]["name"] == "greet"
    warnings = [r.getMessage() for r in caplog.records if r.name == nlu_offload.__name__]
    assert len(warnings) == 1 and "understanding messages here" in warnings[0]  # once per outage
    assert not any(text[:4] in warnings[0] for text in texts)


async def test_the_servers_shutdown_closes_the_connections(plain_serving_agent: Agent,
                                                          offloaded: UnderstandingServer) -> None:
    import rasa.core.run
    from types import SimpleNamespace

    await parse(plain_serving_agent)
    session = nlu_offload._remote._session
    assert session is not None and not session.closed
    await rasa.core.run.close_resources(SimpleNamespace(ctx=SimpleNamespace(agent=None)), None)
    assert session.closed


def test_without_a_url_nothing_changes() -> None:
    from rasa.core.processor import MessageProcessor

    before = MessageProcessor.parse_message
    assert not nlu_offload.install({})
    assert MessageProcessor.parse_message is before


# --- with the run command: the second server as scripts/run.sh starts it ---------------------


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    running = Assistant(tmp_path_factory.mktemp("nlu"), nlu_process="on")
    yield running
    running.stop()


def summary(found: dict[str, Any]) -> tuple[Any, ...]:
    """What the dialogue uses of an understanding: the FAQ answer only for FAQ questions (the
    servers choose no other, bot/faq_selector.py); confidences to 3 places, since the test process
    runs TensorFlow with its default settings and the servers without oneDNN."""
    faq = found.get("response_selector", {}).get("faq", {}).get("response", {})
    intent = found["intent"]["name"]
    return (intent, round(found["intent"]["confidence"], 3),
            [(e["entity"], e["value"], e["start"], e["end"]) for e in found["entities"]],
            faq.get("intent_response_key") if intent == "faq" else None)


async def test_the_second_server_understands_as_the_rasa_server_would(assistant: Assistant,
                                                                      plain_serving_agent: Agent) -> None:
    remote = nlu_offload.RemoteUnderstanding(f"http://127.0.0.1:{assistant.nlu_port}", assistant.token)
    texts = holdout_texts(every=4)
    try:
        there = [await remote.parse(text) for text in texts]
    finally:
        await remote.close()
    assert all(found is not None for found in there)
    assert [summary(found) for found in there] == [summary(await parse(plain_serving_agent, text)) for text in texts]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_rasa_server_asks_the_second_server(assistant: Assistant) -> None:
    nlu = listening_pid(assistant.nlu_port)
    idle = cpu_seconds(nlu)
    time.sleep(2)
    idle = cpu_seconds(nlu) - idle
    busy = cpu_seconds(nlu)
    for _ in range(10):
        assert "96110" in texts(assistant.say("96110是什么电话"))
    assert cpu_seconds(nlu) - busy > idle + 0.03  # ten messages understood there


def test_the_conversation_goes_on_when_the_second_server_stops(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assert "110" in texts(assistant.say("我被骗了，网上刷单让我垫付了好几次钱", sender))
    os.kill(listening_pid(assistant.nlu_port), signal.SIGKILL)
    time.sleep(0.5)
    assert not assistant.understanding_server_up()
    assert texts(assistant.say("前天晚上八点多", sender))  # the report form's next question
    assert "96110" in texts(assistant.say("96110是什么电话"))
    assert assistant.process.poll() is None  # the run command keeps serving
