"""Links, phone numbers and accounts pulled from a message and what their shape says
(knowledge/indicators.py and the rules in indicators.yml, official_domains.yml, official_numbers.yml)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.lookup_bench import HARMLESS_GOAL, SETS, SUSPICIOUS_GOAL, evaluate
from knowledge.indicator_rules import load_indicator_rules
from knowledge.indicators import Indicator, find_indicators
from knowledge.loader import KNOWLEDGE_DIR, KnowledgeError
from knowledge.risk_values import normalise


def only(text: str, kind: str) -> Indicator:
    found = [i for i in find_indicators(text) if i.kind == kind]
    assert len(found) == 1, (text, found)
    return found[0]


def codes(text: str, kind: str) -> set[str]:
    return {f.code for f in only(text, kind).findings}


# --- links ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["http://103.45.67.89/icbc/login", "访问 45.77.120.31 登录后领取补贴",
                                  "http://8.210.33.150:8080/m/"])
def test_a_link_to_an_ip_address_is_suspicious(text: str) -> None:
    assert "ip_host" in codes(text, "link")
    assert only(text, "link").suspicious


@pytest.mark.parametrize("text", ["路由器后台 http://192.168.1.1", "版本1.2.3.4更新了", "第1.2.3.400条"])
def test_a_home_router_or_a_version_number_is_no_ip_host(text: str) -> None:
    assert not any(f.code == "ip_host" for i in find_indicators(text) for f in i.findings)


@pytest.mark.parametrize("text, brand", [
    ("icbc-cn.com", "中国工商银行"),  # an extra word
    ("a1ipay.com", "支付宝"),  # a digit for a letter
    ("www.bank-of-china.cc", "中国银行"),  # another ending
    ("http://icbc.com.cn.secure-check.top/login", "中国工商银行"),  # the official name inside another domain
    ("jd-tuikuan.cn", "京东"),  # a short name as a whole word
    ("https://www.abc-gov.cn.vip/", "政府机关"),
    ("fanzha-zhongxin.com", "国家反诈中心"),
    ("taoboa.com", "淘宝、天猫"),  # two letters swapped
    ("http://xn--czr93rq40bruk.com", "中国工商银行"),  # 工商银行.com
])
def test_a_look_alike_of_an_official_domain_names_whom_it_imitates(text: str, brand: str) -> None:
    link = only(text, "link")
    lookalike = [f for f in link.findings if f.code == "lookalike_domain"]
    assert lookalike and brand in lookalike[0].says and link.suspicious


@pytest.mark.parametrize("text", ["www.zaobao.com", "www.dongfang-yanjing.com", "www.jdcloud.com",
                                  "https://www.gov.uk/", "www.abcmouse.com", "www.xianfengguoyuan.com"])
def test_an_ordinary_domain_near_a_brand_is_no_look_alike(text: str) -> None:
    assert not only(text, "link").suspicious


@pytest.mark.parametrize("text, name", [("www.icbc.com.cn/login", "中国工商银行"), ("https://mp.weixin.qq.com/s/Xk3", "微信"),
                                        ("www.mps.gov.cn", "政府机关"), ("https://m.tb.cn/h.5xYz", "淘宝")])
def test_an_official_domain_is_known_official_and_never_called_safe(text: str, name: str) -> None:
    link = only(text, "link")
    assert [f.code for f in link.findings] == ["official_domain"]
    assert not link.suspicious and name in link.findings[0].says
    assert "安全" not in link.findings[0].says


@pytest.mark.parametrize("text", ["аlipay.com", "http://icbс.com.cn", "http://xn--lipay-3ve.com", "http://jd.cоm/refund"])
def test_letters_of_another_script_or_punycode_are_caught(text: str) -> None:
    link = only(text, "link")
    assert "idn_homograph" in {f.code for f in link.findings}
    assert "official_domain" not in {f.code for f in link.findings}


@pytest.mark.parametrize("text, expected, absent", [
    ("t.cn/A6BxQz", "shortener", None), ("is.gd/Xy7abc", "shortener", None),
    ("https://app-down.vip/jdgj.apk", "apk", None), ("https://fz-app.cc/install?file=safe.apk", "apk", None),
    ("https://icbc-verify.netlify.app", "free_hosting", None),
    ("https://lq.oss-cn-hangzhou.aliyuncs.com/index.html", "free_hosting", None),
    ("www.usdt-trade.vip", "scam_words_domain", None),
    ("http://www.icbc.com.cn@45.32.11.9/login", "userinfo_trick", "official_domain"),
])
def test_each_link_rule_fires_on_its_shape(text: str, expected: str, absent: str | None) -> None:
    found = codes(text, "link")
    assert expected in found and absent not in found


@pytest.mark.parametrize("text", ["https://example.com/apk-guide.html", "www.usdt-news.com", "www.xiaomei-dangao.shop",
                                  "www.aliyun.com", "https://www.bilibili.com/video/BV1xx411c7mD"])
def test_link_rules_stay_quiet_on_look_alike_harmless_shapes(text: str) -> None:
    assert not only(text, "link").suspicious


# --- phone numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("text, country", [("+852 5123 8876", "香港"), ("0085212345678", "香港"),
                                           ("+95 9 123 456 789", "缅甸"), ("+1 (202) 555-0143", "美国")])
def test_a_number_from_abroad_is_suspicious_and_names_the_country(text: str, country: str) -> None:
    phone = only(text, "phone")
    assert [f.code for f in phone.findings] == ["foreign_prefix"] and country in phone.findings[0].says


def test_a_mainland_number_with_86_in_front_is_not_from_abroad() -> None:
    phone = only("+86 138 1234 5678打了好几次电话给我", "phone")
    assert phone.value == "13812345678" and not phone.findings


def test_a_plus_in_front_of_a_bank_hotline_is_a_foreign_number_posing_as_the_bank() -> None:
    phone = only("+95588 打来说是工行", "phone")
    assert [f.code for f in phone.findings] == ["foreign_posing_official"]
    assert "缅甸" in phone.findings[0].says and "中国工商银行" in phone.findings[0].says


@pytest.mark.parametrize("text", ["17012345678", "171-2345-6789", "165 8888 1234", "+86 162 1234 5678"])
def test_a_virtual_operator_range_is_flagged(text: str) -> None:
    assert codes(text, "phone") == {"virtual_operator"}


@pytest.mark.parametrize("text", ["16612345678", "177 1234 5678", "199-1234-0000"])
def test_ordinary_ranges_starting_with_16_17_19_are_not_virtual(text: str) -> None:
    assert not only(text, "phone").findings


@pytest.mark.parametrize("text, name", [("他说是工行客服 0571-88889999", "中国工商银行"),
                                        ("400-820-8820是京东的官方电话吗", "京东"),
                                        ("自称农业银行客服 95566", "中国农业银行"),
                                        ("他说是建行客服，让我转到工行 13812345678", "中国建设银行")])
def test_a_customer_service_number_that_is_not_the_institutions_own_is_named(text: str, name: str) -> None:
    phone = only(text, "phone")
    flagged = [f for f in phone.findings if f.code == "not_official_hotline"]
    assert flagged and name in flagged[0].says and phone.suspicious


@pytest.mark.parametrize("text", ["工行客服 95588", "京东快递员 13812345678", "工商银行西湖支行 0571-87001234",
                                  "家具店客服 400-820-1234"])
def test_an_institution_named_next_to_an_ordinary_or_its_own_number_is_not_flagged(text: str) -> None:
    assert not only(text, "phone").suspicious


@pytest.mark.parametrize("text, name", [("95588是真的工行吗", "中国工商银行"), ("95188", "支付宝"),
                                        ("10086打来的 是真的不", "中国移动"), ("0571-88158198", "淘宝")])
def test_an_official_hotline_is_recognised_but_the_resident_is_told_to_find_the_number_themselves(text: str, name: str) -> None:
    phone = only(text, "phone")
    assert [f.code for f in phone.findings] == ["official_hotline"] and not phone.suspicious
    says = phone.findings[0].says
    assert name in says and "自己查到的号码" in says and "伪造" in says
    assert "安全" not in says and "请拨打这个" not in says


@pytest.mark.parametrize("text, code, words", [("打110报警", "emergency_number", "110报警电话"),
                                               ("0571-96110打给我的", "official_hotline", "96110"),
                                               ("96110", "official_hotline", "一定接听")])
def test_110_and_96110_are_recognised_with_their_own_words(text: str, code: str, words: str) -> None:
    phone = only(text, "phone")
    assert [f.code for f in phone.findings] == [code] and words in phone.findings[0].says


@pytest.mark.parametrize("text", ["花了110元", "住在1号楼110室", "一共12345个", "95000块"])
def test_a_short_number_with_a_unit_is_an_amount_not_a_phone(text: str) -> None:
    assert not [i for i in find_indicators(text) if i.kind == "phone"]


@pytest.mark.parametrize("text, code", [("00852开头的号码打给我，是不是骗子", "foreign_prefix"),
                                        ("170开头的号码能接吗", "virtual_operator"), ("400开头的电话是啥", "business_number")])
def test_a_prefix_alone_is_checked_like_a_number(text: str, code: str) -> None:
    assert codes(text, "phone") == {code}


def test_a_number_before_a_unit_is_no_prefix() -> None:
    assert not find_indicators("我家170平米，138块买的")


def test_a_mobile_claiming_to_be_customer_service_is_flagged_and_a_friends_is_not() -> None:
    assert codes("自称官方客服 13823456789", "phone") == {"personal_number_as_official"}
    assert not only("我妈的电话 13812345678", "phone").findings


def test_a_caller_claiming_to_be_police_is_told_to_call_110_and_a_stations_counter_is_not() -> None:
    phone = only("他说是公安局的 010-62345678", "phone")
    assert [f.code for f in phone.findings] == ["claims_authority"] and "110" in phone.findings[0].says
    assert not only("派出所户籍窗口 0571-87654321", "phone").findings


# --- accounts ------------------------------------------------------------------------------


def test_a_bank_card_is_shown_masked_and_kept_whole_as_its_value() -> None:
    text = "对方卡号6222 0212 3456 7890，让我转过去"
    card = only(text, "account")
    assert card.text == "6222 **** **** 7890" and card.value == "6222021234567890"
    assert "0212" not in card.text and not card.findings


@pytest.mark.parametrize("text", ["对方说这是国家安全账户，卡号6222021234567890", "这是资金监管账户。收款卡号：6222 0212 3456 7890",
                                  "對方說轉到安全帳戶 6217000012345678901"])
def test_an_account_called_safe_or_official_in_its_sentence_or_the_one_before_is_flagged(text: str) -> None:
    account = only(text, "account")
    assert [f.code for f in account.findings] == ["personal_account_as_safe"] and account.suspicious


@pytest.mark.parametrize("text, shown, value", [
    ("对方支付宝账号是18867452391 能查吗", "188****2391", "18867452391"),
    ("微信号kefu_8899自称是京东客服", "ke***99", "kefu_8899"),
    ("这个QQ：2758463910 安全吗", "27******10", "2758463910"),
    ("支付宝账号是abc.def@163.com", "ab***ef@163.com", "abc.def@163.com"),
])
def test_payment_accounts_are_found_after_their_platforms_name_and_masked(text: str, shown: str, value: str) -> None:
    found = find_indicators(text)
    assert [(i.kind, i.text, i.value) for i in found] == [("account", shown, value)]


def test_an_id_number_is_not_taken_for_a_bank_card() -> None:
    assert not find_indicators("身份证号110101199003071234")


# --- how values are written ------------------------------------------------------------------


@pytest.mark.parametrize("text, kind, value", [
    ("ｗｗｗ．ｔａｏｂａｏ．ｃｏｍ", "link", "taobao.com"),
    ("www . icbc . com", "link", "icbc.com"),
    ("icbc点com/abc/", "link", "icbc.com/abc"),
    ("a1ipay 點 com", "link", "a1ipay.com"),
    ("icbc dot com", "link", "icbc.com"),
    ("１３８１２３４５６７８", "phone", "13812345678"),
    ("138 1234-5678", "phone", "13812345678"),
    ("幺八六 零零零零 幺二三四 这个电话是干嘛的", "phone", "18600001234"),
    ("(0571)8888 9999", "phone", "057188889999"),
])
def test_full_width_spaced_and_spoken_forms_are_read_as_the_value(text: str, kind: str, value: str) -> None:
    assert only(text, kind).value == value


def test_spans_point_at_the_residents_own_characters() -> None:
    text = "快看 icbc点com 还有 １３８ １２３４ ５６７８ 呢"
    for indicator in find_indicators(text):
        assert text[indicator.start : indicator.end] == indicator.text


@pytest.mark.parametrize("kind, text", [("phone", "+86 138-1234-5678"), ("phone", "+852 5123 8876"),
                                        ("link", "HTTPS://WWW.Icbc-CN.com/Login/"), ("account", "6222-0212-3456-7890")])
def test_the_value_is_the_risk_lists_own_form(kind: str, text: str) -> None:
    assert only(f"看看 {text} 这个", kind).value == normalise(kind, text)


def test_several_values_in_one_message_come_in_reading_order() -> None:
    found = find_indicators("【工商银行】请登录 icbc-cn.top/verify 认证，客服 17012345678，退款到卡号6222021234567890")
    assert [i.kind for i in found] == ["link", "phone", "account"]


# --- the rules files -----------------------------------------------------------------------


def copy_rules(tmp_path: Path) -> Path:
    for name in ("official_domains.yml", "official_numbers.yml", "indicators.yml", "spelling.yml"):
        shutil.copy(KNOWLEDGE_DIR / name, tmp_path / name)
    return tmp_path


def test_a_finding_sentence_that_loses_its_placeholder_stops_loading_with_the_field(tmp_path: Path) -> None:
    folder = copy_rules(tmp_path)
    path = folder / "indicators.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("网址看起来像{name}，但不是{name}的官方域名", "网址看起来像官方的"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_indicator_rules(folder)
    assert error.value.field == "findings.lookalike_domain.says" and "indicators.yml" in error.value.path


def test_an_official_number_with_letters_stops_loading(tmp_path: Path) -> None:
    folder = copy_rules(tmp_path)
    path = folder / "official_numbers.yml"
    path.write_text(path.read_text(encoding="utf-8").replace('numbers: ["95588"]', 'numbers: ["955-88"]'), encoding="utf-8")
    with pytest.raises(KnowledgeError, match="digits only"):
        load_indicator_rules(folder)


def test_an_unknown_category_of_own_pages_stops_loading_with_the_field(tmp_path: Path) -> None:
    folder = copy_rules(tmp_path)
    path = folder / "official_domains.yml"
    text = path.read_text(encoding="utf-8")
    assert "own_pages_only: [bank," in text
    path.write_text(text.replace("own_pages_only: [bank,", "own_pages_only: [banks,"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_indicator_rules(folder)
    assert error.value.field == "own_pages_only[0]" and "official_domains.yml" in error.value.path


def test_the_projects_rules_load() -> None:
    rules = load_indicator_rules()
    assert rules.numbers["96110"].area_code_allowed and rules.numbers["110"].emergency


# --- the labelled sets -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["links.yml", "numbers.yml"])
def test_the_labelled_set_meets_the_goals(name: str) -> None:
    score = evaluate(SETS / name)
    assert score.total["suspicious"] >= 150 and score.total["harmless"] >= 150
    assert score.share("suspicious") >= SUSPICIOUS_GOAL, score.wrong
    assert score.share("harmless") <= HARMLESS_GOAL, score.wrong
