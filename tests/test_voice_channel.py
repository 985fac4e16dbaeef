"""The phone line driven as Twilio drives it: signed form posts, TwiML answers parsed."""
from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from defusedxml import ElementTree
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.exceptions import InvalidConfigException
from sanic import Sanic
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator

from actions.common import VOICE_CHANNELS
from bot.channels.masking import clean_text
from bot.channels.voice.callbacks import InMemoryCallbackQueue
from bot.channels.voice.calls import InMemoryCallStore
from bot.channels.voice.channel import AUTH_TOKEN_ENV, VoiceChannel
from bot.channels.voice.sms import TwilioSms
from bot.channels.voice.speech import read_digits, speakable
from bot.channels.voice.texts import TEXTS_FILE, VoiceTextsError, load_voice_texts
from bot.channels.voice.twiml import VoiceSettings
from bot.services.sms import TwilioSettings

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "twilio-test-token"
BASE = "https://voice.example.org"
WEBHOOK = "/webhooks/voice/webhook"
DUTY = "+8657100000000"
CALLER = "+8613800000000"
POLICE = read_digits("110")  # 幺幺零
ANTIFRAUD = read_digits("96110")  # 九六幺幺零

TEXTS = load_voice_texts()
DOMAIN: dict[str, Any] = {}
for _path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
    _data = yaml.safe_load(_path.read_text(encoding="utf-8")) or {}
    DOMAIN.setdefault("intents", []).extend(_data.get("intents") or [])
    DOMAIN.setdefault("responses", {}).update(_data.get("responses") or {})


@pytest.fixture
def twilio_env(monkeypatch):
    """No Twilio settings from the machine running the tests."""
    for name in (AUTH_TOKEN_ENV, "FANZHA_TWILIO_ACCOUNT_SID", "FANZHA_TWILIO_FROM", "FANZHA_TWILIO_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def spoken(text: str) -> str:
    return speakable(text).text


class Bot:
    """Stands in for Rasa: records each message and answers through its output channel."""

    def __init__(self, replies: dict[str, list[dict[str, Any]]] | None = None, default: str = "请说说具体情况。"):
        self.replies = replies or {}
        self.default = [{"text": default}]
        self.received: list[UserMessage] = []
        self.fail: Exception | None = None

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.fail:
            raise self.fail
        assert isinstance(message.output_channel, CollectingOutputChannel)
        for reply in self.replies.get(message.text, self.default):
            await message.output_channel.send_response(message.sender_id, dict(reply))

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.received]


class RecordingTwilioHttp(HttpClient):
    """Twilio's own HTTP client interface: keeps the API requests instead of sending them."""

    def __init__(self) -> None:
        super().__init__(logger=None, is_async=False)
        self.requests: list[dict[str, Any]] = []

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False):
        self.requests.append({"method": method, "uri": uri, "data": data})
        body = '{"sid": "SM00000000000000000000000000000000", "status": "queued", "body": "x"}'
        return TwilioResponse(201, body)


