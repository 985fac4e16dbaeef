"""Scale-out: two Rasa server replicas and an action server sharing one PostgreSQL tracker store
and one Redis lock store, configured only by deploy/endpoints.shared.yml and the environment.

The turns of each conversation go alternately to replica A and replica B; the last two turns of
each conversation are sent to both replicas at the same moment, which only Redis's
per-conversation lock keeps apart. Afterwards every conversation must read the same from either
replica, with each resident message stored exactly once, in order, followed by the replies that
resident was sent.

The replicas also share their socket.io rooms through the same Redis (FANZHA_SOCKETIO_REDIS_URL):
a resident chatting over socket.io with replica A asks for a person, an agent logs in to the
console on replica B, claims the ticket and replies, and the resident sees it on replica A.

Run alone: .venv/bin/pytest -q tests/test_scale_out.py (needs scripts/system_packages.sh, as root).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
import requests
import socketio
from cryptography.fernet import Fernet

from knowledge.handoff import handoff_texts
from tests.assistant import MODEL, free_port
from tests.conftest import ROOT
from tests.shared_stores import Postgres, Redis

ENDPOINTS = ROOT / "deploy" / "endpoints.shared.yml"
RASA = str(ROOT / ".venv" / "bin" / "rasa")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
START_SECONDS = 300  # two Rasa servers loading at once on a busy 2-core machine
SENDERS = 6
# A greeting and FAQ answers from the domain, a custom action (the scam check), thanks.
ONE_AT_A_TIME = ["你好", "有人说我涉嫌洗钱，让我转到安全账户", "96110是什么电话", "国家反诈中心APP怎么下载"]
AT_ONCE = ["谢谢", "再见"]  # sent together, the first to replica A, the second to B
ASK_FOR_A_PERSON = "我要找人工"  # nlu/handoff.yml: request_human
AGENT, AGENT_PASSWORD = "duty.zhao", "zhao-password-4242"
AGENT_REPLY = "您好，我是值班民警，请先不要再转账。"
PUSH_SECONDS = 15


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self) -> str:
        return f"--- {self.name} ({self.log}) ---\n" + self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Cluster:
    token: str
    replicas: list[str] = field(default_factory=list)  # base URLs of the Rasa servers
    env: dict[str, str] = field(default_factory=dict)  # every process's environment
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str], log: Path) -> Process:
        popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def wait_ready(self, checks: dict[str, str]) -> None:
        """Every process answers 200 on its URL; any process that exits fails at once."""
        deadline = time.monotonic() + START_SECONDS
        pending = dict(checks)
        while pending:
            for process in self.processes:
                if process.popen.poll() is not None:
                    pytest.fail(f"{process.name} stopped during start-up\n{process.tail()}")
            for name, url in list(pending.items()):
                try:
                    if requests.get(url, timeout=2).status_code == 200:
                        del pending[name]
                except requests.RequestException:
                    pass
            if time.monotonic() > deadline:
                pytest.fail(f"not ready within {START_SECONDS} s: {sorted(pending)}\n"
                            + "\n".join(p.tail() for p in self.processes))
            time.sleep(1)

    def say(self, replica: int, sender: str, text: str) -> list[dict]:
        response = requests.post(f"{self.replicas[replica]}/webhooks/rest/webhook",
                                 json={"sender": sender, "message": text}, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()

    def events(self, replica: int, sender: str) -> list[dict]:
        response = requests.get(f"{self.replicas[replica]}/conversations/{sender}/tracker",
                                params={"token": self.token, "include_events": "ALL"}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["events"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert MODEL.exists(), "no trained model: run 'make train' (make test does) before pytest"
    assert ENDPOINTS.exists(), f"missing {ENDPOINTS}"
    tmp = tmp_path_factory.mktemp("scale_out")
    stores: list[Postgres | Redis] = []
    cluster = Cluster(token="scale-out-" + uuid.uuid4().hex)
    try:
        postgres = Postgres(user="fanzha", password="pg-" + uuid.uuid4().hex)
        stores.append(postgres)
        postgres.create_database("fanzha_tracker")
        reports_url = postgres.create_database("fanzha_reports")
        redis = Redis(password="redis-" + uuid.uuid4().hex)
        stores.append(redis)
        actions_port = free_port()
        env = {
            **os.environ,
            "FANZHA_ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
            "FANZHA_POSTGRES_HOST": "127.0.0.1",
            "FANZHA_POSTGRES_PORT": str(postgres.port),
            "FANZHA_POSTGRES_DB": "fanzha_tracker",
            "FANZHA_POSTGRES_USER": postgres.user,
            "FANZHA_POSTGRES_PASSWORD": postgres.password,
            "FANZHA_REDIS_HOST": "127.0.0.1",
            "FANZHA_REDIS_PORT": str(redis.port),
            "FANZHA_REDIS_DB": "1",
            "FANZHA_REDIS_PASSWORD": redis.password,
            # The replicas' socket.io rooms, shared through the same Redis.
            "FANZHA_SOCKETIO_REDIS_URL": f"redis://:{redis.password}@127.0.0.1:{redis.port}/2",
            "FANZHA_DUTY_HOURS": "00:00-24:00",  # the desk is staffed whenever the test runs
            # Reports and tickets, their key and the console's signing secret: shared by every
            # process, as in a deployment; the reports in their own PostgreSQL database.
            "FANZHA_DATABASE_URL": reports_url,
            "FANZHA_REPORT_KEY": Fernet.generate_key().decode(),
            "FANZHA_CONSOLE_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
            "FANZHA_ACTION_TOKEN": "scale-out-actions-" + uuid.uuid4().hex,  # the replicas show it the action server
            "FANZHA_REPORT_QUEUE": str(tmp / "report_queue"),
            "SANIC_HOST": "127.0.0.1",
            "RASA_TELEMETRY_ENABLED": "false",
        }
        cluster.env = env
        cluster.start("action server", [RASA, "run", "actions", "--actions", "actions", "-p", str(actions_port)],
                      env, tmp / "actions.log")
        checks = {"action server": f"http://127.0.0.1:{actions_port}/health"}
        for name in ("A", "B"):
            port = free_port()
            cluster.start(f"replica {name}", [
                PYTHON, "-m", "bot.cli.rasa_server", "run", "-m", str(MODEL), "-i", "127.0.0.1", "-p", str(port), "--enable-api",
                "--auth-token", cluster.token, "--credentials", "credentials.yml",
                "--endpoints", str(ENDPOINTS), "--quiet",
            ], env, tmp / f"rasa_{name}.log")
            cluster.replicas.append(f"http://127.0.0.1:{port}")
            checks[f"replica {name}"] = f"http://127.0.0.1:{port}/status?token={cluster.token}"
        started = time.monotonic()
        cluster.wait_ready(checks)
        print(f"\naction server and two Rasa replicas ready in {time.monotonic() - started:.0f} s")
        yield cluster
    finally:
        for process in reversed(cluster.processes):
            process.stop()
        for store in reversed(stores):
            store.stop()


def _texts(messages: list[dict]) -> list[str]:
    return [m["text"] for m in messages if m.get("text")]


def _converse(cluster: Cluster, sender: str, first: int) -> dict[str, list[str]]:
    """One conversation: turns alternate between the replicas, then two turns at once."""
    replies: dict[str, list[str]] = {}
    for turn, text in enumerate(ONE_AT_A_TIME):
        replies[text] = _texts(cluster.say((first + turn) % 2, sender, text))
    barrier = threading.Barrier(len(AT_ONCE))

    def send(replica: int, text: str) -> list[str]:
        barrier.wait()
        return _texts(cluster.say(replica, sender, text))

    with ThreadPoolExecutor(len(AT_ONCE)) as pool:
        futures = {text: pool.submit(send, replica, text) for replica, text in enumerate(AT_ONCE)}
    replies.update({text: future.result() for text, future in futures.items()})
    return replies


def _turns(events: list[dict]) -> list[tuple[str, list[str]]]:
    """(resident's text, the assistant's texts until the next resident message) per turn."""
    turns: list[tuple[str, list[str]]] = []
    for event in events:
        if event["event"] == "user":
            turns.append((event["text"], []))
        elif event["event"] == "bot" and event.get("text") and turns:
            turns[-1][1].append(event["text"])
    return turns


def test_replicas_share_every_conversation(cluster: Cluster) -> None:
    senders = [f"scale-out-{n}-{uuid.uuid4().hex[:8]}" for n in range(SENDERS)]
    started = time.monotonic()
    with ThreadPoolExecutor(SENDERS) as pool:  # the conversations run side by side
        replies = dict(zip(senders, pool.map(lambda n: _converse(cluster, senders[n], n % 2), range(SENDERS))))
    elapsed = time.monotonic() - started
    print(f"{SENDERS} conversations × {len(ONE_AT_A_TIME) + len(AT_ONCE)} turns over two replicas in {elapsed:.1f} s")

    for sender in senders:
        for text, said in replies[sender].items():
            assert said, f"{sender}: no reply to {text!r}"
        from_a, from_b = cluster.events(0, sender), cluster.events(1, sender)
        assert from_a == from_b, f"{sender}: the replicas read different conversations"
        turns = _turns(from_a)
        user_texts = [text for text, _ in turns]
        # Exactly one user event per message sent: none lost, none stored twice, in order
        # (the two sent at once in either order).
        assert len(user_texts) == len(ONE_AT_A_TIME) + len(AT_ONCE), user_texts
        assert user_texts[: len(ONE_AT_A_TIME)] == ONE_AT_A_TIME
        assert sorted(user_texts[len(ONE_AT_A_TIME):]) == sorted(AT_ONCE)
        # Each turn's replies are stored right after its message: the turns sent at once did
        # not interleave, and what the resident was sent is what the conversation holds.
        for text, stored in turns:
            assert stored == replies[sender][text], f"{sender}: {text!r} stored {stored}, sent {replies[sender][text]}"
        for index, event in enumerate(from_a):
            if event["event"] == "user":
                previous = from_a[index - 1]
                assert previous["event"] == "action" and previous["name"] == "action_listen", (
                    f"{sender}: {event['text']!r} arrived while another turn was still running")


def test_custom_action_ran_through_the_action_server(cluster: Cluster) -> None:
    sender = f"scale-out-check-{uuid.uuid4().hex[:8]}"
    cluster.say(1, sender, ONE_AT_A_TIME[1])
    names = [e.get("name") for e in cluster.events(0, sender) if e["event"] == "action"]
    assert "action_check_scam" in names, names


# --- socket.io across replicas: the agent console on B, the resident's socket on A ------------------


class Resident:
    """The web chat's socket.io conversation with one replica, as bot/channels/web/assets/static/chat.js drives it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[str] = asyncio.Queue()
        self.confirmed: asyncio.Queue[dict] = asyncio.Queue()
        self.client.on("bot_uttered", lambda message: self.received.put_nowait(message.get("text") or ""))
        self.client.on("session_confirm", self.confirmed.put_nowait)

    async def start(self, request: dict[str, str]) -> dict[str, str]:
        """Asks for ``request`` ({} for a new session, or a session's id and token); the session confirmed."""
        # Long-polling only: the installed aiohttp (3.9) lacks what the client's WebSocket upgrade needs.
        await self.client.connect(self.url, transports=["polling"], wait_timeout=10)
        await self.client.emit("session_request", request)
        return await asyncio.wait_for(self.confirmed.get(), 10)

    async def say(self, session_id: str, text: str) -> list[str]:
        """Send, wait for the server to finish the turn (its acknowledgement), return what came."""
        turn_over = asyncio.get_running_loop().create_future()
        await self.client.emit("user_uttered", {"message": text, "session_id": session_id},
                               callback=lambda *_: turn_over.done() or turn_over.set_result(None))
        await asyncio.wait_for(turn_over, 120)
        await asyncio.sleep(0.2)  # the turn's last messages travel with the acknowledgement
        return self.drain()

    async def stop(self) -> None:
        # A clean disconnect waits for the long-poll the server holds until its next ping (25 s);
        # nothing is left to receive, so the poll is dropped instead.
        await self.client.eio.disconnect(abort=True)
        await asyncio.sleep(0.1)  # the aborted poll's task ends

    def drain(self) -> list[str]:
        texts = []
        while not self.received.empty():
            texts.append(self.received.get_nowait())
        return texts

    async def wait_for(self, text: str) -> float:
        """Seconds until ``text`` arrives; fails after PUSH_SECONDS."""
        started = time.monotonic()
        seen: list[str] = []
        try:
            while text not in seen:
                seen.append(await asyncio.wait_for(self.received.get(), PUSH_SECONDS - (time.monotonic() - started)))
        except asyncio.TimeoutError:
            pytest.fail(f"the resident on replica A did not get {text!r} within {PUSH_SECONDS} s (got {seen})")
        return time.monotonic() - started


