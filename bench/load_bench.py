"""Load bench: many residents talking to the real assistant at once, over REST and socket.io.

    .venv/bin/python bench/load_bench.py --users 50 --duration 300 --socketio-share 0.3 --warmup 10

Starts the assistant with the run command (scripts/run.sh via tests.assistant.Assistant: Rasa
server, action server and, as the run command does on two cores or more, the understanding
(NLU) server on free ports, SQLite tracker store and reports in a temporary folder)
unless ``--url`` names a running one (its token in ``FANZHA_API_TOKEN``). Each virtual user loops until the run ends:
a new sender id, the next conversation of bench/conversations.yml (round-robin over all users),
each turn sent as soon as the previous one is answered (closed loop), or after a think time
(``--think-ms``: the mean of an exponentially distributed pause, and a random start within the
first pause, so that users do not move in step as real residents do not). A share of the users talk over socket.io (the web widget's channel), the others over
REST (one aiohttp session each). Turns started during the warm-up are not counted.

A REST turn is the round trip of one webhook call. Rasa's socket.io channel sends each bot message
as soon as its action has run and sends no end-of-turn event, so a socket.io turn's latency is the
time to the *first* bot message ("last message": to the last one). The turn is over when the
server acknowledges the user_uttered event: the client asks for a socket.io acknowledgement, which
python-socketio sends when the server's handler returns, i.e. after Rasa has handled the whole turn
and sent all its messages (a settle time would cut turns whose actions are further apart than
that under load). Bot messages that arrive outside their turn are counted; they should stay at 0.
The client uses HTTP long-polling, as a browser does before upgrading to a websocket: the
websocket client of the installed python-engineio needs aiohttp >= 3.10, and Rasa 3.6 pins 3.9.

Errors: HTTP errors, timeouts, lost connections, empty replies, replies without the turn's
``expect`` words, and the channels' rate-limit notice. Memory: the resident set (RSS) of the
processes listening on the Rasa, action and NLU ports (``fuser PORT/tcp``; a process that is not
running is left out), sampled every second;
"growth" compares the mean of the first and the last minute of the measured window (a third of
the window each when it is shorter than three minutes); their CPU use in the measured window, also
sampled every second, is given as a share of one core (a process near 100% is the bottleneck). A run of two ``--window``s
or more (default 300 s) is also reported window by window: turns/s, p50, p95, CPU shares and
the RSS at each window's end. Residents are limited per sender, per address and overall
(FANZHA_RATE_LIMIT, _ADDRESS, _GLOBAL); a virtual user types far faster than a person and all come
from one address, so the started assistant runs with the limits off. Prints a table; ``--json FILE`` saves the figures.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import aiohttp
import socketio
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONVERSATIONS = ROOT / "bench" / "conversations.yml"
NOTICES = ROOT / "bot" / "channels" / "notices.yml"
CHANNELS = ("rest", "socketio")


class ConversationsError(ValueError):
    """conversations.yml is malformed: the message names the place and the reason."""


@dataclass(frozen=True)
class Turn:
    say: str
    expect: str | None = None


@dataclass(frozen=True)
class Conversation:
    name: str
    turns: tuple[Turn, ...]


def load_conversations(path: Path = CONVERSATIONS) -> list[Conversation]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = data.get("conversations") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ConversationsError(f"{path}: needs a non-empty list 'conversations'")
    conversations: list[Conversation] = []
    for i, item in enumerate(items):
        where = f"{path}: conversations[{i}]"
        if not isinstance(item, dict) or set(item) - {"name", "about", "turns"}:
            raise ConversationsError(f"{where}: a mapping with name, about and turns only")
        name, turns = item.get("name"), item.get("turns")
        if not isinstance(name, str) or not name or name in {c.name for c in conversations}:
            raise ConversationsError(f"{where}: 'name' must be a text, unique in the file")
        if not isinstance(turns, list) or not turns:
            raise ConversationsError(f"{where} ({name}): needs a non-empty list 'turns'")
        conversations.append(Conversation(name, tuple(_turn(turn, f"{where} ({name}) turn {j + 1}")
                                                      for j, turn in enumerate(turns))))
    return conversations


def _turn(item: Any, where: str) -> Turn:
    say, expect = (item.get("say"), item.get("expect")) if isinstance(item, dict) else (None, None)
    if (not isinstance(item, dict) or set(item) - {"say", "expect"} or not isinstance(say, str) or not say.strip()
            or not (expect is None or (isinstance(expect, str) and expect))):
        raise ConversationsError(f"{where}: 'say' is a text, 'expect' an optional text, nothing else")
    return Turn(say, expect)


def rate_notice() -> str:
    """The fixed start of the channels' rate-limit notice (the text before its first placeholder)."""
    return str(yaml.safe_load(NOTICES.read_text(encoding="utf-8"))["rate_limited"]).split("{")[0]


