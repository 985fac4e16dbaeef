"""Outreach mode for volunteers in community halls, served by the Rasa server itself.

GET /demo                          scenario cards, the quiz, the handouts (projector)
GET /demo/scenario/<code>          one scenario played step by step
GET /demo/quiz                     "是不是诈骗？" cards
GET /demo/handout                  the general printable handout (三不一多, 110/96110, already paid)
GET /demo/handout/<scam type>      one scam type's printable handout
GET /demo/static/<name>            the pages' scripts and styles (bot/channels/static_files.py)
GET /demo/api/scenarios            the scenarios (JSON)
GET /demo/api/scenarios/<code>/steps/<n>   steps 1..n and the live checker's verdict on them
GET /demo/api/quiz                 the quiz messages, without answers
GET /demo/api/quiz/<n>             one message's answer and the live checker's verdict

Nothing is fetched from outside: the pages, scripts and the handouts' QR codes (SVG made
here) all come from this server, so the demo runs on a laptop without internet. The checker
is built on the first API call, off the event loop, and kept.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.outreach.pages import DEFAULT_PUBLIC_URL, Pages, chat_url, static_files
from knowledge.loader import Knowledge, default_knowledge
from knowledge.outreach import Outreach, default_outreach
from knowledge.outreach_view import verdict_view

PUBLIC_URL_ENV = "FANZHA_PUBLIC_URL"
# Only this server's own scripts and styles; inline SVG needs no source.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
HTML = "text/html; charset=utf-8"


class CheckerHolder:
    """One checker per server, built once on first use without blocking other requests."""

    def __init__(self, checker: Any = None) -> None:
        self._checker = checker
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        if self._checker is None:
            async with self._lock:
                if self._checker is None:
                    from knowledge.checker import Checker

                    loop = asyncio.get_running_loop()
                    self._checker = await loop.run_in_executor(None, Checker)
        return self._checker


class OutreachChannel(InputChannel):
    """credentials.yml may set ``public_url`` (where residents reach this server; the QR
    codes point at its /chat); empty: FANZHA_PUBLIC_URL, else http://127.0.0.1:5005."""

    @classmethod
    def name(cls) -> str:
        return "outreach"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(public_url=(credentials or {}).get("public_url") or "")

    def __init__(self, public_url: str = "", checker: Any = None,
                 kb: Knowledge | None = None, outreach: Outreach | None = None) -> None:
        self.public_url = public_url or os.environ.get(PUBLIC_URL_ENV, "") or DEFAULT_PUBLIC_URL
        chat_url(self.public_url)  # a bad address stops the start, not the first print
        self.checker = CheckerHolder(checker)
        self.kb = kb or default_knowledge()
        self.outreach = outreach or default_outreach()

    def url_prefix(self) -> str:
        return "/"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        kb, outreach = self.kb, self.outreach
        files = static_files(HEADERS)
        pages = Pages(kb, outreach, files, self.public_url)
        fixed = {
            "index": pages.index(),
            "quiz": pages.quiz(),
            "handout": pages.general_handout(),
            **{f"scenario/{code}": pages.player(code) for code in outreach.scenarios},
            **{f"handout/{code}": pages.type_handout(code) for code in kb.scam_types},
        }
        demo = Blueprint("outreach", __name__)
        files.add_to(demo)

        def page(key: str) -> HTTPResponse:
            if key not in fixed:
                return response.text("not found", status=404, headers=HEADERS)
            headers = {**HEADERS, "Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"}
            return response.raw(fixed[key], headers=headers, content_type=HTML)

        def api(data: Any, status: int = 200) -> HTTPResponse:
            return response.json(data, status=status, headers={**HEADERS, "Cache-Control": "no-store"})

        @demo.route("/demo", methods=["GET"])
        async def index(request: Request) -> HTTPResponse:
            return page("index")

        @demo.route("/demo/quiz", methods=["GET"])
        async def quiz(request: Request) -> HTTPResponse:
            return page("quiz")

        @demo.route("/demo/scenario/<code>", methods=["GET"])
        async def scenario(request: Request, code: str) -> HTTPResponse:
            return page(f"scenario/{code}")

        @demo.route("/demo/handout", methods=["GET"])
        async def general_handout(request: Request) -> HTTPResponse:
            return page("handout")

        @demo.route("/demo/handout/<code>", methods=["GET"])
        async def type_handout(request: Request, code: str) -> HTTPResponse:
            return page(f"handout/{code}")

        @demo.route("/demo/api/scenarios", methods=["GET"])
        async def scenarios(request: Request) -> HTTPResponse:
            return api([
                {"number": number, "code": s.code, "title": s.title, "scam_type": s.scam_type,
                 "scam_name": kb.scam_types[s.scam_type].name, "steps": len(s.steps)}
                for number, s in enumerate(outreach.scenarios.values(), 1)
            ])

        @demo.route("/demo/api/scenarios/<code>/steps/<upto:int>", methods=["GET"])
        async def step(request: Request, code: str, upto: int) -> HTTPResponse:
            found = outreach.scenarios.get(code)
            if found is None:
                return api({"error": f"no scenario '{code}'"}, 404)
            if not 1 <= upto <= len(found.steps):
                return api({"error": f"scenario '{code}' has steps 1 to {len(found.steps)}"}, 404)
            text, offsets = found.conversation(upto)
            verdict = (await self.checker.get()).check(text)
            return api({
                "code": found.code,
                "step": upto,
                "steps": len(found.steps),
                "text": text,
                "messages": [
                    {"who": s.who, "via": s.via, "text": s.text, "start": offset}
                    for s, offset in zip(found.steps[:upto], offsets)
                ],
                "verdict": verdict_view(verdict, kb, outreach, new_from=offsets[-1]),
            })

        @demo.route("/demo/api/quiz", methods=["GET"])
        async def quiz_list(request: Request) -> HTTPResponse:
            return api([{"number": q.number, "from": q.source_kind, "text": q.text} for q in outreach.quiz])

        @demo.route("/demo/api/quiz/<number:int>", methods=["GET"])
        async def quiz_answer(request: Request, number: int) -> HTTPResponse:
            if not 1 <= number <= len(outreach.quiz):
                return api({"error": f"the quiz has messages 1 to {len(outreach.quiz)}"}, 404)
            question = outreach.quiz[number - 1]
            verdict = (await self.checker.get()).check(question.text)
            wording = outreach.quiz_wording
            return api({
                "number": number,
                "text": question.text,
                "scam": question.scam,
                "answer": wording.scam_answer if question.scam else wording.ordinary_answer,
                "why": question.why,
                "verdict": verdict_view(verdict, kb, outreach),
            })

        return demo
