"""The data files agree with each other: knowledge, NLU training data, held-out sets."""
from __future__ import annotations

import re
from collections import Counter

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from bench.dataset import (
    DISGUISED_DIR,
    EVERYDAY_CHAT_DIR,
    INDEPENDENT_SET_CATEGORIES,
    LOOKALIKES_DIR,
    SHOWN_DIR,
    fill_masks,
    load_another_hand,
    load_dev_set,
    load_lookalikes,
    near_duplicates,
)
from tests.conftest import ROOT

REQUIRED_TYPES = {
    "shuadan", "investment", "fake_shopping", "fake_customer_service", "loan_credit",
    "impersonate_acquaintance", "impersonate_police", "romance", "game_trade", "flight_refund",
    "military_purchase", "fake_prize", "elderly_care", "recovery_scam", "two_cards",
}
USER_GOALS = {
    "greet", "goodbye", "thank", "bot_capabilities", "check_situation", "check_message", "check_contact",
    "report_scammed", "money_going_out", "how_to_report", "request_human", "affirm", "deny",
    "dont_know", "out_of_scope", "inform", "share_sensitive",
}
LISTED_FAQ_GOALS = {"what_is_96110", "what_is_110", "antifraud_app_install"}


def _norm(text: str) -> str:
    return re.sub(r"[\s，。？！,.?!~、…]+", "", text.lower())


@pytest.fixture(scope="module")
def training():
    files = sorted((ROOT / "nlu").glob("*.yml"))
    return files and load_data(str(files[0])).merge(*[load_data(str(f)) for f in files[1:]])


@pytest.fixture(scope="module")
def holdout():
    return load_data(str(ROOT / "tests" / "nlu" / "holdout.yml"))


def _counts(data) -> Counter:
    return Counter(m.get_full_intent() for m in data.intent_examples)


def test_every_required_scam_type_is_described(knowledge):
    assert set(knowledge.scam_types) == REQUIRED_TYPES


def test_every_scam_type_has_training_examples_in_every_style(knowledge):
    from knowledge.loader import EXAMPLE_KINDS, NOT_SCAM

    counts = Counter((e.label, e.kind) for e in knowledge.examples)
    for code in REQUIRED_TYPES:
        assert sum(counts[(code, kind)] for kind in EXAMPLE_KINDS) >= 300, code
        assert all(counts[(code, kind)] >= 60 for kind in EXAMPLE_KINDS), code
    # Residents mostly paste ordinary messages: at least 3,000, of them 1,000 marketing and notification SMS.
    assert sum(n for (label, _), n in counts.items() if label in NOT_SCAM) >= 3000
    assert sum(counts[(label, "sms")] for label in NOT_SCAM) >= 1000


def test_every_user_goal_has_twenty_training_examples(training):
    counts = _counts(training)
    for intent in USER_GOALS:
        assert counts[intent] >= 20, intent
    for key in LISTED_FAQ_GOALS:
        assert counts[f"faq/{key}"] >= 20, key


def test_the_faq_in_knowledge_and_in_the_nlu_data_match(training, knowledge):
    keys = {i.split("/", 1)[1] for i in _counts(training) if i.startswith("faq/")}
    assert keys == set(knowledge.faqs)
    assert len(keys) >= 40


def test_the_held_out_set_covers_every_intent_and_is_not_training_data(training, holdout):
    counts = Counter(m.get("intent") for m in holdout.intent_examples)
    for intent in USER_GOALS | {"faq"}:
        assert counts[intent] >= 8, intent
    trained = {_norm(m.get("text")) for m in training.intent_examples}
    leaked = [m.get("text") for m in holdout.intent_examples if _norm(m.get("text")) in trained]
    # Only the shortest replies (是的, 不知道 …) can coincide; nothing longer may be shared.
    assert all(len(_norm(t)) <= 4 for t in leaked), leaked


def test_the_checker_evaluation_set_is_separate_from_training(knowledge):
    dev = load_dev_set()
    counts = Counter(d.label for d in dev)
    for code in REQUIRED_TYPES:
        assert counts[code] >= 40, code
    assert counts["ordinary"] >= 300
    training = [e.text for e in knowledge.examples]
    exact = {_norm(t) for t in training} & {_norm(d.text) for d in dev}
    assert not exact
    near = near_duplicates([d.text for d in dev], training, threshold=0.6)
    assert len(near) <= 0.02 * len(dev), near[:5]


@pytest.mark.parametrize("directory, styles", [(LOOKALIKES_DIR, {"sms", "chat", "narrative", "spoken"}),
                                               (EVERYDAY_CHAT_DIR, {"chat"})])
def test_the_false_alarm_sets_are_separate_from_training(knowledge, directory, styles):
    """bench/checker_lookalikes and bench/checker_everyday_chat measure false alarms on texts
    never trained on."""
    training = [e.text for e in knowledge.examples]
    for split in ("dev", "test"):
        rows = load_lookalikes(split, directory)
        assert len(rows) >= 200 and {r.kind for r in rows} == styles
        assert not {_norm(t) for t in training} & {_norm(r.text) for r in rows}
        assert not near_duplicates([r.text for r in rows], training, threshold=0.6)