class Line:
    """One Sanic app with the voice channel mounted where Rasa mounts it."""

    def __init__(self, bot: Bot, token: str | None = TOKEN, sms=None, **settings: Any) -> None:
        settings.setdefault("public_url", BASE)
        self.bot = bot
        self.calls = InMemoryCallStore()
        self.callbacks = InMemoryCallbackQueue()
        self.channel = VoiceChannel(
            VoiceSettings(**settings), token, calls=self.calls, callbacks=self.callbacks, sms=sms
        )
        self.app = Sanic(f"voice_{uuid.uuid4().hex}")
        self.app.blueprint(self.channel.blueprint(bot), url_prefix="/webhooks/voice")
        self.public = settings["public_url"].rstrip("/")

    async def post(
        self,
        data: dict[str, str],
        path: str = WEBHOOK,
        sign_with: str | None = TOKEN,
        signed_url: str | None = None,
        signed_data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        headers = dict(headers or {})
        if sign_with is not None:
            url = signed_url or self.public + path
            headers["X-Twilio-Signature"] = RequestValidator(sign_with).compute_signature(
                url, signed_data if signed_data is not None else data
            )
        _, resp = await self.app.asgi_client.post(path, data=data, headers=headers)
        root = ElementTree.fromstring(resp.text) if resp.status == 200 and resp.text else None
        return resp, root

    async def call(self, call_sid: str = "CA1", **fields: str):
        data = {"CallSid": call_sid, "From": CALLER, "To": "+8657196110", "CallStatus": "in-progress", **fields}
        resp, root = await self.post(data)
        assert resp.status == 200, resp.text
        return root


def says(root) -> list[str]:
    return [say.text or "" for say in root.iter("Say")]


def said(root) -> str:
    return "".join(says(root))


def gather(root):
    found = root.findall("Gather")
    assert len(found) == 1, ElementTree.tostring(root)
    return found[0]


# --- the call as Twilio drives it -------------------------------------------------------


async def test_first_request_greets_in_mandarin_with_the_menu():
    bot = Bot()
    line = Line(bot)
    root = await line.call(CallStatus="ringing")
    g = gather(root)
    assert g.get("input") == "speech dtmf"
    assert g.get("language") == "cmn-Hans-CN"
    assert g.get("action") == BASE + WEBHOOK and g.get("method") == "POST"
    assert g.get("actionOnEmptyResult") == "true"
    assert g.get("numDigits") == "1" and g.get("finishOnKey") == ""
    assert g.get("speechTimeout") == "2" and g.get("timeout") == "6"
    for say in g.iter("Say"):
        assert say.get("voice") == "Polly.Zhiyu-Neural" and say.get("language") == "cmn-CN"
    text = said(root)
    assert spoken(TEXTS.greeting) in text
    assert POLICE in text and "110" not in text
    for option in TEXTS.menu:
        assert spoken(option.say) in text
    assert spoken(TEXTS.repeat_say) in text
    assert bot.received == []  # the greeting does not need the bot


async def test_language_voice_and_timeouts_come_from_the_settings():
    line = Line(Bot(), gather_language="zh-CN", say_voice="Polly.Zhiyu", say_language="cmn-CN",
                speech_timeout="auto", speech_model="phone_call", gather_timeout=4)
    g = gather(await line.call())
    assert (g.get("language"), g.get("speechTimeout"), g.get("speechModel"), g.get("timeout")) == (
        "zh-CN", "auto", "phone_call", "4")
    assert {say.get("voice") for say in g.iter("Say")} == {"Polly.Zhiyu"}


async def test_speech_turn_reaches_the_bot_masked_on_the_voice_channel():
    bot = Bot({}, default="先别转账。钱已经转出去了，马上打110。")
    line = Line(bot)
    await line.call()
    root = await line.call(SpeechResult="对方让我把验证码123456告诉他", Confidence="0.93")
    (message,) = bot.received
    assert "123456" not in message.text and "验证码" in message.text
    assert message.input_channel == "voice" and message.input_channel in VOICE_CHANNELS
    assert message.sender_id == "CA1"
    assert message.output_channel.name() == "voice"
    assert said(root) == spoken("先别转账。钱已经转出去了，马上打110。")
    assert POLICE in said(root)
    assert gather(root).get("action") == BASE + WEBHOOK


@pytest.mark.parametrize("key, payload", [("1", "/report_scammed"), ("2", "/check_situation"), ("0", "/request_human")])
async def test_menu_keys_send_the_intent_payloads(key, payload):
    bot = Bot()
    line = Line(bot)
    await line.call()
    await line.call(Digits=key)
    assert bot.texts == [payload]
    assert payload.lstrip("/") in DOMAIN["intents"]


async def test_star_repeats_the_last_prompt_without_asking_the_bot():
    bot = Bot({}, default="请告诉我对方是怎么联系您的。")
    line = Line(bot)
    await line.call()
    first = await line.call(SpeechResult="有人说我涉嫌洗钱", Confidence="0.9")
    again = await line.call(Digits="*")
    assert says(again) == says(first)
    assert len(bot.received) == 1


async def test_unknown_key_reads_the_menu():
    bot = Bot()
    line = Line(bot)
    await line.call()
    root = await line.call(Digits="7")
    assert spoken(TEXTS.unknown_key) in said(root)
    assert spoken(TEXTS.menu[0].say) in said(root)
    assert bot.received == []


async def test_silence_repeats_then_offers_the_menu_then_says_goodbye_and_hangs_up():
    bot = Bot()
    line = Line(bot)
    greeting = await line.call()
    first = await line.call()
    assert says(first)[0] == spoken(TEXTS.silence_repeat)
    assert spoken(TEXTS.greeting) in said(first)
    second = await line.call()
    assert said(second).startswith(spoken(TEXTS.silence_menu))
    assert spoken(TEXTS.menu[0].say) in said(second)
    assert gather(second) is not None
    third = await line.call()
    assert third.findall("Gather") == []
    assert [child.tag for child in third][-1] == "Hangup"
    assert POLICE in said(third) and ANTIFRAUD in said(third)
    assert bot.received == []
    # The call is over: the same CallSid would be greeted anew.
    assert says(await line.call()) == says(greeting)


async def test_speaking_resets_the_silence_count():
    bot = Bot()
    line = Line(bot)
    await line.call()
    await line.call()
    await line.call(SpeechResult="我想问问", Confidence="0.9")
    after = await line.call()
    assert says(after)[0] == spoken(TEXTS.silence_repeat)
    assert says(after)[1:] == [spoken("请说说具体情况。")]


async def test_low_confidence_is_confirmed_before_the_bot_hears_it():
    bot = Bot()
    line = Line(bot, min_confidence=0.6)
    await line.call()
    root = await line.call(SpeechResult="我被骗了五千块", Confidence="0.41")
    assert bot.received == []
    text = said(root)
    assert "您是说" in text and "我被骗了五千块" in text and "是请按1" in text and "不是请按2" in text
    await line.call(Digits="1")
    assert bot.texts == ["我被骗了五千块"]


async def test_low_confidence_denied_asks_again_and_spoken_yes_confirms():
    bot = Bot()
    line = Line(bot)
    await line.call()
    await line.call(SpeechResult="转到安全账户", Confidence="0.2")
    retry = await line.call(Digits="2")
    assert said(retry) == spoken(TEXTS.confirm_retry)
    assert bot.received == []
    await line.call(SpeechResult="对方叫我转到安全账户", Confidence="0.3")
    await line.call(SpeechResult="是的。", Confidence="0.95")
    assert bot.texts == ["对方叫我转到安全账户"]


async def test_low_confidence_read_back_never_repeats_a_code():
    bot = Bot()
    line = Line(bot)
    await line.call()
    root = await line.call(SpeechResult="验证码是123456", Confidence="0.3")
    text = said(root)
    assert "123456" not in text and read_digits("123456") not in text
    assert "验证码已隐去" in text


async def test_confident_speech_skips_the_confirmation():
    bot = Bot()
    line = Line(bot, min_confidence=0.5)
    await line.call()
    await line.call(SpeechResult="有人让我下载会议软件", Confidence="0.5")
    assert bot.texts == ["有人让我下载会议软件"]


# --- requests that are refused ----------------------------------------------------------


async def test_missing_or_wrong_signature_is_refused_and_nothing_is_processed():
    bot = Bot()
    line = Line(bot)
    data = {"CallSid": "CA9", "From": CALLER, "SpeechResult": "我被骗了", "Confidence": "0.9"}
    cases = [
        dict(sign_with=None),
        dict(sign_with="another-token"),
        dict(signed_url=BASE + "/webhooks/voice/other"),
        dict(signed_data={**data, "SpeechResult": "别的话"}),
        dict(sign_with=None, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}),
    ]
    for case in cases:
        resp, _ = await line.post(data, **case)
        assert resp.status == 403, case
        assert "X-Twilio-Signature" in resp.text
    for path in ("/webhooks/voice/dial", "/webhooks/voice/status", "/webhooks/voice/whisper?call=CA9"):
        resp, _ = await line.post({"CallSid": "CA9", "DialCallStatus": "no-answer"}, path=path, sign_with=None)
        assert resp.status == 403, path
    assert bot.received == [] and len(line.calls) == 0 and line.callbacks.requests == []


