"""``fanzha warnings import|list|show|outcome|export|dispatch``: the centre's early warnings.

Exit codes: 0 done; 1 the database failed or (import) some lines were bad; 2 a bad command
line; 3 no such warning.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any, Callable

from bot.services.early_warnings.store import (
    OUTCOMES,
    UnknownWarning,
    Warning,
    WarningError,
    WarningStore,
    masked_phone,
    merge_window_from_env,
)
from bot.services.early_warnings.warning_csv import (
    FIELDS,
    REQUIRED,
    FileProblem,
    read_warnings,
    scam_type_names,
    write_warnings_csv,
)
from bot.services.reports.errors import StorageError
from bot.services.reports.store import LOCAL_TZ, ReportStore, local_time

LEVEL_NAMES = {"red": "红", "orange": "橙", "yellow": "黄"}


@contextmanager
def open_warning_store() -> Iterator[WarningStore]:
    # Never create a database or key from the command line: a wrong folder would start an empty one.
    merge_window = merge_window_from_env()
    with ReportStore(create=False) as reports:
        yield WarningStore(reports, merge_window)


def guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A storage error is one line on stderr: exit 3 for an unknown warning, 2 for a bad value, else 1."""

    def run(args: argparse.Namespace) -> int:
        command = f"fanzha warnings {args.warnings_command}"
        try:
            return handler(args)
        except UnknownWarning as error:
            print(f"{command}: {error}", file=sys.stderr)
            return 3
        except WarningError as error:
            print(f"{command}: {error}", file=sys.stderr)
            return 2
        except StorageError as error:
            print(f"{command}: {error}", file=sys.stderr)
            return 1

    return run


def _scam_name(code: str | None) -> str:
    if not code:
        return "-"
    from knowledge.loader import default_knowledge

    scam = default_knowledge().scam_types.get(code)
    return f"{scam.name} [{code}]" if scam else code


