from __future__ import annotations

import subprocess
import sys

from rasa_sdk.executor import CollectingDispatcher

from actions.check import ActionCheckScam, same_point
from actions.privacy import ActionWarnSensitive
from actions.report import ActionExplainReporting, ActionMoneyMovingNow, ActionReportScammed
from tests.actions_helpers import slot_events, texts, tracker_for
from tests.conftest import ROOT


async def test_a_clear_scam_gets_a_verdict_that_names_the_type_and_110(knowledge) -> None:
    dispatcher = CollectingDispatcher()
    tracker = tracker_for("自称公安局的人打电话说我的银行卡涉嫌洗钱，要我把存款转到安全账户接受资金清查，还不让告诉家人", "check_situation")
    events = await ActionCheckScam().run(dispatcher, tracker, {})
    said = texts(dispatcher)
    slots = slot_events(events)
    assert slots["risk"] == "high"
    assert slots["scam_type"] == "impersonate_police"
    assert knowledge.scam_types["impersonate_police"].name in said
    assert "安全账户" in said  # the red flag in the user's own words
    assert "110" in said
    assert slots["check_pending"] is False


def test_loading_the_check_action_leaves_nothing_for_the_first_message_to_load() -> None:
    # A fresh process, as the action server is: jieba's dictionary is loaded with the module.
    probe = "import actions.check; from knowledge.classifier import _segmenter; print(_segmenter.cache_info().currsize)"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.split()[-1] == "1"


async def test_an_unclear_case_gets_a_follow_up_question_then_a_verdict(knowledge) -> None:
    dispatcher = CollectingDispatcher()
    tracker = tracker_for("有个网友最近天天找我聊天", "check_situation")
    events = await ActionCheckScam().run(dispatcher, tracker, {})
    slots = slot_events(events)
    assert slots["check_pending"] is True
    asked_flag = slots["check_question"]
    questions = {q.confirms: q.ask for t in knowledge.scam_types.values() for q in t.follow_up_questions}
    assert texts(dispatcher) == questions[asked_flag]

    # The resident answers yes until the checker has enough; at most three questions.
    for _ in range(3):
        dispatcher = CollectingDispatcher()
        tracker = tracker_for("是的", "affirm", slots=slots)
        events = await ActionCheckScam().run(dispatcher, tracker, {})
        slots = {**slots, **slot_events(events)}
        if not slots["check_pending"]:
            break
    assert slots["check_pending"] is False
    assert len(slots["check_asked"]) <= 3
    assert slots["risk"] in ("high", "medium")
    assert "110" in texts(dispatcher)


async def test_no_to_every_follow_up_question_leaves_the_case_calm() -> None:
    """Only a yes makes a calm case at least medium (knowledge/checker.py); a no adds nothing."""
    dispatcher = CollectingDispatcher()
    slots = slot_events(await ActionCheckScam().run(dispatcher, tracker_for("有个网友最近天天找我聊天", "check_situation"), {}))
    assert slots["check_pending"] is True
    for _ in range(3):
        dispatcher = CollectingDispatcher()
        slots = {**slots, **slot_events(await ActionCheckScam().run(dispatcher, tracker_for("不是", "deny", slots=slots), {}))}
        if not slots["check_pending"]:
            break
    assert slots["check_pending"] is False and slots["check_confirmed"] == []
    assert slots["risk"] in ("low", "none") and slots["scam_type"] is None


async def test_an_ordinary_message_stays_calm() -> None:
    dispatcher = CollectingDispatcher()
    tracker = tracker_for("【菜鸟驿站】您的快递已到小区东门驿站，取件码 3-2-1108，请于今晚8点前取件", "check_message")
    events = await ActionCheckScam().run(dispatcher, tracker, {})
    slots = slot_events(events)
    assert slots["risk"] == "none" and slots["scam_type"] is None
    assert "没有发现明显的诈骗特征" in texts(dispatcher)


async def test_money_already_gone_puts_110_first() -> None:
    dispatcher = CollectingDispatcher()
    await ActionReportScammed().run(dispatcher, tracker_for("我被骗了五万", "report_scammed"), {})
    first = dispatcher.messages[0]["text"]
    assert "110" in first.split("\n")[1]  # the first step, right after the calming line


