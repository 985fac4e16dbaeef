"""Checking a warning (a CSV line or the console's form) and the warning CSV files.

A file: UTF-8 (a BOM and CRLF, what Excel writes, are fine), a header naming the columns in any
order: phone, level and source are required, scam_type, note and time optional. Every line is
checked; each problem is a ``LineError`` naming the line and the field, and the good lines are
imported anyway (a red warning must not wait for someone else's typo).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Iterable, Mapping, TextIO

from bot.services.early_warnings.store import LEVELS, MAX_NOTE_CHARS, MAX_SOURCE_CHARS, NewWarning, Warning, WarningError
from bot.services.reports.store import LOCAL_TZ, local_time
from knowledge.risk_values import ValueProblem, normalise

FIELDS = ("phone", "level", "scam_type", "note", "source", "time")
REQUIRED = ("phone", "level", "source")
EXPORT_FIELDS = ("id", "phone", "level", "scam_type", "source", "received_at", "status", "outcome", "outcome_by",
                 "calls_made", "merged", "reference", "created_at", "updated_at")
MAX_FILE_BYTES = 20 * 1024 * 1024
FUTURE_SLACK = timedelta(minutes=5)  # the centre's clock may run a little ahead of ours
_LEVEL_WORDS = {"红": "red", "红色": "red", "橙": "orange", "橙色": "orange", "黄": "yellow", "黄色": "yellow"}
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LOCAL_TIME = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SAVE_AS_UTF8 = 'save it as UTF-8 (Excel: 另存为 → "CSV UTF-8 (逗号分隔)")'


class FileProblem(WarningError):
    """The file as a whole cannot be read; nothing in it was imported."""


@dataclass(frozen=True)
class LineError:
    line: int
    message: str  # "field: reason"

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class LineProblems(WarningError):
    """Everything wrong with one warning: ``problems`` holds each "field: reason"."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _quoted(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def scam_type_names() -> dict[str, str]:
    """Every code, name and alias of the knowledge's scam types → the type's code (what
    ``parse_warning`` takes as ``scam_types``)."""
    from knowledge.loader import default_knowledge

    names: dict[str, str] = {}
    for code, scam in default_knowledge().scam_types.items():
        for name in (scam.name, *scam.aliases):
            names.setdefault(name, code)
    for code in default_knowledge().scam_types:
        names[code] = code  # a code always means itself
    return names


def parse_phone(text: str) -> str:
    """A mainland China mobile number, however written, as E.164 ("+8613812345678")."""
    try:
        digits = normalise("phone", text)
    except ValueProblem as problem:
        raise WarningError(f"phone: {problem}") from None
    if _MOBILE.fullmatch(digits):
        return "+86" + digits
    if digits.startswith("00"):
        raise WarningError(f"phone: {_quoted(text)} is a foreign number; only mainland China mobile numbers are called")
    raise WarningError(f"phone: {_quoted(text)} is not a mobile number (11 digits from 13 to 19, e.g. 13812345678)")


def parse_level(text: str) -> str:
    word = text.strip().lower().removesuffix("预警")
    level = word if word in LEVELS else _LEVEL_WORDS.get(word)
    if level is None:
        raise WarningError(f"level: must be red, orange or yellow (or 红, 橙, 黄), not {_quoted(text)}")
    return level


def parse_time(text: str, now: datetime) -> datetime:
    """ISO 8601, or "YYYY-MM-DD HH:MM[:SS]" in Beijing time; empty is ``now``."""
    text = text.strip()
    if not text:
        return now
    when: datetime | None = None
    if len(text) > 10:  # a date alone is no time of warning
        try:
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
        except ValueError:
            match = _LOCAL_TIME.fullmatch(text)
            if match:
                try:
                    when = datetime(*(int(part or 0) for part in match.groups()))  # type: ignore[arg-type]  # six parts: year to second
                except ValueError:
                    raise WarningError(f"time: {_quoted(text)} is not a time of the calendar") from None
    if when is None:
        raise WarningError(f"time: must be a Beijing time like 2026-11-22 09:05 or ISO 8601 with its zone "
                           f"(2026-11-22T01:05:00Z), not {_quoted(text)}")
    when = when.replace(tzinfo=LOCAL_TZ) if when.tzinfo is None else when
    if when > now + FUTURE_SLACK:
        raise WarningError(f"time: {local_time(when):%Y-%m-%d %H:%M} (Beijing) is in the future; check the time and its zone")
    return when


def parse_scam_type(text: str, scam_types: Mapping[str, str]) -> str | None:
    text = text.strip()
    if not text:
        return None
    code = scam_types.get(text) or scam_types.get(text.lower())
    if code is None:
        codes = sorted(set(scam_types.values()))
        raise WarningError(f"scam_type: unknown type {_quoted(text)}; give a code, name or alias from "
                           f"knowledge/scam_types ({', '.join(codes)}) or leave it empty")
    return code


