"""``fanzha warnings dispatch [--once] [--worker NAME] [--check]``: the warning calls' dispatcher.

Runs beside the servers (scripts/run.sh starts it when calling is set up; one per replica is
fine). Stops cleanly on Ctrl-C or SIGTERM: the warnings in hand are finished and given back.
Exit codes: 0 stopped, or (--check) calling is set up; 1 (--check) calling is not set up, or the
database failed; 2 a setting is malformed or missing.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

COMMAND = "fanzha warnings dispatch"


def _sms_text() -> str:
    """The ``sms`` text, through the loader that checks the whole call texts file."""
    from bot.services.early_warnings.call_texts import default_warning_texts

    return default_warning_texts().sms


def cmd_dispatch(args: argparse.Namespace) -> int:
    # Imported here: the other `fanzha` commands need neither twilio nor the dispatcher.
    from bot.cli.early_warnings import open_warning_store
    from bot.services.early_warnings.calls import TwilioTelephony
    from bot.services.early_warnings.dispatch import (
        ENV_PUBLIC_URL,
        DispatchConfigError,
        Dispatcher,
        calling_configured,
        check_worker,
        default_worker,
        settings_from_env,
    )
    from bot.services.reports.errors import StorageError

    if not calling_configured():
        if args.check:
            if os.environ.get("FANZHA_TWILIO_ACCOUNT_SID"):
                print(f"Warning calls are off: set {ENV_PUBLIC_URL} to turn them on (docs/channels.md, early warnings).", file=sys.stderr)
            return 1
    try:
        worker = check_worker(args.worker or default_worker())
        settings = settings_from_env()
        sms_text = _sms_text()
    except DispatchConfigError as error:
        print(f"{COMMAND}: {error}", file=sys.stderr)
        return 2
    if settings.duty_number is None:
        print(f"{COMMAND}: no duty desk number (FANZHA_DUTY_NUMBER or the voice channel's duty_number in "
              "credentials.yml): red warnings will not dial the desk", file=sys.stderr)
    if args.check:
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), lambda *_: stop.set())
    try:
        with open_warning_store() as store:
            dispatcher = Dispatcher(store, settings, TwilioTelephony(settings.twilio), sms_text, worker)
            try:
                dispatcher.run(stop, once=args.once)
            finally:
                dispatcher.close()
    except StorageError as error:
        print(f"{COMMAND}: {error}", file=sys.stderr)
        return 1
    return 0


def add_dispatch_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dispatch = sub.add_parser(
        "dispatch",
        help="place the warning calls through Twilio: retries, quiet hours, daily cap, desk call for red, SMS at the end",
    )
    dispatch.add_argument("--once", action="store_true", help="work on what is due now, then stop (for cron or a test)")
    dispatch.add_argument("--worker", help="this dispatcher's name in the audit trail (default: host-pid)")
    dispatch.add_argument("--check", action="store_true",
                          help="only check the settings: exit 0 when calling is set up, 1 when it is not, 2 when malformed")
    dispatch.set_defaults(func=cmd_dispatch)