async def test_money_moving_now_says_stop_before_110() -> None:
    dispatcher = CollectingDispatcher()
    await ActionMoneyMovingNow().run(dispatcher, tracker_for("他还在跟我屏幕共享", "money_going_out"), {})
    said = texts(dispatcher)
    assert "110" in said
    assert said.index("屏幕共享") < said.index("110")


async def test_voice_gets_the_short_version(knowledge) -> None:
    web, voice = CollectingDispatcher(), CollectingDispatcher()
    await ActionReportScammed().run(web, tracker_for("我被骗了", "report_scammed"), {})
    await ActionReportScammed().run(voice, tracker_for("我被骗了", "report_scammed", channel="voice"), {})
    assert len(texts(voice)) < len(texts(web))
    assert "110" in texts(voice)


async def test_a_typed_secret_gets_the_warning_and_the_bank_advice(knowledge) -> None:
    dispatcher = CollectingDispatcher()
    await ActionWarnSensitive().run(dispatcher, tracker_for("验证码是〔验证码已隐去〕", "share_sensitive"), {})
    said = texts(dispatcher)
    assert knowledge.procedures.sensitive_warning in said
    assert knowledge.contacts["bank_hotline"].say in said


async def test_how_to_report_names_110_and_the_evidence(knowledge) -> None:
    dispatcher = CollectingDispatcher()
    await ActionExplainReporting().run(dispatcher, tracker_for("去哪报案", "how_to_report"), {})
    said = texts(dispatcher)
    assert "110" in said
    assert knowledge.procedures.evidence_general[0] in said


async def test_the_risk_level_is_said_in_words_and_the_key_sentence_once(knowledge) -> None:
    dispatcher = CollectingDispatcher()
    tracker = tracker_for("客服打电话说我开通了百万保障，每个月扣费，让我下载会议软件然后共享屏幕帮我关闭", "check_situation")
    events = await ActionCheckScam().run(dispatcher, tracker, {})
    said = texts(dispatcher)
    verdict = said.splitlines()
    assert slot_events(events)["risk"] == "high"
    assert verdict[0].startswith("风险等级：红色（高风险）")
    assert not any(mark in said for mark in "🔴🟠🟡🟢")  # shown as an empty box without a colour-emoji font
    # Screen sharing and the meeting app, the most dangerous part of what was said, come first.
    flags = verdict[verdict.index("我注意到这些可疑的地方：") + 1 :][:2]
    assert all("最危险" in line for line in flags)
    assert any("共享屏幕" in line for line in flags) and any("会议软件" in line for line in flags)
    scam = knowledge.scam_types[slot_events(events)["scam_type"]]
    advice = said.split("现在请这样做：", 1)[1]
    assert scam.official_line in said
    assert not any(same_point(line, scam.official_line) for line in advice.splitlines())


async def test_an_advert_is_answered_as_an_advert() -> None:
    dispatcher = CollectingDispatcher()
    text = "【鲜丰果园】会员专享：本周六全场水果8.8折，满99元再送草莓一盒，到店出示会员码即可。详询0571-86001234 拒收请回复R"
    events = await ActionCheckScam().run(dispatcher, tracker_for(text, "check_message"), {})
    slots = slot_events(events)
    assert slots["risk"] in ("none", "low") and slots["scam_type"] is None
    assert {"response": "utter_looks_like_advert"}.items() <= dispatcher.messages[-1].items()


async def test_an_advert_that_charges_to_claim_a_prize_is_still_a_scam() -> None:
    dispatcher = CollectingDispatcher()
    text = "【幸运用户】恭喜您被抽中店庆特等奖，奖品为苹果笔记本一台，请先支付298元保证金和邮费，添加客服微信lq8866领取"
    events = await ActionCheckScam().run(dispatcher, tracker_for(text, "check_message"), {})
    slots = slot_events(events)
    assert slots["risk"] in ("high", "medium") and slots["scam_type"] == "fake_prize"
    assert not any(m.get("response") == "utter_looks_like_advert" for m in dispatcher.messages)


# --- links, numbers and accounts: the look-up (issue #19) ------------------------------------

from datetime import date  # noqa: E402

import pytest  # noqa: E402

