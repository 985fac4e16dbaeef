"""The agent console alone, for the console pages' browser tests (trends, warnings): a Sanic app
with the console's blueprint, mounted where the Rasa server mounts it (they need no Rasa model).

    python -m tests.dashboard_server <port>      (FANZHA_DATABASE_URL etc. from the environment)
"""
from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import requests
from sanic import Sanic

from bot.channels.console.channel import AgentConsoleChannel


def main(port: int) -> None:
    channel = AgentConsoleChannel()
    app = Sanic("dashboard_e2e")
    app.blueprint(channel.blueprint(None), url_prefix=channel.url_prefix())
    app.run(host="127.0.0.1", port=port, access_log=False)


@contextmanager
def running(env: Mapping[str, str], port: int) -> Iterator[str]:
    """This server in its own process with ``env``; yields its base URL once it answers."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-m", "tests.dashboard_server", str(port)], cwd=root, env=dict(env),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(base + "/console/login", timeout=2)
            break
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()[-2000:]
            time.sleep(0.3)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    main(int(sys.argv[1]))