class Console:
    """The agent console's HTTP API on one replica, as bot/channels/console/assets/ calls it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        login = self.http.post(f"{url}/console/api/login", json={"name": AGENT, "password": AGENT_PASSWORD},
                               headers={"X-Requested-With": "fanzha-console"}, timeout=30)
        assert login.status_code == 200, login.text
        self.csrf = self.http.get(f"{url}/console/api/me", timeout=10).json()["csrf"]

    def queue(self) -> list[dict]:
        return self.http.get(f"{self.url}/console/api/tickets", timeout=10).json()["tickets"]

    def post(self, ticket_id: int, action: str, body: dict | None = None) -> None:
        response = self.http.post(f"{self.url}/console/api/tickets/{ticket_id}/{action}", json=body or {},
                                  headers={"X-CSRF-Token": self.csrf}, timeout=30)
        assert response.status_code == 200, f"{action}: {response.status_code} {response.text}"


def add_agent(cluster: Cluster, folder: Path) -> None:
    added = subprocess.run([str(ROOT / ".venv" / "bin" / "fanzha"), "agent", "add", AGENT, "--password-stdin"],
                           input=AGENT_PASSWORD + "\n", capture_output=True, text=True, cwd=folder,
                           env=cluster.env, timeout=120)
    assert added.returncode == 0, added.stderr


async def test_an_agent_on_replica_b_reaches_a_resident_connected_to_replica_a(cluster: Cluster, tmp_path: Path) -> None:
    texts = handoff_texts()
    await asyncio.to_thread(add_agent, cluster, tmp_path)
    resident = Resident(cluster.replicas[0])
    session = await resident.start({})
    session_id = session["session_id"]
    try:
        # On replica A: the resident asks for a person; a ticket is opened and the bot pauses.
        answered = await resident.say(session_id, ASK_FOR_A_PERSON)
        assert texts.while_waiting in answered, answered

        # On replica B: the agent logs in, finds the ticket, claims it and replies.
        console = await asyncio.to_thread(Console, cluster.replicas[1])
        tickets = [t for t in await asyncio.to_thread(console.queue) if t["channel"] == "socketio"]
        assert len(tickets) == 1 and tickets[0]["claimed_by"] is None, tickets
        ticket_id = tickets[0]["id"]
        await asyncio.to_thread(console.post, ticket_id, "claim")
        await resident.wait_for(texts.claimed)
        sent = time.monotonic()
        await asyncio.to_thread(console.post, ticket_id, "reply", {"text": AGENT_REPLY})
        await resident.wait_for(texts.agent_says.format(text=AGENT_REPLY))
        print(f"\nagent's reply from replica B in the resident's chat on replica A after {time.monotonic() - sent:.2f} s")
        await asyncio.to_thread(console.post, ticket_id, "handback")
        await resident.wait_for(texts.handed_back)

        # Back with the bot, on replica A: the resident's next message is answered again.
        assert await resident.say(session_id, ONE_AT_A_TIME[2]), "no answer after the hand-back"

        # The page reloads onto replica B: its id and token resume the session there too.
        reloaded = Resident(cluster.replicas[1])
        assert await reloaded.start(session) == session
        await reloaded.stop()
    finally:
        await resident.stop()
