"""Messages understood by the second server when it answers, and by the Rasa server itself
whenever it does not: the resident gets the same understanding either way. The second server
is asked only on a Unix socket that can only be this user's (issue 17: a program that took
its TCP port first got every message and the API token, and its answers were obeyed). The
second server as scripts/run.sh starts it, and that attack on the run command: tests/test_run_command.py,
whose one start of the run command serves both."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest
from aiohttp import web
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor

from bot.rasa_patches import nlu_offload
from tests.conftest import ROOT
from tests.stand_in import serving

GREETING = "你好"
SCAMMED = "我被骗了，钱刚转到对方说的安全账户"  # report_scammed; the attack in issue 17 made it goodbye


class UnderstandingServer:
    """A stand-in for the second server's /model/parse."""

    def __init__(self, intent: str = "thank") -> None:
        self.mode = "answer"
        self.intent = intent  # one no local parse gives, so a test can tell where an answer came from
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    async def parse(self, request: web.Request) -> web.Response:
        self.requests.append({**request.query, **await request.json()})
        if self.mode == "hang":
            await asyncio.sleep(30)
        if self.mode == "fail":
            return web.json_response({"message": "ParsingError"}, status=500)
        if self.mode == "not json":
            return web.Response(text="<html>proxy error</html>", content_type="text/html")
        found = {"name": self.intent, "confidence": 0.99}
        return web.json_response({"text": (await request.json())["text"], "intent": found, "entities": [],
                                  "intent_ranking": [found]})


@pytest.fixture
def folder() -> Iterator[Path]:
    """A socket folder as scripts/run.sh makes one: new, this user's, mode 700 (short, for sun_path)."""
    made = Path(tempfile.mkdtemp(prefix="fanzha-nlu-test."))
    yield made
    shutil.rmtree(made)


@asynccontextmanager
async def serving_on_socket(path: Path, stand_in: UnderstandingServer) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/model/parse", stand_in.parse)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.UnixSite(runner, str(path)).start()
    try:
        yield f"unix:{path}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def server(folder: Path) -> AsyncIterator[UnderstandingServer]:
    stand_in = UnderstandingServer()
    async with serving_on_socket(folder / "nlu.sock", stand_in) as url:
        stand_in.url = url
        yield stand_in


@pytest.fixture
async def offloaded(server: UnderstandingServer) -> AsyncIterator[UnderstandingServer]:
    assert nlu_offload.install({nlu_offload.ENV_URL: server.url})
    remote = nlu_offload._remote
    yield server
    nlu_offload.uninstall()
    await remote.close()


async def parse(agent: Agent, text: str = GREETING) -> dict[str, Any]:
    return await agent.processor.parse_message(UserMessage(text, sender_id="t"))


async def test_the_second_servers_understanding_is_used(plain_serving_agent: Agent, offloaded: UnderstandingServer) -> None:
    found = await parse(plain_serving_agent)
    assert found["intent"]["name"] == "thank"
    assert offloaded.requests == [{"text": GREETING}]  # and no API token: the socket's folder is the access control


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
    monkeypatch.setattr(nlu_offload._remote.breaker, "rest_s", 0.0)  # the rest is over
    assert (await parse(plain_serving_agent))["intent"]["name"] == "thank"
    assert len(offloaded.requests) == 2


