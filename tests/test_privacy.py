import re

import pytest

from bot.channels.masking import MAX_MESSAGE_CHARS, clean_text
from knowledge.privacy import MASKS, contains_mask, mask_sensitive


@pytest.mark.parametrize(
    "text, kind, secret",
    [
        ("验证码是482913", "verification_code", "482913"),
        ("他让我报验证码，我说了 739201", "verification_code", "739201"),
        ("我的支付密码是 abc12345", "password", "abc12345"),
        ("银行卡密码：880531", "password", "880531"),
        ("卡背面三位数是 123", "cvv", "123"),
        ("我身份证号 11010119900307123X", "id_number", "11010119900307123X"),
        ("我的卡号是 6222 0212 3456 7890 123", "bank_card", "6222 0212 3456 7890 123"),
    ],
)
def test_secrets_are_masked(text, kind, secret):
    masked = mask_sensitive(text)
    assert secret not in masked.text
    assert MASKS[kind] in masked.text
    assert kind in masked.kinds


# How residents really write their secrets: spaces and dots inside numbers, Chinese numerals
# (what speech recognition writes), spaced or traditional keywords, English, full-width digits.
WRITTEN_FORMS = [
    ("验证码是482913", "verification_code", "482913"),
    ("验证码是 482 913", "verification_code", "482 913"),
    ("验证码：482-913", "verification_code", "482-913"),
    ("验证码 4 8 2 9 1 3", "verification_code", "4 8 2 9 1 3"),
    ("他说的验正码是482913", "verification_code", "482913"),
    ("验证码是四八二九一三", "verification_code", "四八二九一三"),
    ("验证码幺三五七九二", "verification_code", "幺三五七九二"),
    ("他要验证码 我说了四八二九一三", "verification_code", "四八二九一三"),
    ("校验码 7391", "verification_code", "7391"),
    ("动态码：55 82 19", "verification_code", "55 82 19"),
    ("短信码是 ８２９１７３", "verification_code", "８２９１７３"),
    ("驗證碼是 482913", "verification_code", "482913"),
    ("verification code 482913", "verification_code", "482913"),
    ("Your code is 482913, don't share it", "verification_code", "482913"),
    ("OTP: 4829", "verification_code", "4829"),
    ("对方让我念验证码，我念了 739201", "verification_code", "739201"),
    ("刚收到的验证码是 739 201 给了他", "verification_code", "739 201"),
    ("验 证 码 是 739201", "verification_code", "739201"),
    ("我的支付密码是 abc12345", "password", "abc12345"),
    ("银行卡密码：880531", "password", "880531"),
    ("密 码 是 880531", "password", "880531"),
    ("password: Abc12345", "password", "Abc12345"),
    ("Password is hello2024", "password", "hello2024"),
    ("取款密码 八八零五三一", "password", "八八零五三一"),
    ("登录密码是Zh@ng1990", "password", "Zh@ng1990"),
    ("PIN码 4321", "password", "4321"),
    ("密碼是 246810", "password", "246810"),
    ("交易密码为 13579a", "password", "13579a"),
    ("卡背面三位数是 123", "cvv", "123"),
    ("CVV 456", "cvv", "456"),
    ("安全码：7 8 9", "cvv", "7 8 9"),
    ("我身份证号 11010119900307123X", "id_number", "11010119900307123X"),
    ("身份证 110101 19900307 123X", "id_number", "110101 19900307 123X"),
    ("身份证号是 110101-19900307-1234", "id_number", "110101-19900307-1234"),
    ("我的卡号是 6222 0212 3456 7890 123", "bank_card", "6222 0212 3456 7890 123"),
    ("卡号 6222.0212.3456.7890", "bank_card", "6222.0212.3456.7890"),
    ("6222-0212-3456-7890 是我工资卡", "bank_card", "6222-0212-3456-7890"),
    ("对方让我把我的卡号 6222021234567890 发给他", "bank_card", "6222021234567890"),
    ("我转给对方之前先用我的银行卡6222021234567890试了一下", "bank_card", "6222021234567890"),
    ("卡号是六二二二零二一二三四五六七八九零", "bank_card", "六二二二零二一二三四五六七八九零"),
    ("银行卡：６２２２０２１２３４５６７８９０", "bank_card", "６２２２０２１２３４５６７８９０"),
    # Pasted from a chat bubble that wrapped the number onto a second line.
    ("我的卡号622202123456\n7890，帮我看看", "bank_card", "622202123456\n7890"),
    ("验证码是482\r\n913", "verification_code", "482\r\n913"),
]


@pytest.mark.parametrize("text, kind, secret", WRITTEN_FORMS)
def test_secrets_are_masked_however_they_are_written(text, kind, secret):
    masked = mask_sensitive(text)
    assert MASKS[kind] in masked.text and kind in masked.kinds, masked.text
    for piece in re.split(r"[\s.\-·,，]+", secret):
        assert len(piece) < 2 or piece not in masked.text, masked.text


def test_the_receiving_account_is_kept_for_the_police():
    for text in ["我转到了对方账户6222021234567890123，户名李某", "钱转给了 6222 0212 3456 7890，是骗子的卡"]:
        assert mask_sensitive(text).text == text


def test_ordinary_numbers_are_left_alone():
    for text in ["我被骗了5万块", "对方电话13812345678", "昨天下午3点", "订单号 20231105"]:
        masked = mask_sensitive(text)
        assert masked.text == text and not masked.changed


def test_a_question_about_a_password_is_not_masked():
    # It names no password: masking it would tell the resident we hid one they never typed.
    for text in ["银行客服打电话让我把密码告诉他要给吗", "对方说输错密码会冻结账户是真的吗"]:
        masked = mask_sensitive(text)
        assert masked.text == text and not masked.changed


def test_contains_mask_reads_placeholders():
    assert contains_mask("验证码是〔验证码已隐去〕") == ("verification_code",)
    assert contains_mask("没有秘密") == ()


def test_channel_cleaning_cuts_long_text_and_drops_control_characters():
    text, notes = clean_text("喂" * (MAX_MESSAGE_CHARS + 500))
    assert len(text) == MAX_MESSAGE_CHARS and notes["truncated"] is True
    text, notes = clean_text("你好\x00\x07世界 验证码 123456")
    assert text == "你好世界 验证码 〔验证码已隐去〕" and notes["masked"] == ["verification_code"]


def test_a_card_number_across_the_cut_is_masked_whole():
    text = "情况是这样的。" * 284 + "我的卡号6222021234567890123"  # the number starts just before the cut
    cleaned, notes = clean_text(text)
    assert len(cleaned) == MAX_MESSAGE_CHARS and notes["truncated"]
    assert "6222021" not in cleaned and notes["masked"] == ["bank_card"]


def test_a_huge_message_is_cut_before_the_work_on_it():
    cleaned, notes = clean_text("验证码482913 " + "啊" * 20_000_000)
    assert len(cleaned) == MAX_MESSAGE_CHARS and notes["truncated"] and "482913" not in cleaned
