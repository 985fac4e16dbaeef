"""The rule-based part of the checker, on spaCy (blank ``zh`` with the jieba segmenter).

The spaCy pipeline tokenises with jieba, an EntityRuler built from ``lexicon.yml`` finds
platforms, impersonated organisations and payment channels, and a regex component adds
amounts, phone numbers and links. Red flags are matched on the raw text (phrases and
patterns from the knowledge files) so that their spans are exact whatever jieba does with
the surrounding words; they are kept on the Doc as ``doc.spans["red_flags"]``.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .amounts import find_amounts
from .indicators import own_official_link
from .loader import KNOWLEDGE_DIR, CalmSign, Knowledge, KnowledgeError, Negation, RedFlag, parse_yaml
from .normalise import Normalised, Normaliser, default_normaliser, fold_pattern

PHONE = re.compile(
    r"(?<![\d*])(?:"
    r"(?:\+|00)\s?(?:86|852|853|886|63|60|66|84|855|95|856|1|44|81|82|7)[\s-]?\d[\d\s-]{5,13}\d"
    r"|(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}"
    r"|0\d{2,3}[\s-]?\d{7,8}"
    r"|400[\s-]?\d{3}[\s-]?\d{4}"
    r"|9[56]\d{3,4}"
    r")(?![\d*])"
)
URL = re.compile(
    r"(?:https?://|www\.)[^\s，。！？、；\"'<>（）()【】\u4e00-\u9fff]+"
    r"|(?<![\w@.])[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*"
    r"\.(?:com|cn|net|top|xyz|vip|cc|co|info|org|shop|site|online|app|io|me|tk|ml|club|icu|live)"
    r"(?:/[^\s，。！？、；\"'<>（）()【】\u4e00-\u9fff]*)?(?![A-Za-z])"
)


@dataclass(frozen=True)
class FlagHit:
    flag: str
    label: str
    text: str
    start: int
    end: int
    weight: float
    severity: str  # critical, major or minor; "calm" for a calm sign
    scam_type: str | None  # None for a technique shared by every type


@dataclass(frozen=True)
class EntityHit:
    entity: str  # amount, phone_number, url, platform, organization, payment_channel
    text: str
    start: int
    end: int
    value: Any


class NegatedFlags:
    """Whether a negation right before a red flag's words cancels it ("客服没让我共享屏幕",
    "银行不会让您下载会议软件"), by the words in ``negation.yml``; works on normalised text."""

    _CLAUSE_END = re.compile(r"[,.!?;:\n]")
    REACH = 12  # characters looked at on each side, within the clause

    def __init__(self, negation: Negation, normaliser: Normaliser) -> None:
        def words(items: Iterable[str]) -> str:
            forms = {normaliser.text(w) for w in items} - {""}
            return "|".join(re.escape(w) for w in sorted(forms, key=len, reverse=True))

        self._before = re.compile(
            f"(?:{words(negation.negators)})(?:{words(negation.modal)})?"
            f"(?:(?:{words(negation.asking)})(?:{words(negation.who)})?(?:{words(negation.doing)})?)?$"
        )
        self._not_negation = tuple(normaliser.text(w) for w in negation.not_negation)
        self._condition = re.compile(words(negation.conditions))

    def cancels(self, text: str, pattern: re.Pattern[str], match: re.Match[str]) -> bool:
        """Whether the flag's words in ``match`` are negated. A pattern may take in the words before
        the negation too ("客服没有让我下载会议软件" matches from 客服), so each place inside the match
        from which the pattern still matches counts as well."""
        if self._negated_at(text, match.start(), match.end()):
            return True
        for start in range(match.start() + 1, match.end()):
            inner = pattern.match(text, start)
            if inner and inner.end() > start and self._negated_at(text, start, inner.end()):
                return True
        return False

    def _negated_at(self, text: str, start: int, end: int) -> bool:
        before = self._CLAUSE_END.split(text[max(0, start - self.REACH) : start])[-1]
        found = self._before.search(before)
        if found is None:
            return False
        at = start - len(before) + found.start()  # where the negator starts in ``text``
        negator = found.group(0)
        # "会不会", "有没有", "要不要": a question, not a negation.
        if at > 0 and len(negator) > 1 and text[at - 1] == negator[1]:
            return False
        if any(text.find(word, max(0, at - len(word) + 1), at + len(word)) != -1 for word in self._not_negation):
            return False
        after = self._CLAUSE_END.split(text[end : end + self.REACH])[0]
        return self._condition.search(after) is None  # "不转到安全账户就冻结": a threat


class FlagMatcher:
    """Finds every red flag of every type (or every calm sign) in a text, with exact spans.

    Phrases and texts are both normalised (traditional characters, spacing, homophones: see
    ``normalise.py``); each hit's span and text are the resident's original words. With a
    ``negation``, a red flag whose words are negated ("没让我垫钱") is not a hit. A critical
    technique whose sentence shows one of the flag's ``ordinary_settings`` ("开会的时候共享屏幕给
    同事看") is a major hit: still evidence, no longer high on its own.
    """

    _SENTENCE_END = re.compile(r"[。.!?;\n]")

    def __init__(self, flags: Iterable[RedFlag | CalmSign], normaliser: Normaliser | None = None,
                 negation: Negation | None = None, official_link: Callable[[str], bool] | None = None) -> None:
        """``official_link``: whether a text starts with an official link that is no flag's hit
        (``indicators.own_official_link``), for flags that say ``skips_official_links``."""
        self.normaliser = normaliser or default_normaliser()
        self._official_link = official_link
        self._negated = NegatedFlags(negation, self.normaliser) if negation else None
        self._flags: list[tuple[RedFlag | CalmSign, re.Pattern[str]]] = []
        self._settings: dict[str, re.Pattern[str]] = {}
        for flag in flags:
            phrases = {self.normaliser.text(p) for p in flag.phrases}
            parts = [re.escape(p) for p in sorted(phrases, key=len, reverse=True) if p]
            parts += [f"(?:{fold_pattern(p)})" for p in flag.patterns]
            self._flags.append((flag, re.compile("|".join(parts), re.IGNORECASE)))
            if isinstance(flag, RedFlag) and flag.ordinary_settings:
                settings = "|".join(f"(?:{fold_pattern(p)})" for p in flag.ordinary_settings)
                self._settings[flag.id] = re.compile(settings, re.IGNORECASE)

    def words(self) -> set[str]:
        return {phrase for flag, _ in self._flags for phrase in flag.phrases}

    def find(self, text: str, normalised: Normalised | None = None) -> list[FlagHit]:
        normalised = normalised or self.normaliser(text)
        hits = []
        for flag, pattern in self._flags:
            negated = self._negated if isinstance(flag, RedFlag) and not flag.keeps_negation else None
            for match in pattern.finditer(normalised.text):
                if negated and negated.cancels(normalised.text, pattern, match):
                    continue
                if self._is_official_link(flag, normalised.text, match.start()):
                    continue
                if match.end() > match.start():
                    start, end = normalised.span(*match.span())
                    severity = flag.severity
                    if severity == "critical" and self._in_ordinary_setting(flag.id, normalised.text, match):
                        severity = "major"
                    hits.append(
                        FlagHit(flag.id, flag.label, text[start:end], start, end, flag.weight, severity,
                                flag.scam_type)
                    )
        hits.sort(key=lambda h: (h.start, -h.end))
        return hits

    def _is_official_link(self, flag: RedFlag | CalmSign, text: str, start: int) -> bool:
        if not (isinstance(flag, RedFlag) and flag.skips_official_links and self._official_link):
            return False
        return self._official_link(text[start:])

    def _in_ordinary_setting(self, flag_id: str, text: str, match: re.Match[str]) -> bool:
        settings = self._settings.get(flag_id)
        if settings is None:
            return False
        start = max((m.end() for m in self._SENTENCE_END.finditer(text, 0, match.start())), default=0)
        after = self._SENTENCE_END.search(text, match.end())
        sentence = text[start : after.start() if after else len(text)]
        return settings.search(sentence) is not None


@dataclass(frozen=True)
class Lexicon:
    payment_channels: dict[str, tuple[str, ...]]
    platforms: tuple[str, ...]
    organizations: tuple[str, ...]


def load_lexicon(path: Path = KNOWLEDGE_DIR / "lexicon.yml") -> Lexicon:
    data = parse_yaml(path.read_text(encoding="utf-8")) or {}
    channels = data.get("payment_channels")
    if not isinstance(channels, dict) or not channels:
        raise KnowledgeError(path, "payment_channels", "must map channel codes to lists of words")
    for field_name in ("platforms", "organizations"):
        if not isinstance(data.get(field_name), list) or not data[field_name]:
            raise KnowledgeError(path, field_name, "must be a non-empty list")
    return Lexicon(
        payment_channels={code: tuple(map(str, words)) for code, words in channels.items()},
        platforms=tuple(map(str, data["platforms"])),
        organizations=tuple(map(str, data["organizations"])),
    )


def _import_spacy() -> Any:
    """Import spaCy without letting thinc 8.1 import TensorFlow (≈3 s) on the way.

    thinc 8.1's ``compat`` module imports TensorFlow, if installed, only to offer its
    TensorFlow shim, which a blank pipeline never uses (thinc 8.2 leaves it off unless
    ``enable_tensorflow()`` is called). While thinc loads, ``tensorflow`` is marked as not
    importable (a ``None`` entry in ``sys.modules``); the entry is removed straight after,
    so code that needs TensorFlow later in the same process imports it as usual. If
    TensorFlow or thinc is already loaded, nothing is changed.
    """
    if "thinc.compat" not in sys.modules and "tensorflow" not in sys.modules:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
        try:
            import thinc.compat  # noqa: F401
        finally:
            if sys.modules.get("tensorflow", False) is None:
                del sys.modules["tensorflow"]
    import spacy

    return spacy


class JiebaTokenizer:
    """spaCy tokenizer: jieba segmentation over the checker's own vocabulary.

    jieba gets the words the checker knows (lexicon names, red-flag phrases) as its whole
    dictionary, instead of its general 350,000-word one: loading that takes about a second
    and changes nothing the checker reports, because entities come from the lexicon and the
    regular expressions, and red flags are matched on the raw text. Other text is split by
    jieba's HMM. Amounts, phone numbers and links are never split, so their entity spans
    are exact. A private ``jieba.Tokenizer`` is used: jieba's global state stays untouched.
    """

    def __init__(self, vocab: Any, words: Iterable[str]) -> None:
        import io

        import jieba

        jieba.setLogLevel(60)  # jieba logs its dictionary build otherwise
        entries = sorted({w.strip() for w in words if len(w.strip()) > 1 and not re.search(r"\s", w.strip())})
        if not entries:
            raise ValueError("the tokenizer needs at least one word")
        dictionary = "".join(f"{word} 20000\n" for word in entries).encode("utf-8")
        self.words = tuple(entries)  # the checker's own words, which the classifier's word n-grams use too
        self.vocab = vocab
        self.segmenter = jieba.Tokenizer()
        self.segmenter.FREQ, self.segmenter.total = jieba.Tokenizer.gen_pfdict(io.BytesIO(dictionary))
        self.segmenter.initialized = True

    def __call__(self, text: str) -> Any:
        from spacy.tokens import Doc
        from spacy.util import get_words_and_spaces

        found = regex_entities(text)
        words: list[str] = []
        position = 0
        for start, end, _ in found:
            if start < position:
                continue
            words.extend(self._cut(text[position:start]))
            words.append(text[start:end])
            position = end
        words.extend(self._cut(text[position:]))
        words, spaces = get_words_and_spaces(words, text)
        doc = Doc(self.vocab, words=words, spaces=spaces)
        doc.user_data[REGEX_ENTITIES] = found
        return doc

    def _cut(self, text: str) -> list[str]:
        # Without the HMM, text outside the vocabulary falls into single characters (as
        # spaCy's "char" segmenter does), which is several times faster and loses nothing.
        return [w for w in self.segmenter.cut(text, HMM=False) if w] if text else []


REGEX_ENTITIES = "fanzha_regex_entities"  # Doc.user_data key: [(start, end, label)]
FLAG_HITS = "fanzha_flag_hits"  # Doc.user_data key: [FlagHit]
CALM_HITS = "fanzha_calm_hits"  # Doc.user_data key: [FlagHit] for calm signs


def regex_entities(text: str) -> list[tuple[int, int, str]]:
    """Amounts, phone numbers and links, by position; each is kept as one token."""
    found = [(s, e, "amount") for s, e, _ in find_amounts(text)]
    found += [(*m.span(), "phone_number") for m in PHONE.finditer(text)]
    found += [(*m.span(), "url") for m in URL.finditer(text)]
    trimmed = []
    for start, end, label in found:  # an amount pattern may take in a space before the number
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            trimmed.append((start, end, label))
    return sorted(trimmed)


class RedFlagTagger:
    """The pipeline step that finds red flags and calm signs; each pipeline gets its own."""

    flags: FlagMatcher
    calm: FlagMatcher

    def __call__(self, doc: Any) -> Any:
        from spacy.tokens import Span

        normalised = self.flags.normaliser(doc.text)
        hits = self.flags.find(doc.text, normalised)
        doc.user_data[FLAG_HITS] = hits
        doc.user_data[CALM_HITS] = self.calm.find(doc.text, normalised)
        doc.spans["red_flags"] = [
            Span(doc, span.start, span.end, label=hit.flag)
            for hit in hits
            if (span := doc.char_span(hit.start, hit.end, alignment_mode="expand")) is not None
        ]
        return doc


def build_pipeline(knowledge: Knowledge, lexicon: Lexicon) -> tuple[Any, FlagMatcher, FlagMatcher]:
    """Blank Chinese spaCy pipeline: jieba tokens, lexicon entities, regex entities, red flags.

    Returns the pipeline, the red-flag matcher and the calm-sign matcher.
    """
    spacy = _import_spacy()
    from spacy.language import Language
    from spacy.util import filter_spans

    flags = FlagMatcher(
        [f for t in knowledge.scam_types.values() for f in t.red_flags] + list(knowledge.shared_flags.values()),
        negation=knowledge.negation,
        official_link=own_official_link,
    )
    calm = FlagMatcher(knowledge.calm_signs.values(), flags.normaliser)
    nlp = spacy.blank("zh")
    # Our own terms are the dictionary, so the entity ruler sees them as whole tokens.
    vocabulary = flags.words() | set(lexicon.platforms) | set(lexicon.organizations)
    vocabulary |= {w for words in lexicon.payment_channels.values() for w in words}
    nlp.tokenizer = JiebaTokenizer(nlp.vocab, vocabulary)
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    patterns = [{"label": "platform", "pattern": w} for w in lexicon.platforms]
    patterns += [{"label": "organization", "pattern": w} for w in lexicon.organizations]
    patterns += [
        {"label": "payment_channel", "pattern": w, "id": code}
        for code, words in lexicon.payment_channels.items()
        for w in words
    ]
    ruler.add_patterns(patterns)

    if not Language.has_factory("fanzha_regex_entities"):

        @Language.component("fanzha_regex_entities")
        def add_regex_entities(doc: Any) -> Any:
            spans = list(doc.ents)
            found = doc.user_data.get(REGEX_ENTITIES)
            for start, end, label in regex_entities(doc.text) if found is None else found:
                span = doc.char_span(start, end, label=label, alignment_mode="expand")
                if span is not None:
                    spans.append(span)
            doc.ents = filter_spans(spans)
            return doc

    nlp.add_pipe("fanzha_regex_entities")

    if not Language.has_factory("fanzha_red_flags"):
        # A factory, not a component: spaCy keeps the first function registered under a name, so
        # a component closing over its matchers would serve every later pipeline the first rules.
        Language.factory("fanzha_red_flags", func=lambda nlp, name: RedFlagTagger())
    tagger = nlp.add_pipe("fanzha_red_flags")
    tagger.flags, tagger.calm = flags, calm
    return nlp, flags, calm