async def test_signature_is_checked_on_the_public_url_behind_a_proxy():
    bot = Bot()
    line = Line(bot, public_url="https://fanzha.example.org/hotline/")
    data = {"CallSid": "CA2", "From": CALLER}
    internal = "http://127.0.0.1:5005" + WEBHOOK
    resp, _ = await line.post(data, signed_url=internal)
    assert resp.status == 403
    resp, root = await line.post(data, signed_url="https://fanzha.example.org/hotline" + WEBHOOK)
    assert resp.status == 200
    assert gather(root).get("action") == "https://fanzha.example.org/hotline" + WEBHOOK


async def test_without_public_url_the_request_url_is_signed():
    line = Line(Bot(), public_url="")
    data = {"CallSid": "CA3", "From": CALLER}
    headers = {"host": "fanzha.internal:5005"}
    resp, root = await line.post(data, signed_url="http://fanzha.internal:5005" + WEBHOOK, headers=headers)
    assert resp.status == 200
    assert gather(root).get("action") == "http://fanzha.internal:5005" + WEBHOOK
    resp, _ = await line.post(data, signed_url="http://elsewhere" + WEBHOOK, headers=headers)
    assert resp.status == 403


async def test_without_the_auth_token_the_webhook_answers_503(twilio_env):
    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))
    channel = VoiceChannel.from_credentials(credentials["bot.channels.voice.channel.VoiceChannel"])  # starts
    bot = Bot()
    app = Sanic(f"voice_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/voice")
    _, resp = await app.asgi_client.post(WEBHOOK, data={"CallSid": "CA1"})
    assert resp.status == 503 and AUTH_TOKEN_ENV in resp.text
    _, health = await app.asgi_client.get("/webhooks/voice/")
    assert health.json == {"status": "ok", "configured": False}
    assert bot.received == []


