import pytest

from knowledge.amounts import find_amounts, format_yuan, parse_amount


@pytest.mark.parametrize(
    "text, yuan",
    [
        ("5万", 50_000), ("五万元", 50_000), ("50,000", 50_000), ("5w", 50_000), ("3千5", 3_500),
        ("两千块", 2_000), ("1.2万", 12_000), ("一点五万", 15_000), ("转了三万五千元", 35_000),
        ("我被骗了8000块", 8_000), ("1万2", 12_000), ("¥3000", 3_000), ("十二万", 120_000),
    ],
)
def test_amounts_are_understood(text, yuan):
    assert parse_amount(text) == yuan


@pytest.mark.parametrize("text", ["10分钟前", "一个人", "昨天晚上", "", "不知道"])
def test_things_that_are_not_amounts(text):
    assert parse_amount(text) is None


def test_every_amount_in_a_sentence_is_found_with_its_span():
    text = "昨天转了2万，今天又转了5000元"
    found = find_amounts(text)
    assert [value for _, _, value in found] == [20_000, 5_000]
    assert [text[s:e] for s, e, _ in found] == ["2万", "5000元"]


def test_format_yuan():
    assert format_yuan(50_000) == "50,000元"
    assert format_yuan(1234.5) == "1,234.5元"
