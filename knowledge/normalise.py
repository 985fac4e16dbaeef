"""One way of writing for the many ways residents write the same words.

Real messages come in traditional characters, full-width letters, with spaces or symbols
between characters ("刷 单", "安-全-账-户", what scammers do to slip past filters), in
homophones ("威信", "验正码", what speech recognition and scammers write). Red flags and the
classifier both see the normalised text: traditional to simplified (OpenCC's Taiwan-phrase
table, which also turns 螢幕 into 屏幕), full-width to ASCII, lower case, separators between
two Chinese characters dropped, and the variants in ``spelling.yml`` replaced by their
standard form. ``Normalised.origin`` maps every character back to the original text, so a
red flag found in the normalised text is shown with the resident's own words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .loader import KNOWLEDGE_DIR, KnowledgeError, parse_yaml

# Full-width ASCII and the ideographic space, one character for one character.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# The same fold for a reviewer's regex ("[^，。]" must stop at the "," the text will have), escaped:
# a folded "？" or "（" is a literal, where "?" and "(" would be regex syntax.
_FOLD_PATTERN = {code: re.escape(chr(folded)) for code, folded in _FOLD.items()}
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff"
# Whitespace, zero-width characters and the symbols people put inside words, between two
# Chinese characters: "刷 单", "刷*单", "安-全-账-户". Punctuation that ends a phrase stays.
_SPLIT_WORD = re.compile(rf"(?<=[{_CJK}])[\s\u200b-\u200d\ufeff*\-_.·•|/\\~^]+(?=[{_CJK}])")


@dataclass(frozen=True)
class Normalised:
    text: str
    origin: tuple[int, ...]  # index in the original text of each character of ``text``

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original text's span for ``text[start:end]`` (``end > start``)."""
        return self.origin[start], self.origin[end - 1] + 1


class Normaliser:
    def __init__(self, variants: dict[str, str]) -> None:
        import opencc

        self._opencc = opencc.OpenCC("tw2sp")
        self._variants = {self._simplify(k).lower(): v.lower() for k, v in variants.items()}
        parts = []
        for variant in sorted(self._variants, key=len, reverse=True):
            part = re.escape(variant)
            if re.search("[a-z]", variant):  # "vx" inside an English word or a link is not 微信
                part = rf"(?<![a-z]){part}(?![a-z])"
            parts.append(part)
        self._pattern = re.compile("|".join(parts)) if parts else None

    def _simplify(self, text: str) -> str:
        converted = self._opencc.convert(text)
        if len(converted) == len(text):
            return converted
        # A phrase of another length (rare): character by character keeps the offsets.
        return "".join(c if len(c) == 1 else t for t, c in zip(text, map(self._opencc.convert, text)))

    def __call__(self, text: str) -> Normalised:
        text_out = self._simplify(text.translate(_FOLD)).lower()
        origin = list(range(len(text_out)))
        text_out, origin = _sub(_SPLIT_WORD, lambda m: "", text_out, origin)
        if self._pattern is not None:
            text_out, origin = _sub(self._pattern, lambda m: self._variants[m.group(0)], text_out, origin)
        return Normalised(text_out, tuple(origin))

    def text(self, text: str) -> str:
        return self(text).text


def fold_pattern(regex: str) -> str:
    """A pattern from the knowledge files, written with full-width punctuation, as it must read to
    match normalised text."""
    return regex.translate(_FOLD_PATTERN)


def _sub(pattern: re.Pattern[str], replace, text: str, origin: list[int]) -> tuple[str, list[int]]:
    """``pattern.sub`` that also carries the origin of each character along."""
    out: list[str] = []
    out_origin: list[int] = []
    position = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        out.append(text[position:start])
        out_origin.extend(origin[position:start])
        new = replace(match)
        out.append(new)
        last = max(start, end - 1)
        out_origin.extend(origin[min(start + i, last)] for i in range(len(new)))
        position = end
    if not out:
        return text, origin
    out.append(text[position:])
    out_origin.extend(origin[position:])
    return "".join(out), out_origin


def load_variants(path: Path = KNOWLEDGE_DIR / "spelling.yml") -> dict[str, str]:
    """variant -> standard form, from the reviewer-facing file."""
    try:
        data = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise KnowledgeError(path, "(file)", "file is missing") from None
    variants = data.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise KnowledgeError(path, "variants", "must map each standard form to a list of other spellings")
    out: dict[str, str] = {}
    for standard, others in variants.items():
        if not isinstance(others, list) or not all(isinstance(o, str) and o.strip() for o in others):
            raise KnowledgeError(path, f"variants.{standard}", "must be a list of non-empty spellings")
        for other in others:
            if other.lower() in out and out[other.lower()] != str(standard):
                raise KnowledgeError(path, f"variants.{standard}", f"'{other}' is already a spelling of '{out[other.lower()]}'")
            out[other.lower()] = str(standard)
    return out


@lru_cache(maxsize=1)
def default_normaliser() -> Normaliser:
    return Normaliser(load_variants())