async def test_token_from_the_environment_is_used(twilio_env):
    twilio_env.setenv(AUTH_TOKEN_ENV, TOKEN)
    channel = VoiceChannel.from_credentials({"public_url": BASE})
    assert channel.validator is not None
    assert channel.validator.validate(BASE + WEBHOOK, {"CallSid": "CA1"},
                                      RequestValidator(TOKEN).compute_signature(BASE + WEBHOOK, {"CallSid": "CA1"}))


@pytest.mark.parametrize(
    "path, data, missing",
    [
        (WEBHOOK, {"From": CALLER}, "CallSid"),
        (WEBHOOK, {"CallSid": "CA1", "SpeechResult": "你好", "Confidence": "very"}, "Confidence"),
        (WEBHOOK, {"CallSid": "CA1", "SpeechResult": "你好", "Confidence": "7"}, "Confidence"),
        ("/webhooks/voice/dial", {"CallSid": "CA1"}, "DialCallStatus"),
        ("/webhooks/voice/whisper", {"CallSid": "CA7"}, "call"),
        ("/webhooks/voice/status", {"CallSid": "CA1"}, "CallStatus"),
    ],
)
async def test_missing_or_malformed_fields_answer_400(path, data, missing):
    bot = Bot()
    line = Line(bot)
    resp, _ = await line.post(data, path=path)
    assert resp.status == 400 and missing in resp.text
    assert bot.received == [] and len(line.calls) == 0


# --- what the caller hears --------------------------------------------------------------


async def test_bot_text_is_made_speakable():
    reply = ("⚠️ 这是诈骗！🚨 请看 https://fanzha.example.cn/help 和 www.gov.cn 了解更多。\n"
             "1. 不要转账\n2. 马上打110申请紧急止付，打不通就打96110，对方号码138 0013 8000也记下来，"
             "还有对方的账户名和账号以及转账时间都要记清楚\n- 保存聊天记录 👍")
    bot = Bot({}, default=reply)
    line = Line(bot, max_sentence_chars=24)
    await line.call()
    root = await line.call(SpeechResult="怎么办", Confidence="0.9")
    text = said(root)
    assert not [ch for ch in text if unicodedata.category(ch) in ("So", "Sk", "Cf")]
    assert not re.search(r"https?:|www\.|\.cn|\.com", text)
    assert POLICE in text and ANTIFRAUD in text and read_digits("13800138000") in text
    assert not re.search(r"\d{3,}", text)
    assert "第一，不要转账。" in text and "第二，" in text
    assert spoken(TEXTS.sms_sent) not in text  # nothing was texted
    sentences = re.findall(r"[^。！？]+[。！？]", text)
    assert sentences and max(len(s) for s in sentences) <= 24


