"""Personal data stays out of the logs, and out of the stores where the conversation does not
need it: the real assistant (scripts/run.sh, both servers; run.log holds their output), a
resident who types their own phone, ID and card numbers, and a report naming the receiving
account, its holder and the scammer's phone. Also the real server's CORS headers."""
from __future__ import annotations

import json
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
import requests
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse

from bot.services.sms import SmsError, TwilioSettings, normalize_phone, send_summary_sms
from tests.assistant import Assistant
from tests.fake_twilio import FROM, SID, TOKEN

WIDGET = "https://widget.example.org"
OWN_PHONE = "13912345678"
OWN_ID = "110101199003071234"
OWN_CARD = "6217001234567890123"
RECEIVING_ACCOUNT = "6222021234567890123"
RECEIVING_NAME = "王小明"
SCAMMER_PHONE = "17012345678"
PERSONAL = (OWN_PHONE, OWN_ID, OWN_CARD, RECEIVING_ACCOUNT, RECEIVING_NAME, SCAMMER_PHONE)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The assistant, a reporting conversation through it, then its files (servers stopped)."""
    folder = tmp_path_factory.mktemp("log_privacy")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANZHA_WIDGET_ORIGINS", WIDGET)
        patch.setenv("FANZHA_LOG_LEVEL", "info")  # the most the run command logs
        assistant = Assistant(folder)
    try:
        resident = "resident-" + uuid.uuid4().hex
        replies = []
        for text in (
            "我被骗了，对方冒充客服让我转了两万",
            "昨天晚上七点",
            "两万",
            "银行卡转账",
            f"对方账号{RECEIVING_ACCOUNT}",
            f"户名{RECEIVING_NAME}",
            "工商银行",
            f"他用的电话是{SCAMMER_PHONE}",
            "跳过",
            "跳过",
        ):
            replies += assistant.say(text, resident)
        other = "other-" + uuid.uuid4().hex
        for text in (f"我的电话是{OWN_PHONE}，请回电", f"我身份证号{OWN_ID}", f"我的卡号{OWN_CARD}，要冻结吗", "转人工"):
            replies += assistant.say(text, other)
        cors = {
            origin: requests.post(
                f"{assistant.url}/webhooks/rest/webhook",
                json={"sender": "cors-" + uuid.uuid4().hex, "message": "你好"},
                headers={"Origin": origin},
                timeout=30,
            ).headers.get("Access-Control-Allow-Origin")
            for origin in (WIDGET, "https://evil.example.com")
        }
        preflight = requests.options(
            f"{assistant.url}/webhooks/rest/webhook",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
            timeout=30,
        ).headers.get("Access-Control-Allow-Origin")
    finally:
        assistant.stop()
    yield {"folder": folder, "replies": replies, "cors": cors, "preflight": preflight}


def _forms(value: str) -> list[str]:
    """The value as typed and as it could be written out (digits in groups of 4, or 3-4-4)."""
    forms = [value]
    if value.isdigit():
        forms.append(" ".join(value[i : i + 4] for i in range(0, len(value), 4)))
        forms.append(f"{value[:3]} {value[3:7]} {value[7:]}")
    return forms


def _found(text: str, values: tuple[str, ...]) -> list[str]:
    compact = re.sub(r"[\s\-]", "", text)
    return [v for v in values if any(form in text for form in _forms(v)) or v in compact]


def _tracker_text(folder: Path) -> str:
    """Every event the tracker store kept, plus the raw bytes of its files (WAL included)."""
    with sqlite3.connect(folder / "tracker.db") as conn:
        # Rasa writes each event as JSON with Chinese as \\u escapes: read it back as text.
        rows = [json.dumps(json.loads(data), ensure_ascii=False) for (data,) in conn.execute("SELECT data FROM events")]
    raw = b"".join(p.read_bytes() for p in folder.glob("tracker.db*"))
    return "\n".join(rows) + raw.decode("utf-8", errors="replace")


def test_the_conversation_really_ran(run):
    texts = "\n".join(r.get("text", "") for r in run["replies"])
    assert re.search(r"FZ-\d{8}-[A-Z0-9]{4}", texts), texts  # the report was finished and stored
    assert "110" in texts


def test_no_personal_data_in_the_run_log(run):
    log = (run["folder"] / "run.log").read_text(encoding="utf-8", errors="replace")
    assert "fanzha is ready." in log and " INFO " in log  # logged at the info level
    assert _found(log, PERSONAL) == []


def test_own_id_and_card_numbers_never_reach_the_tracker_store(run):
    kept = _tracker_text(run["folder"])
    assert "〔身份证号已隐去〕" in kept and "〔银行卡号已隐去〕" in kept  # the messages did arrive, masked
    assert _found(kept, (OWN_ID, OWN_CARD)) == []
    # What the police need for stop-payment stays in the conversation's form.
    assert RECEIVING_ACCOUNT in kept and RECEIVING_NAME in kept


def test_the_report_database_holds_nothing_personal_in_clear(run):
    raw = b"".join(p.read_bytes() for p in run["folder"].glob("fanzha.db*")).decode("utf-8", errors="replace")
    assert "reports" in raw  # it is the report database, with a report in it
    assert _found(raw, PERSONAL) == []


def test_cross_origin_requests_only_from_the_configured_widget_origin(run):
    assert run["cors"] == {WIDGET: WIDGET, "https://evil.example.com": None}
    assert run["preflight"] is None


# --- error messages that end up in the log -------------------------------------------------


class RefusingTwilio(HttpClient):
    """Twilio's API answering as it does for a number it will not text, quoting the number."""

    def __init__(self) -> None:
        super().__init__(logger=None, is_async=False)

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False):
        message = f"The 'To' number {data['To']} is not a valid mobile number."
        return TwilioResponse(400, json.dumps({"code": 21614, "message": message, "status": 400}))


def test_sms_errors_quote_no_phone_number(knowledge):
    settings = TwilioSettings(account_sid=SID, auth_token=TOKEN, from_number=FROM, api_base=None)
    with pytest.raises(SmsError, match="code 21614") as refused:
        send_summary_sms(OWN_PHONE, "FZ-20261122-7K3Q", {}, None, settings, http_client=RefusingTwilio(), kb=knowledge)
    assert _found(str(refused.value), (OWN_PHONE,)) == []
    with pytest.raises(SmsError, match="not a mobile number") as not_mobile:
        normalize_phone(OWN_PHONE[:-1])
    assert OWN_PHONE[:-1] not in str(not_mobile.value)
