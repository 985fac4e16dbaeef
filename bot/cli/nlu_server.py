"""The understanding server: the model answering only Rasa's ``POST /model/parse``, on a Unix
socket (started by scripts/run.sh; the Rasa server asks it through bot/rasa_patches/nlu_offload.py).

    python -m bot.cli.nlu_server --model models/fanzha.tar.gz --socket /run/fanzha-nlu/nlu.sock

A Unix socket in a folder only this user can open, not a TCP port: any local process can bind a
free port first and would be sent every resident's message and obeyed, whereas nobody else can
put a socket in that folder, and nobody else can reach this one. So it needs no API token.

The model is loaded as the Rasa server loads it (bot/cli/rasa_server.py) before the socket exists:
once the socket is there, it answers. Exit status 2: a setting that a restart cannot fix.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from bot import rasa_patches
from bot.services.owner_only import why_folder_is_unsafe

# Sanic binds "<path>.<43 random characters>" first, then renames it; sun_path holds 107 bytes.
MAX_SOCKET_PATH = 107 - 44
MAX_BODY_BYTES = 1024 * 1024  # one message cut to 2,000 characters is a few KB


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.cli.nlu_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the trained model (.tar.gz)")
    parser.add_argument("--socket", required=True, help="the Unix socket to serve on, in a folder only this user can open")
    # rasa's --quiet and --verbose, as scripts/run.sh gives both servers; no --debug, which logs residents' words.
    level = parser.add_mutually_exclusive_group()
    level.add_argument("--quiet", dest="loglevel", action="store_const", const=logging.WARNING)
    level.add_argument("--verbose", dest="loglevel", action="store_const", const=logging.INFO)
    return parser.parse_args(argv)


def serve(model: str, socket_path: str) -> None:
    from rasa.core.agent import Agent
    from sanic import Sanic, response
    from sanic.exceptions import InvalidUsage
    from sanic.request import Request

    agent = Agent.load(model)
    app = Sanic("fanzha_nlu")
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES

    @app.post("/model/parse")
    async def parse(request: Request) -> Any:
        """Rasa's /model/parse (rasa/server.py): the same answer for ``{"text": …}``."""
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise InvalidUsage('the body must be {"text": "…"}')
        return response.json(await agent.parse_message(body["text"]))

    app.run(unix=socket_path, access_log=False, motd=False)


def main(argv: list[str]) -> int:
    args = arguments(argv)
    socket_path = os.path.realpath(args.socket)
    problem = why_folder_is_unsafe(os.path.dirname(socket_path))
    if problem or len(socket_path.encode()) > MAX_SOCKET_PATH:
        print(f"The understanding server cannot serve on {socket_path}: "
              f"{problem or f'the path is longer than {MAX_SOCKET_PATH} bytes'}", file=sys.stderr)
        return 2
    # Set up as rasa's command line sets up the Rasa server (bot/cli/rasa_server.py), so that both
    # understand a message alike and log no more than it: Rasa's debug log has residents' words.
    rasa_patches.install(rasa_patches.FOR_UNDERSTANDING)  # first: before TensorFlow is imported
    from rasa.utils import common, io, log_utils
    from rasa.utils.tensorflow import environment

    common.configure_logging_and_warnings(args.loglevel)
    io.configure_colored_logging(args.loglevel)
    log_utils.configure_structlog(args.loglevel)
    environment.setup_tf_environment()
    serve(args.model, socket_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
