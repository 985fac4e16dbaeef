"""``fanzha erase --sender ID | --reference FZ-… [--dry-run]``: erase one resident's conversation
from every store (the resident's right to erasure).

A reference number stands for the conversation its report came from. What goes, in this order:
the conversation's events in the tracker store (SQL rows, or the Redis key), reports of that
conversation still waiting on disk for the database (bot/services/report_queue.py), then its reports,
call-back requests and handoff tickets in the report database; SQLite's write-ahead logs are
emptied. The report database comes last and is left alone when an earlier store failed, so that
the same command can be run again once the problem is fixed. Only counts are printed: never what
was said, nor the sender id (it is the conversation's only credential).

``fanzha report delete`` uses the same steps but keeps the conversation's other reports.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from bot.cli.purge import report_database_missing
from bot.cli.reports import guarded
from bot.services.report_queue import ReportQueue
from bot.services.reports.crypto import load_key
from bot.services.reports.errors import StorageError, UnknownReference
from bot.services.reports.store import DEFAULT_DATABASE, ReportStore, normalize_reference
from bot.services.tracker_retention import RetentionError, endpoints_path, erase_conversation

EXIT_ERASED, EXIT_FAILED, EXIT_BAD_ARGUMENTS, EXIT_NOT_FOUND = 0, 1, 2, 3
MAX_SENDER_CHARS = 255  # Rasa's events.sender_id column

# What only the running servers hold, in memory: out of reach of a command, and soon forgotten.
IN_MEMORY_NOTE = (
    "not reached (the running server's memory only): WeChat turns in flight (10 minutes), "
    "buttons last shown on WeChat (24 hours), a phone call's state (until it ends, at most 3 hours)"
)


def _sender(text: str) -> str:
    if not text.strip() or len(text) > MAX_SENDER_CHARS:
        raise argparse.ArgumentTypeError(f"a sender id is 1 to {MAX_SENDER_CHARS} characters, as the tracker store has it")
    return text


def _reference(text: str) -> str:
    try:
        return normalize_reference(text)
    except UnknownReference as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _queued_reports(sender: str, dry_run: bool) -> tuple[int, int]:
    """Erase (or count) the sender's reports waiting on disk; (found, unreadable with this key)."""
    queue = ReportQueue()
    waiting = queue.pending()
    if not waiting:
        return 0, 0
    fernet = Fernet(load_key())
    found, unreadable = [], 0
    for path in waiting:
        try:
            record = json.loads(fernet.decrypt(path.read_bytes()))
        except FileNotFoundError:
            continue  # stored a moment ago: the report database is erased after this
        except (InvalidToken, ValueError):
            unreadable += 1
            continue
        if record.get("report", {}).get("sender") == sender:
            found.append(path)
    if not dry_run:
        for path in found:
            path.unlink(missing_ok=True)
    return len(found), unreadable


def erase_everywhere(store: ReportStore | None, sender: str | None, *, only_report: str | None = None,
                     dry_run: bool = False, command: str = "fanzha erase") -> tuple[int, int]:
    """Erase (or count) one conversation in every store, printing a line of counts per store.

    ``store``: the open report database, None when there is none; ``only_report``: erase this
    report and keep the conversation's others. Returns (exit status 0 or 1, things found)."""
    verb = "would erase" if dry_run else "erased"
    status, found = EXIT_ERASED, 0
    if sender is None:
        print("conversation: the report names none")
    else:
        try:
            counts = erase_conversation(endpoints_path(), sender, dry_run=dry_run)
            if counts is None:
                print("conversation: the tracker store keeps nothing on disk")
            else:
                print(f"conversation: {verb} {counts.conversations} ({counts.events} events)")
                found += counts.events
        except RetentionError as error:
            print(f"{command}: {error}", file=sys.stderr)
            status = EXIT_FAILED
        if only_report is None and status == EXIT_ERASED:
            try:
                queued, unreadable = _queued_reports(sender, dry_run)
                print(f"reports waiting for the database: {verb} {queued}"
                      + (f" ({unreadable} unreadable with this key, left alone)" if unreadable else ""))
                found += queued
            except StorageError as error:
                print(f"{command}: reports waiting for the database: {error}", file=sys.stderr)
                status = EXIT_FAILED
    if status != EXIT_ERASED:
        print("reports, call-back requests, handoff tickets: left as they were, so that the same command can be run again",
              file=sys.stderr)
    elif store is None:
        print(f"reports: no report database at {DEFAULT_DATABASE}, nothing to erase")
    else:
        erased = store.erase_conversation(sender, only_report=only_report, dry_run=dry_run)
        print(f"reports: {verb} {erased.reports}; call-back requests: {erased.callbacks}; handoff tickets: {erased.tickets}")
        found += erased.reports + erased.callbacks + erased.tickets
    print(IN_MEMORY_NOTE)
    return status, found


def cmd_erase(args: argparse.Namespace) -> int:
    if args.reference is None and report_database_missing():
        status, found = erase_everywhere(None, args.sender, dry_run=args.dry_run)
    else:
        with ReportStore(create=False) as store:  # never creates a database or a key
            sender, only_report = args.sender, None
            if args.reference is not None:
                try:
                    sender = store.get_report(args.reference).sender
                except UnknownReference:
                    print(f"fanzha erase: {args.reference}: no report with this reference number; nothing erased",
                          file=sys.stderr)
                    return EXIT_NOT_FOUND
                if sender is None:  # stored without a conversation: the report is all there is
                    only_report = args.reference
            status, found = erase_everywhere(store, sender, only_report=only_report, dry_run=args.dry_run)
    if status == EXIT_ERASED and not found:
        print("fanzha erase: nothing of this sender was found in any store", file=sys.stderr)
        return EXIT_NOT_FOUND
    return status


def add_erase_command(commands: Any) -> None:
    """Register ``fanzha erase`` on the main parser's subcommands."""
    erase = commands.add_parser(
        "erase",
        help="erase one resident's conversation, reports, call-backs and tickets from every store",
        epilog="exit codes: 0 erased, 1 a store could not be erased (the message says why), "
        "2 bad arguments, 3 nothing of this sender or reference number was found",
    )
    target = erase.add_mutually_exclusive_group(required=True)
    target.add_argument("--sender", type=_sender, metavar="SENDER_ID", help="the conversation's sender id")
    target.add_argument("--reference", type=_reference, metavar="FZ-YYYYMMDD-XXXX",
                        help="a report's reference number: its conversation is erased, with all its reports")
    erase.add_argument("--dry-run", action="store_true", help="only count what would be erased")
    erase.set_defaults(func=guarded(cmd_erase, "erase"))