def parse_source(text: str) -> str:
    text = text.strip()
    if not text:
        raise WarningError("source: must be given (who issued the warning, e.g. 市反诈中心)")
    if len(text) > MAX_SOURCE_CHARS:
        raise WarningError(f"source: at most {MAX_SOURCE_CHARS} characters, not {len(text)}")
    if text.startswith(_FORMULA_START) or not text.isprintable():
        raise WarningError(f"source: a name, not {_quoted(text)} (no control characters, no leading = + - @)")
    return text


def parse_note(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_NOTE_CHARS:
        raise WarningError(f"note: at most {MAX_NOTE_CHARS} characters, not {len(text)}")
    return text


def parse_warning(raw: Mapping[str, str | None], scam_types: Mapping[str, str], now: datetime) -> NewWarning:
    """One warning from a CSV line or the console's form. Raises ``LineProblems`` (a
    WarningError) naming every bad field: "phone: …; level: …"."""
    def field(name: str) -> str:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            value = str(value)
        return value or ""

    values: dict[str, object] = {}
    problems: list[str] = []
    checks = (
        ("phone", lambda: parse_phone(field("phone")) if field("phone").strip() else _missing("phone")),
        ("level", lambda: parse_level(field("level"))),
        ("scam_type", lambda: parse_scam_type(field("scam_type"), scam_types)),
        ("note", lambda: parse_note(field("note"))),
        ("source", lambda: parse_source(field("source"))),
        ("received_at", lambda: parse_time(field("time"), now)),
    )
    for name, check in checks:
        try:
            values[name] = check()
        except WarningError as error:
            problems.append(str(error))
    if problems:
        raise LineProblems(problems)
    return NewWarning(**values)  # type: ignore[arg-type]


def _missing(name: str) -> str:
    raise WarningError(f"{name}: must be given")


def _text_of(path_or_stream: str | Path | IO[bytes] | IO[str]) -> str:
    if isinstance(path_or_stream, (str, Path)):
        try:
            with open(path_or_stream, "rb") as handle:
                data: bytes | str = handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise FileProblem(f"cannot read {path_or_stream}: {error.strerror}") from None
    else:
        data = path_or_stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise FileProblem(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it")
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem(f"the file is UTF-16 text (Excel's 'Unicode text'); {_SAVE_AS_UTF8}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise FileProblem(f"line {line} is not UTF-8 text; {_SAVE_AS_UTF8}") from None


def read_warnings(path_or_stream: str | Path | IO[bytes] | IO[str], scam_types: Mapping[str, str],
                  now: datetime) -> tuple[list[tuple[int, NewWarning]], list[LineError]]:
    """The good warnings of a file with their line numbers, and each problem of the bad lines.
    Raises FileProblem when the file as a whole cannot be read (nothing is then imported)."""
    reader = csv.reader(io.StringIO(_text_of(path_or_stream), newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except csv.Error as error:
        raise FileProblem(f"the header: {error}") from None
    if header is None:
        raise FileProblem(f"the file is empty; the first line must be the header {','.join(FIELDS)}")
    names = [cell.strip().lower() for cell in header]
    unknown = [name for name in names if name not in FIELDS]
    missing = [name for name in REQUIRED if name not in names]
    twice = sorted({name for name in names if names.count(name) > 1})
    for found, what in ((unknown, "unknown column"), (missing, "missing column"), (twice, "column named twice")):
        if found:
            raise FileProblem(f"the header: {what} {', '.join(map(_quoted, found))}; the columns are "
                              f"{','.join(FIELDS)} ({', '.join(REQUIRED)} required)")
    good: list[tuple[int, NewWarning]] = []
    errors: list[LineError] = []
    while True:
        line = reader.line_num + 1  # where the next record starts (a quoted note may span lines)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            errors.append(LineError(line, f"bad quoting ({error})"))
            break  # the reader cannot find the next line's start after this
        if not any(cell.strip() for cell in row):
            continue  # a blank line, or Excel's ",,,,"
        if len(row) != len(names):
            errors.append(LineError(line, f"{len(row)} fields where the header has {len(names)}"))
            continue
        try:
            good.append((line, parse_warning(dict(zip(names, row)), scam_types, now)))
        except LineProblems as bad:
            errors.extend(LineError(line, problem) for problem in bad.problems)
    if not good and not errors:
        raise FileProblem("the file has a header but no warnings")
    return good, errors


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = local_time(value).isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)
    # A spreadsheet must never run a cell as a formula on the officer's computer.
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_phone(phone: str) -> str:
    """A mainland mobile as its 11 digits: a spreadsheet shows them as they are, and they import back."""
    return phone[3:] if phone.startswith("+86") and _MOBILE.fullmatch(phone[3:]) else _cell(phone)


def write_warnings_csv(warnings: Iterable[Warning], out: TextIO) -> int:
    """The warnings as CSV (EXPORT_FIELDS, times in Beijing time); returns the count."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS)
    count = 0
    for warning in warnings:
        writer.writerow([export_phone(warning.phone) if name == "phone" else _cell(getattr(warning, name))
                         for name in EXPORT_FIELDS])
        count += 1
    return count
