"""The centre's risk list: one normalisation, a checked all-or-nothing import, look-ups, and
``fanzha risklist import|show|export|delete`` against real databases (SQLite, and PostgreSQL
as tests/test_scale_out.py runs it)."""
from __future__ import annotations

import csv
import hashlib
import stat
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.fernet import Fernet

from bot.cli.main import main
from bot.services.reports.crypto import ENV_REPORT_KEY
from bot.services.reports.schema import MIGRATIONS, migrate
from bot.services.reports.store import ENV_DATABASE_URL, LOCAL_TZ, ReportStore
from bot.services.risklist import HASH_PREFIX, RiskHit, RiskList
from knowledge.loader import default_knowledge
from knowledge.risk_values import ValueProblem, normalise
from tests.shared_stores import Postgres

HEADER = "type,value,level,source,date,scam_type"
SCAM = sorted(default_knowledge().scam_types)[0]
SCAM_NAME = default_knowledge().scam_types[SCAM].name
MOBILE = "13812345678"
ACCOUNT = "6222021234567890123"
GOOD = [
    f"phone,+86 138-1234-5678,high,市反诈中心,2025-03-01,{SCAM}",
    "link,HTTPS://WWW.例子.中国/pay/,medium,市反诈中心,2025-03-02,",
    f"account,{ACCOUNT[:4]} {ACCOUNT[4:8]} {ACCOUNT[8:]},low,银行协查,2025-02-28,",
    "link,hxxp://evil-download[.]top,high,银行协查,2025-01-15,",
]


# --- normalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize("written", [
    "13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "+86-138-1234-5678", "(+86) 13812345678",
    "0086 13812345678", "008613812345678", "8613812345678", "86 138 1234 5678", "０１３８１２３４５６７８",
    "１３８１２３４５６７８", "+８６ １３８－１２３４－５６７８", "138.1234.5678", "\u200b138\u00a01234\u30005678 ",
    "013812345678", "138–1234—5678",
])
def test_a_mobile_number_written_any_way_is_one_number(written):
    assert normalise("phone", written) == MOBILE


@pytest.mark.parametrize("written", ["010-6552 9988", "(010) 65529988", "+86 10 6552 9988", "0086-10-65529988", "+86 (0)10 65529988"])
def test_a_landline_keeps_its_trunk_zero_however_it_is_written(written):
    assert normalise("phone", written) == "01065529988"


@pytest.mark.parametrize("written, expected", [
    ("+1 301 555 0123", "0013015550123"),  # not the Chinese mobile 130 1555 0123
    ("+852 9123 4567", "0085291234567"),
    ("95588", "95588"), ("96110", "96110"), ("110", "110"),
    ("400-123-4567", "4001234567"), ("+86 400 123 4567", "4001234567"),
    ("86123456", "86123456"),  # an 8-digit local number starting with 86 is not a country code
])
def test_other_numbers_keep_what_tells_them_apart(written, expected):
    assert normalise("phone", written) == expected


@pytest.mark.parametrize("written", [
    "https://www.例子.中国/pay", "HTTPS://WWW.例子.中国/pay/", "http://例子.中国/pay", "例子.中国/pay/", "xn--fsqu00a.xn--fiqs8s/pay",
    "XN--FSQU00A.XN--FIQS8S/pay", "ｗｗｗ．例子．中国/pay", "例子。中国/pay", "http://user@例子.中国:80/pay#top",
    "https://例子.中国:443/pay/", "hxxps://例子[.]中国/pay", "例子.中国./pay",
])
def test_a_link_written_any_way_is_one_link(written):
    assert normalise("link", written) == "xn--fsqu00a.xn--fiqs8s/pay"


