"""The agent console alone, for the dashboard's browser test: a Sanic app with the console's
blueprint, mounted where the Rasa server mounts it (the dashboard needs no Rasa model).

    python -m tests.dashboard_server <port>      (FANZHA_DATABASE_URL etc. from the environment)
"""
from __future__ import annotations

import sys

from sanic import Sanic

from bot.channels.console import AgentConsoleChannel


def main(port: int) -> None:
    channel = AgentConsoleChannel()
    app = Sanic("dashboard_e2e")
    app.blueprint(channel.blueprint(None), url_prefix=channel.url_prefix())
    app.run(host="127.0.0.1", port=port, access_log=False)


if __name__ == "__main__":
    main(int(sys.argv[1]))