def _age(warning: Warning, now: datetime) -> str:
    minutes = max(int((now - warning.received_at).total_seconds() // 60), 0)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // 1440} d"


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    with open_warning_store() as store:
        try:
            good, errors = read_warnings(path, scam_type_names(), store.clock())
        except FileProblem as problem:
            print(f"fanzha warnings import: {path}: {problem}; nothing imported", file=sys.stderr)
            return 1
        for error in errors:
            print(error, file=sys.stderr)
        # In file order, each run of lines from one source in one call (the actor names the source).
        added = [result for source, run in groupby((new for _, new in good), key=lambda new: new.source)
                 for result in store.add_many(run, f"import:{source}"[:64])]
    merged = sum(1 for _, was_merged in added if was_merged)
    red = sum(1 for warning, _ in added if warning.urgent)
    print(f"{len(added)} warning(s) imported: {len(added) - merged} new, {merged} merged into open ones; "
          f"{red} red and open")
    if errors:
        bad_lines = len({error.line for error in errors})
        print(f"fanzha warnings import: {bad_lines} bad line(s) in {path} not imported; correct them and "
              "import them again (importing a line twice only merges it)", file=sys.stderr)
        return 1
    return 0


def _line(warning: Warning, now: datetime) -> str:
    when = f"next {local_time(warning.next_attempt_at):%m-%d %H:%M}" if warning.next_attempt_at else "nothing scheduled"
    end = f"{warning.outcome} {OUTCOMES.get(warning.outcome, '')} by {warning.outcome_by}" if warning.outcome else when
    return (f"#{warning.id}  {LEVEL_NAMES[warning.level]} {warning.level:<6}  {masked_phone(warning.phone)}  "
            f"{_scam_name(warning.scam_type)}  age {_age(warning, now)}  calls {warning.calls_made}  "
            f"{warning.source}  {end}")


def cmd_list(args: argparse.Namespace) -> int:
    with open_warning_store() as store:
        now = store.clock()
        warnings = store.warnings_between() if args.all else store.open_warnings()
    for warning in warnings:
        print(_line(warning, now))
    print(f"{len(warnings)} {'warning(s)' if args.all else 'open warning(s)'}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_warning_store() as store:
        warning = store.get(args.id)
        events = store.events(args.id)
    outcome = f"{warning.outcome} {OUTCOMES.get(warning.outcome, '')} (by {warning.outcome_by})" if warning.outcome else "-"
    print(f"预警 #{warning.id}  {LEVEL_NAMES[warning.level]} {warning.level}  {warning.status}")
    print(f"电话: {warning.phone}    类型: {_scam_name(warning.scam_type)}    来源: {warning.source}")
    print(f"收到: {local_time(warning.received_at):%Y-%m-%d %H:%M}    合并: {warning.merged}    呼叫: {warning.calls_made}")
    print(f"结果: {outcome}" + (f"    报案编号: {warning.reference}" if warning.reference else ""))
    if warning.next_attempt_at:
        print(f"下次呼叫: {local_time(warning.next_attempt_at):%Y-%m-%d %H:%M:%S}")
    print(f"备注: {warning.note or '-'}")
    print("记录:")
    for event in events:
        sid = f"  {event.twilio_sid}" if event.twilio_sid else ""
        detail = f"  {event.detail}" if event.detail else ""
        print(f"  {local_time(event.created_at):%m-%d %H:%M:%S}  {event.kind:<9} {event.state:<12} {event.actor}{sid}{detail}")
    return 0


def cmd_outcome(args: argparse.Namespace) -> int:
    with open_warning_store() as store:
        warning = store.set_outcome(args.id, args.outcome, "cli", note=args.note, reference=args.reference)
    print(f"warning {warning.id}: closed, {warning.outcome} {OUTCOMES[warning.outcome]}")  # type: ignore[index]  # set just now
    return 0


def _day(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date YYYY-MM-DD (for example 2026-11-01)") from None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, LOCAL_TZ)


def cmd_export(args: argparse.Namespace) -> int:
    since = _start_of(args.since) if args.since else None
    until = _start_of(args.until + timedelta(days=1)) if args.until else None  # the --until day included
    with open_warning_store() as store:
        warnings = store.warnings_between(since, until)
    count = write_warnings_csv(warnings, sys.stdout)
    print(f"{count} warning(s) exported", file=sys.stderr)
    return 0


def add_warnings_commands(commands: Any) -> None:
    """Register ``fanzha warnings …`` on the main parser's subcommands."""
    warnings = commands.add_parser("warnings", help="the anti-fraud centre's early warnings (预警): import, list, outcomes")
    sub = warnings.add_subparsers(dest="warnings_command", required=True)
    imp = sub.add_parser(
        "import",
        help=f"import a CSV file (columns {','.join(FIELDS)}; {', '.join(REQUIRED)} required); good lines are "
        "imported even when others are bad; a number with an open warning is merged into it",
    )
    imp.add_argument("file", help="UTF-8 CSV file with a header line")
    imp.set_defaults(func=guarded(cmd_import))
    show_all = sub.add_parser("list", help="open warnings, red first, the oldest first (numbers masked)")
    show_all.add_argument("--all", action="store_true", help="closed ones too, in the order received")
    show_all.set_defaults(func=guarded(cmd_list))
    show = sub.add_parser("show", help="one warning with its full number and every attempt")
    show.add_argument("id", type=int, help="the warning's number (#12 → 12)")
    show.set_defaults(func=guarded(cmd_show))
    outcome = sub.add_parser("outcome", help="close a warning with its outcome (again to correct it; audited)")
    outcome.add_argument("id", type=int)
    outcome.add_argument("outcome", choices=list(OUTCOMES),
                         help=", ".join(f"{code} {label}" for code, label in OUTCOMES.items()))
    outcome.add_argument("--note", help="what happened (secrets in it are masked)")
    outcome.add_argument("--reference", help="the report started for the resident, e.g. FZ-20261122-7K3Q")
    outcome.set_defaults(func=guarded(cmd_outcome))
    export = sub.add_parser("export", help="warnings received between two days (Beijing time) as CSV on standard output")
    export.add_argument("--since", type=_day, help="first day, YYYY-MM-DD")
    export.add_argument("--until", type=_day, help="last day, YYYY-MM-DD (included)")
    export.set_defaults(func=guarded(cmd_export))
    from bot.cli.early_warnings_dispatch import add_dispatch_command

    add_dispatch_command(sub)