def test_digit_reading_rules():
    assert read_digits("110") == "幺幺零"
    assert read_digits("96110") == "九六幺幺零"
    assert read_digits("+86 571-8765 4321") == "加八六五七幺八七六五四三二幺"
    assert speakable("请拨打110或者96110。").text == "请拨打幺幺零或者九六幺幺零。"
    assert speakable("对方电话13912345678。").text == "对方电话幺三九幺二三四五六七八。"
    # Quantities, dates and key presses are left for the voice to read as numbers.
    assert speakable("转了50000元，30分钟内，2025年，3.5万，请按1。").text == "转了50000元，30分钟内，2025年，3.5万，请按1。"


def test_sentences_are_cut_at_commas_and_lists_read_naturally():
    long = "您可以把收到的可疑短信、聊天内容发给我，或者说说遇到了什么事，我帮您看看是不是诈骗，越具体越好。"
    pieces = speakable(long, max_chars=20).sentences
    assert all(len(p) <= 20 for p in pieces) and len(pieces) > 1
    assert re.sub("[。，、]", "", "".join(pieces)) == re.sub("[。，、]", "", long)  # nothing lost
    bracketed = speakable("如果已经告诉了对方，请马上自己查找银行官方客服电话（银行卡背面或银行官方APP里），冻结银行卡。", 30)
    assert bracketed.sentences == ("如果已经告诉了对方，请马上自己查找银行官方客服电话。", "银行卡背面或银行官方APP里，冻结银行卡。")
    listed = speakable("要做的事：\n（1）停止转账\n② 保存证据\n10. 报警").sentences
    assert listed == ("要做的事。", "第一，停止转账。", "第二，保存证据。", "第十，报警。")


async def test_buttons_are_read_as_keys_and_the_keys_send_their_payloads():
    capabilities = DOMAIN["responses"]["utter_capabilities"][0]
    bot = Bot({"你能做什么": [capabilities], capabilities["buttons"][0]["payload"]: [capabilities]})
    line = Line(bot)
    await line.call()
    root = await line.call(SpeechResult="你能做什么", Confidence="0.9")
    text = said(root)
    for key, button in enumerate(capabilities["buttons"], 1):
        assert spoken(TEXTS.button_option.format(title=button["title"], key=key)) in text
    assert not re.search(r"[·•]|\d{3,}", text)  # bullets dropped, numbers read digit by digit
    await line.call(Digits="1")  # first button; the bot answers with the buttons again
    await line.call(Digits="3")
    assert bot.texts[1:] == [capabilities["buttons"][0]["payload"], capabilities["buttons"][2]["payload"]]
    # After a reply without buttons the menu applies again: 1 reports being scammed.
    await line.call(Digits="1")
    assert bot.texts[-1] == "/report_scammed"


async def test_bot_failure_answers_with_110_and_96110_and_keeps_listening():
    bot = Bot()
    bot.fail = RuntimeError("action server down")
    line = Line(bot)
    await line.call()
    root = await line.call(SpeechResult="我被骗了", Confidence="0.9")
    assert said(root) == "".join(b for block in line.channel.spoken(TEXTS.bot_error) for b in block)
    assert POLICE in said(root) and ANTIFRAUD in said(root)
    assert gather(root) is not None


async def test_an_unexpected_failure_still_gives_the_caller_110_and_96110():
    class BrokenStore(InMemoryCallStore):
        def get(self, call_sid):
            raise OSError("storage unavailable")

    line = Line(Bot())
    line.channel.calls = BrokenStore()
    root = await line.call()
    assert POLICE in said(root) and ANTIFRAUD in said(root)
    assert root.find("Hangup") is not None


