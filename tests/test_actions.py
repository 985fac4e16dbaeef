from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.check import ActionCheckScam, same_point
from actions.privacy import ActionWarnSensitive
from actions.report import ActionExplainReporting, ActionMoneyMovingNow, ActionReportScammed
from tests.actions_helpers import slot_events, texts, tracker_for


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


async def test_an_unclear_case_gets_a_follow_up_question_then_a_verdict(knowledge) -> None:
    dispatcher = CollectingDispatcher()
    tracker = tracker_for("有个网友最近天天跟我聊天，挺关心我的", "check_situation")
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
