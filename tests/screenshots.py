"""Phone screenshots of chats and text messages, rendered by Debian's Chromium for the OCR tests
and bench/ocr_bench.py.

Each screenshot shows one message from knowledge/examples (a scam or an ordinary one, of kind
"sms" or "chat", so the checker's verdict on the picture can be compared with its verdict on
the typed text) on a phone-sized page (four common phone sizes, 2x and 3x): a status bar, a
header, a time stamp, the message in a bubble and, in some chats, a short reply on the other
side, avatars, emoji; light or dark; an SMS app look or a chat app look. Everything is chosen
by a seeded random generator, so the same seed gives the same pictures.
"""
from __future__ import annotations

import html
import random
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator

from tests.browser import chromium, screenshot

# (CSS width, height, device pixel ratio) of common phones: 1170x2532, 1080x2400, 750x1334, 780x1688.
PHONES = ((390, 844, 3), (360, 800, 3), (375, 667, 2), (390, 844, 2))
LOOKS = ("sms", "chat")
THEMES = ("light", "dark")
MAX_CHARS = 150  # longer examples would not fit one phone screen
# Short replies a resident might have typed back; written for these screenshots.
REPLIES = ("好的", "收到", "嗯嗯", "稍等，我看一下", "什么意思？", "晚点再说吧", "知道了👌")
CHAT_NAMES = ("王姐", "小陈", "张老师", "客服小美", "李先生", "家人群(8)", "业主群(236)", "阿强")
SMS_SENDERS = ("1069 5588 0012", "1065 9021 3377", "10690 7712", "1068 3300 5161", "95xxx")
TIMES = ("今天 09:12", "昨天 21:07", "14:32", "星期二 18:45", "上午 10:03", "晚上 8:26")
CLOCKS = ("9:41", "10:08", "14:26", "21:53", "7:30")


@dataclass(frozen=True)
class Bubble:
    text: str
    outgoing: bool


@dataclass(frozen=True)
class Scene:
    name: str
    look: str  # "sms" | "chat"
    theme: str  # "light" | "dark"
    label: str  # the example's label: a scam type code, "ordinary" or "advert"
    typed: str  # the example text, as a resident would type it
    bubbles: tuple[Bubble, ...]
    header: str
    stamp: str
    clock: str
    battery: int
    phone: tuple[int, int, int]


@dataclass(frozen=True)
class Screenshot:
    scene: Scene
    png: bytes


def scenes(count: int, seed: int = 19, min_chars: int = 6, one_paragraph: bool = False) -> list[Scene]:
    """``count`` scenes, half scams and half not, alternating look and theme, each message at
    least ``min_chars`` characters long (and, with ``one_paragraph``, without a line break)."""
    from knowledge.loader import NOT_SCAM, default_knowledge

    pick = random.Random(seed)
    usable = [e for e in default_knowledge().examples if e.kind in LOOKS and min_chars <= len(e.text) <= MAX_CHARS
              and not (one_paragraph and "\n" in e.text)]
    pools = {
        (look, scam): [e for e in usable if e.kind == look and (e.label not in NOT_SCAM) == scam]
        for look in LOOKS for scam in (True, False)
    }
    chosen: list[Scene] = []
    for i in range(count):
        look, theme, scam = LOOKS[i % 2], THEMES[(i // 2) % 2], (i // 4) % 2 == 0
        example = pools[(look, scam)].pop(pick.randrange(len(pools[(look, scam)])))
        bubbles = [Bubble(example.text, outgoing=not scam and look == "chat" and pick.random() < 0.3)]
        if look == "chat" and pick.random() < 0.5:
            bubbles.append(Bubble(pick.choice(REPLIES), outgoing=not bubbles[0].outgoing))
        chosen.append(Scene(
            name=f"{i:03d}-{look}-{theme}-{example.label}", look=look, theme=theme, label=example.label,
            typed=example.text, bubbles=tuple(bubbles),
            header=pick.choice(SMS_SENDERS if look == "sms" else CHAT_NAMES),
            stamp=pick.choice(TIMES), clock=pick.choice(CLOCKS), battery=pick.randrange(12, 100),
            phone=pick.choice(PHONES),
        ))
    return chosen


def render(chosen: Iterable[Scene]) -> Iterator[Screenshot]:
    """Render each scene in one Chromium page (fonts: fonts-noto-cjk, fonts-noto-color-emoji)."""
    with chromium() as browser:
        pages = {}
        for scene in chosen:
            if scene.phone not in pages:
                width, height, scale = scene.phone
                pages[scene.phone] = browser.new_page(
                    viewport={"width": width, "height": height}, device_scale_factor=scale, locale="zh-CN")
            page = pages[scene.phone]
            page.set_content(page_html(scene))
            yield Screenshot(scene, screenshot(page, type="png"))


def screenshots(count: int, seed: int = 19, min_chars: int = 6, one_paragraph: bool = False) -> list[Screenshot]:
    return list(render(scenes(count, seed, min_chars, one_paragraph)))


COLOURS = {
    ("sms", "light"): dict(bg="#ffffff", fg="#000000", muted="#8e8e93", bar="#f6f6f6", inb="#e9e9eb", inf="#000000",
                           outb="#0a84ff", outf="#ffffff"),
    ("sms", "dark"): dict(bg="#000000", fg="#ffffff", muted="#8e8e93", bar="#1c1c1e", inb="#26252a", inf="#ffffff",
                          outb="#0a84ff", outf="#ffffff"),
    ("chat", "light"): dict(bg="#ededed", fg="#111111", muted="#9a9a9a", bar="#f7f7f7", inb="#ffffff", inf="#111111",
                            outb="#95ec69", outf="#111111"),
    ("chat", "dark"): dict(bg="#111111", fg="#d5d5d5", muted="#6f6f6f", bar="#1e1e1e", inb="#2c2c2c", inf="#d5d5d5",
                           outb="#3eb575", outf="#111111"),
}


def page_html(scene: Scene) -> str:
    c = COLOURS[(scene.look, scene.theme)]
    sms = scene.look == "sms"
    bubbles = "".join(_bubble(b, scene.header, avatar=not sms) for b in scene.bubbles)
    more = "ⓘ" if sms else "⋯"
    if sms:
        compose = '<div class="field">短信</div><div class="icon">⬆</div>'
    else:
        compose = ('<div class="icon">🔊</div><div class="field"></div>'
                   '<div class="icon">😊</div><div class="icon">⊕</div>')
    stamp = ("短信 · " if sms else "") + scene.stamp
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin:0; width:100vw; height:100vh; background:{c['bg']}; color:{c['fg']}; display:flex;
  flex-direction:column; font-family:"Noto Sans CJK SC","Noto Color Emoji",sans-serif; }}
