"""Files the channels serve as they are (scripts, styles, vendored libraries), by Sanic's static routes.

One Sanic static route per listed file, made at start: a URL reaches a file only if the file
was listed, so nothing else in its folder (page templates, READMEs) is ever served, and no part
of a URL becomes a path on disk (no traversal); anything else is the router's 404.

Each answer gets the channel's security headers. Versioned files: the pages link them as
``<name>?v=<content hash>``; that URL is cached for a year, the same file without the hash
(or with an old one) is revalidated (Sanic's Last-Modified / If-Modified-Since).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Collection, Mapping

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
PLAIN_TEXT = "text/plain; charset=utf-8"
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_REVALIDATE = "no-cache"


def files_in(directory: Path, suffixes: Collection[str], names: Collection[str] = ()) -> dict[str, Path]:
    """The files under ``directory`` with one of ``suffixes`` (or one of ``names``), by their
    path relative to it; a link to a file outside ``directory`` is left out."""
    root = directory.resolve()
    return {
        path.relative_to(directory).as_posix(): path
        for path in sorted(directory.rglob("*"))
        if path.is_file() and (path.suffix in suffixes or path.name in names) and path.resolve().is_relative_to(root)
    }


class StaticFiles:
    """``files`` (URL name → file) served at ``<uri>/<name>`` with ``headers``."""

    def __init__(self, uri: str, files: Mapping[str, Path], headers: Mapping[str, str], versioned: bool) -> None:
        self.uri = uri.rstrip("/")
        self.files = dict(files)
        self.headers = dict(headers)
        # The content hash now, so a page's link matches the file it was rendered with.
        self.versions = {name: hashlib.sha256(path.read_bytes()).hexdigest()[:16]
                         for name, path in self.files.items()} if versioned else {}

    def url(self, name: str) -> str:
        """The versioned URL of ``name`` (KeyError for a file not served)."""
        return f"{self.uri}/{name}?v={self.versions[name]}"

    def add_to(self, blueprint: Blueprint) -> None:
        routes: dict[str, str] = {}  # Sanic's route name → file name
        for name, path in self.files.items():
            route = "static_" + hashlib.sha256(f"{self.uri}/{name}".encode()).hexdigest()[:12]
            blueprint.static(f"{self.uri}/{name}", path, name=route, resource_type="file", strict_slashes=True,
                             content_type=CONTENT_TYPES.get(path.suffix, PLAIN_TEXT))
            routes[route] = name

        @blueprint.middleware("response")
        async def add_headers(request: Request, response: HTTPResponse) -> None:
            # Blueprint middleware runs for all of its routes: only this set's files are touched.
            name = routes.get(request.route.name.rsplit(".", 1)[-1]) if request.route else None
            if name is None:
                return
            response.headers.update(self.headers)
            if self.versions:
                versioned = request.args.get("v") == self.versions[name]
                response.headers["Cache-Control"] = CACHE_IMMUTABLE if versioned else CACHE_REVALIDATE
