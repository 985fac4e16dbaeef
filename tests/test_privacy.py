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


def test_the_receiving_account_is_kept_for_the_police():
    text = "我转到了对方账户6222021234567890123，户名李某"
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