@pytest.mark.parametrize("directory, calm_labels", [(DISGUISED_DIR, {"ordinary"}), (SHOWN_DIR, {"ordinary", "advert"})])
def test_the_sets_in_another_hand_are_separate_from_training(knowledge, directory, calm_labels):
    """bench/checker_disguised (scams told without the alarm words) and bench/checker_shown
    (messages shown with a resident's words) measure the checker on texts never trained on."""
    rows = load_another_hand(directory)
    counts = Counter(r.label for r in rows)
    assert set(counts) == REQUIRED_TYPES | calm_labels and min(counts.values()) >= 80, counts
    assert {r.kind for r in rows} == {"sms", "chat", "narrative", "spoken"}
    training = [e.text for e in knowledge.examples]
    assert not {_norm(t) for t in training} & {_norm(r.text) for r in rows}
    assert not near_duplicates([r.text for r in rows], training, threshold=0.6)


@pytest.mark.parametrize("masked, filled_like", [
    ("请联系xxxxxxxxxxx王经理", r"请联系1[3-9]\d{9}王经理"),  # msglog hides every digit as x
    ("预约请致电177****6453。退订回TD", r"预约请致电177\d{4}6453。退订回TD"),
    ("请致电400-xxx-xxxx", r"请致电400-[1-9]\d{2}-[1-9]\d{3}"),
    ("您的MU5xx3航班", r"您的MU5\d{2}3航班"),
    ("详情请登入：www . xxxxxx . com .期待", r"详情请登入：www\.[a-z]{6}\.com \.期待"),
    ("x月份全场x折", r"[1-9]月份全场[1-9]折"),
    ("Xbox和taxi不是号码", r"Xbox和taxi不是号码"),
    ("看房即送大礼*包", r"看房即送大礼\*包"),
])
def test_masked_numbers_and_links_are_filled_in_as_real_messages_have_them(masked, filled_like):
    """The bench runs msglog and the held-out ordinary texts again with their masks filled in,
    as the independent set of real messages is run."""
    filled = fill_masks(masked)
    assert re.fullmatch(filled_like, filled), filled
    assert fill_masks(masked) == filled  # the same text is filled the same way every run


def test_the_independent_sets_seven_categories_are_made_of_our_scam_types(knowledge):
    assert set(INDEPENDENT_SET_CATEGORIES) <= set(knowledge.scam_types)
    assert len(set(INDEPENDENT_SET_CATEGORIES.values())) == 7


def test_the_independent_sets_figure_counts_romance_and_investment_as_one():
    """A romance scam named investment is right in the set's categories; an ordinary text named
    loan_credit is a false alarm in one of them, and one named fake_prize in none."""
    from types import SimpleNamespace

    from bench.checker_bench import independent_set_lines

    def verdict(scam_type: str | None, risk: str) -> SimpleNamespace:
        return SimpleNamespace(scam_type=scam_type, risk=risk)

    labelled = [("romance", verdict("investment", "high")), ("loan_credit", verdict("loan_credit", "high")),
                ("ordinary", verdict("loan_credit", "medium")), ("advert", verdict(None, "none")),
                ("ordinary", verdict("fake_prize", "high")), ("ordinary", verdict(None, "low"))]
    [line] = independent_set_lines(labelled, ("ordinary", "advert"))
    # romance_or_investment F1 1.0; loan_credit precision 1/2, recall 1, F1 2/3; five categories 0.
    assert "(2 scams, 4 ordinary and advert): macro-F1 0.238 " in line
    assert "romance_or_investment 1.00" in line and "loan_credit 0.67" in line
    assert line.endswith("ordinary rated high 25.0%, medium or high 50.0%")


def test_every_example_batch_has_every_style(knowledge):
    """Each round of examples (examples/*.yml, examples/<batch>/) covers every style, so the
    bench's fixed test set (the first batch) and the hold-out stay comparable."""
    styles: dict[str, set[str]] = {}
    for e in knowledge.examples:
        styles.setdefault(e.batch, set()).add(e.kind)
    assert "batch1" in styles
    assert all(kinds == {"sms", "chat", "narrative", "spoken"} for kinds in styles.values()), styles


def test_knowledge_gives_only_official_numbers(knowledge):
    allowed = {"110", "96110", "120"}
    texts = [c.say for c in knowledge.contacts.values()] + [f.answer for f in knowledge.faqs.values()]
    for t in knowledge.scam_types.values():
        texts += list(t.advice_not_paid) + list(t.advice_paid) + [t.official_line]
    for situation in knowledge.procedures.situations.values():
        texts += list(situation.say) + list(situation.voice)
    # Any run of three or more digits that is not a year must be one of the official numbers.
    numbers = {n for text in texts for n in re.findall(r"(?<!\d)\d{3,}(?![\d年])", text)}
    assert numbers <= allowed, numbers - allowed


def test_every_follow_up_question_has_a_short_voice_version(knowledge):
    for scam in knowledge.scam_types.values():
        for question in scam.follow_up_questions:
            assert len(question.voice) <= 30, (scam.code, question.voice)