def turn_error(messages: list[dict], turn: Turn, notice: str) -> str | None:
    """What is wrong with a turn's bot messages, or None."""
    texts = "\n".join(str(m.get("text") or "") for m in messages)
    if not messages:
        return "empty reply"
    if notice and notice in texts:
        return "rate limited"
    if turn.expect and turn.expect not in texts:
        return "unexpected reply"
    return None


# --- figures ---------------------------------------------------------------------------------


@dataclass
class TurnResult:
    channel: str
    started: float  # seconds since the end of the warm-up
    latency_ms: float  # REST: round trip; socket.io: to the first bot message
    last_ms: float  # to the last bot message (REST: the round trip)
    error: str | None = None


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (share 0.95 gives p95); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarize(results: list[TurnResult], window_s: float, last: bool = False) -> dict[str, Any]:
    """Turns, errors by kind, latency percentiles of the turns without error, their number per second."""
    good = [r.last_ms if last else r.latency_ms for r in results if r.error is None]
    kinds: dict[str, int] = {}
    for r in results:
        if r.error:
            kinds[r.error] = kinds.get(r.error, 0) + 1
    latency = {f"p{p}_ms": percentile(good, p / 100) for p in (50, 95, 99)}
    return {"turns": len(results), "errors": len(results) - len(good), "error_kinds": kinds,
            **{k: round(v, 1) if v is not None else None for k, v in latency.items()},
            "turns_per_s": round(len(good) / window_s, 2)}


def memory_summary(samples: list[tuple[float, float]], window_s: float, span_s: float = 60) -> dict[str, Any]:
    """RSS in MB from (seconds into the window, MB) samples: means over the first and the last span
    (a third of a window shorter than three spans), the peak, and the growth between the two."""
    if not samples:
        return {}
    span = min(span_s, window_s / 3)
    first = [mb for t, mb in samples if t <= span] or [samples[0][1]]
    final = [mb for t, mb in samples if t >= window_s - span] or [samples[-1][1]]
    start, end = sum(first) / len(first), sum(final) / len(final)
    return {"start_mb": round(start, 1), "end_mb": round(end, 1), "peak_mb": round(max(mb for _, mb in samples), 1),
            "growth_mb": round(end - start, 1), "span_s": round(span, 1)}


# --- processes -------------------------------------------------------------------------------


