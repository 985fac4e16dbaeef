"""``fanzha report show|export|delete``: the duty officer's view of stored reports."""
from __future__ import annotations

import argparse
import csv
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, TextIO

from bot.services.reports.errors import StorageError
from bot.services.reports.store import ReportStore, StoredReport, local_time


def _day(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date YYYY-MM-DD (for example 2026-11-01)") from None


def _open_store() -> ReportStore:
    # Never create a database or key from the command line: a wrong folder would start an empty one.
    return ReportStore(create=False)


def format_report(report: StoredReport) -> str:
    """The summary the resident was given, then the record's details."""
    from knowledge.case_summary import case_summary
    from knowledge.loader import default_knowledge

    kb = default_knowledge()
    scam_type = report.scam_type if report.scam_type in kb.scam_types else None
    lines = [
        case_summary(report.fields, scam_type, "text", reference=report.reference, kb=kb),
        "",
        f"状态: {report.status}    渠道: {report.channel}    风险: {report.risk or '-'}",
        f"创建: {local_time(report.created_at):%Y-%m-%d %H:%M}    更新: {local_time(report.updated_at):%Y-%m-%d %H:%M}",
    ]
    if report.scam_type and not scam_type:
        lines.append(f"诈骗类型代码: {report.scam_type}")
    story = report.fields.get("story")
    if isinstance(story, str) and story not in lines[0]:
        lines.append(f"事情经过（全文）: {story}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = "、".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    # A resident's (or a scammer's) text must not run as a spreadsheet formula on the officer's computer.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_reports_csv(reports: Iterable[StoredReport], out: TextIO) -> int:
    """One row per report: the record's details, then each answer in summary order. Returns the count."""
    from knowledge.case_summary import field_keys
    from knowledge.loader import default_knowledge

    kb = default_knowledge()
    reports = list(reports)
    keys = list(field_keys(kb))
    keys += sorted({k for r in reports for k in r.fields} - set(keys))
    writer = csv.writer(out)
    writer.writerow(["reference", "created_at", "updated_at", "status", "channel", "scam_type", "scam_name", "risk", *keys])
    for r in reports:
        name = kb.scam_types[r.scam_type].name if r.scam_type in kb.scam_types else ""
        writer.writerow(
            [
                r.reference,
                local_time(r.created_at).isoformat(timespec="seconds"),
                local_time(r.updated_at).isoformat(timespec="seconds"),
                r.status,
                r.channel,
                r.scam_type or "",
                name,
                r.risk or "",
                *(_cell(r.fields.get(k)) for k in keys),
            ]
        )
    return len(reports)


def cmd_show(args: argparse.Namespace) -> int:
    with _open_store() as store:
        print(format_report(store.get_report(args.reference)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _open_store() as store:
        reports = store.reports_since(args.since)
    if args.out is None:
        count = write_reports_csv(reports, sys.stdout)
    else:
        path = Path(args.out)
        try:
            # Decrypted personal data: owner-only, and never over an existing file.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            print(f"fanzha report export: {path} already exists; choose another file name", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"fanzha report export: cannot write {path}: {error.strerror}", file=sys.stderr)
            return 1
        # utf-8-sig: spreadsheet programs then read the Chinese correctly.
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
            count = write_reports_csv(reports, handle)
    print(f"{count} reports since {args.since.isoformat()}" + (f" written to {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Erase the report and every copy of its answers: the conversation's events in the tracker
    store, its handoff tickets and call-back requests. The conversation's other reports stay."""
    from bot.cli.erase import erase_everywhere

    with _open_store() as store:
        report = store.get_report(args.reference)
        same_conversation = store.reports_for_sender(report.sender) if report.sender is not None else []
        others = [other.reference for other in same_conversation if other.reference != report.reference]
        status, _ = erase_everywhere(store, report.sender, only_report=report.reference, command="fanzha report delete")
    if status:
        print(f"fanzha report delete: {report.reference} was not deleted", file=sys.stderr)
        return status
    print(f"deleted {report.reference}")
    if others:
        print(f"kept {len(others)} other report(s) of the same conversation: {', '.join(others)}")
    return 0


def guarded(handler: Any, group: str) -> Any:
    """Run a ``fanzha <group> [command] …`` handler; a storage error is one line on stderr and exit 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except StorageError as error:
            command = " ".join(filter(None, (group, getattr(args, group + "_command", None))))
            print(f"fanzha {command}: {error}", file=sys.stderr)
            return 1

    return run


def add_report_commands(commands: Any) -> None:
    """Register ``fanzha report …`` on the main parser's subcommands."""
    report = commands.add_parser("report", help="show, export or delete stored reports")
    sub = report.add_subparsers(dest="report_command", required=True)
    show = sub.add_parser("show", help="print a report's summary (decrypted)")
    show.add_argument("reference", help="reference number, e.g. FZ-20261122-7K3Q")
    show.set_defaults(func=guarded(cmd_show, "report"))
    export = sub.add_parser("export", help="write reports since a day as CSV for the duty officer")
    export.add_argument("--since", type=_day, required=True, help="first day (Beijing time), YYYY-MM-DD")
    export.add_argument("--out", help="CSV file to create (owner-only); default: standard output")
    export.set_defaults(func=guarded(cmd_export, "report"))
    delete = sub.add_parser(
        "delete",
        help="erase a report for good, with the conversation it came from and its tickets and call-backs "
        "(the conversation's other reports stay; fanzha erase --reference erases them too)",
    )
    delete.add_argument("reference", help="reference number")
    delete.set_defaults(func=guarded(cmd_delete, "report"))
