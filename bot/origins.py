"""Which other web sites may talk to the assistant from a browser.

``FANZHA_WIDGET_ORIGINS``: the origins of the sites that embed the web widget and talk to the
server from their own pages, separated by spaces or commas, e.g.
``https://www.example.gov.cn https://fanzha.example.org``. Default: none, so only pages the
server serves itself (``/chat``, the widget's frame) may call it. scripts/run.sh passes them to
Rasa's ``--cors``; the socket.io channel refuses connections from any other origin (browsers
do not apply CORS to WebSockets, so the server has to check).

``python -m bot.origins`` prints the origins one a line for scripts/run.sh; a malformed
setting is an error (exit 2) that names it.
"""
from __future__ import annotations

import os
import re
import sys
from typing import Any, Mapping

ENV_WIDGET_ORIGINS = "FANZHA_WIDGET_ORIGINS"
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(?::\d{1,5})?$")


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
