"""The dispatcher: phones the resident of each open warning through Twilio, retries, then texts.

One tick claims the due warnings (a 60 s lease won by compare-and-set, so dispatchers on several
replicas never hold the same warning) and works on them in a small thread pool. For each:

- an attempt of its own still "placing" for 2 minutes (a dispatcher was killed between writing it
  down and hearing Twilio's answer) is settled first: the call Twilio placed in that time is
  adopted from Twilio's list of calls, else the attempt becomes an error and is made again;
- red: the duty desk is dialled too, once, in parallel (a person is always involved);
- a call to the resident still ringing or going on (under 15 min) is waited for;
- orange/yellow: not in quiet hours, not over the daily cap per number (red is exempt);
- call the resident; the next call after FANZHA_WARNING_RETRY_MINUTES (2, 5, 15: 4 calls);
- after the last call: the warning SMS. Orange/yellow then end as ``unreachable``; red stays open
  with nothing scheduled, for the desk to go to the door (``visited``).

Twilio refusing, rate-limiting or unreachable: the attempt is an error, not a call, and the
warning is due again after 30 s, doubling up to 10 min. Everything is in the database, so a
restart loses nothing. A request that may have reached Twilio (timed out) is left "placing" and
settled from Twilio's list like a killed dispatcher's.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time as monotonic_time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Mapping
from urllib.parse import urlencode, urlsplit

import yaml

from bot.services.early_warnings import duty_desk
from bot.services.early_warnings.calls import REQUEST_TIMEOUT_SECONDS, Telephony, TwilioFault, calls_around
from bot.services.early_warnings.store import ERROR, PLACING, Warning, WarningEvent, WarningStore
from bot.services.reports.errors import StorageError
from bot.services.reports.store import LOCAL_TZ
from bot.services.sms import ENV_ACCOUNT_SID, ENV_FROM, SmsError, TwilioSettings

log = logging.getLogger(__name__)

ENV_RETRY_MINUTES = "FANZHA_WARNING_RETRY_MINUTES"
ENV_QUIET_HOURS = "FANZHA_WARNING_QUIET_HOURS"
ENV_DAILY_CAP = "FANZHA_WARNING_DAILY_CAP"
ENV_PUBLIC_URL = "FANZHA_PUBLIC_URL"
CREDENTIALS_FILE = Path("credentials.yml")
VOICE_CHANNEL = "bot.channels.voice.channel.VoiceChannel"

DEFAULT_RETRY_MINUTES = "2,5,15"
DEFAULT_QUIET_HOURS = "21:30-08:00"
DEFAULT_DAILY_CAP = 4
LEASE = timedelta(seconds=60)
RECOVER_AFTER = timedelta(minutes=2)  # a "placing" attempt this old was left by a stopped dispatcher
# Twilio creates the call within the request's timeout of our writing the attempt down.
ADOPT_WINDOW = timedelta(seconds=REQUEST_TIMEOUT_SECONDS + 5)
CALL_GOING_ON_FOR = timedelta(minutes=15)  # longer: its status callback was lost
RECHECK = timedelta(seconds=30)
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=10)
THREADS = 8
CLAIM_BATCH = 32
IDLE_SECONDS = 2.0
SWEEP_SECONDS = 60.0  # how often attempts left on closed warnings are looked for
GOING_ON = frozenset((PLACING, "placed", "queued", "initiated", "ringing", "in-progress"))
_WORKER = re.compile(r"[A-Za-z0-9._-]{1,40}")


class DispatchConfigError(ValueError):
    """A dispatcher setting is missing or malformed; the message names it and says why."""


@dataclass(frozen=True)
class QuietHours:
    """A daily window in Beijing time; it may run past midnight (21:30-08:00)."""

    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        now = local.time()
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def end_after(self, local: datetime) -> datetime:
        """The first end of quiet hours after ``local`` (aware, Beijing)."""
        end = datetime.combine(local.date(), self.end, LOCAL_TZ)
        return end if end > local else datetime.combine(local.date() + timedelta(days=1), self.end, LOCAL_TZ)


@dataclass(frozen=True)
class DispatchSettings:
    twilio: TwilioSettings
    public_url: str  # where Twilio reaches the voice channel's webhooks, no trailing slash
    duty_number: str | None  # E.164; None: red warnings do not dial the desk
    retry_minutes: tuple[float, ...]
    quiet_hours: QuietHours | None
    daily_cap: int

    @property
    def max_calls(self) -> int:
        return 1 + len(self.retry_minutes)

    def start_of_calling(self, day: datetime) -> datetime:
        """When calling may start on the Beijing day after ``day``."""
        next_day = day.date() + timedelta(days=1)
        return datetime.combine(next_day, self.quiet_hours.end if self.quiet_hours else time.min, LOCAL_TZ)


def calling_configured(env: Mapping[str, str] = os.environ) -> bool:
    """FANZHA_PUBLIC_URL says where Twilio reaches us and Twilio is meant to send (its account or
    sending number is set, bot/services/sms.py); settings_from_env then says what is missing or malformed.
    The auth token alone is the phone line's, and Twilio without the URL only texts summaries."""
    twilio_meant = any((env.get(name) or "").strip() for name in (ENV_ACCOUNT_SID, ENV_FROM))
    return twilio_meant and bool((env.get(ENV_PUBLIC_URL) or "").strip())


