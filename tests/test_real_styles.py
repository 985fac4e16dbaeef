"""The checker on the ways residents really write: traditional characters, spaces and symbols
inside words, homophones, masked or real numbers and links, adverts. Texts written for these
tests; none is in the training examples."""
from __future__ import annotations

import pytest

from knowledge.loader import KnowledgeError
from knowledge.normalise import Normaliser, load_variants


@pytest.mark.parametrize(
    "text, flag, words",
    [
        ("對方讓我把存款轉到安全帳戶配合調查", "safe_account", "安全帳戶"),
        ("客服叫我点开 屏 幕 共 享，说这样才能退钱", "screen_share", "屏 幕 共 享"),
        ("他说要我报一下验正码 就是手机上收到的那个", "verification_code_request", "报一下验正码"),
        ("对方说把卡贴在手机背面就能验证", "nfc_card_read", "卡贴在手机"),
    ],
)
def test_red_flags_survive_traditional_characters_spacing_and_homophones(checker, text, flag, words):
    hits = {h.flag: h for h in checker.check(text).red_flags}
    assert flag in hits
    hit = hits[flag]
    assert text[hit.start : hit.end] == hit.text and words in hit.text  # the resident's own words, exact span


def test_the_normaliser_keeps_a_map_back_to_the_original():
    normaliser = Normaliser({"帐户": "账户", "威信": "微信", "vx": "微信"})
    text = "加我威信，轉到安全 帳戶"
    normalised = normaliser(text)
    assert normalised.text == "加我微信,转到安全账户"
    start = normalised.text.index("安全账户")
    assert text[slice(*normalised.span(start, start + 4))] == "安全 帳戶"
    assert normaliser.text("vx") == "微信" and normaliser.text("vxworks") == "vxworks"


def test_a_malformed_spelling_file_names_the_field(tmp_path):
    path = tmp_path / "spelling.yml"
    path.write_text("variants:\n  账户: 帐户\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="variants.账户"):
        load_variants(path)
    path.write_text("variants:\n  账户: [帐户]\n  账号: [帐户]\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="already a spelling"):
        load_variants(path)


ADVERTS = [
    "【城东健身】新店开业，年卡立减600元，前50名再送私教课2节，地址：解放路88号。退订回T",
    "【某某影城】周三会员日，全天观影19.9元起，购票请用影城官方小程序。回TD退订",
    "亲爱的会员，您的积分将于本月底到期，可在商城App「我的-积分」兑换购物券，逾期作废。【优品生活】退订回N",
    "【某某教育】暑期少儿编程班火热报名中，试听课免费，报名热线0755-26601234，详情 http://edu-example.cn/summer 拒收请回复R",
]


@pytest.mark.parametrize("text", ADVERTS)
def test_ordinary_adverts_are_not_alarms_even_with_links_and_numbers(checker, text):
    verdict = checker.check(text)
    assert verdict.risk in ("none", "low"), (verdict.risk, verdict.scam_type)
    assert verdict.scam_type is None


def test_adverts_are_recognised_as_adverts(checker):
    assert sum(checker.check(text).advert for text in ADVERTS) >= 3


@pytest.mark.parametrize(
    "text, code",
    [
        ("恭喜您获得店庆幸运大奖，领奖前请先缴纳个人所得税680元，添加专员微信 lj2288 办理", "fake_prize"),
        ("是我 换号了 存一下 明天到你办公室找你 先帮我转两万给个朋友 我这边不方便", "impersonate_acquaintance"),
        ("我那个叫老师的带我们在群里买股票 说内部消息 让下个app 充了五万 现在提不出来", "investment"),
    ],
)
def test_short_real_style_scams_are_named(checker, text, code):
    verdict = checker.check(text)
    assert verdict.risk in ("high", "medium") and verdict.scam_type == code, (verdict.risk, verdict.scam_type)