.status {{ height:44px; display:flex; align-items:center; justify-content:space-between;
  padding:0 24px; font-size:15px; font-weight:600; background:{c['bar']}; }}
.header {{ height:48px; display:flex; align-items:center; padding:0 12px; background:{c['bar']};
  border-bottom:1px solid {c['muted']}44; }}
.back {{ font-size:34px; width:40px; color:{'#0a84ff' if sms else c['fg']}; }}
.who {{ flex:1; text-align:center; font-size:17px; font-weight:600; }}
.more {{ width:40px; text-align:right; font-size:18px; white-space:nowrap; }}
.log {{ flex:1; padding:12px; overflow:hidden; }}
.stamp {{ text-align:center; color:{c['muted']}; font-size:12px; margin:8px 0 14px; }}
.row {{ display:flex; align-items:flex-start; margin:10px 0; }}
.row.out {{ flex-direction:row-reverse; }}
.avatar {{ width:40px; height:40px; border-radius:5px; background:#7a9cc6; color:#fff; font-size:18px;
  display:flex; align-items:center; justify-content:center; margin:0 8px; flex:none; }}
.row.out .avatar {{ background:#c69a7a; }}
.bubble {{ max-width:{'75%' if sms else '68%'}; padding:9px 13px; border-radius:{'18px' if sms else '6px'};
  font-size:16px; line-height:1.45; white-space:pre-wrap; word-break:break-word;
  background:{c['inb']}; color:{c['inf']}; }}
.row.out .bubble {{ background:{c['outb']}; color:{c['outf']}; }}
.compose {{ height:56px; display:flex; align-items:center; gap:8px; padding:0 10px 20px;
  background:{c['bar']}; }}
.field {{ flex:1; height:34px; border-radius:17px; border:1px solid {c['muted']}66; color:{c['muted']};
  display:flex; align-items:center; padding-left:12px; font-size:15px; background:{c['bg']}; }}
.icon {{ font-size:22px; width:30px; text-align:center; color:{c['muted']}; }}
</style></head><body>
<div class="status"><span>{scene.clock}</span><span>5G ▂▄▆█ {scene.battery}%</span></div>
<div class="header"><div class="back">‹</div><div class="who">{html.escape(scene.header)}</div>
  <div class="more">{more}</div></div>
<div class="log"><div class="stamp">{html.escape(stamp)}</div>{bubbles}</div>
<div class="compose">{compose}</div>
</body></html>"""


def _bubble(bubble: Bubble, header: str, avatar: bool) -> str:
    """A message row; chat rows have a letter avatar (the sender's first character, or 我)."""
    face = f'<div class="avatar">{html.escape(("我" if bubble.outgoing else header)[0])}</div>' if avatar else ""
    direction = "row out" if bubble.outgoing else "row"
    return f'<div class="{direction}">{face}<div class="bubble">{html.escape(bubble.text)}</div></div>'


# --- how well a reading matches the screenshot -------------------------------------------------

def comparable(text: str) -> str:
    """Text as the accuracy compares it: NFKC (full-width "，" equals ","), no whitespace, and no
    emoji or other pictographs (category So, joiners, variation selectors): they are pictures,
    not words, and OCR engines do not read them."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) not in ("So", "Cf", "Mn"))


def character_accuracy(scene: Scene, reading: str) -> float:
    """1 - (edit distance / reference length) over the message bubbles.

    Each bubble's text is looked for in the whole reading: its errors are the edit distance to
    the closest stretch of the reading (so the status bar, header and time stamps around it
    neither count nor help, but anything misread, missed or inserted inside the message does).
    """
    errors = total = 0
    found = comparable(reading)
    for bubble in scene.bubbles:
        wanted = comparable(bubble.text)
        errors += closest_stretch_distance(wanted, found)
        total += len(wanted)
    return max(0.0, 1 - errors / total) if total else 1.0


def closest_stretch_distance(wanted: str, text: str) -> int:
    """Smallest edit distance between ``wanted`` and any substring of ``text`` (Sellers' algorithm)."""
    row = [0] * (len(text) + 1)  # a match may start anywhere in text at no cost
    for i, w in enumerate(wanted, 1):
        previous, row = row, [i] + [0] * len(text)
        for j, t in enumerate(text, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (w != t))
    return min(row)  # … and end anywhere
