"""``fanzha risklist import|show|export|delete``: the anti-fraud centre's list of links, numbers and accounts.

Exit codes: 0 done; 1 the database failed, an unknown source, or (show) the value is on no list;
2 a bad command line or a bad file (nothing imported).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import Any

from bot.cli.reports import guarded
from bot.services.reports.store import local_time
from bot.services.risklist import MAX_ERRORS_SHOWN, FileProblem, ImportRejected, RiskList, ValueProblem, normalise
from bot.services.risklist_csv import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from knowledge.risk_values import KINDS

NOT_SAFE = "a value on no list is not known to be safe (不在名单上不代表安全)"


def _open() -> RiskList:
    # Never create a database or key from the command line: a wrong folder would start an empty one.
    return RiskList.open(create=False)


def _scam_types() -> dict[str, str]:
    from knowledge.loader import default_knowledge

    return {code: scam.name for code, scam in default_knowledge().scam_types.items()}


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    with _open() as risk_list:
        try:
            summary = risk_list.import_file(path, _scam_types())
        except FileProblem as problem:
            print(f"fanzha risklist import: {path}: {problem}; nothing imported", file=sys.stderr)
            return 2
        except ImportRejected as rejected:
            for error in rejected.errors:
                print(f"{path}:{error.line}: " + (f"{error.field}: " if error.field else "") + error.reason, file=sys.stderr)
            more = f" (the first {MAX_ERRORS_SHOWN} errors are shown)" if len(rejected.errors) >= MAX_ERRORS_SHOWN else ""
            print(f"fanzha risklist import: {rejected.bad_lines} bad line(s) in {path}{more}; nothing imported. "
                  "Correct them and import the whole file again.", file=sys.stderr)
            return 2
    for source, count in summary.imported.items():
        before = summary.replaced.get(source)
        print(f"{source}: {count} entries" + (f" (replaced the {before} imported before)" if before is not None else " (new list)"))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    kinds = [args.type] if args.type else list(KINDS)
    forms: dict[str, str] = {}
    problems: list[str] = []
    for kind in kinds:
        try:
            forms[kind] = normalise(kind, args.value)
        except ValueProblem as problem:
            problems.append(f"{kind}: {problem}")
    if not forms:
        print(f"fanzha risklist show: {'; '.join(problems)}", file=sys.stderr)
        return 2
    names = _scam_types()
    found = False
    with _open() as risk_list:
        imported = {listed.name: listed.imported_at for listed in risk_list.sources()}
        for kind, form in forms.items():
            hits = risk_list.lookup(kind, args.value)
            found = found or bool(hits)
            print(f"{kind} {form}: " + (f"on {len(hits)} list(s)" if hits else "on no list"))
            for hit in hits:
                scam = f"  {names.get(hit.scam_type, '')} [{hit.scam_type}]" if hit.scam_type else ""
                when = imported.get(hit.source)
                print(f"  {hit.source}: {hit.level}, listed {hit.listed_on.isoformat()}{scam}"
                      + (f" (list imported {local_time(when):%Y-%m-%d %H:%M})" if when else ""))
    if not found:
        print(NOT_SAFE)
    return 0 if found else 1


def cmd_export(args: argparse.Namespace) -> int:
    path = Path(args.file)
    with _open() as risk_list:
        rows = risk_list.export(args.source)  # an unknown source stops here, before the file exists
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            print(f"fanzha risklist export: {path} already exists; choose another file name", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"fanzha risklist export: cannot write {path}: {error.strerror}", file=sys.stderr)
            return 1
        count = 0
        try:
            # utf-8-sig: spreadsheet programs then read the Chinese source names correctly.
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow([*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS])
                for row in rows:
                    writer.writerow([row.kind, row.value, row.level, row.source, row.listed_on.isoformat(), row.scam_type or ""])
                    count += 1
        except BaseException:
            path.unlink(missing_ok=True)  # never half a list that looks whole
            raise
    print(f"{count} entries written to {path}; phone numbers and accounts as their keyed hash only "
          "(this file cannot be imported back: keep the centre's own files)", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with _open() as risk_list:
        deleted = risk_list.delete_source(args.source)
    print(f"deleted the list {args.source!r}: {deleted} entries")
    return 0


def add_risklist_commands(commands: Any) -> None:
    """Register ``fanzha risklist …`` on the main parser's subcommands."""
    risklist = commands.add_parser("risklist", help="the anti-fraud centre's risk list of links, phone numbers and accounts")
    sub = risklist.add_subparsers(dest="risklist_command", required=True)
    columns = f"{','.join(REQUIRED_COLUMNS)}[,{','.join(OPTIONAL_COLUMNS)}]"
    imp = sub.add_parser(
        "import",
        help=f"import a CSV file ({columns}); all lines or, if any is bad, none; "
        "each source in the file replaces that source's entries",
    )
    imp.add_argument("file", help="UTF-8 CSV file with a header line")
    imp.set_defaults(func=guarded(cmd_import, "risklist"))
    show = sub.add_parser("show", help="which lists a link, phone number or account is on, and since when")
    show.add_argument("value", help="as written, e.g. '+86 138-0013-8000' or 'https://example.com/pay'")
    show.add_argument("--type", choices=KINDS, help="only this type (default: every type the value can be)")
    show.set_defaults(func=guarded(cmd_show, "risklist"))
    export = sub.add_parser("export", help="write the list as CSV (phone numbers and accounts as their hash only)")
    export.add_argument("file", help="CSV file to create (owner-only, never over an existing file)")
    export.add_argument("--source", help="only this list")
    export.set_defaults(func=guarded(cmd_export, "risklist"))
    delete = sub.add_parser("delete", help="remove every entry of one list")
    delete.add_argument("--source", required=True, help="the list's source name")
    delete.set_defaults(func=guarded(cmd_delete, "risklist"))