async def test_links_are_texted_when_sms_is_configured():
    http = RecordingTwilioHttp()
    sms = TwilioSms(TwilioSettings("AC" + "0" * 32, TOKEN, "+8657100000001"), http_client=http)
    bot = Bot({}, default="官方说明在 https://www.mps.gov.cn/n2254314/ 请查看。")
    line = Line(bot, sms=sms)
    await line.call()
    root = await line.call(SpeechResult="在哪里看说明", Confidence="0.9")
    assert spoken(TEXTS.sms_sent) in said(root) and "mps" not in said(root)
    (request,) = http.requests
    assert request["method"] == "POST" and request["uri"].endswith("/Messages.json")
    assert request["data"]["To"] == CALLER and request["data"]["From"] == "+8657100000001"
    assert "https://www.mps.gov.cn/n2254314/" in request["data"]["Body"]


# --- handoff ----------------------------------------------------------------------------


def handoff_bot(summary: str | None = "来电人称已向“安全账户”转账两万元") -> Bot:
    payload = {"handoff": {"summary": summary} if summary else {}}
    return Bot({"/request_human": [{"text": "好的，我帮您找值班人员。"}, {"custom": payload}]})


async def test_handoff_dials_the_duty_desk_with_a_whisper():
    line = Line(handoff_bot(), duty_number=DUTY, dial_timeout=25)
    await line.call(call_sid="CA5")
    root = await line.call(call_sid="CA5", Digits="0")
    assert root.findall("Gather") == []
    dial = root.find("Dial")
    assert dial.get("action") == BASE + "/webhooks/voice/dial" and dial.get("timeout") == "25"
    number = dial.find("Number")
    assert number.text == DUTY
    whisper_url = urlparse(number.get("url"))
    assert f"{whisper_url.scheme}://{whisper_url.netloc}{whisper_url.path}" == BASE + "/webhooks/voice/whisper"
    assert parse_qs(whisper_url.query) == {"call": ["CA5"]}
    assert spoken("好的，我帮您找值班人员。") in said(root) and spoken(TEXTS.handoff_connecting) in said(root)
    # Twilio fetches the whisper URL (signed, query included) when the officer answers.
    path = whisper_url.path + "?" + whisper_url.query
    resp, whisper = await line.post({"CallSid": "CA-agent", "ParentCallSid": "CA5"}, path=path)
    assert resp.status == 200
    assert "安全账户" in said(whisper) and "两万元" in said(whisper)
    assert whisper.findall("Gather") == [] and whisper.findall("Hangup") == []


async def test_whisper_without_summary_tells_what_the_caller_said_masked():
    said_by_caller = "我要找人工，我的卡号是6222021234567890123"
    bot = handoff_bot(summary=None)
    bot.replies[clean_text(said_by_caller)[0]] = bot.replies["/request_human"]  # the bot sees it masked
    line = Line(bot, duty_number=DUTY)
    await line.call()
    root = await line.call(SpeechResult=said_by_caller, Confidence="0.9")
    path = urlparse(root.find("Dial/Number").get("url"))
    _, whisper = await line.post({"CallSid": "CA-agent"}, path=f"{path.path}?{path.query}")
    text = said(whisper)
    assert "找人工" in text and "银行卡号已隐去" in text
    assert "6222" not in text and read_digits("6222") not in text


async def test_nobody_answers_gives_110_advice_and_records_a_call_back():
    line = Line(handoff_bot(), duty_number=DUTY)
    await line.call(call_sid="CA6")
    await line.call(call_sid="CA6", Digits="0")
    resp, root = await line.post({"CallSid": "CA6", "From": CALLER, "DialCallStatus": "no-answer"},
                                 path="/webhooks/voice/dial")
    assert resp.status == 200
    text = said(root)
    assert POLICE in text and ANTIFRAUD in text
    assert spoken(TEXTS.callback_recorded) in text
    assert gather(root) is not None  # the conversation goes on
    (request,) = line.callbacks.requests
    assert (request.call_sid, request.caller, request.reason) == ("CA6", CALLER, "no-answer")
    assert "安全账户" in request.summary


async def test_busy_desk_and_withheld_number_records_no_call_back():
    line = Line(handoff_bot(), duty_number=DUTY)
    await line.call(call_sid="CA7", From="anonymous")
    resp, root = await line.post({"CallSid": "CA7", "From": "anonymous", "DialCallStatus": "busy"},
                                 path="/webhooks/voice/dial")
    assert spoken(TEXTS.callback_impossible) in said(root) and POLICE in said(root)
    assert line.callbacks.requests == []


