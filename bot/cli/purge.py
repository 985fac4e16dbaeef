"""``fanzha purge [--older-than DAYS] [--dry-run]``: erase conversations and reports past retention.

What goes: conversations in the tracker store whose newest message is older than the cut-off,
reports last changed, call-back requests made, handoff tickets and early warnings closed before
it (with the warnings' audit trails; open warnings stay). The
default age is ``FANZHA_RETENTION_DAYS`` (default 180). Meant for a daily cron job.
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from bot.cli.reports import guarded
from bot.services.early_warnings.store import WarningStore
from bot.services.reports.store import DEFAULT_DATABASE, ENV_DATABASE_URL, ReportStore
from bot.services.tracker_retention import RetentionError, endpoints_path, purge_conversations, tracker_store_url

ENV_RETENTION_DAYS = "FANZHA_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 180
MAX_RETENTION_DAYS = 36500


def retention_days(text: str, where: str = "--older-than") -> int:
    try:
        days = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{where}: '{text}' is not a whole number of days (for example 180)") from None
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(f"{where}: {days} days is out of range (1 to {MAX_RETENTION_DAYS})")
    return days


def default_days(env: Mapping[str, str] = os.environ) -> int:
    raw = env.get(ENV_RETENTION_DAYS, "").strip()
    return retention_days(raw, ENV_RETENTION_DAYS) if raw else DEFAULT_RETENTION_DAYS


def report_database_missing(env: Mapping[str, str] = os.environ) -> bool:
    # No report was ever stored here: nothing to purge, and nothing to create.
    return not env.get(ENV_DATABASE_URL) and not DEFAULT_DATABASE.exists()


def cmd_purge(args: argparse.Namespace) -> int:
    try:
        days = args.older_than or default_days()
    except argparse.ArgumentTypeError as error:
        print(f"fanzha purge: {error}", file=sys.stderr)
        return 2
    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    verb = "would erase" if args.dry_run else "erased"
    print(f"cut-off {cutoff:%Y-%m-%d %H:%M} UTC ({days} days)")
    status = 0
    try:
        url = tracker_store_url(endpoints_path())
        if url is None:
            print("conversations: the tracker store keeps nothing on disk")
        else:
            counts = purge_conversations(url, cutoff, dry_run=args.dry_run)
            print(f"conversations: {verb} {counts.conversations} ({counts.events} events)")
    except RetentionError as error:
        print(f"fanzha purge: {error}", file=sys.stderr)
        status = 1
    if report_database_missing():
        print(f"reports: no report database at {DEFAULT_DATABASE}, nothing to erase")
        return status
    with ReportStore(create=False) as store:
        purged = store.purge_older_than(cutoff, dry_run=args.dry_run)
        warnings, events = WarningStore(store).purge_closed_before(cutoff, dry_run=args.dry_run)
    print(f"reports: {verb} {purged.reports}; call-back requests: {purged.callbacks}; handoff tickets: {purged.tickets}")
    print(f"early warnings: {verb} {warnings} closed ({events} audit events)")
    return status


def add_purge_command(commands: Any) -> None:
    """Register ``fanzha purge`` on the main parser's subcommands."""
    purge = commands.add_parser(
        "purge", help="erase conversations, reports, call-backs, tickets and closed warnings older than the retention period"
    )
    purge.add_argument(
        "--older-than",
        type=retention_days,
        metavar="DAYS",
        help=f"age in days (default: {ENV_RETENTION_DAYS}, else {DEFAULT_RETENTION_DAYS})",
    )
    purge.add_argument("--dry-run", action="store_true", help="only count what would be erased")
    purge.set_defaults(func=guarded(cmd_purge, "purge"))