def pid_on_port(port: int) -> int | None:
    """The process listening on a local TCP port (fuser prints pids on stdout, notes on stderr)."""
    out = subprocess.run(["fuser", f"{port}/tcp"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS"))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (fields 14 and 15 of /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(samples: list[tuple[float, float]], window_s: float) -> int | None:
    """Percent of one core used in the measured window, from (seconds into it, CPU seconds) samples."""
    inside = [sample for sample in samples if 0 <= sample[0] <= window_s]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    (t0, cpu0), (t1, cpu1) = inside[0], inside[-1]
    return round(100 * (cpu1 - cpu0) / (t1 - t0))


async def sample_processes(pids: dict[str, int], begin: float, rss: dict[str, list[tuple[float, float]]],
                           cpu: dict[str, list[tuple[float, float]]]) -> None:
    """Every second: each process's RSS (MB) and CPU time so far, by seconds into the measured window."""
    while True:
        now = time.monotonic() - begin
        for name, pid in pids.items():
            if (mb := rss_mb(pid)) is not None:
                rss[name].append((now, mb))
            if (seconds := cpu_seconds(pid)) is not None:
                cpu[name].append((now, seconds))
        await asyncio.sleep(1)


def by_window(results: list[TurnResult], cpu: dict[str, list[tuple[float, float]]],
              rss: dict[str, list[tuple[float, float]]], duration_s: float, window_s: float) -> list[dict[str, Any]]:
    """The measured window cut into windows of window_s: turns/s, p95, CPU shares and each
    process's RSS at the window's end (mean of its last minute), to tell a cost or a memory that
    grows with the run from a run that is slower throughout. [] for one window."""
    if window_s <= 0 or duration_s < 2 * window_s:
        return []
    rows = []
    for n in range(math.ceil(duration_s / window_s)):
        start, end = n * window_s, min((n + 1) * window_s, duration_s)
        inside = [r for r in results if start <= r.started < end]
        shifted = {name: [(t - start, c) for t, c in samples] for name, samples in cpu.items()}
        rows.append({"from_s": start, "to_s": end, **summarize(inside, end - start),
                     "cpu_percent_of_one_core": {name: cpu_share(samples, end - start)
                                                 for name, samples in shifted.items()},
                     "rss_mb_at_end": {name: memory_summary([(t - start, mb) for t, mb in samples
                                                             if start <= t <= end], end - start).get("end_mb")
                                       for name, samples in rss.items()}})
    return rows


def reference_loop_s() -> float:
    """Seconds for a fixed pure-Python loop, best of 3: virtual machines of the same kind differ in
    speed from hour to hour, and the latencies of a run are comparable only at similar speeds."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(10**7))
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


# --- virtual users ---------------------------------------------------------------------------


@dataclass
class Run:
    urls: list[str]  # each user stays with one server, as a sticky load balancer would keep them
    conversations: Iterator[Conversation]
    begin: float  # end of the warm-up
    end: float
    think_s: float
    timeout_s: float
    notice: str
    results: list[TurnResult]
    late_messages: int = 0

    def record(self, channel: str, t0: float, first: float, last: float, error: str | None) -> None:
        self.results.append(TurnResult(channel, t0 - self.begin, (first - t0) * 1000, (last - t0) * 1000, error))

    def failed(self, channel: str, t0: float, error: str) -> None:
        now = time.monotonic()
        self.record(channel, t0, now, now, error)

    async def think(self) -> None:
        """A resident's pause before the next message: random, so users do not move in step."""
        if self.think_s > 0:
            await asyncio.sleep(random.expovariate(1 / self.think_s))

    async def arrive(self) -> None:
        """Users start at random moments within the first pause, not all at once."""
        if self.think_s > 0:
            await asyncio.sleep(random.uniform(0, self.think_s))


async def rest_user(run: Run, url: str) -> None:
    await run.arrive()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=run.timeout_s)) as session:
        while time.monotonic() < run.end:
            sender = "load-" + uuid.uuid4().hex
            for turn in next(run.conversations).turns:
                if time.monotonic() >= run.end:
                    break
                t0 = time.monotonic()
                try:
                    async with session.post(f"{url}/webhooks/rest/webhook",
                                            json={"sender": sender, "message": turn.say}) as response:
                        status = response.status
                        messages = await response.json() if status == 200 else None
                    done = time.monotonic()
                    error = f"HTTP {status}" if messages is None else turn_error(messages, turn, run.notice)
                    run.record("rest", t0, done, done, error)
                except asyncio.TimeoutError:
                    run.failed("rest", t0, "timeout")
                except (aiohttp.ClientError, ValueError):
                    run.failed("rest", t0, "connection")
                await run.think()


def drain(inbox: asyncio.Queue[tuple[float, dict]]) -> list[tuple[float, dict]]:
    items = []
    while not inbox.empty():
        items.append(inbox.get_nowait())
    return items


async def socketio_user(run: Run, url: str) -> None:
    client = socketio.AsyncClient(reconnection=False)
    inbox: asyncio.Queue[tuple[float, dict]] = asyncio.Queue()
    confirmed: asyncio.Queue[str] = asyncio.Queue()
    client.on("bot_uttered", lambda message: inbox.put_nowait((time.monotonic(), message)))
    client.on("session_confirm", confirmed.put_nowait)
    await run.arrive()
    try:
        while time.monotonic() < run.end:
            t0 = time.monotonic()
            try:
                if not client.connected:
                    await client.connect(url, transports=["polling"], wait_timeout=run.timeout_s)
                await client.emit("session_request", {"session_id": "load-" + uuid.uuid4().hex})
                confirm = await asyncio.wait_for(confirmed.get(), run.timeout_s)
                # The server confirms {"session_id", "session_token"} (the token resumes the session).
                session = confirm["session_id"] if isinstance(confirm, dict) else confirm
            except (asyncio.TimeoutError, socketio.exceptions.SocketIOError):
                run.failed("socketio", t0, "connection")
                await asyncio.sleep(1)
                continue
            for turn in next(run.conversations).turns:
                if time.monotonic() >= run.end or not client.connected:
                    break
                run.late_messages += len(drain(inbox))
                turn_over = asyncio.get_running_loop().create_future()
                t0 = time.monotonic()
                try:
                    await client.emit("user_uttered", {"message": turn.say, "session_id": session},
                                      callback=lambda *_, over=turn_over: over.done() or over.set_result(None))
                    await asyncio.wait_for(turn_over, run.timeout_s)
                    await asyncio.sleep(0)  # let messages that came with the acknowledgement be queued
                    received = drain(inbox)
                    times = [at for at, _ in received] or [time.monotonic()]
                    error = turn_error([message for _, message in received], turn, run.notice)
                    run.record("socketio", t0, min(times), max(times), error)
                except asyncio.TimeoutError:
                    run.failed("socketio", t0, "timeout")
                except socketio.exceptions.SocketIOError:
                    run.failed("socketio", t0, "connection")
                await run.think()
    finally:
        if client.connected:
            await client.eio.disconnect(abort=True)  # a clean disconnect waits 30 s for the held long-poll


