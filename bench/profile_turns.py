"""Where a turn's time goes in the Rasa server: NLU, dialogue policies, the action call, the
tracker store.

    .venv/bin/python bench/profile_turns.py [--turns 300]

Starts the assistant with the run command (with its understanding server, which is not
sampled: NLU then shows only when the Rasa server parses a message itself), sends REST turns that run a custom action
(action_check_scam) while py-spy samples the Rasa server, then prints each stage's share of
the server's busy time (a sample counts for a stage when the stage's function is on its stack)
and the functions that were busiest on their own.
"""
from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rest_bench import ACTION_TURNS, percentile  # noqa: E402
from bot.channels.rate_limit import ALL_OFF  # noqa: E402
from tests.assistant import Assistant  # noqa: E402

# Stage -> the Rasa function whose presence on the stack marks it.
STAGES = {
    "NLU (parse the message)": "_parse_message_with_graph (rasa/core/processor.py",
    "asking the understanding server (bot/rasa_patches/nlu_offload.py)": "parse (bot/rasa_patches/nlu_offload.py",
    "policies (predict each next action)": "_predict_next_with_tracker (rasa/core/processor.py",
    "  of which TensorFlow (DIET, ResponseSelector, TED)": "run_inference (rasa/utils/tensorflow/models.py",
    "action server call (waiting for it is not counted)": "_guarded_run (bot/rasa_patches/action_guard.py",
    "  of which checking its answer against Rasa's schema": "_validate_action_result (",
    "tracker store: read": "retrieve (rasa/core/tracker_store.py",
    "tracker store: write": "save (rasa/core/tracker_store.py",
}
TURN = "handle_message (rasa/core/processor.py"


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not found:
        sys.exit("py-spy is not installed: run 'make install' (it is in the test extras)")
    return found


def record(turns: int, out: Path) -> list[float]:
    os.environ.update(ALL_OFF)  # hundreds of turns from one address in a minute
    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant(Path(tmp), nlu_process="auto")  # the run command's default
        try:
            pid = subprocess.run(["fuser", f"{assistant.rasa_port}/tcp"], capture_output=True, text=True).stdout.split()[0]
            url = f"{assistant.url}/webhooks/rest/webhook"
            for i in range(20):  # warm up: traced graphs, connections
                requests.post(url, json={"sender": f"warm-{i}", "message": ACTION_TURNS[i % len(ACTION_TURNS)]}, timeout=30)
            spy = subprocess.Popen([py_spy(), "record", "-p", pid, "-f", "raw", "-o", str(out), "-r", "200",
                                    "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            latencies = []
            for i in range(turns):
                started = time.perf_counter()
                requests.post(url, json={"sender": f"bench-{i % 20}", "message": ACTION_TURNS[i % len(ACTION_TURNS)]},
                              timeout=30).raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        finally:
            assistant.stop()
    return latencies


ROOT = Path(__file__).resolve().parent.parent


def frame_name(frame: str) -> str:
    """'func (…/site-packages/rasa/x.py:12)' -> 'func (rasa/x.py'; the project's own files from its root."""
    name, _, where = frame.partition(" (")
    path = where.split(":")[0].split("site-packages/")[-1].replace(f"{ROOT}/", "")
    return f"{name} ({path}"


def report(raw: Path, turns: int, latencies: list[float]) -> None:
    busy = 0
    in_turn = 0
    stages: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame_name(frame) for frame in stack.split(";")]
        if frames[-1].startswith("serve ("):  # the event loop waiting: not work
            continue
        samples = int(count)
        busy += samples
        in_turn += samples * any(frame.startswith(TURN) for frame in frames)
        own[frames[-1]] += samples
        for stage, marker in STAGES.items():
            if any(frame.startswith(marker) for frame in frames):
                stages[stage] += samples
    seconds = busy / 200
    print(f"{turns} turns that run a custom action: p50 {percentile(latencies, 0.5):.0f} ms, "
          f"p95 {percentile(latencies, 0.95):.0f} ms; Rasa server busy {seconds / turns * 1000:.0f} ms a turn")
    print(f"share of the server's busy time (turn handling {in_turn / busy:.0%}):")
    for stage in STAGES:
        print(f"  {stage:<52} {stages[stage] / busy:5.1%}  ({stages[stage] / 200 / turns * 1000:.1f} ms a turn)")
    print("busiest functions on their own:")
    for name, samples in own.most_common(8):
        print(f"  {samples / busy:5.1%}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        latencies = record(args.turns, raw)
        report(raw, args.turns, latencies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