async def test_after_talking_to_the_desk_the_line_says_goodbye():
    line = Line(handoff_bot(), duty_number=DUTY)
    await line.call(call_sid="CA8")
    await line.call(call_sid="CA8", Digits="0")
    _, root = await line.post({"CallSid": "CA8", "DialCallStatus": "completed"}, path="/webhooks/voice/dial")
    assert said(root) == spoken(TEXTS.after_agent) and root.find("Hangup") is not None
    assert line.callbacks.requests == [] and line.calls.get("CA8") is None


async def test_handoff_without_a_duty_number_keeps_the_conversation():
    bot = handoff_bot()
    line = Line(bot)
    await line.call()
    root = await line.call(Digits="0")
    assert root.find("Dial") is None and gather(root) is not None
    assert said(root) == spoken("好的，我帮您找值班人员。")


async def test_status_callback_forgets_an_ended_call():
    line = Line(Bot())
    await line.call(call_sid="CA10")
    assert line.calls.get("CA10") is not None
    resp, _ = await line.post({"CallSid": "CA10", "CallStatus": "completed"}, path="/webhooks/voice/status")
    assert resp.status == 204 and line.calls.get("CA10") is None


# --- configuration ----------------------------------------------------------------------


def test_channel_is_named_voice_for_the_actions():
    assert VoiceChannel.name() == "voice" and "voice" in VOICE_CHANNELS


def test_menu_payloads_are_real_intents():
    for option in TEXTS.menu:
        assert option.payload.lstrip("/") in DOMAIN["intents"], option


@pytest.mark.parametrize(
    "settings, name",
    [
        ({"duty_number": "0571-1234"}, "duty_number"),
        ({"speech_timeout": "auto"}, "speech_timeout"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"gather_languge": "zh-CN"}, "gather_languge"),
        ({"public_url": "fanzha.example.org"}, "public_url"),
        ({"gather_timeout": "soon"}, "gather_timeout"),
    ],
)
def test_bad_settings_stop_the_start_naming_the_setting(settings, name):
    with pytest.raises(InvalidConfigException, match=name):
        VoiceSettings.from_credentials(settings)


def test_links_are_texted_only_with_the_projects_sms_set_up(twilio_env):
    monkeypatch = twilio_env
    monkeypatch.setenv(AUTH_TOKEN_ENV, TOKEN)
    assert VoiceChannel.from_credentials({}).sms is None  # the auth token alone is the phone line's
    monkeypatch.setenv("FANZHA_TWILIO_FROM", "+8657100000001")
    with pytest.raises(InvalidConfigException, match="FANZHA_TWILIO_ACCOUNT_SID"):
        VoiceChannel.from_credentials({})
    monkeypatch.setenv("FANZHA_TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    assert isinstance(VoiceChannel.from_credentials({}).sms, TwilioSms)


@pytest.mark.parametrize(
    "edit, field, reason",
    [
        (lambda d: d.update(greeting="请拨打{police_119.number}"), "greeting", "unknown placeholder"),
        (lambda d: d["confirm"].update(ask="您是说的对吗？"), "confirm.ask", "{heard}"),
        (lambda d: d["menu"]["options"][0].update(payload="report_scammed"), "menu.options[0].payload", "/intent"),
        (lambda d: d["menu"]["options"][1].update(key="1"), "menu.options[1].key", "used twice"),
        (lambda d: d.pop("silence"), "silence.repeat", "non-empty"),
    ],
)
def test_texts_file_errors_name_the_field(tmp_path, edit: Callable[[dict], None], field, reason):
    data = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "voice_texts.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(VoiceTextsError) as error:
        load_voice_texts(path)
    assert error.value.field == field and reason in error.value.reason


def test_texts_take_numbers_and_advice_from_contacts(knowledge):
    assert knowledge.contacts["police_110"].voice in TEXTS.silence_goodbye
    assert knowledge.contacts["antifraud_96110"].voice in TEXTS.silence_goodbye
    assert knowledge.contacts["police_110"].number in TEXTS.greeting
    raw = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))
    assert "110" not in re.sub(r"{[^}]*}", "", raw["greeting"])  # a placeholder, not hard-coded
