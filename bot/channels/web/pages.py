"""The web chat's pages, served by the Rasa server itself.

GET  /chat          the full chat page (call bar rendered here from knowledge/contacts.yml)
GET  /widget.js     the loader another site embeds with one script tag
GET  /static/…      styles, scripts and the vendored socket.io client (bot/channels/static_files.py)
POST /chat/mask     the masked form of a typed message, so the page keeps no secrets

The conversation itself runs over the socket.io channel (bot/channels/web/socketio.py), pictures
too (POST /webhooks/socketio/picture); this channel only serves files, so it never calls
Rasa's message handler. The page's texts about pictures come from bot/channels/notices.yml.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from string import Template
from typing import Any, Awaitable, Callable, Mapping

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.masking import MAX_MESSAGE_CHARS, clean_text
from bot.channels.notices import PictureNotices, load_notices
from bot.channels.static_files import CONTENT_TYPES, StaticFiles, files_in
from bot.channels.web.socketio import PICTURE_PATH, SocketIOChannel
from bot.services.pictures import MAX_PICTURE_BYTES
from knowledge.loader import KNOWLEDGE_DIR, Contact, load_contacts

WEB_DIR = Path(__file__).resolve().parent / "assets"
STATIC_DIR = WEB_DIR / "static"
# The numbers on the page's call bar, in this order (ids in knowledge/contacts.yml).
CALL_BAR = ("police_110", "antifraud_96110")

PLAIN_TEXT_NAMES = {"LICENSE"}  # served so the vendored licence travels with the code

# Static URLs in the page carry ?v=<content hash>, so they can be cached for good; the page
# and the embed loader keep fixed URLs and are revalidated (ETag) instead.
CACHE_PAGE = "no-cache"
CACHE_LOADER = "public, max-age=300"
# Only this server's own scripts, styles and socket; any site may frame the chat (the embed).
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors *"
)
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# Channels cut a message at MAX_MESSAGE_CHARS; a body far beyond that is refused.
MAX_MASK_BODY = 64 * MAX_MESSAGE_CHARS


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str

    @property
    def version(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:16]

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def call_bar(contacts: Mapping[str, Contact]) -> str:
    """The tel: links at the top of the page, worded as contacts.yml words them."""
    links = []
    for contact_id in CALL_BAR:
        contact = contacts.get(contact_id)
        if contact is None or not contact.number:
            raise ValueError(f"knowledge/contacts.yml: the call bar needs '{contact_id}' with a number")
        links.append(
            f'<a class="call call-{escape(contact.id)}" href="tel:{escape(contact.number)}">'
            f'<span class="call-name">{escape(contact.name)}</span>'
            f'<span class="call-hint">{escape(contact.voice)}</span></a>'
        )
    return "\n      ".join(links)


def picture_texts(notices: PictureNotices) -> str:
    """What the page says about a picture before (or without) the server's answer, as JSON."""
    texts = {"sent": notices.sent, "reading": notices.reading, "failed": notices.refusal("failed"),
             "not_image": notices.refusal("not_image"), "too_big": notices.refusal("too_big")}
    return json.dumps(texts, ensure_ascii=False)


def render_chat_page(files: StaticFiles, contacts: Mapping[str, Contact], socketio_path: str) -> Asset:
    page = Template((WEB_DIR / "chat.html").read_text(encoding="utf-8")).substitute(
        call_bar=call_bar(contacts),
        socketio_path=escape(socketio_path),
        mask_url="/chat/mask",
        picture_url=f"/webhooks/{SocketIOChannel.name()}{PICTURE_PATH}",
        picture_max_bytes=MAX_PICTURE_BYTES,
        picture_texts=escape(picture_texts(load_notices().picture)),
        css_url=files.url("chat.css"),
        socketio_js_url=files.url("vendor/socket.io.min.js"),
        chat_js_url=files.url("chat.js"),
    )
    return Asset(page.encode("utf-8"), CONTENT_TYPES[".html"])


def _if_none_match(request: Request) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}


def send_asset(request: Request, asset: Asset, cache_control: str, **headers: str) -> HTTPResponse:
    all_headers = {**COMMON_HEADERS, **headers, "Cache-Control": cache_control, "ETag": asset.etag}
    if asset.etag in _if_none_match(request):
        return response.empty(status=304, headers=all_headers)
    return response.raw(asset.body, headers=all_headers, content_type=asset.content_type)


class WebPagesChannel(InputChannel):
    """Serves the web chat; credentials.yml may set ``socketio_path`` (default /socket.io)."""

    @classmethod
    def name(cls) -> str:
        return "web_pages"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        return cls(socketio_path=credentials.get("socketio_path", "/socket.io"))

    def __init__(self, socketio_path: str = "/socket.io") -> None:
        if not isinstance(socketio_path, str) or not socketio_path.startswith("/"):
            raise ValueError(f"web_pages: socketio_path must start with '/', got {socketio_path!r}")
        self.socketio_path = socketio_path

    def url_prefix(self) -> str:
        # The pages live at the server root (/chat, /widget.js), not under /webhooks/.
        return "/"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        files = StaticFiles("/static", files_in(STATIC_DIR, CONTENT_TYPES, PLAIN_TEXT_NAMES), COMMON_HEADERS,
                            versioned=True)
        page = render_chat_page(files, load_contacts(KNOWLEDGE_DIR / "contacts.yml"), self.socketio_path)
        loader = Asset((WEB_DIR / "widget.js").read_bytes(), CONTENT_TYPES[".js"])
        web = Blueprint("web_pages", __name__)
        files.add_to(web)

        @web.route("/chat", methods=["GET"])
        async def chat(request: Request) -> HTTPResponse:
            return send_asset(request, page, CACHE_PAGE, **{"Content-Security-Policy": PAGE_POLICY})

        @web.route("/widget.js", methods=["GET"])
        async def widget(request: Request) -> HTTPResponse:
            # Loaded by other sites' pages, so it must be readable cross-origin.
            return send_asset(request, loader, CACHE_LOADER, **{"Cross-Origin-Resource-Policy": "cross-origin"})

        @web.route("/chat/mask", methods=["POST"])
        async def mask(request: Request) -> HTTPResponse:
            headers = {**COMMON_HEADERS, "Cache-Control": "no-store"}
            if len(request.body or b"") > MAX_MASK_BODY:
                return response.json({"error": "message too long"}, status=413, headers=headers)
            try:
                text = json.loads(request.body or b"")["text"]
                if not isinstance(text, str):
                    raise TypeError("text is not a string")
            except (ValueError, KeyError, TypeError):
                return response.json({"error": 'expected JSON {"text": "..."}'}, status=400, headers=headers)
            return response.json({"text": clean_text(text)[0]}, headers=headers)

        return web
