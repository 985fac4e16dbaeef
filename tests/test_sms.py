"""Texting the summary through Twilio's own client, against a local stand-in for Twilio's HTTP API."""
from __future__ import annotations

import base64
import math
import re
import socket

import pytest

from bot.services.sms import (
    ENV_ACCOUNT_SID,
    ENV_API_BASE,
    ENV_AUTH_TOKEN,
    ENV_FROM,
    BaseUrlHttpClient,
    SmsError,
    TwilioSettings,
    normalize_phone,
    send_summary_sms,
)
from knowledge.case_summary import case_summary
from tests.fake_twilio import FROM, SID, TOKEN, FakeTwilio

REFERENCE = "FZ-20261122-7K3Q"
ACCOUNT = "6222021234567890123"


def answers():
    return {
        "amount": "5万",
        "payment_channel": "bank_card",
        "receiving_account": ACCOUNT,
        "receiving_name": "王小明",
        "story": "客服让我开屏幕共享，验证码是482913，密码是pw778899，我的卡号6217001234567890123",
    }


def settings(base: str, token: str = TOKEN) -> TwilioSettings:
    return TwilioSettings(account_sid=SID, auth_token=token, from_number=FROM, api_base=base)


def test_the_summary_goes_out_with_its_reference_and_no_secrets(twilio_api, knowledge):
    sent = send_summary_sms("138 1234 5678", REFERENCE, answers(), "fake_customer_service", settings(twilio_api), kb=knowledge)
    [request] = FakeTwilio.received
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = request["form"]
    assert form["To"] == "+8613812345678" and form["From"] == FROM
    body = form["Body"]
    assert REFERENCE in body
    assert case_summary(answers(), "fake_customer_service", reference=REFERENCE, kb=knowledge) in body
    assert "6222 0212 3456 7890 123" in body  # the receiving account, for the call to 110
    flat = re.sub(r"\s", "", body)
    for secret in ("482913", "pw778899", "6217001234567890123"):
        assert secret not in flat
    assert set(form) == {"To", "From", "Body"}
    assert sent is not None and sent.sid.startswith("SM") and len(sent.sid) == 34
    assert (sent.status, sent.to) == ("queued", "+8613812345678")
    assert sent.segments == math.ceil(len(body) / 67)


def test_settings_from_the_environment_reach_the_configured_api(twilio_api, monkeypatch, knowledge):
    monkeypatch.setenv(ENV_ACCOUNT_SID, SID)
    monkeypatch.setenv(ENV_AUTH_TOKEN, TOKEN)
    monkeypatch.setenv(ENV_FROM, FROM)
    monkeypatch.setenv(ENV_API_BASE, twilio_api)
    sent = send_summary_sms("+8613812345678", REFERENCE, answers(), "shuadan", kb=knowledge)
    assert sent is not None and len(FakeTwilio.received) == 1
    assert TOKEN not in repr(TwilioSettings.from_env())


def test_without_twilio_settings_nothing_is_sent(twilio_api, monkeypatch, knowledge):
    for name in (ENV_ACCOUNT_SID, ENV_AUTH_TOKEN, ENV_FROM, ENV_API_BASE):
        monkeypatch.delenv(name, raising=False)
    assert send_summary_sms("13812345678", REFERENCE, answers(), "shuadan", kb=knowledge) is None
    assert FakeTwilio.received == []


def test_half_set_up_settings_name_what_is_missing(monkeypatch):
    with pytest.raises(SmsError, match=f"{ENV_AUTH_TOKEN}, {ENV_FROM} missing"):
        TwilioSettings.from_env({ENV_ACCOUNT_SID: SID})
    with pytest.raises(SmsError, match=f"{ENV_ACCOUNT_SID}, {ENV_AUTH_TOKEN} missing"):
        TwilioSettings.from_env({ENV_FROM: FROM})
    # The phone line's token alone does not turn SMS on.
    assert TwilioSettings.from_env({ENV_AUTH_TOKEN: TOKEN}) is None


def test_a_wrong_token_is_reported_from_twilios_answer(twilio_api, knowledge):
    with pytest.raises(SmsError, match=r"HTTP 401, code 20003\).*Authenticate"):
        send_summary_sms("13812345678", REFERENCE, answers(), "shuadan", settings(twilio_api, token="wrong"), kb=knowledge)
    assert FakeTwilio.received[0]["auth"] != "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def test_a_refused_number_is_reported_from_twilios_answer(twilio_api, knowledge):
    with pytest.raises(SmsError, match="code 21408"):
        send_summary_sms("+99912345678", REFERENCE, answers(), "shuadan", settings(twilio_api), kb=knowledge)


def test_a_number_that_is_not_a_mobile_is_refused_before_sending(twilio_api, knowledge):
    for bad in ("12345", "110", "abc", "", "0571-8888 8888"):
        with pytest.raises(SmsError, match="not a mobile number"):
            send_summary_sms(bad, REFERENCE, answers(), "shuadan", settings(twilio_api), kb=knowledge)
    assert FakeTwilio.received == []
    assert normalize_phone("+86 138-1234-5678") == "+8613812345678"
    assert normalize_phone("8613812345678") == "+8613812345678"
    assert normalize_phone("+85291234567") == "+85291234567"


def test_an_unreachable_api_is_a_clear_error(knowledge):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SmsError, match="could not reach Twilio"):
        send_summary_sms("13812345678", REFERENCE, answers(), "shuadan", settings(f"http://127.0.0.1:{port}"), kb=knowledge)


def test_a_very_long_summary_is_cut_to_twilios_limit(twilio_api, knowledge):
    long = {**answers(), "platform": "某某平台" * 500}
    sent = send_summary_sms("13812345678", REFERENCE, long, "shuadan", settings(twilio_api), kb=knowledge)
    body = FakeTwilio.received[0]["form"]["Body"]
    assert sent is not None and len(body) == 1600 and body.endswith("…") and REFERENCE in body


def test_the_base_url_must_be_http():
    with pytest.raises(SmsError, match=ENV_API_BASE):
        BaseUrlHttpClient("ftp://example")