@pytest.mark.parametrize("written, expected", [
    ("HTTP://Bank-Safe.EXAMPLE.com/Login", "bank-safe.example.com/Login"),  # the path keeps its case
    ("http://www.icbc.com.cn@evil.example/a", "evil.example/a"),  # the real host is after the @
    ("http://evil.example:8080/a/?id=7#x", "evil.example:8080/a?id=7"),
    ("http://192.168.1.20/app.apk", "192.168.1.20/app.apk"),
    ("http://[2001:DB8::1]:8443/", "[2001:db8::1]:8443"),
    ("www.com", "www.com"),  # a two-label host keeps its www
    ("https://pаypal.com", "xn--pypal-4ve.com"),  # a Cyrillic а: punycode shows the look-alike
])
def test_links_keep_what_identifies_the_page(written, expected):
    assert normalise("link", written) == expected


@pytest.mark.parametrize("written", [ACCOUNT, "6222 0212 3456 7890 123", "6222-0212-3456-7890-123", "６２２２０２１２３４５６７８９０１２３"])
def test_an_account_is_its_digits(written):
    assert normalise("account", written) == ACCOUNT


@pytest.mark.parametrize("kind, value, reason", [
    ("phone", "", "empty"), ("phone", "138-1234-567x", "only digits"), ("phone", "12", "3 to 20 digits"),
    ("phone", "1" * 21, "3 to 20 digits"), ("account", "abc123456", "only digits"), ("account", "12345", "6 to 32"),
    ("link", "evil example.com", "no spaces"), ("link", "localhost", "has a dot"), ("link", "http://", "host name"),
    ("link", "http://evil.example:99999/", "port"), ("link", "http://-bad-.example/", "not valid"),
    ("link", "a" * 2049, "2048"), ("link", "999.1.1.1", "not an IP address"), ("email", "a@b.c", "type must be"),
])
def test_a_value_that_is_not_of_its_kind_is_refused_with_the_reason(kind, value, reason):
    with pytest.raises(ValueProblem, match=reason):
        normalise(kind, value)


# --- import, look-up, show, export, delete through the command line ----------------------------


@pytest.fixture
def database(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_DATABASE_URL, f"sqlite:///{tmp_path / 'fanzha.db'}")
    monkeypatch.setenv(ENV_REPORT_KEY, Fernet.generate_key().decode())
    ReportStore(create=True).close()
    return tmp_path / "fanzha.db"


def write(path: Path, *lines: str, header: str = HEADER, end: str = "\n", encoding: str = "utf-8") -> Path:
    path.write_bytes(((header + end) if header else "").encode(encoding) + "".join(line + end for line in lines).encode(encoding))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def lookup(kind: str, value: str) -> list[RiskHit]:
    with RiskList.open(create=False) as risk_list:
        return risk_list.lookup(kind, value)


def test_an_imported_list_is_found_however_the_value_is_written(database, tmp_path, capsys):
    code, out, _ = run(capsys, "risklist", "import", str(write(tmp_path / "list.csv", *GOOD)))
    assert code == 0
    assert "市反诈中心: 2 entries (new list)" in out and "银行协查: 2 entries (new list)" in out
    assert lookup("phone", "０１３８ １２３４ ５６７８") == [RiskHit("phone", "high", "市反诈中心", date(2025, 3, 1), SCAM)]
    assert lookup("link", "http://例子.中国/pay") == [RiskHit("link", "medium", "市反诈中心", date(2025, 3, 2), None)]
    assert lookup("account", ACCOUNT) == [RiskHit("account", "low", "银行协查", date(2025, 2, 28), None)]
    assert lookup("phone", "13812345679") == [] and lookup("account", MOBILE) == []  # a kind's hash is its own


def test_a_link_on_a_listed_host_hits_but_a_look_alike_host_does_not(database, tmp_path, capsys):
    run(capsys, "risklist", "import", str(write(tmp_path / "list.csv", *GOOD)))
    assert [hit.source for hit in lookup("link", "https://pay.evil-download.top/app.apk?from=sms")] == ["银行协查"]
    assert lookup("link", "evil-download.top.example") == []
    assert lookup("link", "not-evil-download.top") == []
    assert lookup("link", "例子.中国/other") == [] and lookup("link", "例子.中国") == []  # a listed page is not its site
    assert lookup("link", "例子.中国/payment") == []
    assert [hit.level for hit in lookup("link", "https://例子.中国/pay/step2?utm=sms#top")] == ["medium"]  # a page below it is
    assert lookup("link", "not a link") == [] and lookup("phone", "call me") == []
    with pytest.raises(ValueError):
        lookup("email", "a@b.c")