from actions import common, lookup as lookup_action  # noqa: E402
from bot.services.reports.errors import StorageError  # noqa: E402
from bot.services.risklist import RiskList  # noqa: E402
from bot.services.risklist_csv import Entry  # noqa: E402
from knowledge.lookup_answers import lookup_texts  # noqa: E402
from knowledge.risk_values import normalise  # noqa: E402

LISTED_PHONE = "+852 6234 1188"
LISTED_LINK = "pay-check.top"


@pytest.fixture(autouse=True)
def own_database(tmp_path, monkeypatch):
    """Every action here reads a report database of the test's own (the risk list lives there)."""
    from cryptography.fernet import Fernet

    monkeypatch.setenv("FANZHA_DATABASE_URL", f"sqlite:///{tmp_path / 'fanzha.db'}")
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("FANZHA_REPORT_QUEUE", str(tmp_path / "queue"))
    common.report_store.cache_clear()
    yield
    common.report_store().close()
    common.report_store.cache_clear()


def import_listed(risk_list: RiskList) -> None:
    """The centre's list with one phone number and one site on it."""
    risk_list.import_entries([
        Entry(2, "phone", normalise("phone", LISTED_PHONE), "high", "市反诈中心预警名单", date(2026, 1, 10), "impersonate_police"),
        Entry(3, "link", normalise("link", LISTED_LINK), "medium", "市反诈中心预警名单", date(2025, 12, 3), None),
    ])


@pytest.fixture()
def listed() -> RiskList:
    risk_list = RiskList(common.report_store())
    import_listed(risk_list)
    return risk_list


async def look_up(text: str, channel: str = "rest", intent: str = "check_contact") -> tuple[str, dict]:
    dispatcher = CollectingDispatcher()
    events = await ActionCheckScam().run(dispatcher, tracker_for(text, intent, channel=channel), {})
    return texts(dispatcher), slot_events(events)


async def test_a_number_on_the_risk_list_says_which_list_and_when(listed, knowledge) -> None:
    said, slots = await look_up(f"{LISTED_PHONE}这个号码是骗子吗")
    assert "在反诈中心的风险名单上：市反诈中心预警名单（高风险），列入时间2026年1月10日" in said
    assert knowledge.scam_types["impersonate_police"].name in said
    assert "境外号码" in said  # and what its shape shows
    assert lookup_texts().not_on_list not in said  # everything asked about was on the list
    assert slots["risk"] == "high" and slots["check_pending"] is False


async def test_a_link_under_a_listed_site_hits_the_site(listed) -> None:
    said, slots = await look_up("https://www.pay-check.top/login?id=3 这个链接能点吗")
    assert "风险名单上：市反诈中心预警名单（中风险），列入时间2025年12月3日" in said
    assert slots["risk"] == "medium"


async def test_a_value_not_on_the_list_is_never_called_safe(listed) -> None:
    said, slots = await look_up("13923456781是不是诈骗电话")
    assert said.count(lookup_texts().not_on_list) == 1
    assert "安全" not in said.replace(lookup_texts().not_on_list, "")
    assert "号码「13923456781」：从号码本身看不出问题" in said
    assert slots["risk"] == "none"


async def test_an_official_hotline_is_recognised_without_telling_anyone_to_call_it(listed) -> None:
    said, _ = await look_up("95588是建行的吗")
    assert "中国工商银行的官方客服电话一致" in said and "自己查到的号码" in said
    assert "中国建设银行" in said  # the name asked about does not match
    assert "拨打95588" not in said and "打95588" not in said


async def test_a_safe_account_is_masked_and_called_what_it_is(listed) -> None:
    said, slots = await look_up("对方说是公安局的，让我把钱转到安全账户，卡号6222 0212 3456 7890")
    assert "6222 **** **** 7890" in said and "6222 0212 3456 7890" not in said
    assert "国家没有这样的账户" in said
    assert "风险等级：红色（高风险）" in said  # the words around the account are a warning sign too
    assert slots["risk"] == "high"


async def test_a_question_without_a_value_asks_for_it(listed) -> None:
    said, slots = await look_up("帮我查一下这个号码")
    assert said.startswith(lookup_texts().ask_for_value)
    assert "风险名单" not in said and slots["check_pending"] is False


