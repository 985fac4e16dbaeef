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

from bench.load_bench import cpu_seconds, pid_on_port, reference_loop_s, rss_mb  # noqa: E402
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
            rasa, nlu = pid_on_port(assistant.rasa_port), (assistant.understanding_server() or (None,))[0]
            pids = {"Rasa": rasa, "action": pid_on_port(assistant.actions_port), "NLU": nlu}
            print("memory after start: " + ", ".join(
                f"{server} server {rss_mb(pid) or float('nan'):.0f} MB" for server, pid in pids.items() if pid))
            servers = {server: pid for server, pid in (("Rasa", rasa), ("NLU", nlu)) if pid}  # CPU a turn of these
            for name, turns in (("custom action", ACTION_TURNS), ("domain response", DOMAIN_TURNS)):
                latencies = []
                before = {server: cpu_seconds(pid) or 0.0 for server, pid in servers.items()}
                for i in range(args.messages):
                    t0 = time.perf_counter()
                    requests.post(f"{assistant.url}/webhooks/rest/webhook",
                                  json={"sender": f"bench-{i % 20}", "message": turns[i % len(turns)]},
                                  timeout=30).raise_for_status()
                    latencies.append((time.perf_counter() - t0) * 1000)
                cpu = ", ".join(f"{server} {((cpu_seconds(pid) or 0.0) - before[server]) * 1000 / args.messages:.1f} ms"
                                for server, pid in servers.items())
                print(f"REST round trip, {name} turns ({args.messages}): p50 {statistics.median(latencies):.0f} ms, "
                      f"p95 {percentile(latencies, 0.95):.0f} ms; CPU a turn: {cpu}")
            print(f"reference loop {reference_loop_s():.2f} s (this machine kind's speed varies: higher is slower)")
        finally:
            assistant.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