async def check_server(url: str, token: str) -> None:
    """Stop unless the server answers its token-protected status (so a model is loaded)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.get(f"{url}/status", params={"token": token}) as response:
            if response.status != 200:
                sys.exit(f"{url}/status answered {response.status}: check --url and FANZHA_API_TOKEN")


async def drive(args: argparse.Namespace, urls: list[str], pids: dict[str, int]) -> dict[str, Any]:
    for url in urls:
        await check_server(url, args.token)
    load_at_start = os.getloadavg()[0]  # other work on the machine (1-minute load average)
    speed = reference_loop_s()
    begin = time.monotonic() + args.warmup
    run = Run(urls, itertools.cycle(load_conversations(args.conversations)), begin, begin + args.duration,
              args.think_ms / 1000, args.timeout, rate_notice(), [])
    memory: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
    servers_cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
    sampler = asyncio.create_task(sample_processes(pids, begin, memory, servers_cpu))
    on_socketio = round(args.users * args.socketio_share)
    cpu = time.process_time()
    await asyncio.gather(*((socketio_user if i < on_socketio else rest_user)(run, urls[i % len(urls)])
                           for i in range(args.users)))
    cpu = time.process_time() - cpu
    sampler.cancel()
    measured = [r for r in run.results if r.started >= 0]
    socketio_turns = [r for r in measured if r.channel == "socketio"]
    return {
        "settings": {"users": args.users, "rest_users": args.users - on_socketio, "socketio_users": on_socketio,
                     "duration_s": args.duration, "warmup_s": args.warmup, "think_ms": args.think_ms,
                     "urls": urls, "rate_limit": args.rate_limit_note, "load_average_at_start": load_at_start,
                     "reference_loop_s": speed},
        **{channel: summarize([r for r in measured if r.channel == channel], args.duration) for channel in CHANNELS},
        "socketio_last_message": summarize(socketio_turns, args.duration, last=True),
        "all": summarize(measured, args.duration),
        "socketio_messages_outside_their_turn": run.late_messages,
        "memory": {name: memory_summary([s for s in samples if 0 <= s[0] <= args.duration], args.duration)
                   | {"cpu_percent_of_one_core": cpu_share(servers_cpu[name], args.duration)}
                   for name, samples in memory.items()},
        "windows": by_window(measured, servers_cpu, memory, args.duration, args.window),
        "load_generator_cpu_s": round(cpu, 1),
    }


def print_table(figures: dict[str, Any]) -> None:
    s = figures["settings"]
    print(f"\n{s['users']} users ({s['rest_users']} REST, {s['socketio_users']} socket.io), {s['duration_s']:g} s "
          f"measured after {s['warmup_s']:g} s warm-up, think time {s['think_ms']:g} ms; rate limit: {s['rate_limit']}")
    print(f"{'channel':<26}{'turns':>7}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'turns/s':>9}")
    for key, label in (("rest", "REST"), ("socketio", "socket.io, first message"),
                       ("socketio_last_message", "socket.io, last message"), ("all", "all")):
        row = figures[key]
        cells = "".join(f"{row[k]:>9.0f}" if row[k] is not None else f"{'-':>9}"
                        for k in ("p50_ms", "p95_ms", "p99_ms"))
        print(f"{label:<26}{row['turns']:>7}{row['errors']:>8}{cells}{row['turns_per_s']:>9.1f}")
    if figures["all"]["error_kinds"]:
        print("errors:", ", ".join(f"{kind} {n}" for kind, n in figures["all"]["error_kinds"].items()))
    print(f"socket.io bot messages outside their turn: {figures['socketio_messages_outside_their_turn']}; "
          f"load generator CPU {figures['load_generator_cpu_s']} s; "
          f"load average at the start {s['load_average_at_start']:.1f}; "
          f"reference loop {s['reference_loop_s']:.2f} s (higher: a slower machine)")
    for name, m in figures["memory"].items():
        if "start_mb" in m:
            print(f"{name:<15} RSS start {m['start_mb']:.0f} MB, end {m['end_mb']:.0f} MB, peak {m['peak_mb']:.0f} MB, "
                  f"growth {m['growth_mb']:+.1f} MB (first vs last {m['span_s']:.0f} s); "
                  f"CPU {m['cpu_percent_of_one_core']}% of one core")
    if not figures["memory"]:
        print("memory: not measured (no process found on the server's ports on this machine)")
    if figures["windows"]:
        names = list(figures["windows"][0]["cpu_percent_of_one_core"])
        print(f"\n{'window':<14}{'turns/s':>8}{'errors':>8}{'p50 ms':>8}{'p95 ms':>8}  CPU % of one core: "
              + ", ".join(names) + "; RSS MB at the end: " + ", ".join(figures["windows"][0]["rss_mb_at_end"]))
        for w in figures["windows"]:
            cells = "".join(f"{w[k]:>8.0f}" if w[k] is not None else f"{'-':>8}" for k in ("p50_ms", "p95_ms"))
            shares = ", ".join("-" if (v := w["cpu_percent_of_one_core"][name]) is None else str(v) for name in names)
            span = f"{w['from_s']:.0f}–{w['to_s']:.0f} s"
            memory = ", ".join("-" if mb is None else f"{mb:.1f}" for mb in w["rss_mb_at_end"].values())
            print(f"{span:<14}{w['turns_per_s']:>8.1f}{w['errors']:>8}{cells}  {shares}; {memory}")


def local_pids(ports: dict[str, int]) -> dict[str, int]:
    return {name: pid for name, port in ports.items() if (pid := pid_on_port(port))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=300, help="measured seconds, after the warm-up")
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--socketio-share", type=float, default=0.3)
    parser.add_argument("--think-ms", type=float, default=0, help="mean pause between a reply and the next turn")
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for a reply")
    parser.add_argument("--conversations", type=Path, default=CONVERSATIONS)
    parser.add_argument("--url", help="a running assistant, e.g. http://127.0.0.1:5005; several replicas: "
                        "comma-separated URLs (each user stays with one)")
    # A running assistant's token comes from the environment: a command line is readable by every local user.
    parser.set_defaults(token=os.environ.get("FANZHA_API_TOKEN"))
    parser.add_argument("--actions-port", type=int, default=5055, help="with --url: the action server's port")
    parser.add_argument("--nlu-pid", type=int, help="with --url: the understanding server's process id (bot.cli.nlu_server)")
    parser.add_argument("--window", type=float, default=300,
                        help="also report each window of this many seconds (when the run has two or more)")
    parser.add_argument("--json", type=Path, help="save the figures here")
    args = parser.parse_args()
    load_conversations(args.conversations)  # a malformed file stops the bench before anything starts
    if args.users < 1 or args.duration <= 0 or args.warmup < 0 or not 0 <= args.socketio_share <= 1:
        parser.error("--users ≥ 1, --duration > 0, --warmup ≥ 0 and 0 ≤ --socketio-share ≤ 1")
    if args.url and not args.token:
        parser.error("--url needs the running assistant's token in FANZHA_API_TOKEN")
    if args.url:
        args.rate_limit_note = "as set on the server (FANZHA_RATE_LIMIT); limited turns count as errors"
        urls = [url.strip().rstrip("/") for url in args.url.split(",") if url.strip()]
        addresses = [urlparse(url) for url in urls]
        ports = {("Rasa server" if len(urls) == 1 else f"Rasa server {n}"): address.port or 80
                 for n, address in enumerate(addresses, 1) if address.hostname in ("127.0.0.1", "localhost", "::1")}
        if ports:
            ports["action server"] = args.actions_port
        pids = local_pids(ports)
        if ports and args.nlu_pid:
            pids["NLU server"] = args.nlu_pid
        figures = asyncio.run(drive(args, urls, pids))
    else:
        sys.path.insert(0, str(ROOT))
        from bot.channels.rate_limit import ALL_OFF
        from tests.assistant import Assistant

        os.environ.update(ALL_OFF)  # every virtual user comes from 127.0.0.1
        args.rate_limit_note = "off for the started assistant (FANZHA_RATE_LIMIT, _ADDRESS and _GLOBAL off)"
        with tempfile.TemporaryDirectory() as tmp:
            assistant = Assistant(Path(tmp), nlu_process="auto")  # the run command's default
            try:
                args.token = assistant.token
                pids = local_pids({"Rasa server": assistant.rasa_port, "action server": assistant.actions_port})
                if (understanding_server := assistant.understanding_server()) is not None:
                    pids["NLU server"] = understanding_server[0]
                figures = asyncio.run(drive(args, [assistant.url], pids))
            finally:
                assistant.stop()
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