def test_excel_files_with_bom_crlf_and_blank_rows_are_read(database, tmp_path, capsys):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(["Type,Value,Level,Source,Date", "", ",,,,", GOOD[0].rsplit(",", 1)[0],
                                                     '"phone","139 0000 1111","high","市反诈中心","2025-03-03"', ""]).encode())
    code, out, err = run(capsys, "risklist", "import", str(path))
    assert code == 0, err
    assert "市反诈中心: 2 entries" in out
    assert lookup("phone", "13900001111")[0].listed_on == date(2025, 3, 3)


FUTURE = (datetime.now(LOCAL_TZ).date() + timedelta(days=2)).isoformat()


@pytest.mark.parametrize("line, field, reason", [
    ("email,a@b.example,high,市反诈中心,2025-03-01,", "type", "must be link, phone, account"),
    ("phone,138-1234-567x,high,市反诈中心,2025-03-01,", "value", "only digits"),
    ("link,localhost,high,市反诈中心,2025-03-01,", "value", "has a dot"),
    ("account,12,high,市反诈中心,2025-03-01,", "value", "6 to 32 digits"),
    ("phone,13900001111,urgent,市反诈中心,2025-03-01,", "level", "must be high, medium, low"),
    ("phone,13900001111,high,,2025-03-01,", "source", "must be a name"),
    ("phone,13900001111,high,=HYPERLINK(1),2025-03-01,", "source", "must be a name"),
    ("phone,13900001111,high,市反诈中心,2025/03/01,", "date", "YYYY-MM-DD"),
    ("phone,13900001111,high,市反诈中心,2025-02-30,", "date", "not a day of the calendar"),
    ("phone,13900001111,high,市反诈中心," + FUTURE + ",", "date", "in the future"),
    ("phone,13900001111,high,市反诈中心,2025-03-01,not_a_scam", "scam_type", "unknown code"),
    ("phone,13900001111,high,市反诈中心,2025-03-01", None, "5 fields where the header has 6"),
    ('phone,"13900001111,high,市反诈中心,2025-03-01,', None, "bad quoting"),
    ("phone,13900001111,high,市反诈中心\r,2025-03-01,", None, "carriage return"),
    ("phone,+86 138 1234 5678,low,市反诈中心,2025-03-01,", "value", "the same phone as line 2"),
    ("link," + "a" * 17000 + ".example,high,市反诈中心,2025-03-01,", None, "longer than 16384 bytes"),
])
def test_a_bad_line_names_its_line_and_field_and_nothing_is_imported(database, tmp_path, capsys, line, field, reason):
    run(capsys, "risklist", "import", str(write(tmp_path / "first.csv", GOOD[0], GOOD[2])))
    path = write(tmp_path / "list.csv", f"phone,13812345678,high,市反诈中心,2025-03-01,{SCAM}",
                 "phone,13700000000,high,市反诈中心,2025-03-01,", line, "link,new-list.example,high,新名单,2025-03-01,")
    code, out, err = run(capsys, "risklist", "import", str(path))
    assert code == 2 and out == ""
    assert f"{path}:4: {field + ': ' if field else ''}" in err and reason in err, err
    assert "1 bad line(s)" in err and "nothing imported" in err
    assert lookup("phone", "13700000000") == [] and lookup("link", "new-list.example") == []
    assert [hit.source for hit in lookup("phone", MOBILE)] == ["市反诈中心"]  # the old list is untouched
    assert [hit.source for hit in lookup("account", ACCOUNT)] == ["银行协查"]


