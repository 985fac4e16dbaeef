"""What the warning calls say (knowledge/dissuasion.yml, bot/services/early_warnings/call_texts.yml):
short enough to be heard, every scam type covered, and a malformed file named precisely."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Callable

import pytest
import yaml

from bot.services.early_warnings.call_texts import TEXTS_FILE, WarningTextsError, load_warning_texts
from knowledge.dissuasion import DISSUASION_FILE, DissuasionError, load_dissuasion

ROOT = Path(__file__).resolve().parent.parent
TEXTS = load_warning_texts()
BOOK = TEXTS.dissuasion
# Everything a resident hears, contacts filled in (per-call placeholders left out).
RESIDENT_HEARS = [
    TEXTS.opening, TEXTS.opening_ask, TEXTS.keys, TEXTS.not_heard, TEXTS.money_moving, TEXTS.paid,
    TEXTS.connecting, TEXTS.if_cut_off, TEXTS.desk_no_answer, TEXTS.after_desk, TEXTS.goodbye,
    TEXTS.voicemail, TEXTS.unknown_warning,
    *(text for entry in BOOK.all() for text in (entry.reason, *(q.ask for q in entry.questions), *entry.warning)),
]


def sentences_of(text: str) -> list[str]:
    """Counted here on its own: a sentence ends at 。！？, everything but white space counts."""
    return re.findall(r"[^。！？]+[。！？]?", re.sub(r"\s", "", text))


def test_every_sentence_a_resident_hears_has_at_most_25_characters():
    assert len(RESIDENT_HEARS) > 60
    for text in RESIDENT_HEARS:
        for sentence in sentences_of(text):
            assert len(sentence) <= 25, sentence


@pytest.mark.parametrize("code", [entry.code for entry in BOOK.all()])
def test_the_whole_opening_takes_at_most_20_seconds_at_4_characters_a_second(code):
    opening = TEXTS.opening + BOOK.for_type(code).reason + TEXTS.opening_ask
    seconds = len(re.sub(r"\s", "", opening)) / 4
    assert seconds <= 20, opening
    assert "96110" in opening and "反诈中心" in opening  # who is calling


def test_every_scam_type_is_covered_with_questions_that_can_lead_to_the_desk(knowledge):
    assert set(BOOK.types) == set(knowledge.scam_types)
    for entry in BOOK.all():
        assert 2 <= len(entry.questions) <= 3, entry.code
        assert {q.yes_means for q in entry.questions} == {"money_moving", "paid"}, entry.code
        assert entry.questions[0].yes_means == "money_moving"  # the urgent question first
        assert 2 <= len(entry.warning) <= 4


def test_a_type_without_its_texts_falls_back_to_the_general_ones():
    assert BOOK.for_type(None) is BOOK.general and BOOK.for_type("no_such_type") is BOOK.general
    assert BOOK.for_type("investment").code == "investment"


def test_numbers_are_placeholders_not_written_in_the_files():
    for path in (DISSUASION_FILE, TEXTS_FILE):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for text in _strings(data):
            assert not re.search(r"\d{3,}", re.sub(r"{[^}]*}", "", text)), (path.name, text)
    assert "96110" in TEXTS.sms and "110" in TEXTS.if_cut_off  # filled in from contacts.yml


def test_the_knowledge_module_imports_nothing_from_bot():
    tree = ast.parse((ROOT / "knowledge" / "dissuasion.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not [name for name in imported if name and name.split(".")[0] in ("bot", "actions", "rasa")]


def _strings(data) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for value in data.values() for s in _strings(value)]
    if isinstance(data, list):
        return [s for value in data for s in _strings(value)]
    return []


# --- the validator ----------------------------------------------------------------------


def _edited(tmp_path: Path, source: Path, edit: Callable[[dict], None]) -> Path:
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "edit, field, reason",
    [
        (lambda d: d["types"]["romance"]["warning"].__setitem__(1, "没见过面的人找您借钱的时候一分钱也不要给他们转过去。"),
         "types.romance.warning[1]", "has 26 characters; at most 25"),
        (lambda d: d["types"].pop("shuadan"), "types.shuadan", "missing"),
        (lambda d: d["types"].__setitem__("lottery", d["types"]["romance"]), "types.lottery", "not a scam type"),
        (lambda d: d["general"]["questions"][0].__setitem__("ask", "有人让您转账。"), "general.questions[0].ask", "ending with ？"),
        (lambda d: d["types"]["investment"]["questions"][2].__setitem__("yes_means", "maybe"),
         "types.investment.questions[2].yes_means", "money_moving, paid"),
        (lambda d: d["types"]["investment"]["questions"].pop(2), "types.investment.questions", "paid"),
        (lambda d: d["types"]["two_cards"].__setitem__("reason", "请拨打{police_119.number}。"), "types.two_cards.reason",
         "unknown placeholder"),
        (lambda d: d["types"]["fake_prize"]["questions"][1].__setitem__("id", "fee_first"),
         "types.fake_prize.questions[1].id", "used twice"),
    ],
)
def test_the_validator_names_the_file_the_field_and_the_reason(tmp_path, edit, field, reason):
    path = _edited(tmp_path, DISSUASION_FILE, edit)
    with pytest.raises(DissuasionError) as error:
        load_dissuasion(path)
    assert error.value.path == str(path) and error.value.field == field and reason in error.value.reason
    assert f"{path}: field '{field}'" in str(error.value)


def test_an_opening_over_20_seconds_is_refused_naming_the_type(tmp_path):
    longer = "耽误您一分钟时间，我们想问您几个简单的问题。请您先不要挂电话，耐心听我把话说完。这些问题很重要，关系到您的钱。"
    path = _edited(tmp_path, TEXTS_FILE, lambda d: d.update(opening_ask=longer))
    with pytest.raises(WarningTextsError) as error:
        load_warning_texts(path)
    assert error.value.field.endswith(".reason") and "at most 80" in error.value.reason
    assert "20 s" in error.value.reason


@pytest.mark.parametrize(
    "edit, field, reason",
    [
        (lambda d: d.update(connecting="我现在马上就为您转接我们的值班民警，请您千万不要挂机。"), "connecting", "at most 25"),
        (lambda d: d.update(whisper="{level}预警转来居民。"), "whisper", "{answer}"),
        (lambda d: d.update(no_key="1"), "no_key", "differ"),
        (lambda d: d["no_words"].append("对"), "no_words", "also a yes word"),
        (lambda d: d["levels"].pop("orange"), "levels.orange", "non-empty"),
    ],
)
def test_the_call_texts_file_errors_name_the_field(tmp_path, edit, field, reason):
    path = _edited(tmp_path, TEXTS_FILE, edit)
    with pytest.raises(WarningTextsError) as error:
        load_warning_texts(path)
    assert error.value.field == field and reason in error.value.reason
