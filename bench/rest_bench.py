"""Start the assistant with the run command and measure it over REST.

    .venv/bin/python bench/rest_bench.py [--messages 200]

Reports time to ready, the memory of the Rasa, action and understanding (NLU) servers after start, and REST
round-trip latency p50/p95 and the Rasa and NLU servers' CPU time a turn (steady on a busy
machine, where latency is not) for turns that run a custom action (action_check_scam) and for
turns answered from the domain (greetings, FAQ).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_bench import reference_loop_s  # noqa: E402
from bot.channels.rate_limit import ALL_OFF  # noqa: E402
from tests.assistant import Assistant  # noqa: E402

# Each of these is classified check_situation or check_message, so each turn runs the action.
ACTION_TURNS = [
    "有人说我涉嫌洗钱，让我转到安全账户",
    "帮我看看这条短信：【快递】您的包裹丢失，联系理赔客服加QQ办理三倍赔偿",
    "有人加我微信说带我投资赚钱，让我先转五千进去",
    "有人要高价收我的银行卡，一天给500",
]
DOMAIN_TURNS = ["你好", "96110是什么电话", "谢谢你", "国家反诈中心APP怎么下载"]


def rss_mb(port: int | None = None, pid: int | None = None) -> float:
    """Resident memory of the process ``pid``, or of the one listening on ``port`` (from /proc)."""
    if pid is None and port is not None:
        pid = listening_pid(port)
    if pid is None:
        return float("nan")
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of ``pid`` so far (/proc/PID/stat): unlike wall time, steady on a
    machine shared with other work."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_pid(port: int) -> int | None:
    import subprocess

    found = subprocess.run(["fuser", f"{port}/tcp"], capture_output=True, text=True).stdout.split()
    return int(found[0]) if found else None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    os.environ.update(ALL_OFF)  # hundreds of turns from one address in a minute
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        assistant = Assistant(Path(tmp), nlu_process="auto")  # the run command's default
        nlu_up = time.perf_counter() - started
        try:
            print(f"time to ready (run command: Rasa and action servers answer): {assistant.ready_s:.1f} s; "
                  f"understanding (NLU) server up after {nlu_up:.1f} s")
            print(f"memory after start: Rasa server {rss_mb(assistant.rasa_port):.0f} MB, "
                  f"action server {rss_mb(assistant.actions_port):.0f} MB, NLU server {rss_mb(pid=(assistant.understanding_server() or (None,))[0]):.0f} MB")
            servers = {"Rasa": listening_pid(assistant.rasa_port), "NLU": (assistant.understanding_server() or (None,))[0]}
            for name, turns in (("custom action", ACTION_TURNS), ("domain response", DOMAIN_TURNS)):
                latencies = []
                before = {server: cpu_s(pid) for server, pid in servers.items()}
                for i in range(args.messages):
                    t0 = time.perf_counter()
                    requests.post(f"{assistant.url}/webhooks/rest/webhook",
                                  json={"sender": f"bench-{i % 20}", "message": turns[i % len(turns)]},
                                  timeout=30).raise_for_status()
                    latencies.append((time.perf_counter() - t0) * 1000)
                cpu = ", ".join(f"{server} {(cpu_s(pid) - before[server]) * 1000 / args.messages:.1f} ms"
                                for server, pid in servers.items())
                print(f"REST round trip, {name} turns ({args.messages}): p50 {statistics.median(latencies):.0f} ms, "
                      f"p95 {percentile(latencies, 0.95):.0f} ms; CPU a turn: {cpu}")
            print(f"reference loop {reference_loop_s():.2f} s (this machine kind's speed varies: higher is slower)")
        finally:
            assistant.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