def test_every_bad_line_is_listed_in_one_run(database, tmp_path, capsys):
    bad = [f"phone,x{i},high,市反诈中心,2025-03-01" for i in range(60)]
    path = write(tmp_path / "list.csv", "phone,13700000000,high,市反诈中心,2025-03-01", *bad, header="type,value,level,source,date")
    code, _, err = run(capsys, "risklist", "import", str(path))
    assert code == 2
    assert f"{path}:3: value:" in err and f"{path}:52: value:" in err and f"{path}:53:" not in err
    assert "60 bad line(s)" in err and "the first 50 errors are shown" in err


def test_a_line_that_is_not_utf8_is_named(database, tmp_path, capsys):
    path = tmp_path / "gbk.csv"
    path.write_bytes((HEADER + "\nphone,13700000000,high,市反诈中心,2025-03-01,\n").encode("gbk"))
    code, _, err = run(capsys, "risklist", "import", str(path))
    assert code == 2 and f"{path}:2: not UTF-8 text" in err and "CSV UTF-8" in err
    assert lookup("phone", "13700000000") == []


@pytest.mark.parametrize("content, reason", [
    (b"", "the file is empty"),
    (b"\xef\xbb\xbf\r\n\r\n", "the file is empty"),
    (HEADER.encode() + b"\r\n", "a header but no entries"),
    (b"type,value,level,source\nphone,13700000000,high,x\n", "missing column 'date'"),
    (b"type,value,level,source,date,scamtype\n", "unknown column 'scamtype'"),
    (b"type,value,level,source,date,date\n", "column named twice 'date'"),
    (HEADER.encode("utf-16"), "UTF-16"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL bytes"),
    (b"x" * 100_000, "longer than 16384 bytes"),
])
def test_a_file_that_is_not_a_risk_list_is_refused_as_a_whole(database, tmp_path, capsys, content, reason):
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    code, out, err = run(capsys, "risklist", "import", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"fanzha risklist import: {path}: ") and reason in err and "nothing imported" in err, err


def test_a_missing_file_or_a_folder_is_a_clear_error(database, tmp_path, capsys):
    for path in (tmp_path / "no-such.csv", tmp_path):
        code, _, err = run(capsys, "risklist", "import", str(path))
        assert code == 2 and f"cannot read {path}" in err


def test_reimport_replaces_its_source_and_leaves_the_others(database, tmp_path, capsys):
    run(capsys, "risklist", "import", str(write(tmp_path / "first.csv", *GOOD)))
    newer = write(tmp_path / "newer.csv", "phone,13700000000,medium,市反诈中心,2025-04-01,")
    code, out, _ = run(capsys, "risklist", "import", str(newer))
    assert code == 0 and "市反诈中心: 1 entries (replaced the 2 imported before)" in out
    assert lookup("phone", MOBILE) == [] and lookup("link", "例子.中国/pay") == []  # gone with the old file
    assert lookup("phone", "13700000000")[0].level == "medium"
    assert [hit.source for hit in lookup("account", ACCOUNT)] == ["银行协查"]  # another source stays
    assert [hit.source for hit in lookup("link", "evil-download.top")] == ["银行协查"]


def test_a_value_on_two_lists_gives_two_hits_most_serious_first(database, tmp_path, capsys):
    run(capsys, "risklist", "import", str(write(tmp_path / "a.csv", "phone,13700000000,low,区分局,2025-05-01,")))
    run(capsys, "risklist", "import", str(write(tmp_path / "b.csv", f"phone,+8613700000000,high,市反诈中心,2025-01-01,{SCAM}")))
    assert [(hit.source, hit.level) for hit in lookup("phone", "137 0000 0000")] == [("市反诈中心", "high"), ("区分局", "low")]


def test_show_says_which_lists_and_when_and_never_calls_a_value_safe(database, tmp_path, capsys):
    run(capsys, "risklist", "import", str(write(tmp_path / "list.csv", *GOOD)))
    code, out, _ = run(capsys, "risklist", "show", "+86 138 1234 5678")
    assert code == 0
    assert f"phone {MOBILE}: on 1 list(s)" in out
    assert f"市反诈中心: high, listed 2025-03-01  {SCAM_NAME} [{SCAM}]" in out and "(list imported 20" in out
    code, out, _ = run(capsys, "risklist", "show", "--type", "phone", "13900009999")
    assert code == 1 and "on no list" in out and "not known to be safe" in out and "不在名单上不代表安全" in out
    code, _, err = run(capsys, "risklist", "show", "no such thing")
    assert code == 2 and "link: a link has no spaces" in err


def test_export_writes_links_in_clear_and_personal_values_only_as_their_hash(database, tmp_path, capsys):
    run(capsys, "risklist", "import", str(write(tmp_path / "list.csv", *GOOD)))
    out_path = tmp_path / "export.csv"
    code, _, err = run(capsys, "risklist", "export", str(out_path))
    assert code == 0 and "4 entries written" in err and "keyed hash only" in err
    assert stat.S_IMODE(out_path.stat().st_mode) == 0o600
    text = out_path.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == HEADER.split(",")
    by_kind = {row["type"]: row for row in rows if row["source"] == "市反诈中心"}
    assert by_kind["link"]["value"] == "xn--fsqu00a.xn--fiqs8s/pay"
    assert by_kind["phone"]["value"].startswith(HASH_PREFIX) and len(by_kind["phone"]["value"]) == len(HASH_PREFIX) + 64
    assert (by_kind["phone"]["level"], by_kind["phone"]["date"], by_kind["phone"]["scam_type"]) == ("high", "2025-03-01", SCAM)
    assert MOBILE not in text and ACCOUNT not in text and "1234 5678" not in text

    only = tmp_path / "only.csv"
    assert run(capsys, "risklist", "export", "--source", "银行协查", str(only))[0] == 0
    assert {row["source"] for row in csv.DictReader(only.read_text(encoding="utf-8-sig").splitlines())} == {"银行协查"}
    code, _, err = run(capsys, "risklist", "export", str(out_path))
    assert code == 1 and "already exists" in err and out_path.read_text(encoding="utf-8-sig") == text
    code, _, err = run(capsys, "risklist", "export", "--source", "nobody", str(tmp_path / "none.csv"))
    assert code == 1 and "no list named 'nobody'" in err and not (tmp_path / "none.csv").exists()


def test_delete_removes_one_source(database, tmp_path, capsys):
    run(capsys, "risklist", "import", str(write(tmp_path / "list.csv", *GOOD)))
    code, out, _ = run(capsys, "risklist", "delete", "--source", "市反诈中心")
    assert code == 0 and "2 entries" in out
    assert lookup("phone", MOBILE) == [] and lookup("link", "例子.中国/pay") == []
    assert [hit.source for hit in lookup("account", ACCOUNT)] == ["银行协查"]
    code, _, err = run(capsys, "risklist", "delete", "--source", "市反诈中心")
    assert code == 1 and "no list named '市反诈中心' (the lists are: 银行协查)" in err


def test_the_database_holds_no_personal_value_nor_an_unkeyed_hash_of_one(database, tmp_path, capsys):
    run(capsys, "risklist", "import", str(write(tmp_path / "list.csv", *GOOD)))
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("fanzha.db*"))
    assert b"xn--fsqu00a.xn--fiqs8s/pay" in stored  # links are kept in clear (the check can see the file)
    for secret in (MOBILE, "138-1234-5678", ACCOUNT, "021234567890123"):
        assert secret.encode() not in stored and secret.encode("utf-16-le") not in stored
    for plain in (f"phone\n{MOBILE}", MOBILE, ACCOUNT, f"account\n{ACCOUNT}"):  # a dictionary attack needs the key
        assert hashlib.sha256(plain.encode()).digest() not in stored
        assert hashlib.sha256(plain.encode()).hexdigest().encode() not in stored


