"""Behind a reverse proxy: which forwarded headers Sanic may trust for the client's address.

Without settings, nothing forwarded is trusted: ``request.remote_addr`` is empty and the
socket's peer is the client (bot/channels/client_address.py), so a client cannot pick its own
address with ``X-Forwarded-For``. Behind a proxy, every client would then share the proxy's
address; tell Sanic what the proxy sends, with one of:

- ``FANZHA_PROXIES_COUNT``: how many proxies append to ``X-Forwarded-For`` (nginx with
  ``proxy_add_x_forwarded_for``: 1); the address that many entries from the end is the client.
- ``FANZHA_REAL_IP_HEADER``: a header the proxy sets to the client's address (``X-Real-IP``).
- ``FANZHA_FORWARDED_SECRET``: the secret in the proxy's RFC 7239 ``Forwarded`` header.

They become Sanic's PROXIES_COUNT, REAL_IP_HEADER and FORWARDED_SECRET
(https://sanic.dev/en/guide/advanced/proxy-headers.html) in this process, which the rate
limits per address, the console's login back-off and ``request.scheme`` all read.
"""
from __future__ import annotations

import os
import re
import sys
from typing import Mapping

from sanic.config import DEFAULT_CONFIG

ENV_PROXIES_COUNT = "FANZHA_PROXIES_COUNT"
ENV_REAL_IP_HEADER = "FANZHA_REAL_IP_HEADER"
ENV_FORWARDED_SECRET = "FANZHA_FORWARDED_SECRET"
MAX_PROXIES = 10
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_replaced: dict[str, object] = {}  # Sanic's defaults that install() changed, for uninstall()


class ProxySettingError(ValueError):
    """A proxy setting is malformed; the message names it."""


def sanic_settings(env: Mapping[str, str]) -> dict[str, int | str]:
    """Sanic's config entries for the proxy settings in ``env`` (empty: no proxy)."""
    settings: dict[str, int | str] = {}
    count = (env.get(ENV_PROXIES_COUNT) or "").strip()
    if count and count != "0":
        if not count.isdigit() or not 1 <= int(count) <= MAX_PROXIES:
            raise ProxySettingError(f"{ENV_PROXIES_COUNT} must be the number of proxies in front (1 to {MAX_PROXIES}), or 0")
        settings["PROXIES_COUNT"] = int(count)
    header = (env.get(ENV_REAL_IP_HEADER) or "").strip()
    if header:
        if not _HEADER_NAME.match(header):
            raise ProxySettingError(f"{ENV_REAL_IP_HEADER} must be a header name such as X-Real-IP")
        settings["REAL_IP_HEADER"] = header.lower()
    secret = (env.get(ENV_FORWARDED_SECRET) or "").strip()
    if secret:
        settings["FORWARDED_SECRET"] = secret
    return settings


def install(env: Mapping[str, str] = os.environ) -> None:
    """Before Rasa builds its Sanic app: every app created from now on starts from these
    defaults (Sanic's SANIC_<NAME> variables would turn a numeric secret into a number).
    A malformed setting stops the server with the setting's name."""
    try:
        settings = sanic_settings(env)
    except ProxySettingError as error:
        sys.exit(f"fanzha cannot start: {error}")
    _replaced.update({name: DEFAULT_CONFIG.get(name) for name in settings if name not in _replaced})
    DEFAULT_CONFIG.update(settings)


def uninstall() -> None:
    DEFAULT_CONFIG.update(_replaced)
    _replaced.clear()
