"""Reading the centre's risk list file: CSV, UTF-8, one entry a line, checked line by line.

Columns (a header line names them, in any order): type, value, level, source, date and the
optional scam_type. A BOM and CRLF line ends (what Excel writes) are fine; blank lines are
skipped. Everything else that is wrong is a ``LineError`` naming the line and the field, and
the reading goes on so that one run lists every bad line. Problems with the whole file (not
UTF-8 text, UTF-16, empty, a bad header) are a ``FileProblem``.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO, Collection, Iterator, NamedTuple

from knowledge.risk_values import KINDS, ValueProblem, normalise

LEVELS = ("high", "medium", "low")
REQUIRED_COLUMNS = ("type", "value", "level", "source", "date")
OPTIONAL_COLUMNS = ("scam_type",)
# A value is at most 2,048 characters (knowledge/risk_values.py), up to 3 bytes each in UTF-8.
MAX_LINE_BYTES = 16 * 1024
MAX_SOURCE_CHARS = 64
# A name to print and sort by, never a spreadsheet formula (no leading = + - @).
_SOURCE = re.compile(rf"\w[\w .()（）·\-]{{0,{MAX_SOURCE_CHARS - 1}}}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SAVE_AS_UTF8 = 'save it as UTF-8 (Excel: 另存为 → "CSV UTF-8 (逗号分隔)")'


class FileProblem(ValueError):
    """The file as a whole cannot be read as a risk list; the message says why and what to do."""


@dataclass(frozen=True)
class LineError:
    line: int
    field: str | None  # None: the line as a whole
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}" if self.field else f"line {self.line}: {self.reason}"


class Entry(NamedTuple):  # a tuple: made a million times an import
    line: int
    kind: str
    value: str  # normalised
    level: str
    source: str
    listed_on: date
    scam_type: str | None


def _quoted(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


class _LineReader:
    """Lines of a binary file as text, each at most MAX_LINE_BYTES, without reading a huge one whole."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.number = 0

    def __iter__(self) -> Iterator[str | LineError]:
        while raw := self._handle.readline(MAX_LINE_BYTES + 1):
            self.number += 1
            if len(raw) > MAX_LINE_BYTES:
                while raw and not raw.endswith(b"\n"):  # the rest of this line
                    raw = self._handle.readline(1 << 16)
                yield LineError(self.number, None, f"longer than {MAX_LINE_BYTES} bytes")
                continue
            if self.number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # the BOM Excel puts first
            raw = raw.removesuffix(b"\n").removesuffix(b"\r")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield LineError(self.number, None, f"not UTF-8 text (byte {error.start + 1} of the line); {_SAVE_AS_UTF8}")


def _check_start(handle: BinaryIO) -> None:
    start = handle.read(8192)
    handle.seek(0)
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem(f"the file is UTF-16 text (Excel's 'Unicode text'); {_SAVE_AS_UTF8}")
    if b"\x00" in start:
        raise FileProblem("the file holds NUL bytes: it is not a CSV text file (a spreadsheet or a picture?)")


def _fields(line: str, number: int) -> list[str] | LineError:
    if "\r" in line:
        return LineError(number, None, "a carriage return inside the line (lines must end in LF or CRLF)")
    if '"' not in line:
        return [field.strip() for field in line.split(",")]
    try:
        return [field.strip() for field in next(csv.reader([line], strict=True))]
    except csv.Error as error:
        return LineError(number, None, f"bad quoting ({error}); a value cannot span lines")


def _header(lines: Iterator[str | LineError]) -> tuple[str, ...]:
    first = next(lines, None)
    while isinstance(first, str) and not first.strip(" ,\t"):
        first = next(lines, None)
    if first is None:
        raise FileProblem(f"the file is empty; the first line must be the header {','.join(REQUIRED_COLUMNS)}")
    if isinstance(first, LineError):
        raise FileProblem(f"{first} (the header)")
    fields = _fields(first, 0)
    if isinstance(fields, LineError):
        raise FileProblem(f"the header: {fields.reason}")
    names = tuple(name.lower() for name in fields)
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    unknown = [name for name in names if name not in known]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    twice = sorted({name for name in names if names.count(name) > 1})
    for problem, what in ((unknown, "unknown column"), (missing, "missing column"), (twice, "column named twice")):
        if problem:
            raise FileProblem(
                f"the header: {what} {', '.join(map(_quoted, problem))}; the columns are "
                f"{','.join(REQUIRED_COLUMNS)} and optionally {','.join(OPTIONAL_COLUMNS)}"
            )
    return names


