"""The 报案材料摘要, the evidence checklist and the recovery warning built from a report's answers."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from knowledge.case_summary import (
    SKIPPED,
    STORY_MAX_CHARS,
    VOICE_MAX_CHARS,
    build_case_texts,
    case_summary,
    evidence_checklist,
    field_keys,
    mask_report_fields,
    recovery_warning,
    sms_text,
)
from knowledge.loader import KNOWLEDGE_DIR, KnowledgeError, load_knowledge
from knowledge.spoken import digits_aloud, integer_aloud, yuan_aloud
from tests.conftest import ROOT

ACCOUNT = "6222021234567890123"
PHONE = "13812345678"


def answers(**overrides):
    fields = {
        "happened_at": "昨天晚上8点",
        "amount": "5万",
        "payment_channel": "bank_card",
        "receiving_account": ACCOUNT,
        "receiving_name": "张三",
        "receiving_bank": "某某银行",
        "scammer_contact": f"电话{PHONE}",
        "platform": "某某任务APP",
        "story": "网上看到兼职广告，进了任务群，先返了佣金，后来让我垫付做连单，提现不了。",
    }
    fields.update(overrides)
    return fields


def spelled(number: str, kb) -> str:
    return digits_aloud(number, kb.procedures.case_summary.voice_digits)


# --- the summary --------------------------------------------------------------------


def test_text_summary_lists_each_answer_under_its_label(knowledge):
    summary = case_summary(answers(), "shuadan", "text", reference="FZ-20261122-7K3Q", kb=knowledge)
    wording = knowledge.procedures.case_summary
    assert summary.splitlines()[0] == wording.title
    assert "FZ-20261122-7K3Q" in summary
    assert knowledge.scam_types["shuadan"].name in summary
    assert knowledge.procedures.payment_channels["bank_card"].name in summary
    for spec in wording.fields:
        assert spec.label + "：" in summary, spec.key
    assert "50,000元" in summary
    # Long numbers are grouped for reading out, and stay complete.
    assert "6222 0212 3456 7890 123" in summary
    assert "138 1234 5678" in summary


def test_the_summary_differs_by_payment_channel(knowledge):
    channels = knowledge.procedures.payment_channels
    bank = case_summary(answers(payment_channel="bank_card"), "shuadan", kb=knowledge)
    alipay = case_summary(answers(payment_channel="alipay"), "shuadan", kb=knowledge)
    assert channels["bank_card"].name in bank and channels["alipay"].name not in bank
    assert channels["alipay"].name in alipay and channels["bank_card"].name not in alipay


def test_the_summary_differs_by_scam_type(knowledge):
    police = case_summary(answers(), "impersonate_police", kb=knowledge)
    shuadan = case_summary(answers(), "shuadan", kb=knowledge)
    assert knowledge.scam_types["impersonate_police"].name in police
    assert knowledge.scam_types["impersonate_police"].name not in shuadan


def test_a_skipped_answer_is_named_and_an_unasked_one_left_out(knowledge):
    fields = answers(receiving_name=SKIPPED, receiving_bank=None, platform="  ")
    labels = {f.key: f.label for f in knowledge.procedures.case_summary.fields}
    text = case_summary(fields, "shuadan", kb=knowledge)
    missing_line = text.splitlines()[-1]
    assert labels["receiving_name"] in missing_line
    assert labels["receiving_bank"] not in text and labels["platform"] not in text
    assert SKIPPED not in text
    voice = case_summary(fields, "shuadan", "voice", kb=knowledge)
    assert SKIPPED not in voice and "张三" not in voice
    texts = build_case_texts(fields, "shuadan", kb=knowledge)
    assert texts.missing == (labels["receiving_name"],)


def test_a_report_with_every_question_skipped_still_gives_a_summary(knowledge):
    fields = {key: SKIPPED for key in field_keys(knowledge)}
    text = case_summary(fields, None, kb=knowledge)
    assert text.splitlines()[0] == knowledge.procedures.case_summary.title
    assert all(f.label in text for f in knowledge.procedures.case_summary.fields)
    voice = case_summary(fields, None, "voice", kb=knowledge)
    assert voice.startswith(knowledge.procedures.case_summary.voice_intro)


def test_an_amount_that_is_not_a_number_is_kept_as_said(knowledge):
    text = case_summary(answers(amount="记不清了，好几笔"), "shuadan", kb=knowledge)
    assert "记不清了，好几笔" in text


def test_an_approximate_amount_says_so(knowledge):
    approx = knowledge.procedures.case_summary.approximately
    assert f"{approx}50,000元" in case_summary(answers(amount="5万多"), "shuadan", kb=knowledge)
    assert f"{approx}2,000元" in case_summary(answers(amount="大概两千块"), "shuadan", kb=knowledge)
    assert approx + "3,500元" not in case_summary(answers(amount="3千5"), "shuadan", kb=knowledge)


def test_a_long_story_is_cut_in_the_summary(knowledge):
    story = "对方一直让我充值。" * 40
    text = case_summary(answers(story=story), "shuadan", kb=knowledge)
    line = next(row for row in text.splitlines() if row.startswith("事情经过"))
    assert len(line) <= len("事情经过：") + STORY_MAX_CHARS + 1 and line.endswith("…")


def test_secrets_never_reach_the_summary_but_the_receiving_account_does(knowledge):
    fields = answers(
        story="对方让我报验证码，验证码是482913，密码是abc12345，我的卡号6217001234567890123也给了",
        receiving_account=ACCOUNT,
    )
    for kind in ("text", "voice"):
        summary = case_summary(fields, "fake_customer_service", kind, kb=knowledge)
        flat = re.sub(r"[\s，]", "", summary)
        for secret in ("482913", "abc12345", "6217001234567890123"):
            assert secret not in flat, (kind, secret)
    assert "6222 0212 3456 7890 123" in case_summary(fields, "fake_customer_service", kb=knowledge)
    masked = mask_report_fields(fields)
    assert masked["receiving_account"] == ACCOUNT
    two = mask_report_fields({"receiving_account": f"{ACCOUNT}，还有一张6217009876543210987，验证码是482913"})
    assert two["receiving_account"] == f"{ACCOUNT}，还有一张6217009876543210987，验证码是〔验证码已隐去〕"
    assert "〔验证码已隐去〕" in masked["story"] and "〔密码已隐去〕" in masked["story"]


def test_bad_channel_kind_or_scam_type_is_a_clear_error(knowledge):
    with pytest.raises(ValueError, match="channel kind"):
        case_summary(answers(), "shuadan", "fax", kb=knowledge)
    with pytest.raises(ValueError, match="unknown scam type"):
        case_summary(answers(), "no_such_type", kb=knowledge)


# --- the voice summary --------------------------------------------------------------


def test_voice_summary_reads_numbers_digit_by_digit_and_the_amount_as_words(knowledge):
    voice = case_summary(answers(), "shuadan", "voice", kb=knowledge)
    assert not re.search(r"\d{3}", voice), voice  # short numbers such as 8点 read naturally
    assert spelled(ACCOUNT, knowledge) in voice
    assert spelled(PHONE, knowledge) in voice
    assert "五万元" in voice
    assert knowledge.scam_types["shuadan"].name in voice
    # The story is for the text version only.
    assert "任务群" not in voice


@pytest.mark.parametrize("channel", ["bank_card", "alipay", "wechat_pay", "unionpay", "cash", "gift_card", "crypto"])
def test_voice_summary_fits_in_45_seconds_even_with_long_answers(knowledge, channel):
    long_answers = answers(
        payment_channel=channel,
        happened_at="前天下午三点多到昨天晚上十一点，前后一共转了好几次",
        amount="123456789.5元",
        receiving_account="6222021234567890123，还有一张6217009876543210987",
        receiving_name="一个叫张某某的人，另一个户名是某某商贸有限公司",
        receiving_bank="中国某某银行股份有限公司某某省分行营业部",
        scammer_contact="电话13812345678和13987654321，微信号abcdefghijk，QQ号123456789",
        platform="一个叫某某国际的投资APP，还有一个叫某某财富的网站",
    )
    for code in knowledge.scam_types:
        voice = case_summary(long_answers, code, "voice", kb=knowledge)
        # About four Chinese characters a second: 180 characters is 45 seconds.
        assert len(voice) <= VOICE_MAX_CHARS, (code, len(voice), voice)
        assert voice.endswith("。")
        assert "一亿两千三百四十五万六千七百八十九元五角" in voice  # the amount comes early and is never dropped


def test_numbers_said_aloud():
    assert yuan_aloud(50000) == "五万元"
    assert yuan_aloud(3500) == "三千五百元"
    assert yuan_aloud(10200) == "一万零二百元"
    assert yuan_aloud(20000) == "两万元"
    assert yuan_aloud(100010) == "十万零一十元"
    assert yuan_aloud(12.5) == "十二元五角"
    assert yuan_aloud(1001.01) == "一千零一元零一分"
    assert integer_aloud(123456789) == "一亿两千三百四十五万六千七百八十九"
    assert digits_aloud("打13812345678", "零幺二三四五六七八九") == "打幺三八，幺二三四，五六七八"
    assert digits_aloud("晚上8点", "零幺二三四五六七八九") == "晚上8点"
    with pytest.raises(ValueError):
        yuan_aloud(0)


# --- the evidence checklist ---------------------------------------------------------


def test_checklist_is_tailored_to_the_payment_channel(knowledge):
    channels = knowledge.procedures.payment_channels
    lists = {code: evidence_checklist(answers(payment_channel=code), "shuadan", kb=knowledge) for code in channels}
    for code, items in lists.items():
        assert set(channels[code].evidence) <= set(items), code
        for other in channels:
            if other != code:
                assert not set(channels[other].evidence) - set(channels[code].evidence) <= set(items), (code, other)
    assert len({items for items in lists.values()}) == len(channels)
    assert any("交易哈希" in item for item in lists["crypto"])
    assert any("监控" in item for item in lists["cash"])


def test_checklist_is_tailored_to_the_scam_type(knowledge):
    service = evidence_checklist(answers(), "fake_customer_service", kb=knowledge)
    shuadan = evidence_checklist(answers(), "shuadan", kb=knowledge)
    assert set(knowledge.scam_types["fake_customer_service"].evidence) <= set(service)
    assert any("屏幕共享" in item for item in service)  # the screen-sharing app
    assert not any("屏幕共享" in item for item in shuadan)
    assert any("任务群" in item for item in shuadan)  # the platform's chat records


def test_checklist_always_has_the_general_items_and_handles_unknown_channels(knowledge):
    general = knowledge.procedures.evidence_general
    for channel in ("bank_card", "银行卡转账", ["alipay", "wechat_pay"], "我也说不清", None, SKIPPED):
        items = evidence_checklist(answers(payment_channel=channel), None, kb=knowledge)
        assert set(general) <= set(items)
        assert len(items) == len(set(items))
    both = evidence_checklist(answers(payment_channel=["alipay", "wechat_pay"]), None, kb=knowledge)
    channels = knowledge.procedures.payment_channels
    assert set(channels["alipay"].evidence) | set(channels["wechat_pay"].evidence) <= set(both)
    by_name = evidence_checklist(answers(payment_channel=channels["cash"].name), None, kb=knowledge)
    assert set(channels["cash"].evidence) <= set(by_name)


def test_voice_checklist_is_short_and_keeps_the_first_items(knowledge):
    items = evidence_checklist(answers(payment_channel="crypto"), "investment", "voice", kb=knowledge)
    assert items == (
        knowledge.procedures.payment_channels["crypto"].evidence[0],
        knowledge.scam_types["investment"].evidence[0],
        knowledge.procedures.evidence_voice,
    )
    assert sum(len(i) for i in items) <= VOICE_MAX_CHARS


def test_every_scam_type_and_channel_has_evidence_and_channels_match_the_nlu(knowledge):
    assert all(t.evidence for t in knowledge.scam_types.values())
    codes = set(knowledge.procedures.payment_channels)
    values = set()
    for path in (ROOT / "nlu").glob("*.yml"):
        text = path.read_text(encoding="utf-8")
        values |= set(re.findall(r'"entity": "payment_channel", "value": "([a-z_]+)"', text))
    assert values and values <= codes, values - codes
    # The checker's lexicon names the same channels (a new one there needs its evidence here).
    lexicon = yaml.safe_load((KNOWLEDGE_DIR / "lexicon.yml").read_text(encoding="utf-8"))
    assert set(lexicon["payment_channels"]) == codes


# --- recovery warning and SMS text -------------------------------------------------


def test_recovery_warning_is_given_on_both_channels(knowledge):
    for kind in ("text", "voice"):
        warning = recovery_warning(kind, kb=knowledge)
        assert warning == knowledge.procedures.recovery_warning
        assert "追回" in warning and "收" in warning
        assert build_case_texts(answers(), "recovery_scam", kind, kb=knowledge).recovery_warning == warning


def test_sms_text_is_the_summary_with_its_reference(knowledge):
    body = sms_text(answers(), "shuadan", "FZ-20261122-7K3Q", kb=knowledge)
    assert "FZ-20261122-7K3Q" in body
    assert case_summary(answers(), "shuadan", reference="FZ-20261122-7K3Q", kb=knowledge) in body


# --- the knowledge files are validated ------------------------------------------------


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_a_scam_type_without_evidence_stops_loading(knowledge_copy):
    _edit(knowledge_copy / "scam_types" / "romance.yml", lambda d: d.pop("evidence"))
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(knowledge_copy)
    assert error.value.field == "evidence" and error.value.path.endswith("romance.yml")


def test_a_summary_template_with_a_wrong_placeholder_stops_loading(knowledge_copy):
    _edit(knowledge_copy / "procedures.yml", lambda d: d["case_summary"].update(reference="编号 {ref}"))
    with pytest.raises(KnowledgeError, match=r"case_summary\.reference.*\{reference\}"):
        load_knowledge(knowledge_copy)


def test_a_duplicate_payment_channel_stops_loading(knowledge_copy):
    _edit(knowledge_copy / "procedures.yml", lambda d: d["payment_channels"].append(dict(d["payment_channels"][0])))
    with pytest.raises(KnowledgeError, match="duplicate payment channel"):
        load_knowledge(knowledge_copy)