def settings_from_env(env: Mapping[str, str] = os.environ, credentials: Path = CREDENTIALS_FILE) -> DispatchSettings:
    """The dispatcher's settings, each checked; DispatchConfigError names every problem."""
    problems: list[str] = []

    def check(parse, *args):  # noqa: ANN001, ANN202 - collects every problem, not only the first
        try:
            return parse(*args)
        except DispatchConfigError as problem:
            problems.append(str(problem))
            return None

    twilio = check(_twilio, env)
    public_url = check(_public_url, env.get(ENV_PUBLIC_URL, ""))
    duty_number = check(_duty_number, env, credentials)
    retry = check(_retry_minutes, env.get(ENV_RETRY_MINUTES, ""))
    quiet = check(_quiet_hours, env.get(ENV_QUIET_HOURS, ""))
    cap = check(_daily_cap, env.get(ENV_DAILY_CAP, ""))
    if problems:
        raise DispatchConfigError("; ".join(problems))
    return DispatchSettings(twilio, public_url, duty_number, retry, quiet, cap)


def _twilio(env: Mapping[str, str]) -> TwilioSettings:
    try:
        twilio = TwilioSettings.from_env(env)
    except SmsError as error:
        raise DispatchConfigError(str(error).replace("SMS is half set up", "Twilio is half set up")) from None
    if twilio is None:
        raise DispatchConfigError("Twilio is not set up: FANZHA_TWILIO_ACCOUNT_SID, FANZHA_TWILIO_AUTH_TOKEN and FANZHA_TWILIO_FROM missing")
    return twilio


def _public_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if not url:
        raise DispatchConfigError(f"{ENV_PUBLIC_URL} missing: the https address where Twilio reaches this server's /webhooks/voice/…")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise DispatchConfigError(f"{ENV_PUBLIC_URL} must look like https://host or https://host/prefix, not {raw!r}")
    return url


