"""Which other web sites may talk to the assistant from a browser.

``FANZHA_WIDGET_ORIGINS``: the origins of the sites that embed the web widget and talk to the
server from their own pages, separated by spaces or commas, e.g.
``https://www.example.gov.cn https://fanzha.example.org``. Default: none, so only pages the
server serves itself (``/chat``, the widget's frame) may call it. The socket.io channel refuses
connections from any other origin (browsers do not apply CORS to WebSockets, so the server has
to check) and REST refuses their posts.

CORS headers go to these origins on the widget's routes only, never with credentials: the REST
webhook here (:func:`configure_widget_cors`, which replaces Rasa's ``--cors``) and socket.io in
its channel. Rasa's ``--cors`` sent them on every route, the HTTP API and ``/console`` included,
with ``Access-Control-Allow-Credentials``: a script on a widget site of the same registrable
domain (www.example.gov.cn beside fanzha.example.gov.cn, where SameSite lets the cookie through)
could have read the console as a logged-in agent.

``python -m bot.rasa_patches.origins`` prints the origins one a line (scripts/run.sh runs it to check the
setting before starting anything); a malformed setting is an error (exit 2) that names it.
"""
from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, Mapping

logger = logging.getLogger(__name__)

ENV_WIDGET_ORIGINS = "FANZHA_WIDGET_ORIGINS"
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(?::\d{1,5})?$")
# The routes a widget site's own scripts call besides socket.io (CORS in its channel).
WIDGET_ROUTES = r"/webhooks/rest/.*"


class OriginsError(ValueError):
    """FANZHA_WIDGET_ORIGINS holds something that is not an origin."""


def widget_origins(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    origins: list[str] = []
    for item in re.split(r"[\s,]+", env.get(ENV_WIDGET_ORIGINS, "").strip()):
        if not item:
            continue
        origin = item.rstrip("/")
        if not _ORIGIN.match(origin):
            raise OriginsError(
                f"{ENV_WIDGET_ORIGINS}: {item!r} is not an origin; write scheme://host[:port] "
                "without a path, for example https://www.example.gov.cn ('*' is not allowed)"
            )
        if origin.lower() not in origins:
            origins.append(origin.lower())
    return tuple(origins)


def _own_origins(environ: Mapping[str, Any]) -> set[str]:
    """The server's own origin as the request names it (and as a proxy forwards it)."""
    host = environ.get("HTTP_HOST", "")
    scheme = environ.get("wsgi.url_scheme", "http")
    own = {f"{scheme}://{host}"}
    if "HTTP_X_FORWARDED_PROTO" in environ or "HTTP_X_FORWARDED_HOST" in environ:
        forwarded_scheme = environ.get("HTTP_X_FORWARDED_PROTO", scheme).split(",")[0].strip()
        forwarded_host = environ.get("HTTP_X_FORWARDED_HOST", host).split(",")[0].strip()
        own.add(f"{forwarded_scheme}://{forwarded_host}")
    return {origin.lower() for origin in own}


def origin_allowed(origin: str | None, environ: Mapping[str, Any], allowed: tuple[str, ...]) -> bool:
    """No Origin (not a browser), the server's own origin, or one of the configured ones."""
    if not origin:
        return True
    origin = origin.lower()
    return origin in allowed or origin in _own_origins(environ)


def configure_widget_cors(app: Any, cors_origins: Any = None) -> None:
    """In place of Rasa's ``configure_cors`` (the same signature): the widget origins get CORS
    headers on WIDGET_ROUTES only, without credentials; every other route gets none."""
    from sanic_cors import CORS

    if cors_origins:
        logger.warning("--cors is ignored: the origins come from %s (bot/rasa_patches/origins.py)", ENV_WIDGET_ORIGINS)
    origins = widget_origins()
    if origins:
        CORS(app, resources={WIDGET_ROUTES: {"origins": list(origins)}}, methods=["GET", "POST"], max_age=600,
             supports_credentials=False, automatic_options=True)


_rasa_configure_cors: Any = None


def install() -> None:
    """Rasa's server (rasa.server.create_app and rasa.core.run) calls configure_widget_cors."""
    import rasa.server

    global _rasa_configure_cors
    if rasa.server.configure_cors is not configure_widget_cors:
        _rasa_configure_cors = rasa.server.configure_cors
    rasa.server.configure_cors = configure_widget_cors


def uninstall() -> None:
    import rasa.server

    if _rasa_configure_cors is not None:
        rasa.server.configure_cors = _rasa_configure_cors


def main() -> int:
    try:
        origins = widget_origins()
    except OriginsError as error:
        print(error, file=sys.stderr)
        return 2
    for origin in origins:
        print(origin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
