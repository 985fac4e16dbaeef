"""Latency of the WeChat channel's passive reply path, over real HTTP on 127.0.0.1.

    .venv/bin/python bench/wechat_bench.py [--messages 500] [--concurrency 8]

What it measures: the time from sending a signed WeChat text message (as WeChat's servers
send it: signature, timestamp, nonce; in safe mode AES-encrypted with msg_signature) until
the passive reply XML has arrived, for plain and safe mode, once with one message at a time
and once with ``--concurrency`` messages in flight. The channel runs with its masking, XML
checks, de-duplication and reply rendering in a Sanic server in a separate process; the
assistant is a stand-in that answers at once through Rasa's CollectingOutputChannel, so the
figures are the channel's own cost, not Rasa's NLU or policies. Every reply is decrypted and
checked. The goal is p99 < 1 s (WeChat gives up after 5 s).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_wechat_channel import AES_KEY, APP_ID, TOKEN, Platform, text_xml  # noqa: E402  (the platform side, written without wechatpy)

TEXT = "有人打电话说我涉嫌洗钱，让我把钱转到安全账户，验证码是 482915"


def serve(port: int, safe: bool) -> None:
    """The channel in a Sanic server, with a bot stand-in that answers at once."""
    import logging

    from sanic import Sanic

    from bot.channels.rate_limit import ALL_OFF
    from bot.channels.wechat.channel import WeChatChannel

    logging.disable(logging.WARNING)
    os.environ.update(ALL_OFF)  # hundreds of messages a second: the global limit would refuse them
    credentials = {"token": TOKEN, **({"app_id": APP_ID, "aes_key": AES_KEY} if safe else {})}
    channel = WeChatChannel.from_credentials(credentials)

    async def bot(message) -> None:
        await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")

    app = Sanic(f"wechat_bench_{'safe' if safe else 'plain'}")
    app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/wechat")
    app.run(host="127.0.0.1", port=port, access_log=False, debug=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def one_message(session: requests.Session, url: str, platform: Platform) -> float:
    params, body = platform.post_args(text_xml(TEXT))
    started = time.perf_counter()
    resp = session.post(url, params=params, data=body, timeout=10)
    elapsed = time.perf_counter() - started
    resp.raise_for_status()
    reply = platform.read_reply(resp.text)
    if not reply or not reply["Content"].startswith("收到：") or "482915" in reply["Content"]:
        raise SystemExit(f"unexpected reply: {resp.text[:200]}")
    return elapsed


def run(url: str, platform: Platform, messages: int, concurrency: int) -> list[float]:
    if concurrency == 1:
        with requests.Session() as session:
            return [one_message(session, url, platform) for _ in range(messages)]
    sessions = [requests.Session() for _ in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda i: one_message(sessions[i % concurrency], url, platform), range(messages)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    worst = 0.0
    for safe in (False, True):
        port = free_port()
        server = multiprocessing.get_context("spawn").Process(target=serve, args=(port, safe), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{port}/webhooks/wechat/"
        try:
            for _ in range(300):
                try:
                    if requests.get(base, timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            platform = Platform(aes_key=AES_KEY if safe else None)
            run(base + "webhook", platform, 20, 1)  # warm-up
            for concurrency in (1, args.concurrency):
                started = time.perf_counter()
                times = run(base + "webhook", platform, args.messages, concurrency)
                wall = time.perf_counter() - started
                ms = [t * 1000 for t in times]
                worst = max(worst, percentile(ms, 0.99))
                print(
                    f"{'safe (AES)' if safe else 'plain':10} concurrency {concurrency:2}: "
                    f"{len(ms)} messages, p50 {percentile(ms, 0.50):.1f} ms, "
                    f"p95 {percentile(ms, 0.95):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
                    f"max {max(ms):.1f} ms, {len(ms) / wall:.0f} messages/s"
                )
        finally:
            server.terminate()
            server.join(5)
    print(f"goal p99 < 1000 ms: {'met' if worst < 1000 else 'NOT met'} (worst p99 {worst:.1f} ms)")
    return 0 if worst < 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