def _duty_number(env: Mapping[str, str], credentials: Path) -> str | None:
    configured = ""
    if credentials.is_file():
        try:
            channels = yaml.safe_load(credentials.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise DispatchConfigError(f"{credentials}: cannot read the voice channel's duty_number: {error}") from None
        voice = channels.get(VOICE_CHANNEL) if isinstance(channels, dict) else None
        configured = str((voice or {}).get("duty_number") or "")
    try:
        return duty_desk.duty_number(env, configured, f"{credentials}, voice channel, duty_number")
    except duty_desk.DutyNumberError as error:
        raise DispatchConfigError(str(error)) from None


def _retry_minutes(raw: str) -> tuple[float, ...]:
    raw = raw.strip() or DEFAULT_RETRY_MINUTES
    if raw.lower() == "none":
        return ()
    try:
        waits = tuple(float(part) for part in raw.split(","))
    except ValueError:
        waits = ()
    if not waits or len(waits) > 10 or not all(0 < wait <= 24 * 60 for wait in waits):
        raise DispatchConfigError(
            f"{ENV_RETRY_MINUTES} must be up to 10 minutes to wait between calls, such as 2,5,15 (or none), not {raw!r}"
        )
    return waits


def _quiet_hours(raw: str) -> QuietHours | None:
    raw = raw.strip() or DEFAULT_QUIET_HOURS
    if raw.lower() == "off":
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", raw)
    try:
        start, end = (time(int(h), int(m)) for h, m in (match.group(1, 2), match.group(3, 4)))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise DispatchConfigError(f"{ENV_QUIET_HOURS} must be like 21:30-08:00 (Beijing time) or off, not {raw!r}") from None
    if start == end:
        raise DispatchConfigError(f"{ENV_QUIET_HOURS}: start and end are the same time; write off for no quiet hours")
    return QuietHours(start, end)


def _daily_cap(raw: str) -> int:
    raw = raw.strip()
    if not raw:
        return DEFAULT_DAILY_CAP
    if not raw.isdigit() or not 1 <= int(raw) <= 50:
        raise DispatchConfigError(f"{ENV_DAILY_CAP} must be a whole number of calls from 1 to 50, not {raw!r}")
    return int(raw)


def default_worker() -> str:
    return f"{socket.gethostname()[:28]}-{os.getpid()}"


def check_worker(name: str) -> str:
    if not _WORKER.fullmatch(name):
        raise DispatchConfigError(f"worker name must be 1-40 letters, digits, '.', '_' or '-', not {name!r}")
    return name


def _latest(events: list[WarningEvent], kind: str) -> WarningEvent | None:
    return next((event for event in reversed(events) if event.kind == kind), None)


def _failures_in_a_row(events: list[WarningEvent], kind: str) -> int:
    count = 0
    for event in reversed([e for e in events if e.kind == kind]):
        if event.state != ERROR:
            break
        count += 1
    return count


def backoff(failures: int) -> timedelta:
    """30 s after the first failure in a row, doubling, at most 10 min."""
    return min(BACKOFF_FIRST * 2 ** max(failures - 1, 0), BACKOFF_MAX)


class Dispatcher:
    """Places the calls of due warnings; several may run on one database (replicas)."""

    def __init__(self, store: WarningStore, settings: DispatchSettings, telephony: Telephony, sms_text: str,
                 worker: str, threads: int = THREADS, batch: int = CLAIM_BATCH) -> None:
        self.store = store
        self.settings = settings
        self.telephony = telephony
        self.sms_text = sms_text
        self.worker = check_worker(worker)
        self.actor = f"dispatcher:{worker}"
        self.batch = batch
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"dispatch-{worker}")
        self._last_sweep = float("-inf")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _now(self) -> datetime:
        return self.store.clock().astimezone(timezone.utc)

    def tick(self) -> int:
        """Work on the warnings due now; returns how many were taken."""
        if monotonic_time.monotonic() - self._last_sweep >= SWEEP_SECONDS:
            self._last_sweep = monotonic_time.monotonic()
            self._sweep()
        claimed = self.store.claim_due(self.worker, self._now(), LEASE, self.batch)
        for done in [self._pool.submit(self._work, warning) for warning in claimed]:
            done.result()
        return len(claimed)

    def _sweep(self) -> None:
        """Settle attempts left "placing" on warnings closed meanwhile (an agent set the outcome):
        no lease brings those here again. An open warning's are settled under its lease (_decide);
        two dispatchers settling one attempt is harmless, the store moves it once."""
        for event in self.store.unfinished_attempts(self._now() - RECOVER_AFTER):
            warning = self.store.get(event.warning_id)
            if warning.status == "open":
                continue
            try:
                self._settle(warning, event)
            except TwilioFault as fault:
                log.warning("cannot ask Twilio about unfinished attempts: %s", fault)
                return

    def run(self, stop: threading.Event, once: bool = False) -> None:
        """Tick until ``stop`` is set (or, ``once``, until nothing is due). A database failure is
        logged and waited out: the dispatcher does not stop for it."""
        failures = 0
        while not stop.is_set():
            try:
                taken = self.tick()
                failures = 0
            except StorageError as error:
                failures += 1
                if once:
                    raise
                log.error("the warning dispatcher cannot reach the database (%s); trying again", error)
                stop.wait(backoff(failures).total_seconds())
                continue
            if not taken:
                if once:
                    return
                stop.wait(IDLE_SECONDS)

    # --- one warning ------------------------------------------------------------------

    def _work(self, warning: Warning) -> None:
        try:
            next_at = self._decide(warning)
        except StorageError as error:
            log.error("warning %s: the database failed (%s); the lease runs out and it is taken again", warning.id, error)
            return
        except Exception:  # a bug must not stop the other warnings: due again later, logged
            log.exception("warning %s: unexpected error; trying again in %s", warning.id, BACKOFF_MAX)
            next_at = self._now() + BACKOFF_MAX
        self.store.release(warning.id, self.worker, next_at)

    def _decide(self, warning: Warning) -> datetime | None:
        """Does what is due for ``warning``; returns when it is due next (None: nothing scheduled)."""
        events = self.store.events(warning.id)
        stuck = [e for e in events if e.state == PLACING and e.created_at <= self._now() - RECOVER_AFTER]
        if stuck:
            try:
                for event in stuck:
                    self._settle(warning, event)
            except TwilioFault as fault:
                log.warning("warning %s: cannot ask Twilio about an unfinished attempt: %s", warning.id, fault)
                return self._now() + backoff(1)
            warning, events = self.store.get(warning.id), self.store.events(warning.id)
            if warning.status != "open":
                return None
        due: list[datetime | None] = []
        if warning.level == "red" and self.settings.duty_number and not _latest_kept(events, "desk_call"):
            due.append(self._dial_desk(warning, events))
        due.append(self._reach_resident(warning, events))
        # A young "placing" attempt (an answer that timed out) is settled once it is old enough.
        due.extend(event.created_at + RECOVER_AFTER for event in events if event.state == PLACING)
        times = [at for at in due if at is not None]
        return min(times) if times else None

    def _reach_resident(self, warning: Warning, events: list[WarningEvent]) -> datetime | None:
        now = self._now()
        last_call = _latest(events, "call")
        if last_call and last_call.state in GOING_ON and now - last_call.created_at < CALL_GOING_ON_FOR:
            return now + RECHECK
        if warning.calls_made < self.settings.max_calls:
            return self._call_resident(warning, events, now)
        last_sms = _latest(events, "sms")
        if last_sms is None or last_sms.state == ERROR:
            return self._send_sms(warning, events, now)
        if last_sms.state == PLACING:
            return None  # settled by _decide once it is old enough
        if warning.level != "red":  # texted but not closed: the outcome was not written last time
            self.store.set_outcome(warning.id, "unreachable", self.actor)
        return None

    def _call_resident(self, warning: Warning, events: list[WarningEvent], now: datetime) -> datetime | None:
        if warning.level != "red":
            local = now.astimezone(LOCAL_TZ)
            quiet = self.settings.quiet_hours
            if quiet and quiet.contains(local):
                return quiet.end_after(local).astimezone(timezone.utc)
            if self.store.calls_on_day(warning.phone, local.date()) >= self.settings.daily_cap:
                return self.settings.start_of_calling(local).astimezone(timezone.utc)
        event = self.store.start_attempt(warning.id, "call", self.actor)
        url = self._url("call", warning=warning.id, event=event.id)
        try:
            call = self.telephony.place_call(warning.phone, url, self._url("status", event=event.id), detect_machine=True)
        except TwilioFault as fault:
            return self._failed(warning, event, events, fault, now)
        self.store.attempt_placed(event.id, call.sid)
        made = warning.calls_made + 1
        log.info("warning %s: call %d of %d placed (%s)", warning.id, made, self.settings.max_calls, call.sid)
        if made <= len(self.settings.retry_minutes):
            return now + timedelta(minutes=self.settings.retry_minutes[made - 1])
        return now + RECHECK  # the last call: the SMS follows once it has ended

    def _dial_desk(self, warning: Warning, events: list[WarningEvent]) -> datetime | None:
        now = self._now()
        event = self.store.start_attempt(warning.id, "desk_call", self.actor)
        try:
            call = self.telephony.place_call(
                self.settings.duty_number or "", self._url("desk", warning=warning.id),
                self._url("status", event=event.id), detect_machine=False,
            )
        except TwilioFault as fault:
            return self._failed(warning, event, events, fault, now)
        self.store.attempt_placed(event.id, call.sid)
        log.info("warning %s: red, duty desk dialled (%s)", warning.id, call.sid)
        return None

    def _send_sms(self, warning: Warning, events: list[WarningEvent], now: datetime) -> datetime | None:
        event = self.store.start_attempt(warning.id, "sms", self.actor)
        try:
            sid = self.telephony.send_sms(warning.phone, self.sms_text)
        except TwilioFault as fault:
            return self._failed(warning, event, events, fault, now)
        self.store.attempt_placed(event.id, sid)
        log.info("warning %s: not reached after %d calls, SMS sent (%s)", warning.id, warning.calls_made, sid)
        if warning.level != "red":
            self.store.set_outcome(warning.id, "unreachable", self.actor)
        return None  # red: stays open and urgent for the desk to go to the door

    def _failed(self, warning: Warning, event: WarningEvent, events: list[WarningEvent],
                fault: TwilioFault, now: datetime) -> datetime:
        if fault.maybe_done:  # Twilio may have it: settled from its list of calls, never made twice
            log.warning("warning %s: %s; will look it up at Twilio", warning.id, fault)
            return now + RECHECK
        self.store.attempt_failed(event.id, str(fault))
        wait = backoff(_failures_in_a_row(events, event.kind) + 1)
        log.warning("warning %s: %s %s; trying again in %s", warning.id, event.kind, fault, wait)
        return now + wait

    def _settle(self, warning: Warning, event: WarningEvent) -> None:
        """An attempt left "placing": adopt the call Twilio placed for it, or mark it an error."""
        if event.kind == "sms":  # Twilio's list of messages cannot tell a queued one apart: sent again if open
            self.store.attempt_failed(event.id, "the dispatcher stopped while sending the SMS; not known to have gone")
            return
        to = warning.phone if event.kind == "call" else self.settings.duty_number
        found = calls_around(self.telephony.recent_calls(to), event.created_at, ADOPT_WINDOW) if to else []
        found.sort(key=lambda call: call.created_at)  # type: ignore[arg-type, return-value]
        # The desk gets the calls of every red warning: two in the window cannot be told apart.
        if len(found) == 1 or (found and event.kind == "call"):
            self.store.attempt_placed(event.id, found[0].sid)
            log.info("warning %s: adopted %s for an attempt left unfinished", warning.id, found[0].sid)
        else:
            reason = "no call at Twilio" if not found else "several calls to the desk at that time"
            self.store.attempt_failed(event.id, f"the dispatcher stopped while placing it ({reason})")

    def _url(self, route: str, **query: int) -> str:
        return f"{self.settings.public_url}/webhooks/voice/warning/{route}?{urlencode(query)}"


def _latest_kept(events: list[WarningEvent], kind: str) -> WarningEvent | None:
    """The latest attempt of ``kind`` that Twilio did not refuse."""
    return next((event for event in reversed(events) if event.kind == kind and event.state != ERROR), None)
