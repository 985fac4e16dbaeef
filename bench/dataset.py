"""The checker's evaluation set (bench/checker_dev/*.yml) and its overlap with training data."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DEV_DIR = Path(__file__).resolve().parent / "checker_dev"
# Everyday texts that share words with scams (README.md there): dev may guide rules, test never.
LOOKALIKES_DIR = Path(__file__).resolve().parent / "checker_lookalikes"
# Plain everyday chat between people who know each other (couples, family, stock talk, games …),
# in the look-alikes' form and with the same rule: dev may guide the weights, test never.
EVERYDAY_CHAT_DIR = Path(__file__).resolve().parent / "checker_everyday_chat"
# Both, with the titles the bench and the tuner print.
FALSE_ALARM_SETS = (("everyday look-alikes", LOOKALIKES_DIR), ("everyday chat", EVERYDAY_CHAT_DIR))
# Written by another hand than the training examples (README.md in each): evaluation only, never
# trained on. Scams told without the police's alarm words, and ordinary texts that share scams' words:
DISGUISED_DIR = Path(__file__).resolve().parent / "checker_disguised"
# messages shown with a resident's words around them (pasted with a question, forwarded, read out):
SHOWN_DIR = Path(__file__).resolve().parent / "checker_shown"
# Real chat lines and adverts for false alarms; evaluation only, read where it lies.
MSGLOG = Path(__file__).resolve().parents[2] / "shared" / "data" / "msglog" / "messages.jsonl"
# The independent set of real SMS that is run outside this project has seven categories, one of
# them romance and investment together: each scam type code it counts, and the category it falls in.
INDEPENDENT_SET_CATEGORIES = {
    "impersonate_police": "impersonate_police",
    "loan_credit": "loan_credit",
    "fake_customer_service": "fake_customer_service",
    "impersonate_acquaintance": "impersonate_acquaintance",
    "shuadan": "shuadan",
    "romance": "romance_or_investment",
    "investment": "romance_or_investment",
    "game_trade": "game_trade",
}


@dataclass(frozen=True)
class Labelled:
    text: str
    label: str
    kind: str


def load_dev_set(directory: Path = DEV_DIR) -> list[Labelled]:
    items = []
    for path in sorted(directory.glob("*.yml")):
        for row in yaml.safe_load(path.read_text(encoding="utf-8"))["examples"]:
            items.append(Labelled(str(row["text"]), str(row["label"]), str(row["kind"])))
    return items


def load_lookalikes(split: str, directory: Path = LOOKALIKES_DIR) -> list[Labelled]:
    """One split ("dev" or "test") of the look-alikes or another false-alarm set in their form
    (``FALSE_ALARM_SETS``), as (text, category, style)."""
    rows = yaml.safe_load((directory / f"{split}.yml").read_text(encoding="utf-8"))
    return [Labelled(str(r["text"]), str(r["category"]), str(r["style"])) for r in rows]


def load_another_hand(directory: Path) -> list[Labelled]:
    """A set in another hand (``DISGUISED_DIR``, ``SHOWN_DIR``) as (text, type code, "ordinary" or
    "advert", style); files in the examples' form."""
    items = []
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        items += [Labelled(str(row["text"]), str(data["code"]), str(row["kind"])) for row in data["examples"]]
    return items


def load_msglog(path: Path = MSGLOG) -> list[Labelled]:
    """msglog lines as (text, source "chat" or "advert", id)."""
    import json

    rows = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                rows.append(Labelled(str(row["text"]), str(row["source"]), str(row["id"])))
    return rows


def _shingles(text: str, n: int = 3) -> set[str]:
    text = re.sub(r"\s+", "", text.lower())
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))}


def near_duplicates(texts: list[str], others: list[str], threshold: float = 0.6) -> list[tuple[str, str, float]]:
    """Pairs (text, other, Jaccard of character trigrams) at or above ``threshold``."""
    index: dict[str, set[int]] = {}
    other_shingles = [_shingles(o) for o in others]
    for i, sh in enumerate(other_shingles):
        for s in sh:
            index.setdefault(s, set()).add(i)
    found = []
    for text in texts:
        sh = _shingles(text)
        counts: dict[int, int] = {}
        for s in sh:
            for i in index.get(s, ()):
                counts[i] = counts.get(i, 0) + 1
        for i, shared in counts.items():
            score = shared / len(sh | other_shingles[i])
            if score >= threshold:
                found.append((text, others[i], score))
                break
    return found


# A masked detail as an evaluation set writes it: digits hidden as "x" (msglog hides every digit)
# or "*" ("177****6453", "400-xxx-xxxx", "MU5xx3"), not inside an ordinary word ("box").
_MASKED_RUN = re.compile(r"(?<![a-wyz])[\dxX*]*[xX*][\dxX*]*(?![a-wyz])")
# msglog's links were split into words: "www . xxxxxx . com".
_MASKED_SITE = re.compile(r"www\s*\.\s*([\w*]+)\s*\.\s*(com|cn|net|cc|org)\b")


def fill_masks(text: str) -> str:
    """The text with its masked numbers and links filled in with realistic values, as a resident's
    real message has them: a masked run of digits becomes digits (an eleven-digit one a mobile
    number), a masked site a site name. Seeded by the text, so the same text is filled the same way."""
    rng = random.Random(text)
    letters = "abcdefghijkmnpqrstuvwxyz"

    def site(match: re.Match[str]) -> str:
        name = "".join(rng.choice(letters) for _ in match.group(1))
        return f"www.{name}.{match.group(2)}"

    def digits(match: re.Match[str]) -> str:
        if match.group(0) == "*":  # one star between words hides no number: spam writes "礼*包"
            return "*"
        run = [c if c.isdigit() else str(rng.randrange(10)) for c in match.group(0)]
        if len(run) == 11 and not match.group(0)[:2].isdigit():  # a mobile number: 13x … 19x
            run[:2] = ["1", str(rng.randrange(3, 10))]
        elif not match.group(0)[0].isdigit() and len(run) > 1:
            run[0] = str(rng.randrange(1, 10))  # no leading zero where the mask hid the first digit
        return "".join(run)

    return _MASKED_RUN.sub(digits, _MASKED_SITE.sub(site, text))