def test_another_replica_with_the_same_key_finds_the_same_hits_and_a_new_key_is_refused(database, tmp_path, capsys, monkeypatch):
    run(capsys, "risklist", "import", str(write(tmp_path / "list.csv", *GOOD)))
    with RiskList.open(url=f"sqlite:///{database}", create=False) as replica:
        assert replica.lookup("phone", MOBILE)[0].source == "市反诈中心"
    monkeypatch.setenv(ENV_REPORT_KEY, Fernet.generate_key().decode())
    code, _, err = run(capsys, "risklist", "show", MOBILE)
    assert code == 1 and "does not open" in err


def test_the_command_line_never_creates_a_database(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.delenv(ENV_REPORT_KEY, raising=False)
    code, _, err = run(capsys, "risklist", "import", str(write(tmp_path / "list.csv", *GOOD)))
    assert code == 1 and "no report database" in err
    assert not (tmp_path / "var").exists() and not (tmp_path / "data").exists() and not (tmp_path / "keys").exists()


def test_a_database_of_the_previous_version_gains_the_risk_list(tmp_path):
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url, future=True)
    assert migrate(engine, MIGRATIONS[:4]) == 4  # the schema before the risk list
    engine.dispose()
    with RiskList.open(url=url, key_file=tmp_path / "report.key", env={}) as risk_list:
        risk_list.import_file(write(tmp_path / "list.csv", *GOOD), [SCAM])
        assert [hit.source for hit in risk_list.lookup("phone", MOBILE)] == ["市反诈中心"]


