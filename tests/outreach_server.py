"""The outreach pages alone, for the browser test: a Sanic app with the outreach channel's
blueprint, mounted where the Rasa server mounts it (the pages do not need a Rasa model).

    python -m tests.outreach_server <port> <public_url>
"""
from __future__ import annotations

import sys

from sanic import Sanic

from bot.channels.outreach.channel import OutreachChannel


def main(port: int, public_url: str) -> None:
    channel = OutreachChannel(public_url=public_url)
    app = Sanic("outreach_e2e")
    app.blueprint(channel.blueprint(None), url_prefix=channel.url_prefix())
    app.run(host="127.0.0.1", port=port, access_log=False)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
