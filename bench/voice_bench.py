"""Latency of the phone line's webhook turns, with a bot stand-in that answers at once.

    .venv/bin/python bench/voice_bench.py [--calls 200] [--concurrency 1]

Serves the voice channel on a loopback port (Sanic, as in Rasa) and plays calls the way
Twilio does: signed form posts, TwiML read back. Each call is greeting → speech → key 1 →
low-confidence speech → confirm with 1 → silence → *; every webhook is one sample. The bot
stand-in replies with the domain's capabilities response (text, list, three buttons) and a
contact's phone advice, so the figures are the channel's own cost (signature check, state,
speech conversion, TwiML), not Rasa's: add the REST figures for a whole turn.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rasa.core.channels.channel import UserMessage  # noqa: E402
from sanic import Sanic  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bot.channels.rate_limit import ALL_OFF  # noqa: E402
from bot.channels.voice.channel import VoiceChannel  # noqa: E402
from bot.channels.voice.twiml import VoiceSettings  # noqa: E402
from knowledge.loader import KNOWLEDGE_DIR, load_contacts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
PUBLIC = "https://voice.example.org"
WEBHOOK = "/webhooks/voice/webhook"
STEPS = [
    ("greeting", {}),
    ("speech", {"SpeechResult": "有人说我涉嫌洗钱，让我把钱转到安全账户", "Confidence": "0.91"}),
    ("key", {"Digits": "1"}),
    ("low confidence", {"SpeechResult": "我刚才转了五千", "Confidence": "0.32"}),
    ("confirm", {"Digits": "1"}),
    ("silence", {}),
    ("repeat", {"Digits": "*"}),
]


def stand_in_bot():
    domain = yaml.safe_load((ROOT / "bot/domain/core.yml").read_text(encoding="utf-8"))
    reply = [domain["responses"]["utter_capabilities"][0], {"text": load_contacts(KNOWLEDGE_DIR / "contacts.yml")["police_110"].voice}]

    async def bot(message: UserMessage) -> None:
        for part in reply:
            await message.output_channel.send_response(message.sender_id, dict(part))

    return bot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def play_call(session: aiohttp.ClientSession, url: str, call_sid: str, samples: dict[str, list[float]]) -> None:
    validator = RequestValidator(TOKEN)
    for kind, fields in STEPS:
        data = {"CallSid": call_sid, "From": "+8613800000000", "To": "+8657196110", "CallStatus": "in-progress", **fields}
        headers = {"X-Twilio-Signature": validator.compute_signature(PUBLIC + WEBHOOK, data)}
        started = time.perf_counter()
        async with session.post(url, data=data, headers=headers) as resp:
            body = await resp.text()
        samples[kind].append((time.perf_counter() - started) * 1000)
        if resp.status != 200 or "<Response>" not in body:
            raise RuntimeError(f"{kind}: HTTP {resp.status} {body[:200]}")


async def run(calls: int, concurrency: int) -> dict[str, list[float]]:
    logging.getLogger("sanic").setLevel(logging.WARNING)
    os.environ.update(ALL_OFF)  # hundreds of turns a second: the global limit would refuse them
    channel = VoiceChannel(VoiceSettings(public_url=PUBLIC), TOKEN)
    app = Sanic("voice_bench")
    app.blueprint(channel.blueprint(stand_in_bot()), url_prefix="/webhooks/voice")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, access_log=False, return_asyncio_server=True)
    await server.startup()
    samples: dict[str, list[float]] = defaultdict(list)
    url = f"http://127.0.0.1:{port}{WEBHOOK}"
    try:
        async with aiohttp.ClientSession() as session:
            await play_call(session, url, "CAwarmup", defaultdict(list))
            for first in range(0, calls, concurrency):
                batch = range(first, min(calls, first + concurrency))
                await asyncio.gather(*(play_call(session, url, f"CA{i:032d}", samples) for i in batch))
    finally:
        server.close()
        await server.wait_closed()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1, help="calls in progress at once")
    args = parser.parse_args()
    samples = asyncio.run(run(args.calls, args.concurrency))
    every = [value for values in samples.values() for value in values]
    print(f"voice webhook turns: {args.calls} calls, {len(every)} requests, {args.concurrency} call(s) at once")
    print(f"{'turn':<16}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}")
    for kind, values in [*samples.items(), ("all", every)]:
        print(f"{kind:<16}{statistics.median(values):>8.1f}{percentile(values, 0.95):>8.1f}{percentile(values, 0.99):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