def test_erase_and_purge_leave_the_centres_list_alone(database, tmp_path, capsys):
    run(capsys, "risklist", "import", str(write(tmp_path / "list.csv", *GOOD)))
    with ReportStore(create=False) as store:
        store.purge_older_than(datetime.now(LOCAL_TZ) + timedelta(days=1))
        store.erase_conversation("some-sender")
    assert len(lookup("phone", MOBILE)) == 1 and len(lookup("link", "例子.中国/pay")) == 1


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    server = Postgres(user="fanzha", password="pg-" + uuid.uuid4().hex)
    try:
        yield server.create_database("fanzha_reports")
    finally:
        server.stop()


def test_import_lookup_reimport_and_export_on_postgresql(postgres_url, tmp_path):
    env = {ENV_REPORT_KEY: Fernet.generate_key().decode()}
    first = write(tmp_path / "first.csv", *GOOD)
    with RiskList.open(url=postgres_url, env=env) as risk_list:
        summary = risk_list.import_file(first, default_knowledge().scam_types)
        assert summary.imported == {"市反诈中心": 2, "银行协查": 2} and summary.replaced == {}
        assert risk_list.lookup("phone", "+86 138-1234-5678") == [RiskHit("phone", "high", "市反诈中心", date(2025, 3, 1), SCAM)]
        assert [hit.source for hit in risk_list.lookup("link", "https://a.evil-download.top/x")] == ["银行协查"]
        newer = write(tmp_path / "newer.csv", "phone,13700000000,medium,市反诈中心,2025-04-01,",
                      "phone,+86 137 0000 0000,low,市反诈中心,2025-04-02,")
        from bot.services.risklist import ImportRejected

        with pytest.raises(ImportRejected) as rejected:
            risk_list.import_file(newer, ())
        assert str(rejected.value.errors[0]) == "line 3: value: the same phone as line 2 of source '市反诈中心'"
        assert len(risk_list.lookup("phone", MOBILE)) == 1  # the failed import changed nothing
        risk_list.import_file(write(tmp_path / "newer.csv", "phone,13700000000,medium,市反诈中心,2025-04-01,"), ())
        assert risk_list.lookup("phone", MOBILE) == [] and len(risk_list.lookup("phone", "13700000000")) == 1
        exported = list(risk_list.export())
        assert [(row.source, row.kind) for row in exported] == [("市反诈中心", "phone"), ("银行协查", "account"), ("银行协查", "link")]
        assert exported[0].value.startswith(HASH_PREFIX) and exported[2].value == "evil-download.top"
        assert risk_list.delete_source("银行协查") == 2 and risk_list.lookup("account", ACCOUNT) == []