def read_entries(handle: BinaryIO, scam_types: Collection[str], today: date) -> Iterator[Entry | LineError]:
    """Each entry of the file, or the errors of each bad line (one per bad field).

    Raises FileProblem for what is wrong with the file as a whole, including a file with no entry."""
    _check_start(handle)
    reader = _LineReader(handle)
    lines = iter(reader)
    names = _header(lines)
    check = _LineCheck(names, scam_types, today)
    seen = 0  # entries and bad lines
    for line in lines:
        number = reader.number
        fields = line if isinstance(line, LineError) else _fields(line, number)
        if isinstance(fields, LineError):
            seen += 1
            yield fields
            continue
        if not any(fields):
            continue  # a blank line, or Excel's ",,,,"
        seen += 1
        if len(fields) != len(names):
            yield LineError(number, None, f"{len(fields)} fields where the header has {len(names)}")
            continue
        entry = check.entry(number, fields)
        if isinstance(entry, Entry):
            yield entry
        else:
            yield from entry
    if not seen:
        raise FileProblem("the file has a header but no entries")


class _LineCheck:
    """The fields of one line as an Entry, or what is wrong with them. A list has few distinct
    sources, days and scam types: each is checked once (this runs a million times an import)."""

    def __init__(self, names: tuple[str, ...], scam_types: Collection[str], today: date) -> None:
        self._at = [names.index(name) for name in REQUIRED_COLUMNS]
        self._scam_at = names.index("scam_type") if "scam_type" in names else None
        self._scam_types = frozenset(scam_types)
        self._today = today
        self._days: dict[str, date | str] = {}
        self._sources: set[str] = set()

    def entry(self, number: int, fields: list[str]) -> Entry | list[LineError]:
        kind_at, value_at, level_at, source_at, date_at = self._at
        kind, level, source = fields[kind_at].lower(), fields[level_at].lower(), fields[source_at]
        scam_type = fields[self._scam_at] if self._scam_at is not None else ""
        listed_on = self._days.get(fields[date_at])
        if listed_on is None:
            listed_on = self._days[fields[date_at]] = _day(fields[date_at], self._today)
        try:
            value: str | ValueProblem = normalise(kind, fields[value_at]) if kind in KINDS else ""
        except ValueProblem as problem:
            value = problem
        if (
            value.__class__ is str and value
            and level in LEVELS
            and (source in self._sources or self._new_source(source))
            and listed_on.__class__ is date
            and (not scam_type or scam_type in self._scam_types)
        ):
            return Entry(number, kind, value, level, source, listed_on, scam_type or None)  # type: ignore[arg-type]
        return self._errors(number, kind, value, level, source, listed_on, scam_type)

    def _new_source(self, source: str) -> bool:
        if _SOURCE.fullmatch(source):
            self._sources.add(source)
            return True
        return False

    def _errors(self, number: int, kind: str, value: str | ValueProblem, level: str, source: str,
                listed_on: date | str, scam_type: str) -> list[LineError]:
        errors = []
        if kind not in KINDS:
            errors.append(LineError(number, "type", f"must be {', '.join(KINDS)}, not {_quoted(kind)}"))
        elif isinstance(value, ValueProblem):
            errors.append(LineError(number, "value", str(value)))
        if level not in LEVELS:
            errors.append(LineError(number, "level", f"must be {', '.join(LEVELS)}, not {_quoted(level)}"))
        if not _SOURCE.fullmatch(source):
            errors.append(LineError(number, "source", f"must be a name of 1 to {MAX_SOURCE_CHARS} letters, digits, "
                                    f"spaces, - _ . ( ), starting with a letter or digit, not {_quoted(source)}"))
        if isinstance(listed_on, str):
            errors.append(LineError(number, "date", listed_on))
        if scam_type and scam_type not in self._scam_types:
            errors.append(LineError(number, "scam_type", f"unknown code {_quoted(scam_type)}; the codes are in "
                                    f"knowledge/scam_types: {', '.join(sorted(self._scam_types))}"))
        return errors


def _day(text: str, today: date) -> date | str:
    """The date, or why it is not one."""
    if not _DATE.fullmatch(text):
        return f"must be a date YYYY-MM-DD (for example 2026-11-01), not {_quoted(text)}"
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return f"{text} is not a day of the calendar"
    if day > today:
        return f"{text} is in the future"
    return day
