"""The channels' static files (bot/channels/static_files.py): only listed files, with the
channel's headers and the versioned cache policy."""
from __future__ import annotations

from pathlib import Path

import pytest
from sanic import Blueprint, Sanic, response

from bot.channels.static_files import CACHE_IMMUTABLE, StaticFiles, files_in

Sanic.test_mode = True
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "vendor").mkdir(parents=True)
    (site / "app.js").write_text("console.log('hi');\n")
    (site / "style.css").write_text("body { color: black; }\n")
    (site / "page.html").write_text("<p>a template, not a file to serve</p>\n")
    (site / "vendor" / "lib.js").write_text("var lib = 1;\n")
    (site / "vendor" / "LICENSE").write_text("MIT License\n")
    (site / "vendor" / "README.md").write_text("where lib.js comes from\n")
    (tmp_path / "secret.yml").write_text("token: do-not-serve\n")
    (site / "escape.js").symlink_to(tmp_path / "secret.yml")  # listed by name, but a link out of the folder
    return site


def make_app(files: StaticFiles) -> Sanic:
    app = Sanic(f"static_{id(files)}")
    blueprint = Blueprint("channel", __name__)
    files.add_to(blueprint)

    @blueprint.route("/api/other")
    async def other(request):
        return response.json({"ok": True})

    app.blueprint(blueprint, url_prefix="/")  # as Rasa mounts the channels
    return app


def test_files_in_lists_only_the_wanted_kinds(folder: Path) -> None:
    assert set(files_in(folder, (".js", ".css"))) == {"app.js", "style.css", "vendor/lib.js"}
    assert "vendor/LICENSE" in files_in(folder, (".js",), names={"LICENSE"})


def test_listed_files_are_served_with_their_type_headers_and_cache(folder: Path) -> None:
    files = StaticFiles("/assets", files_in(folder, (".js", ".css"), names={"LICENSE"}), HEADERS, versioned=True)
    client = make_app(files).test_client
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css"), ("vendor/lib.js", "text/javascript"),
                       ("vendor/LICENSE", "text/plain")):
        _, versioned = client.get(files.url(name))
        assert versioned.status == 200, name
        assert versioned.body == (folder / name).read_bytes()
        assert versioned.headers["content-type"] == f"{kind}; charset=utf-8", name
        assert versioned.headers["x-content-type-options"] == "nosniff"
        assert versioned.headers["referrer-policy"] == "no-referrer"
        assert versioned.headers["cache-control"] == CACHE_IMMUTABLE, name
        _, plain = client.get(f"/assets/{name}")
        assert plain.headers["cache-control"] == "no-cache", "an unversioned URL must be revalidated"
        _, stale = client.get(f"/assets/{name}?v=0000000000000000")
        assert stale.headers["cache-control"] == "no-cache", "an old version must not be cached for good"
        _, again = client.get(f"/assets/{name}", headers={"If-Modified-Since": plain.headers["last-modified"]})
        assert again.status == 304 and not again.body
        assert again.headers["x-content-type-options"] == "nosniff"
    _, other = client.get("/api/other")
    assert "x-content-type-options" not in other.headers, "only the set's own files get its headers"


def test_nothing_else_is_served(folder: Path) -> None:
    files = StaticFiles("/assets", files_in(folder, (".js", ".css")), HEADERS, versioned=True)
    client = make_app(files).test_client
    for path in ("/assets/page.html", "/assets/vendor/README.md", "/assets/vendor/LICENSE", "/assets/nothing.js",
                 "/assets/../secret.yml", "/assets/%2e%2e/secret.yml", "/assets/vendor/..%2f..%2fsecret.yml",
                 "/assets/escape.js", "/assets/app.js/", "/assets//app.js", "/assets"):
        _, reply = client.get(path)
        assert reply.status == 404, path
        assert b"do-not-serve" not in reply.body


def test_a_fixed_policy_applies_to_every_file_when_not_versioned(folder: Path) -> None:
    headers = {**HEADERS, "Cache-Control": "no-store", "X-Frame-Options": "DENY"}
    files = StaticFiles("/console/assets", {"app.js": folder / "app.js"}, headers, versioned=False)
    _, reply = make_app(files).test_client.get("/console/assets/app.js")
    assert reply.status == 200
    assert reply.headers["cache-control"] == "no-store" and reply.headers["x-frame-options"] == "DENY"
    with pytest.raises(KeyError):
        files.url("app.js")  # no versions: the console's pages link the plain URLs
