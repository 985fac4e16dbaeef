"""The ``fanzha`` command line."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Iterable, TextIO

from knowledge.text import valid_text


def _checker() -> Any:
    from knowledge.checker import Checker

    return Checker()


def format_verdict(verdict: Any) -> str:
    """A readable verdict for a terminal."""
    from knowledge.loader import default_knowledge

    kb = default_knowledge()
    lines = [f"风险等级: {verdict.risk_colour} ({verdict.risk})"]
    if verdict.scam_type:
        lines.append(f"诈骗类型: {verdict.scam_name} [{verdict.scam_type}]")
    top = list(verdict.probabilities.items())[:3]
    lines.append("可能性: " + ", ".join(f"{kb.scam_types[c].name} {p:.0%}" for c, p in top))
    if verdict.red_flags:
        lines.append("可疑之处:")
        lines.extend(f"  - 「{h.text}」({h.start}-{h.end}) {h.label}" for h in verdict.red_flags)
    if verdict.entities:
        lines.append("提到的: " + ", ".join(f"{e.entity}={e.text}" for e in verdict.entities))
    if verdict.scam_type:
        scam = kb.scam_types[verdict.scam_type]
        lines.append("建议:")
        lines.extend(f"  {i}. {step}" for i, step in enumerate(scam.advice_not_paid, 1))
    return "\n".join(lines)


def run_jsonl(checker: Any, source: Iterable[str | bytes], out: TextIO, batch_size: int = 64) -> int:
    """Check ``{"id", "text"}`` lines (text, or bytes that must be UTF-8); a bad line gets an
    error line and the run goes on.

    Returns the number of bad lines.
    """
    errors = 0
    batch: list[tuple[Any, str]] = []

    def flush() -> None:
        if not batch:
            return
        verdicts = checker.check_many([text for _, text in batch])
        for (record_id, _), verdict in zip(batch, verdicts):
            out.write(valid_text(json.dumps(verdict.as_json(record_id), ensure_ascii=False)) + "\n")
        batch.clear()

    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        record_id, text, problem = _parse_line(line, number)
        if problem:
            errors += 1
            flush()  # keep the output in input order
            out.write(valid_text(json.dumps({"id": record_id, "line": number, "error": problem}, ensure_ascii=False)) + "\n")
            continue
        batch.append((record_id, text))
        if len(batch) >= batch_size:
            flush()
    flush()
    return errors


def _parse_line(line: str | bytes, number: int) -> tuple[Any, str, str | None]:
    """(id, text, problem); the id falls back to the line number."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return number, "", "not valid UTF-8"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return number, "", f"not valid JSON: {error.msg}"
    except RecursionError:
        return number, "", "not valid JSON: nested too deeply"
    if not isinstance(record, dict):
        return number, "", "a line must be a JSON object"
    record_id = record.get("id", number)
    if not isinstance(record.get("text"), str):
        return record_id, "", "field 'text' must be a string"
    return record_id, record["text"], None  # the checker makes lone surrogates U+FFFD


def cmd_check(args: argparse.Namespace) -> int:
    checker = _checker()
    if args.jsonl:
        run_jsonl(checker, sys.stdin.buffer, sys.stdout)
        return 0
    # Undecodable bytes become U+FFFD rather than stopping the check.
    text = " ".join(args.text) if args.text else sys.stdin.buffer.read().decode("utf-8", "replace")
    if not text.strip():
        print("fanzha check: give a text to check, e.g. fanzha check \"对方让我转到安全账户\"", file=sys.stderr)
        return 2
    print(format_verdict(checker.check(text)))
    return 0


def build_parser(check_only: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fanzha", description="反诈助手 fanzha")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="check a text against the known scam types")
    check.add_argument("text", nargs="*", help="the text (or read from standard input)")
    check.add_argument("--jsonl", action="store_true", help='read {"id","text"} lines, write one verdict per line')
    check.set_defaults(func=cmd_check)
    if check_only:  # the other commands' modules (storage, crypto …) take a noticeable time to import
        return parser

    from bot.cli.reports import add_report_commands

    add_report_commands(commands)
    from bot.cli.agents import add_agent_commands

    add_agent_commands(commands)
    from bot.cli.purge import add_purge_command

    add_purge_command(commands)
    from bot.cli.erase import add_erase_command

    add_erase_command(commands)
    from bot.cli.risklist import add_risklist_commands

    add_risklist_commands(commands)
    from bot.cli.early_warnings import add_warnings_commands

    add_warnings_commands(commands)

    from bot.cli.outreach import add_demo_commands

    add_demo_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(check_only=argv[:1] == ["check"]).parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    if args.command != "check":  # the checker reads no runtime state; it may run in any folder
        from bot.services.runtime_state import RuntimeStateError, move_old_state

        try:
            move_old_state()  # what an older version left in data/ and keys/, before any command reads it
        except RuntimeStateError as error:
            print(f"fanzha: {error}", file=sys.stderr)
            return 1
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