async def understood_with(agent: Agent, url: str, *said: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Each text (the greeting if none) understood with FANZHA_NLU_URL=url, and this module's
    warnings meanwhile."""
    assert nlu_offload.install({nlu_offload.ENV_URL: url})
    remote = nlu_offload._remote
    logger = logging.getLogger(nlu_offload.__name__)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign, assignment]
    logger.addHandler(handler)
    try:
        return [await parse(agent, text) for text in said or [GREETING]], [record.getMessage() for record in records]
    finally:
        logger.removeHandler(handler)
        nlu_offload.uninstall()
        await remote.close()


async def test_no_server_listening_costs_nothing_and_logs_no_words(plain_serving_agent: Agent, folder: Path) -> None:
    said = ["我的卡号是6222021234567890123", GREETING]
    found, warnings = await understood_with(plain_serving_agent, f"unix:{folder}/nlu.sock", *said)
    assert found[1]["intent"]["name"] == "greet"
    assert len(warnings) == 1 and "not listening" in warnings[0] and "understanding messages here" in warnings[0]
    assert not any(text[:4] in warnings[0] for text in said)


async def test_the_servers_shutdown_closes_the_connections(plain_serving_agent: Agent,
                                                          offloaded: UnderstandingServer) -> None:
    from types import SimpleNamespace

    import rasa.core.run

    await parse(plain_serving_agent)
    session = nlu_offload._remote._session
    assert session is not None and not session.closed
    await rasa.core.run.close_resources(SimpleNamespace(ctx=SimpleNamespace(agent=None)), None)
    assert session.closed


def test_without_a_url_nothing_changes() -> None:
    before = MessageProcessor.parse_message
    assert not nlu_offload.install({})
    assert MessageProcessor.parse_message is before


# --- only a socket that can be nobody else's is asked -----------------------------------------


async def test_a_server_on_a_tcp_port_is_never_asked(plain_serving_agent: Agent) -> None:
    """Issue 17: a program listening where the understanding server should be answered goodbye."""
    squatter = UnderstandingServer(intent="goodbye")
    before = MessageProcessor.parse_message
    refused = None
    async with serving("/model/parse", squatter.parse) as url:
        try:
            nlu_offload.install({nlu_offload.ENV_URL: url, "FANZHA_API_TOKEN": "secret"})
        except SystemExit as error:
            refused = str(error)
        try:
            found = await parse(plain_serving_agent, SCAMMED)
        finally:
            if nlu_offload._remote is not None:
                await nlu_offload._remote.close()
            nlu_offload.uninstall()
    assert found["intent"]["name"] == "report_scammed"
    assert squatter.requests == []
    assert refused is not None and "FANZHA_NLU_URL must be unix:/path/to/socket" in refused and url in refused
    assert MessageProcessor.parse_message is before


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o701, 0o770])
async def test_a_socket_in_a_folder_others_can_open_is_refused(plain_serving_agent: Agent, folder: Path,
                                                               server: UnderstandingServer, mode: int) -> None:
    """Another user could have put a socket there, or connect to ours."""
    folder.chmod(mode)
    [found], warnings = await understood_with(plain_serving_agent, server.url)
    assert found["intent"]["name"] == "greet"  # understood here
    assert server.requests == []
    assert warnings == [f"The understanding server at {folder}/nlu.sock refused: {folder} is open to other users "
                        f"(mode {mode:o}, not 700): understanding messages here for now."]


def other_users(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """From now on ``path`` looks as if another user owned it."""
    real_lstat = os.lstat

    def lstat(name: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        found = real_lstat(name, *args, **kwargs)
        if os.fspath(name) != str(path):
            return found
        fields = list(found[:10])
        fields[stat.ST_UID] = os.geteuid() + 1
        return os.stat_result(fields)

    monkeypatch.setattr(os, "lstat", lstat)


async def test_a_socket_of_another_user_is_refused(plain_serving_agent: Agent, folder: Path,
                                                   server: UnderstandingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    other_users(monkeypatch, folder / "nlu.sock")
    [found], warnings = await understood_with(plain_serving_agent, server.url)
    assert found["intent"]["name"] == "greet"
    assert server.requests == []
    assert warnings and f"refused: {folder}/nlu.sock is not a socket of this user" in warnings[0]


async def test_a_folder_of_another_user_is_refused(plain_serving_agent: Agent, folder: Path,
                                                   server: UnderstandingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    other_users(monkeypatch, folder)
    [found], warnings = await understood_with(plain_serving_agent, server.url)
    assert found["intent"]["name"] == "greet"
    assert server.requests == []
    assert warnings and f"refused: {folder} is not a folder of this user" in warnings[0]


@pytest.mark.parametrize("mode, refused", [(0o777, True), (0o775, True), (0o1777, False), (0o755, False)])
async def test_a_folder_above_that_others_can_change_is_refused(plain_serving_agent: Agent, folder: Path,
                                                                mode: int, refused: bool) -> None:
    """Others could rename our folder away and put theirs in its place; not in a sticky one (/tmp)."""
    above = folder / "a"
    (above / "nlu").mkdir(parents=True, mode=0o700)
    above.chmod(mode)
    stand_in = UnderstandingServer()
    async with serving_on_socket(above / "nlu" / "nlu.sock", stand_in) as url:
        [found], warnings = await understood_with(plain_serving_agent, url)
    if refused:
        assert found["intent"]["name"] == "greet" and stand_in.requests == []
        assert warnings and f"refused: {above} can be changed by another user" in warnings[0]
    else:
        assert found["intent"]["name"] == "thank" and warnings == []


def test_the_understanding_server_will_not_serve_in_a_folder_others_can_open(folder: Path) -> None:
    folder.chmod(0o755)
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "bot.cli.nlu_server", "--model", "models/none",
                           "--socket", str(folder / "nlu.sock")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2  # scripts/run.sh does not restart it: a restart would not help
    assert f"{folder} is open to other users (mode 755, not 700)" in done.stderr
    assert not (folder / "nlu.sock").exists()
