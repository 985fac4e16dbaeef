"""Checking warnings line by line (bot/services/early_warnings/warning_csv.py) and ``fanzha warnings
import|list|show|outcome|export`` against a real database."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.cli.main import main
from bot.services.early_warnings.store import WarningError, WarningStore
from bot.services.early_warnings.warning_csv import EXPORT_FIELDS, FileProblem, parse_warning, read_warnings, scam_type_names
from bot.services.reports.crypto import ENV_REPORT_KEY
from bot.services.reports.store import ENV_DATABASE_URL, LOCAL_TZ, ReportStore

HEADER = "phone,level,scam_type,note,source,time"
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing
SCAM_TYPES = scam_type_names()


def parse(**fields: str):
    raw = {"phone": "13812345678", "level": "red", "scam_type": "", "note": "", "source": "市反诈中心", "time": ""}
    return parse_warning({**raw, **fields}, SCAM_TYPES, NOW)


# --- one warning, field by field ------------------------------------------------------------------


@pytest.mark.parametrize("written", ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678",
                                     "8613812345678", "0086-138-1234-5678", "１３８１２３４５６７８"])
def test_a_mainland_mobile_however_written_becomes_e164(written):
    assert parse(phone=written).phone == "+8613812345678"


@pytest.mark.parametrize("fields, message", [
    ({"phone": "+44 7700 900123"}, "phone: '+44 7700 900123' is a foreign number"),
    ({"phone": "010-12345678"}, "phone: '010-12345678' is not a mobile number"),
    ({"phone": "1381234567"}, "phone: '1381234567' is not a mobile number"),
    ({"phone": "138 1234 567x"}, "phone: a phone number has only digits"),
    ({"phone": ""}, "phone: must be given"),
    ({"level": "purple"}, "level: must be red, orange or yellow (or 红, 橙, 黄), not 'purple'"),
    ({"level": ""}, "level: must be red, orange or yellow"),
    ({"scam_type": "外星人诈骗"}, "scam_type: unknown type '外星人诈骗'"),
    ({"time": "2026-11-22 10:06"}, "time: 2026-11-22 10:06 (Beijing) is in the future"),
    ({"time": "2026-11-22T02:30:00Z"}, "time: 2026-11-22 10:30 (Beijing) is in the future"),
    ({"time": "2026-11-22"}, "time: must be a Beijing time like 2026-11-22 09:05"),
    ({"time": "yesterday"}, "time: must be a Beijing time"),
    ({"time": "2026-02-30 10:00"}, "time: '2026-02-30 10:00' is not a time of the calendar"),
    ({"source": ""}, "source: must be given"),
    ({"source": "=HYPERLINK(\"x\")"}, "source: a name, not"),
    ({"source": "源" * 65}, "source: at most 64 characters"),
    ({"note": "长" * 501}, "note: at most 500 characters"),
])
def test_each_bad_field_is_refused_with_its_name_and_reason(fields, message):
    with pytest.raises(WarningError) as refused:
        parse(**fields)
    assert str(refused.value).startswith(message)


def test_every_bad_field_of_a_line_is_named_at_once():
    with pytest.raises(WarningError) as refused:
        parse(phone="+1 415 555 0100", level="紫", source="")
    assert [problem.split(":")[0] for problem in refused.value.problems] == ["phone", "level", "source"]


def test_levels_types_and_times_are_read_the_ways_the_centre_writes_them():
    assert [parse(level=level).level for level in ("RED", "红", "红色", "橙色预警", "黄", "Yellow")] == \
        ["red", "red", "red", "orange", "yellow", "yellow"]
    assert parse(scam_type="investment").scam_type == "investment"
    assert parse(scam_type="虚假网络投资理财").scam_type == "investment"  # the name
    assert parse(scam_type="杀猪盘").scam_type == "romance"  # an alias
    assert parse(scam_type="").scam_type is None
    assert parse(time="").received_at == NOW
    assert parse(time="2026-11-22 09:05").received_at == datetime(2026, 11, 22, 9, 5, tzinfo=LOCAL_TZ)
    assert parse(time="2026/11/22 9:05:30").received_at == datetime(2026, 11, 22, 9, 5, 30, tzinfo=LOCAL_TZ)
    assert parse(time="2026-11-22T01:05:00Z").received_at == datetime(2026, 11, 22, 1, 5, tzinfo=timezone.utc)
    assert parse(time="2026-11-22 10:04").received_at.tzinfo is LOCAL_TZ  # within the clocks' slack


def test_a_file_is_read_line_by_line_with_every_problem_named():
    text = "\ufeff" + "\r\n".join([
        "Phone,Level,Source,Note",  # any order, any case, optional columns left out
        "138 1234 5678,红,市反诈中心,\"正在通话，\n对方自称客服\"",  # a quoted note over two lines
        ",,,",
        "13912345678,purple,,",
        "13912345678,red,市反诈中心",
        "+852 9123 4567,yellow,银行,",
    ]) + "\r\n"
    good, errors = read_warnings(io.BytesIO(text.encode()), SCAM_TYPES, NOW)
    assert [(line, new.phone, new.note) for line, new in good] == [(2, "+8613812345678", "正在通话，\n对方自称客服")]
    assert [str(error) for error in errors] == [
        "line 5: level: must be red, orange or yellow (or 红, 橙, 黄), not 'purple'",
        "line 5: source: must be given (who issued the warning, e.g. 市反诈中心)",
        "line 6: 3 fields where the header has 4",
        "line 7: phone: '+852 9123 4567' is a foreign number; only mainland China mobile numbers are called",
    ]


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"phone,level\n13812345678,red\n", "missing column 'source'"),
    (b"phone,level,source,colour\n", "unknown column 'colour'"),
    (b"phone,level,source\n", "a header but no warnings"),
    ("phone,level,source\n".encode("utf-16"), "UTF-16"),
    (b"phone,level,source\n13812345678,red,\xb9\xfa\xbc\xd2\n", "line 2 is not UTF-8"),
])
def test_a_file_that_cannot_be_read_as_a_whole_is_a_file_problem(content, message):
    with pytest.raises(FileProblem, match=message):
        read_warnings(io.BytesIO(content), SCAM_TYPES, NOW)


# --- the command line -----------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_DATABASE_URL, f"sqlite:///{tmp_path / 'fanzha.db'}")
    monkeypatch.setenv(ENV_REPORT_KEY, Fernet.generate_key().decode())
    monkeypatch.delenv("FANZHA_WARNING_MERGE_HOURS", raising=False)
    ReportStore(create=True).close()
    return tmp_path / "fanzha.db"


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def stored() -> list:
    with ReportStore(create=False) as reports:
        store = WarningStore(reports)
        return [(warning, store.events(warning.id)) for warning in store.warnings_between()]


def minutes_ago(minutes: int) -> str:
    return (datetime.now(LOCAL_TZ) - timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M")


GOOD = [
    f"138 1234 5678,orange,投资理财诈骗,对方让他下载会议软件,市反诈中心,{minutes_ago(30)}",
    f"13987654321,黄,,,96110平台,{minutes_ago(20)}",
]
BAD = [
    f"+1 415 555 0100,red,,,市反诈中心,{minutes_ago(5)}",
    f"13900000000,severe,外星人诈骗,,,{minutes_ago(5)}",
    "13700000000,red,,,市反诈中心,2099-01-01 10:00",
]


def test_good_lines_are_imported_and_every_bad_line_is_reported_with_exit_1(database, tmp_path, capsys):
    code, out, err = run(capsys, "warnings", "import", str(write(tmp_path / "w.csv", GOOD[0], *BAD, GOOD[1])))
    assert code == 1
    assert "2 warning(s) imported: 2 new, 0 merged" in out
    assert err.splitlines()[:5] == [
        "line 3: phone: '+1 415 555 0100' is a foreign number; only mainland China mobile numbers are called",
        "line 4: level: must be red, orange or yellow (or 红, 橙, 黄), not 'severe'",
        f"line 4: scam_type: unknown type '外星人诈骗'; give a code, name or alias from knowledge/scam_types "
        f"({', '.join(sorted(set(SCAM_TYPES.values())))}) or leave it empty",
        "line 4: source: must be given (who issued the warning, e.g. 市反诈中心)",
        "line 5: time: 2099-01-01 10:00 (Beijing) is in the future; check the time and its zone",
    ]
    assert "3 bad line(s)" in err
    warnings = [warning for warning, _ in stored()]
    assert [(w.phone, w.level, w.scam_type, w.source) for w in warnings] == [
        ("+8613812345678", "orange", "investment", "市反诈中心"), ("+8613987654321", "yellow", None, "96110平台")]
    assert [events[0].actor for _, events in stored()] == ["import:市反诈中心", "import:96110平台"]


def test_a_reimported_file_only_merges_and_a_red_duplicate_raises_the_level(database, tmp_path, capsys):
    path = write(tmp_path / "w.csv", *GOOD)
    assert run(capsys, "warnings", "import", str(path))[0] == 0
    code, out, _ = run(capsys, "warnings", "import", str(path))
    assert code == 0 and "2 warning(s) imported: 0 new, 2 merged into open ones; 0 red" in out
    code, out, _ = run(capsys, "warnings", "import", str(write(tmp_path / "red.csv", "+8613812345678,红,,正在转账,市反诈中心,")))
    assert code == 0 and "0 new, 1 merged into open ones; 1 red and open" in out
    (first, events), (second, _) = stored()
    assert (first.level, first.merged, first.note) == ("red", 2, "对方让他下载会议软件\n正在转账")
    assert (second.level, second.merged) == ("yellow", 1)
    assert [event.kind for event in events] == ["imported", "merged", "merged"]


def test_a_file_problem_imports_nothing(database, tmp_path, capsys):
    path = tmp_path / "w.csv"
    path.write_text("phone,level\n13812345678,red\n", encoding="utf-8")
    code, _, err = run(capsys, "warnings", "import", str(path))
    assert code == 1 and "missing column 'source'" in err and "nothing imported" in err
    code, _, err = run(capsys, "warnings", "import", str(tmp_path / "missing.csv"))
    assert code == 1 and "cannot read" in err
    assert stored() == []


def test_list_masks_numbers_and_show_has_the_full_number_and_the_trail(database, tmp_path, capsys):
    run(capsys, "warnings", "import", str(write(tmp_path / "w.csv", *GOOD, f"13700001111,red,杀猪盘,,市反诈中心,{minutes_ago(3)}")))
    code, out, _ = run(capsys, "warnings", "list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["#3", "#1", "#2"]  # red first, then by age
    assert "137****1111" in lines[0] and "网络婚恋交友（杀猪盘） [romance]" in lines[0]
    assert "13700001111" not in out and "13812345678" not in out
    code, out, _ = run(capsys, "warnings", "show", "1")
    assert code == 0 and "+8613812345678" in out and "对方让他下载会议软件" in out and "imported" in out
    assert run(capsys, "warnings", "show", "99")[:3:2] == (3, "fanzha warnings show: warning 99: no such warning\n")


def test_outcome_closes_audits_and_refuses_bad_values(database, tmp_path, capsys):
    run(capsys, "warnings", "import", str(write(tmp_path / "w.csv", *GOOD)))
    code, out, _ = run(capsys, "warnings", "outcome", "1", "dissuaded", "--note", "居民已挂断")
    assert code == 0 and "warning 1: closed, dissuaded 已劝阻" in out
    with pytest.raises(SystemExit) as bad:
        main(["warnings", "outcome", "1", "scared"])
    assert bad.value.code == 2 and "invalid choice: 'scared'" in capsys.readouterr().err
    code, _, err = run(capsys, "warnings", "outcome", "2", "paid_report_started", "--reference", "nonsense")
    assert code == 2 and "reference: " in err
    assert run(capsys, "warnings", "outcome", "42", "visited")[0] == 3
    (first, events), (second, _) = stored()
    assert (first.status, first.outcome, first.outcome_by) == ("closed", "dissuaded", "cli")
    assert (events[-1].kind, events[-1].state, events[-1].detail) == ("outcome", "dissuaded", "居民已挂断")
    assert second.status == "open"
    code, out, _ = run(capsys, "warnings", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["#2"]
    code, out, _ = run(capsys, "warnings", "list", "--all")
    assert "dissuaded 已劝阻 by cli" in out


def test_export_writes_csv_in_beijing_time_between_days(database, tmp_path, capsys):
    day = datetime.now(LOCAL_TZ).date() - timedelta(days=2)  # three Beijing days: the day before, this one, the next
    path = tmp_path / "w.csv"
    path.write_text("\n".join([HEADER, f"13812345678,red,,,市反诈中心,{day - timedelta(days=1)} 23:59",
                               f"13987654321,yellow,,,市反诈中心,{day} 00:00",
                               f"13700001111,orange,,,市反诈中心,{day + timedelta(days=1)} 08:00"]) + "\n", encoding="utf-8")
    assert run(capsys, "warnings", "import", str(path))[0] == 0
    run(capsys, "warnings", "outcome", "2", "not_scam")
    code, out, err = run(capsys, "warnings", "export", "--since", str(day), "--until", str(day))
    assert code == 0 and "1 warning(s) exported" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == EXPORT_FIELDS
    assert [(r["id"], r["phone"], r["level"], r["status"], r["outcome"], r["outcome_by"], r["received_at"]) for r in rows] == [
        ("2", "13987654321", "yellow", "closed", "not_scam", "cli", f"{day}T00:00:00+08:00")]
    code, out, _ = run(capsys, "warnings", "export")
    assert [row["id"] for row in csv.DictReader(io.StringIO(out))] == ["1", "2", "3"]
    code, out, _ = run(capsys, "warnings", "export", "--since", str(day + timedelta(days=1)))
    assert [row["id"] for row in csv.DictReader(io.StringIO(out))] == ["3"]
    with pytest.raises(SystemExit) as bad:
        main(["warnings", "export", "--since", "21/11/2026"])
    assert bad.value.code == 2


def test_the_command_line_never_creates_a_database(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.delenv(ENV_REPORT_KEY, raising=False)
    code, _, err = run(capsys, "warnings", "list")
    assert code == 1 and "no report database" in err
    assert not (tmp_path / "var").exists() and not (tmp_path / "data").exists() and not (tmp_path / "keys").exists()


def test_a_bad_merge_window_setting_stops_with_a_clear_error(database, capsys, monkeypatch):
    monkeypatch.setenv("FANZHA_WARNING_MERGE_HOURS", "a day")
    code, _, err = run(capsys, "warnings", "list")
    assert code == 2 and "FANZHA_WARNING_MERGE_HOURS: must be a number of hours" in err
