"""The warning dispatcher's policy with an injected clock (schedule, quiet hours, cap, red desk
call, SMS and outcome, Twilio faults, attempts left unfinished), then real dispatcher processes
against the local fake Twilio API: two on one SQLite file, and one killed mid-run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time as walltime
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.services.early_warnings.calls import TwilioCall, TwilioFault, TwilioTelephony
from bot.services.early_warnings.dispatch import (
    ENV_DAILY_CAP,
    ENV_PUBLIC_URL,
    ENV_QUIET_HOURS,
    ENV_RETRY_MINUTES,
    DispatchConfigError,
    Dispatcher,
    DispatchSettings,
    QuietHours,
    calling_configured,
    settings_from_env,
)
from bot.services.early_warnings.duty_desk import ENV_DUTY_NUMBER
from bot.services.early_warnings.store import NewWarning, WarningStore
from bot.services.reports.store import LOCAL_TZ, ReportStore
from bot.services.sms import TwilioSettings
from tests.conftest import ROOT
from tests.fake_twilio import FROM, SID, TOKEN, FakeTwilio

PUBLIC = "https://fanzha.example.org"
DESK = "+8657112345678"
RESIDENT = "+8613812345678"
TWILIO_ENV = {"FANZHA_TWILIO_ACCOUNT_SID": SID, "FANZHA_TWILIO_AUTH_TOKEN": TOKEN, "FANZHA_TWILIO_FROM": FROM}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def beijing(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=LOCAL_TZ).astimezone(timezone.utc)


@dataclass
class Placed:
    to: str
    url: str
    status_callback: str
    detect_machine: bool
    sid: str
    at: datetime


@dataclass
class FakePhone:
    """Twilio as the dispatcher sees it (calls.Telephony), in memory; ``fault`` makes it refuse."""

    clock: Clock
    calls: list[Placed] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    fault: TwilioFault | None = None

    def place_call(self, to: str, url: str, status_callback: str, detect_machine: bool) -> TwilioCall:
        if self.fault:
            raise self.fault
        sid = f"CA{len(self.calls) + 1:032x}"
        self.calls.append(Placed(to, url, status_callback, detect_machine, sid, self.clock()))
        return TwilioCall(sid, "queued", self.clock().replace(microsecond=0))

    def recent_calls(self, to: str) -> list[TwilioCall]:
        if self.fault:
            raise self.fault
        return [TwilioCall(c.sid, "queued", c.at.replace(microsecond=0)) for c in reversed(self.calls) if c.to == to]

    def send_sms(self, to: str, body: str) -> str:
        if self.fault:
            raise self.fault
        self.texts.append((to, body))
        return f"SM{len(self.texts):032x}"

    def to(self, number: str) -> list[Placed]:
        return [call for call in self.calls if call.to == number]


@pytest.fixture(scope="module")
def sms_text() -> str:
    from bot.services.early_warnings.call_texts import default_warning_texts

    return default_warning_texts().sms


@pytest.fixture
def clock() -> Clock:
    return Clock(beijing(23, 10))  # a Monday morning


def open_store(tmp_path: Path, clock) -> WarningStore:
    reports = ReportStore(f"sqlite:///{tmp_path}/fanzha.db", key_file=tmp_path / "keys" / "report.key", env={}, clock=clock)
    return WarningStore(reports)


@pytest.fixture
def store(tmp_path, clock):
    store = open_store(tmp_path, clock)
    yield store
    store._reports.close()


def settings(**changes) -> DispatchSettings:
    base = DispatchSettings(
        twilio=TwilioSettings(SID, TOKEN, FROM), public_url=PUBLIC, duty_number=DESK, retry_minutes=(2, 5, 15),
        quiet_hours=QuietHours(time(21, 30), time(8, 0)), daily_cap=4,
    )
    return DispatchSettings(**{**base.__dict__, **changes})


def warning(store: WarningStore, level: str = "orange", phone: str = RESIDENT, scam_type: str | None = "fake_police") -> int:
    new = NewWarning(phone=phone, level=level, scam_type=scam_type, note="对方自称公安", source="反诈中心", received_at=store.clock())
    return store.add(new, "import:test")[0].id


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- settings -----------------------------------------------------------------------------


def test_settings_have_the_documented_defaults_and_the_duty_number_falls_back_to_credentials(tmp_path):
    credentials = tmp_path / "credentials.yml"
    credentials.write_text('bot.channels.voice.channel.VoiceChannel:\n  duty_number: "+86 571 1234 5678"\n', encoding="utf-8")
    got = settings_from_env({**TWILIO_ENV, ENV_PUBLIC_URL: PUBLIC + "/"}, credentials)
    assert got.public_url == PUBLIC and got.retry_minutes == (2, 5, 15) and got.max_calls == 4
    assert got.quiet_hours == QuietHours(time(21, 30), time(8, 0)) and got.daily_cap == 4
    assert got.duty_number == "+8657112345678"
    chosen = settings_from_env({**TWILIO_ENV, ENV_PUBLIC_URL: PUBLIC, ENV_DUTY_NUMBER: "+8610110110110",
                                ENV_QUIET_HOURS: "off", ENV_RETRY_MINUTES: "1, 3", ENV_DAILY_CAP: "2"}, credentials)
    assert (chosen.duty_number, chosen.quiet_hours, chosen.retry_minutes, chosen.daily_cap) == ("+8610110110110", None, (1, 3), 2)
    assert settings_from_env({**TWILIO_ENV, ENV_PUBLIC_URL: PUBLIC}, tmp_path / "none.yml").duty_number is None


def test_every_bad_setting_is_named_with_its_reason(tmp_path):
    bad = {**TWILIO_ENV, ENV_PUBLIC_URL: "fanzha.example.org", ENV_RETRY_MINUTES: "2,x", ENV_QUIET_HOURS: "22-7",
           ENV_DAILY_CAP: "0", ENV_DUTY_NUMBER: "duty"}
    with pytest.raises(DispatchConfigError) as error:
        settings_from_env(bad, tmp_path / "none.yml")
    message = str(error.value)
    for name in (ENV_PUBLIC_URL, ENV_RETRY_MINUTES, ENV_QUIET_HOURS, ENV_DAILY_CAP, ENV_DUTY_NUMBER):
        assert name in message
    with pytest.raises(DispatchConfigError, match="FANZHA_TWILIO_AUTH_TOKEN, FANZHA_TWILIO_FROM missing"):
        settings_from_env({"FANZHA_TWILIO_ACCOUNT_SID": SID, ENV_PUBLIC_URL: PUBLIC}, tmp_path / "none.yml")
    with pytest.raises(DispatchConfigError, match="same time"):
        settings_from_env({**TWILIO_ENV, ENV_PUBLIC_URL: PUBLIC, ENV_QUIET_HOURS: "08:00-08:00"}, tmp_path / "none.yml")


def test_calling_is_on_only_with_twilio_and_the_public_url():
    assert not calling_configured({})
    assert not calling_configured(TWILIO_ENV)  # texting summaries only, as before
    assert not calling_configured({ENV_PUBLIC_URL: PUBLIC})
    assert calling_configured({**TWILIO_ENV, ENV_PUBLIC_URL: PUBLIC})
    assert not calling_configured({"FANZHA_TWILIO_AUTH_TOKEN": TOKEN, ENV_PUBLIC_URL: PUBLIC})  # the phone line only
    assert calling_configured({"FANZHA_TWILIO_FROM": FROM, ENV_PUBLIC_URL: PUBLIC})  # half set up: checked, refused


def test_the_run_command_refuses_a_malformed_setting_once_calling_is_set_up():
    from tests.test_run_command import run_command_refuses

    message = run_command_refuses(**TWILIO_ENV, FANZHA_PUBLIC_URL=PUBLIC, FANZHA_WARNING_QUIET_HOURS="night")
    assert "FANZHA_WARNING_QUIET_HOURS must be like 21:30-08:00" in message


# --- the policy, with an injected clock -------------------------------------------------------


def dispatcher(store: WarningStore, phone: FakePhone, sms_text: str, threads: int = 2, **changes) -> Dispatcher:
    return Dispatcher(store, settings(**changes), phone, sms_text, worker="w1", threads=threads)


def test_an_unanswered_resident_is_called_on_the_schedule_then_texted_and_the_warning_ends_unreachable(store, clock, sms_text):
    phone = FakePhone(clock)
    d = dispatcher(store, phone, sms_text)
    wid = warning(store, "orange")
    assert d.tick() == 1
    [first] = phone.calls
    event = store.events(wid)[-1]
    assert (event.kind, event.state, event.twilio_sid, event.actor) == ("call", "placed", first.sid, "dispatcher:w1")
    assert first.to == RESIDENT and first.detect_machine
    assert first.url.startswith(f"{PUBLIC}/webhooks/voice/warning/call?") and query(first.url) == {"warning": str(wid), "event": str(event.id)}
    assert first.status_callback == f"{PUBLIC}/webhooks/voice/warning/status?event={event.id}"
    started = clock()
    for minutes_after_the_first, calls in ((1.9, 1), (2, 2), (6.9, 2), (7, 3), (21.9, 3), (22, 4)):
        store.call_status(phone.calls[-1].sid, "no-answer")
        clock.now = started + timedelta(minutes=minutes_after_the_first)
        d.tick()
        assert len(phone.calls) == calls, minutes_after_the_first
    assert phone.texts == [] and store.get(wid).calls_made == 4
    store.call_status(phone.calls[-1].sid, "no-answer")
    clock.advance(seconds=30)
    d.tick()
    assert phone.texts == [(RESIDENT, sms_text)] and "96110" in sms_text
    closed = store.get(wid)
    assert (closed.status, closed.outcome, closed.outcome_by, closed.next_attempt_at) == ("closed", "unreachable", "dispatcher:w1", None)
    clock.advance(hours=5)
    assert d.tick() == 0 and len(phone.calls) == 4 and len(phone.texts) == 1


def test_a_call_still_ringing_is_waited_for_and_a_lost_status_after_15_minutes(store, clock, sms_text):
    phone = FakePhone(clock)
    d = dispatcher(store, phone, sms_text)
    warning(store, "yellow")
    d.tick()
    store.call_status(phone.calls[0].sid, "ringing")
    clock.advance(minutes=2)
    d.tick()
    assert len(phone.calls) == 1  # still ringing: no second call on top of it
    clock.advance(seconds=30)
    store.call_status(phone.calls[0].sid, "busy")
    d.tick()
    assert len(phone.calls) == 2
    clock.advance(minutes=15)  # the second call's status never came back
    d.tick()
    assert len(phone.calls) == 3


def test_quiet_hours_hold_orange_and_yellow_until_morning_but_never_red(store, clock, sms_text):
    clock.now = beijing(23, 23, 10)
    phone = FakePhone(clock)
    d = dispatcher(store, phone, sms_text)
    orange, _red = warning(store, "orange"), warning(store, "red", phone="+8613912345678")
    assert d.tick() == 2
    assert [c.to for c in phone.calls] == [DESK, "+8613912345678"]  # red: the desk and the resident at once
    assert store.get(orange).next_attempt_at == beijing(24, 8)
    assert store.events(orange)[-1].kind == "imported"
    clock.now = beijing(24, 7, 59)
    d.tick()
    assert phone.to(RESIDENT) == []
    clock.now = beijing(24, 8)
    d.tick()
    assert len(phone.to(RESIDENT)) == 1 and len(phone.to(DESK)) == 1


def test_the_daily_cap_counts_every_call_to_the_number_that_day_and_spares_red(tmp_path, clock, sms_text):
    store = WarningStore(open_store(tmp_path, clock)._reports, merge_window=timedelta(0))
    phone = FakePhone(clock)
    # One thread: two warnings for one number handled at the same instant could both pass the cap.
    d = dispatcher(store, phone, sms_text, threads=1, daily_cap=2, retry_minutes=(1, 1, 1))
    first = warning(store, "yellow")
    d.tick()
    clock.advance(minutes=1)
    second = warning(store, "orange")  # another warning, the same number: not merged here
    store.call_status(phone.calls[-1].sid, "no-answer")
    d.tick()
    assert len(phone.to(RESIDENT)) == 2
    store.call_status(phone.calls[-1].sid, "no-answer")
    clock.advance(minutes=1)
    d.tick()
    assert len(phone.to(RESIDENT)) == 2  # two calls today: both wait for tomorrow's start of calling
    tomorrow = beijing(24, 8)
    assert store.get(first).next_attempt_at == tomorrow and store.get(second).next_attempt_at == tomorrow
    red = warning(store, "red")
    d.tick()
    assert len(phone.to(RESIDENT)) == 3 and store.get(red).calls_made == 1


def test_red_dials_the_desk_once_and_stays_open_for_a_visit_after_the_sms(store, clock, sms_text):
    phone = FakePhone(clock)
    d = dispatcher(store, phone, sms_text, retry_minutes=(1,))
    red = warning(store, "red")
    d.tick()
    desk, resident = phone.calls
    assert desk.to == DESK and not desk.detect_machine
    assert desk.url == f"{PUBLIC}/webhooks/voice/warning/desk?warning={red}"
    desk_event = next(e for e in store.events(red) if e.kind == "desk_call")
    assert desk_event.state == "placed" and desk_event.twilio_sid == desk.sid
    assert desk.status_callback == f"{PUBLIC}/webhooks/voice/warning/status?event={desk_event.id}"
    store.call_status(resident.sid, "no-answer")
    store.call_status(desk.sid, "no-answer")  # the desk did not pick up either: the console shows it urgent
    clock.advance(minutes=1)
    d.tick()
    store.call_status(phone.calls[-1].sid, "no-answer")
    clock.advance(seconds=30)
    d.tick()
    assert len(phone.to(DESK)) == 1 and len(phone.to(RESIDENT)) == 2 and len(phone.texts) == 1
    still = store.get(red)
    assert (still.status, still.outcome, still.next_attempt_at, still.urgent) == ("open", None, None, True)
    clock.advance(days=1)
    assert d.tick() == 0


def test_a_refused_desk_call_is_tried_again_without_holding_the_residents_call(store, clock, sms_text):
    phone = FakePhone(clock)
    d = dispatcher(store, phone, sms_text)
    red = warning(store, "red")

    class DeskDown(FakePhone):
        def place_call(self, to, *args, **kwargs):
            if to == DESK:
                raise TwilioFault("Twilio refused the call (HTTP 503, Twilio error 20503): Service Unavailable", 503)
            return super().place_call(to, *args, **kwargs)

    d.telephony = flaky = DeskDown(clock)
    d.tick()
    assert [c.to for c in flaky.calls] == [RESIDENT]
    assert store.get(red).next_attempt_at == clock() + timedelta(seconds=30)
    d.telephony = flaky = FakePhone(clock)
    clock.advance(seconds=30)
    d.tick()
    assert [c.to for c in flaky.calls] == [DESK]  # the resident's call is still ringing: not called again


@pytest.mark.parametrize("bad_setting", ["429", "503", "down"])
def test_twilio_rate_limited_unavailable_or_down_loses_nothing_and_backs_off(store, clock, sms_text, twilio_server, bad_setting):
    telephony = TwilioTelephony(TwilioSettings(SID, TOKEN, FROM, twilio_server.url))
    d = Dispatcher(store, settings(), telephony, sms_text, worker="w1", threads=2)
    wid = warning(store, "orange")
    if bad_setting == "down":
        twilio_server.down()
    else:
        FakeTwilio.fault = int(bad_setting)
    waits = []
    for _ in range(3):
        d.tick()
        waits.append(store.get(wid).next_attempt_at - clock())
        clock.now = store.get(wid).next_attempt_at
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    errors = [e for e in store.events(wid) if e.kind == "call"]
    assert [e.state for e in errors] == ["error"] * 3 and store.get(wid).calls_made == 0
    reason = {"429": "HTTP 429, Twilio error 20429", "503": "HTTP 503, Twilio error 20503", "down": "could not reach Twilio"}[bad_setting]
    assert reason in errors[0].detail and RESIDENT not in errors[0].detail
    assert FakeTwilio.calls == []
    FakeTwilio.fault = None
    twilio_server.up()
    d.tick()
    [call] = FakeTwilio.calls
    form = call["form"]
    assert (form["To"], form["From"], form["MachineDetection"]) == (RESIDENT, FROM, "Enable")
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    placed = store.events(wid)[-1]
    assert (placed.state, placed.twilio_sid) == ("placed", call["sid"]) and store.get(wid).calls_made == 1
    assert form["Url"] == f"{PUBLIC}/webhooks/voice/warning/call?warning={wid}&event={placed.id}"


def test_an_answer_that_timed_out_is_settled_from_twilios_list_not_called_again(tmp_path, sms_text, twilio_server):
    clock = Clock(datetime.now(timezone.utc))  # Twilio's list has real times
    store = open_store(tmp_path, clock)
    FakeTwilio.latency = 1.0  # the call exists at Twilio after 0.5 s; our client gave up at 0.3 s
    telephony = TwilioTelephony(TwilioSettings(SID, TOKEN, FROM, twilio_server.url), timeout=0.3)
    d = Dispatcher(store, settings(quiet_hours=None), telephony, sms_text, worker="w1", threads=2)  # real time: maybe night
    wid = warning(store, "yellow")
    d.tick()
    walltime.sleep(1.0)
    [event] = [e for e in store.events(wid) if e.kind == "call"]
    assert event.state == "placing" and len(FakeTwilio.calls) == 1
    clock.advance(minutes=1)
    d.tick()
    assert len(FakeTwilio.calls) == 1 and store.events(wid)[-1].state == "placing"
    FakeTwilio.latency = 0.0
    clock.advance(minutes=1, seconds=1)
    d.tick()
    [event] = [e for e in store.events(wid) if e.kind == "call"]
    assert (event.state, event.twilio_sid) == ("placed", FakeTwilio.calls[0]["sid"])
    assert len(FakeTwilio.calls) == 1 and store.get(wid).calls_made == 1


def test_an_attempt_left_placing_by_a_killed_dispatcher_is_adopted_or_made_again(store, clock, sms_text):
    phone = FakePhone(clock)
    d = dispatcher(store, phone, sms_text)
    reached, never_sent = warning(store, "orange"), warning(store, "orange", phone="+8613912345678")
    # What a dispatcher killed mid-call leaves behind: both written down, only one reached Twilio.
    killed = store.claim_due("dead", clock(), timedelta(seconds=60), 10)
    placing = store.start_attempt(reached, "call", "dispatcher:dead")
    store.start_attempt(never_sent, "call", "dispatcher:dead")
    phone.place_call(RESIDENT, "u", "s", True)
    assert len(killed) == 2 and d.tick() == 0  # their lease still runs
    clock.advance(seconds=61)
    d.tick()
    assert len(phone.calls) == 1  # young "placing" attempts are waited for, not repeated
    clock.advance(minutes=1)
    d.tick()
    adopted = store.events(reached)[-1]
    assert (adopted.id, adopted.state, adopted.twilio_sid) == (placing.id, "placed", phone.calls[0].sid)
    assert store.get(reached).calls_made == 1 and len(phone.to(RESIDENT)) == 1
    calls = [e for e in store.events(never_sent) if e.kind == "call"]
    assert [e.state for e in calls] == ["error", "placed"] and "no call at Twilio" in calls[0].detail
    assert len(phone.to("+8613912345678")) == 1 and store.get(never_sent).calls_made == 1


def test_an_attempt_left_on_a_warning_closed_meanwhile_is_settled_for_the_audit_trail(store, clock, sms_text):
    phone = FakePhone(clock)
    wid = warning(store, "orange")
    store.claim_due("dead", clock(), timedelta(seconds=60), 10)
    event = store.start_attempt(wid, "call", "dispatcher:dead")
    phone.place_call(RESIDENT, "u", "s", True)
    store.set_outcome(wid, "not_scam", "console:agent")
    clock.advance(minutes=3)
    assert dispatcher(store, phone, sms_text).tick() == 0
    settled = [e for e in store.events(wid) if e.id == event.id][0]
    assert (settled.state, settled.twilio_sid) == ("placed", phone.calls[0].sid) and len(phone.calls) == 1
    assert store.get(wid).outcome == "not_scam"


def test_an_sms_left_placing_by_a_killed_dispatcher_is_sent_again_then_the_outcome_written(store, clock, sms_text):
    phone = FakePhone(clock)
    d = dispatcher(store, phone, sms_text, retry_minutes=())
    wid = warning(store, "yellow")
    d.tick()
    store.call_status(phone.calls[0].sid, "no-answer")
    clock.advance(minutes=1)
    store.claim_due("dead", clock(), timedelta(seconds=60), 10)
    store.start_attempt(wid, "sms", "dispatcher:dead")  # killed before Twilio answered
    clock.advance(minutes=3)
    d.tick()
    assert [e.state for e in store.events(wid) if e.kind == "sms"] == ["error", "placed"]
    assert phone.texts == [(RESIDENT, sms_text)] and store.get(wid).outcome == "unreachable"


def test_two_desk_calls_at_the_same_moment_cannot_be_told_apart_so_the_desk_is_dialled_again(store, clock, sms_text):
    phone = FakePhone(clock)
    d = dispatcher(store, phone, sms_text)
    first, second = warning(store, "red"), warning(store, "red", phone="+8613912345678")
    store.claim_due("dead", clock(), timedelta(seconds=60), 10)
    for wid in (first, second):
        store.start_attempt(wid, "desk_call", "dispatcher:dead")
        phone.place_call(DESK, "u", "s", False)
    clock.advance(minutes=3)
    d.tick()
    for wid in (first, second):
        desk = [e.state for e in store.events(wid) if e.kind == "desk_call"]
        assert desk == ["error", "placed"]
    assert len(phone.to(DESK)) == 4  # twice to the desk rather than a red warning nobody hears of


# --- real dispatcher processes ------------------------------------------------------------------


def process_env(tmp_path: Path, twilio_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ, **TWILIO_ENV,
        "FANZHA_TWILIO_API_BASE": twilio_url,
        "FANZHA_PUBLIC_URL": PUBLIC,
        "FANZHA_DUTY_NUMBER": DESK,
        "FANZHA_WARNING_QUIET_HOURS": "off",  # the test may run at night
        "FANZHA_WARNING_RETRY_MINUTES": "30",
        "FANZHA_DATABASE_URL": f"sqlite:///{tmp_path}/fanzha.db",
        "FANZHA_REPORT_KEY": (tmp_path / "keys" / "report.key").read_text().strip(),
        "NO_PROXY": "127.0.0.1,localhost",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **extra,
    }


def many_warnings(tmp_path: Path, count: int) -> tuple[WarningStore, list[str]]:
    store = open_store(tmp_path, lambda: datetime.now(timezone.utc))
    numbers = [f"+86139{n:08d}" for n in range(count)]
    now = datetime.now(timezone.utc)
    store.add_many([NewWarning(p, "yellow", None, "", "bench", now) for p in numbers], "import:test")
    return store, numbers


def dispatch_process(env: dict[str, str], worker: str, log: Path, *options: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.cli.main", "warnings", "dispatch", "--worker", worker, *options],
                            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def placed_once_each(store: WarningStore, numbers: list[str]) -> None:
    per_number = Counter(call["to"] for call in FakeTwilio.calls)
    assert set(per_number) == set(numbers) and set(per_number.values()) == {1}
    for w in store.warnings_between():
        calls = [e for e in store.events(w.id) if e.kind == "call"]
        assert w.calls_made == 1 and [e.state for e in calls if e.state != "error"] == ["placed"]
        assert not [e for e in store.events(w.id) if e.state == "placing"]


def test_two_dispatcher_processes_on_one_database_place_each_call_once(tmp_path, twilio_server):
    store, numbers = many_warnings(tmp_path, 240)
    FakeTwilio.latency = 0.1  # about 3 s of calls for one process: both start in that time
    env = process_env(tmp_path, twilio_server.url)
    workers = [dispatch_process(env, name, tmp_path / f"{name}.log", "--once") for name in ("p1", "p2")]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, (tmp_path / "p1.log").read_text() + (tmp_path / "p2.log").read_text()
    placed_once_each(store, numbers)
    actors = Counter(e.actor for w in store.warnings_between() for e in store.events(w.id) if e.kind == "call")
    assert set(actors) == {"dispatcher:p1", "dispatcher:p2"}  # both worked at once


def test_a_dispatcher_killed_mid_run_loses_nothing_and_places_nothing_twice(tmp_path, twilio_server, sms_text):
    store, numbers = many_warnings(tmp_path, 240)
    FakeTwilio.latency = 0.1
    process = dispatch_process(process_env(tmp_path, twilio_server.url), "doomed", tmp_path / "doomed.log")
    deadline = walltime.monotonic() + 60
    while len(FakeTwilio.calls) < 60 and walltime.monotonic() < deadline:
        walltime.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    walltime.sleep(0.2)  # requests the killed process had in flight finish at Twilio
    left = [e for w in store.warnings_between() for e in store.events(w.id) if e.state == "placing"]
    assert 60 <= len(FakeTwilio.calls) < len(numbers) and left  # killed mid-run, attempts in flight
    # Another replica's dispatcher, three minutes later: the leases and the in-flight attempts are old.
    later = Clock(datetime.now(timezone.utc) + timedelta(minutes=3))
    survivor_store = open_store(tmp_path, later)
    telephony = TwilioTelephony(TwilioSettings(SID, TOKEN, FROM, twilio_server.url))
    FakeTwilio.latency = 0.0
    survivor = Dispatcher(survivor_store, settings(retry_minutes=(30,), quiet_hours=None), telephony, sms_text, "survivor")
    survivor.run(threading.Event(), once=True)
    survivor.close()
    placed_once_each(store, numbers)


def session_processes(session: int, word: str) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getsid(int(entry)) == session and word in Path(f"/proc/{entry}/cmdline").read_bytes().decode():
                found.append(int(entry))
        except OSError:  # gone meanwhile
            continue
    return found


def test_the_run_command_starts_the_dispatcher_once_calling_is_set_up_and_ctrl_c_stops_it(tmp_path, twilio_server, monkeypatch):
    from tests.assistant import Assistant

    for name, value in {**TWILIO_ENV, "FANZHA_TWILIO_API_BASE": twilio_server.url, ENV_PUBLIC_URL: PUBLIC,
                        ENV_DUTY_NUMBER: DESK, ENV_QUIET_HOURS: "off"}.items():
        monkeypatch.setenv(name, value)
    assistant = Assistant(tmp_path)
    try:
        key = (tmp_path / "report.key").read_text().strip()
        reports = ReportStore(f"sqlite:///{tmp_path}/fanzha.db", env={"FANZHA_REPORT_KEY": key}, clock=lambda: datetime.now(timezone.utc))
        wid = warning(WarningStore(reports), "orange")
        deadline = walltime.monotonic() + 90
        while not FakeTwilio.calls and walltime.monotonic() < deadline:
            walltime.sleep(0.5)
        [call] = FakeTwilio.calls
        assert call["to"] == RESIDENT and call["url"].startswith(f"{PUBLIC}/webhooks/voice/warning/call?warning={wid}&")
        [dispatcher] = session_processes(assistant.process.pid, "dispatch")
        reports.close()
    finally:
        assistant.stop()
    walltime.sleep(1)
    assert not os.path.exists(f"/proc/{dispatcher}")
