"""End to end, against the local fake Twilio API with signed webhooks: a red warning imported
with `fanzha warnings import`, the dispatcher places the resident's call and the duty desk's call,
then the test plays Twilio on the voice channel: the resident presses "money is moving", the
TwiML dials the duty desk, the desk answers, and the outcome is stored with its audit trail."""
from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from defusedxml import ElementTree
from sanic import Sanic
from twilio.request_validator import RequestValidator

from bot.channels.voice.channel import VoiceChannel
from bot.channels.voice.speech import read_digits
from bot.cli.early_warnings import open_warning_store
from bot.cli.main import main as fanzha
from bot.services.early_warnings.call_texts import default_warning_texts
from bot.services.early_warnings.calls import TwilioTelephony
from bot.services.early_warnings.dispatch import Dispatcher, settings_from_env
from bot.services.reports.store import ReportStore
from knowledge.dissuasion import MONEY_MOVING
from tests.fake_twilio import FROM, SID, TOKEN, FakeTwilio

PUBLIC = "https://fanzha.example.org"
DESK = "+8657112345678"
RESIDENT = "+8613812345678"
TEXTS = default_warning_texts()


@pytest.fixture
def installation(tmp_path, monkeypatch, twilio_api):
    """A deployment with Twilio calling set up, its API being the local fake."""
    env = {
        "FANZHA_DATABASE_URL": f"sqlite:///{tmp_path / 'fanzha.db'}",
        "FANZHA_REPORT_KEY": Fernet.generate_key().decode(),
        "FANZHA_TWILIO_ACCOUNT_SID": SID,
        "FANZHA_TWILIO_AUTH_TOKEN": TOKEN,
        "FANZHA_TWILIO_FROM": FROM,
        "FANZHA_TWILIO_API_BASE": twilio_api,
        "FANZHA_PUBLIC_URL": PUBLIC,
        "FANZHA_DUTY_NUMBER": DESK,
        "FANZHA_WARNING_QUIET_HOURS": "off",
    }
    for name in ("FANZHA_WARNING_RETRY_MINUTES", "FANZHA_WARNING_DAILY_CAP", "FANZHA_WARNING_MERGE_HOURS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ReportStore().close()  # the database the servers create on their first start
    return tmp_path


class Twilio:
    """Plays Twilio's side of the calls: signed POSTs to the URLs it was given."""

    def __init__(self, app: Sanic) -> None:
        self.app = app

    async def post(self, url: str, **form: str):
        assert url.startswith(PUBLIC + "/webhooks/voice/"), url
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        parts = urlsplit(url)
        _, resp = await self.app.asgi_client.post(
            f"{parts.path}?{parts.query}" if parts.query else parts.path, data=form,
            headers={"X-Twilio-Signature": signature},
        )
        return resp

    async def twiml(self, url: str, **form: str):
        resp = await self.post(url, **form)
        assert resp.status == 200, resp.text
        return ElementTree.fromstring(resp.text)

    async def status(self, call: dict, status: str) -> None:
        resp = await self.post(call["status_callback"], CallSid=call["sid"], CallStatus=status,
                               From=call["from"], To=call["to"])
        assert resp.status == 204, resp.text


def said(root) -> str:
    return "".join(say.text or "" for say in root.iter("Say"))


async def test_a_red_warning_reaches_the_duty_desk_when_the_resident_says_money_is_moving(installation):
    # The centre's warning comes in through the command line.
    csv = installation / "warnings.csv"
    csv.write_text(
        "phone,level,scam_type,note,source,time\n"
        "138 1234 5678,红,冒充公检法,监测到与冒充公安的号码通话中,反诈中心,\n",
        encoding="utf-8",
    )
    assert fanzha(["warnings", "import", str(csv)]) == 0

    with open_warning_store() as store:
        (warning,) = store.open_warnings()
        assert (warning.phone, warning.level, warning.scam_type) == (RESIDENT, "red", "impersonate_police")

        # The dispatcher's tick: the resident and, for red, the duty desk are called at once.
        settings = settings_from_env()
        dispatcher = Dispatcher(store, settings, TwilioTelephony(settings.twilio), TEXTS.sms, "e2e")
        try:
            assert dispatcher.tick() == 1
        finally:
            dispatcher.close()
        by_number = {call["to"]: call for call in FakeTwilio.calls}
        assert sorted(by_number) == sorted([RESIDENT, DESK]) and len(FakeTwilio.calls) == 2
        resident_call, desk_call = by_number[RESIDENT], by_number[DESK]
        assert resident_call["form"]["MachineDetection"] == "Enable"

        # The voice channel as the Rasa server mounts it, with the same Twilio auth token.
        channel = VoiceChannel.from_credentials({"public_url": PUBLIC})
        channel.warning_store = lambda: store
        app = Sanic(f"warnings_e2e_{uuid.uuid4().hex}")
        app.blueprint(channel.blueprint(_no_bot), url_prefix="/webhooks/voice")
        twilio = Twilio(app)

        # The duty desk picks up first and hears the warning, the number digit by digit.
        await twilio.status(desk_call, "in-progress")
        desk = await twilio.twiml(desk_call["url"], CallSid=desk_call["sid"], From=FROM, To=DESK, CallStatus="in-progress")
        assert "红色预警" in said(desk) and "幺三八，幺二三四，五六七八" in said(desk)
        await twilio.status(desk_call, "completed")

        # The resident picks up: who is calling, why, and the first question.
        await twilio.status(resident_call, "ringing")
        first = await twilio.twiml(resident_call["url"], CallSid=resident_call["sid"], From=FROM, To=RESIDENT,
                                   CallStatus="in-progress", AnsweredBy="human")
        question = TEXTS.dissuasion.for_type("impersonate_police").questions[0]
        assert question.yes_means == MONEY_MOVING
        assert read_digits("96110") in said(first)
        gather = first.find("Gather")

        # "Yes, money is moving": told to hang up on them, and put through to the duty desk.
        transfer = await twilio.twiml(gather.get("action"), CallSid=resident_call["sid"], From=FROM, To=RESIDENT,
                                      Digits=TEXTS.yes_key)
        number = transfer.find("Dial/Number")
        assert number.text == DESK and read_digits("110") in said(transfer)
        whisper = await twilio.twiml(number.get("url"), CallSid="CA" + "d" * 32, ParentCallSid=resident_call["sid"])
        assert "正在转账" in said(whisper)
        goodbye = await twilio.twiml(transfer.find("Dial").get("action"), CallSid=resident_call["sid"],
                                     DialCallStatus="answered", DialCallSid="CA" + "d" * 32)
        assert goodbye.find("Hangup") is not None
        await twilio.status(resident_call, "completed")

        # The outcome and the audit trail.
        warning = store.get(warning.id)
        assert (warning.status, warning.outcome, warning.outcome_by) == ("closed", "handed_to_desk", "call")
        assert warning.calls_made == 1
        trail = [(event.kind, event.state, event.twilio_sid, event.actor) for event in store.events(warning.id)]
        assert trail == [
            ("imported", "red", None, "import:反诈中心"),
            ("desk_call", "completed", desk_call["sid"], "dispatcher:e2e"),
            ("call", "completed", resident_call["sid"], "dispatcher:e2e"),
            ("answer", MONEY_MOVING, None, "call"),
            ("outcome", "handed_to_desk", None, "call"),
        ]

        # Closed: the next tick calls nobody again.
        dispatcher = Dispatcher(store, settings, TwilioTelephony(settings.twilio), TEXTS.sms, "e2e")
        try:
            assert dispatcher.tick() == 0
        finally:
            dispatcher.close()
        assert len(FakeTwilio.calls) == 2


async def _no_bot(message) -> None:  # the warning call never asks the assistant
    raise AssertionError(f"the bot was asked: {message.text}")

