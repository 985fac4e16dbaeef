"""The outreach pages' HTML: the scenario list, the player and quiz shells, the handouts.

Handouts are rendered here in full (they must print without scripts); the player and the
quiz are shells whose scripts fetch the live checker's answers from the outreach API.
Every text on them comes from knowledge/*.yml; the templates in bot/channels/outreach/assets/ hold only
the layout and the controls.
"""
from __future__ import annotations

import re
from html import escape
from pathlib import Path
from string import Template

import segno

from bot.channels.static_files import StaticFiles, files_in
from knowledge.loader import Knowledge
from knowledge.outreach import Outreach

OUTREACH_DIR = Path(__file__).resolve().parent / "assets"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5005"
_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")


def static_files(headers: dict[str, str], directory: Path = OUTREACH_DIR) -> StaticFiles:
    """The scripts and styles under ``directory`` at /demo/static/ (templates are not served as files)."""
    return StaticFiles("/demo/static", files_in(directory, (".js", ".css")), headers, versioned=True)


def chat_url(public_url: str) -> str:
    """The web chat's address for the handouts' QR code."""
    if not _URL.match(public_url):
        raise ValueError(f"outreach: public_url must look like http(s)://host[/prefix], got {public_url!r}")
    return public_url.rstrip("/") + "/chat"


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as inline SVG (sized by CSS, crisp when printed)."""
    return segno.make(url, error="m").svg_inline(
        border=2, omitsize=True, svgclass="qr", lineclass="qr-dark", title=url
    )


class Pages:
    """Renders the pages once; they only change when the knowledge files do."""

    def __init__(self, kb: Knowledge, outreach: Outreach, files: StaticFiles, public_url: str) -> None:
        self.kb = kb
        self.outreach = outreach
        self.files = files
        self.chat_url = chat_url(public_url)
        self.qr = qr_svg(self.chat_url)

    def _static(self, name: str) -> str:
        return self.files.url(name)

    def _page(self, template: str, **values: str) -> bytes:
        text = Template((OUTREACH_DIR / template).read_text(encoding="utf-8")).substitute(
            css_url=self._static("outreach.css"), verdict_js_url=self._static("verdict.js"), **values
        )
        return text.encode("utf-8")

    # --- projector pages -----------------------------------------------------------------

    def index(self) -> bytes:
        cards = []
        for number, scenario in enumerate(self.outreach.scenarios.values(), 1):
            scam = self.kb.scam_types[scenario.scam_type]
            cards.append(
                f'<li class="card"><a class="card-play" href="/demo/scenario/{escape(scenario.code)}">'
                f'<span class="card-number">{number}</span>'
                f'<span class="card-type">{escape(scam.name)}</span>'
                f'<span class="card-title">{escape(scenario.title)}</span></a>'
                f'<a class="card-handout" href="/demo/handout/{escape(scam.code)}">宣传单</a></li>'
            )
        handouts = "".join(
            f'<li><a href="/demo/handout/{escape(code)}">{escape(scam.name)}</a></li>'
            for code, scam in self.kb.scam_types.items()
        )
        return self._page("index.html", cards="\n".join(cards), handouts=handouts)

    def player(self, code: str) -> bytes:
        scenario = self.outreach.scenarios[code]
        scam = self.kb.scam_types[scenario.scam_type]
        return self._page(
            "scenario.html",
            code=escape(scenario.code),
            title=escape(scenario.title),
            scam_name=escape(scam.name),
            resident=escape(scenario.resident),
            scammer=escape(scenario.scammer),
            setting=escape(scenario.setting),
            steps=str(len(scenario.steps)),
            js_url=self._static("demo.js"),
        )

    def quiz(self) -> bytes:
        return self._page("quiz.html", count=str(len(self.outreach.quiz)), js_url=self._static("quiz.js"))

    # --- handouts ------------------------------------------------------------------------

    def _handout(self, title: str, sections: list[str], sources: list[str], side: str = "") -> bytes:
        wording = self.outreach.handout
        numbers = self._numbers()
        app = self.kb.contacts[wording.app_contact]
        return self._page(
            "handout.html",
            title=escape(title),
            sections="\n".join(sections),
            numbers=numbers + side,
            app=f"<p class=\"app\"><b>{escape(app.name)}</b>：{escape(app.voice)}</p>",
            qr=self.qr,
            qr_caption=escape(wording.qr_caption),
            chat_url=escape(self.chat_url),
            sources=escape(wording.source_label) + "：" + "；".join(escape(s) for s in sources),
        )

    def _numbers(self) -> str:
        wording = self.outreach.handout
        rows = "".join(
            f'<li><span class="number">{escape(c.number or "")}</span>'
            f'<span class="number-say">{escape(c.voice)}</span></li>'
            for c in (self.kb.contacts[i] for i in wording.numbers)
        )
        return f'<h2>{escape(wording.numbers_title)}</h2><ul class="numbers">{rows}</ul>'

    @staticmethod
    def _section(title: str, items: tuple[str, ...] | list[str], kind: str = "ul", cls: str = "") -> str:
        lines = "".join(f"<li>{escape(item)}</li>" for item in items)
        attr = f' class="h-{cls}"' if cls else ""
        return f"<section{attr}><h2>{escape(title)}</h2><{kind}>{lines}</{kind}></section>"

    def general_handout(self) -> bytes:
        wording = self.outreach.handout
        procedures = self.kb.procedures
        sections = [
            self._section(wording.slogan_title, wording.slogan, "ol", "slogan"),
            self._section(wording.paid_title, procedures.situations["already_paid"].say, "ol", "paid"),
            self._section(wording.never_title, wording.never, "ul", "never"),
        ]
        source = self.outreach.source
        return self._handout(
            wording.general_title, sections,
            [f"{source.publisher}《{source.title}》（{source.date}）"],
        )

    def type_handout(self, code: str) -> bytes:
        wording = self.outreach.handout
        scam = self.kb.scam_types[code]
        sections = [
            f'<p class="lead">{escape(scam.description)}</p>',
            f'<p class="h-official">{escape(scam.official_line)}</p>',
            self._section(wording.stages_title, scam.stages, "ol", "stages"),
            self._section(wording.flags_title, [f.label for f in scam.red_flags], "ul", "flags"),
            self._section(wording.advice_title, scam.advice_not_paid, "ol", "advice"),
        ]
        paid = self._section(wording.paid_title, self.kb.procedures.situations["already_paid"].voice, "ol", "paid")
        return self._handout(
            wording.type_title.format(name=scam.name), sections,
            [f"{scam.source.publisher}《{scam.source.title}》（{scam.source.date}）"], side=paid,
        )