async def test_a_card_number_the_channel_masked_is_explained_not_looked_up(listed) -> None:
    said, _ = await look_up("这个卡号〔银行卡号已隐去〕是不是涉诈账户")
    assert lookup_texts().card_was_masked in said and lookup_texts().ask_for_value not in said


async def test_the_phone_line_reads_numbers_digit_by_digit_in_short_sentences(listed) -> None:
    said, _ = await look_up("13923456781是不是诈骗电话", channel="voice")
    assert "幺三九，二三四五，六七八幺" in said and "13923456781" not in said
    assert lookup_texts().voice_advice_unknown in said and lookup_texts().advice_unknown not in said


async def test_a_checked_message_names_what_it_holds_the_suspicious_first(listed) -> None:
    text = ("【物业通知】本周六停水，详询物业 0571-86001234。老住户群另有消息：领补贴请点 http://45.32.11.9/bt ，"
            "或者加客服 17012345678，下载 https://app-down.vip/butie.apk ，退款到 pay-check.top")
    said, slots = await look_up(text, intent="check_message")
    section = said.split(lookup_texts().message_heading, 1)[1].splitlines()[1:]
    assert len([line for line in section if line.startswith("· ")]) == 3  # at most three
    assert lookup_texts().more.format(count=2) in section
    assert "0571-86001234" not in "\n".join(section)  # the ordinary number is left for last, and cut
    assert slots["risk"] in ("low", "medium", "high")


async def test_a_calm_message_with_a_listed_site_is_no_longer_calm(listed) -> None:
    text = "【菜鸟驿站】您的快递已到小区东门驿站，取件码 3-2-1108，请于今晚8点前取件，详情 pay-check.top"
    said, slots = await look_up(text, intent="check_message")
    assert slots["risk"] == "medium"
    assert "没有发现明显的诈骗特征" not in said and "风险名单上" in said


async def test_a_risk_list_that_cannot_be_read_is_said_once_and_never_reported_as_a_miss(monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise StorageError("the risk list could not be read: OperationalError")

    monkeypatch.setattr(RiskList, "lookup", broken)
    said, _ = await look_up("t.cn/A6BxQz 这个短链接安全吗")
    assert said.count(lookup_texts().list_unavailable) == 1
    assert lookup_texts().not_on_list not in said
    assert "短链接" in said  # the shape is still named
    lookup_action._opened.clear()


def test_a_resident_asking_about_a_number_gets_the_look_up_through_the_real_assistant(shared_assistant) -> None:
    """The understanding, the rule and the action server together: "帮我查一下这个号码 …" over REST.
    The shared assistant (tests/conftest.py), with the list put in its report database: no other
    test there asks about these two values."""
    running = shared_assistant
    with RiskList.open(running.database_url, env={"FANZHA_REPORT_KEY": running.report_key}) as risk_list:
        import_listed(risk_list)
    replies = " ".join(m.get("text", "") for m in running.say(f"帮我查一下这个号码 {LISTED_PHONE}"))
    assert "在反诈中心的风险名单上：市反诈中心预警名单（高风险）" in replies and "境外号码" in replies
    replies = " ".join(m.get("text", "") for m in running.say("http://45.32.11.9/bt 这个链接能点吗"))
    assert "IP地址" in replies and lookup_texts().not_on_list in replies


async def test_a_link_the_understanding_missed_is_looked_up_not_misunderstood(listed) -> None:
    from actions.fallback import ActionDefaultFallback

    dispatcher = CollectingDispatcher()
    text = f"这个能点吗 https://{LISTED_LINK}/claim"
    events = await ActionDefaultFallback().run(dispatcher, tracker_for(text, "nlu_fallback"), {})
    said = texts(dispatcher)
    assert "风险名单上：市反诈中心预警名单" in said and "没太明白" not in said
    assert slot_events(events)["risk"] == "medium"
    assert not any(e.get("event") == "rewind" for e in events)  # the question stays in the conversation


async def test_words_without_a_value_still_get_the_plain_fallback() -> None:
    from actions.fallback import ActionDefaultFallback

    dispatcher = CollectingDispatcher()
    events = await ActionDefaultFallback().run(dispatcher, tracker_for("嗯嗯那个啥", "nlu_fallback"), {})
    assert "没太明白" in texts(dispatcher) and events[-1]["event"] == "rewind"
