"""Outreach mode: the scenario, quiz and handout files, their loaders, the verdict view, the
outreach channel's pages and API (in a Sanic app, with the live checker) and ``fanzha demo``."""
from __future__ import annotations

import re
import shutil
import uuid
from html import escape

import pytest
import segno
import yaml
from sanic import Sanic

from knowledge.loader import KNOWLEDGE_DIR, KnowledgeError
from knowledge.outreach import load_outreach, load_quiz, load_scenario, load_scenarios, load_wording

SCENARIO = """\
code: {code}
order: {order}
scam_type: shuadan
title: 标题
resident: 居民
scammer: 骗子
setting: 场景
steps:
  - {{who: scammer, via: 微信, text: 点赞关注就能赚钱}}
  - {{who: resident, text: 真的吗}}
  - {{who: scammer, via: 微信, text: 先垫付再返佣金}}
source: {{publisher: 公安部刑侦局, title: 手册, date: 2025-06-18}}
"""


@pytest.fixture(scope="module")
def outreach(knowledge):
    return load_outreach(KNOWLEDGE_DIR, knowledge)


# --- the files ---------------------------------------------------------------------------------

def test_scenarios_cover_at_least_eight_scam_types_and_start_with_the_scammer(outreach, knowledge):
    scenarios = list(outreach.scenarios.values())
    assert len({s.scam_type for s in scenarios}) >= 8
    assert [s.order for s in scenarios] == sorted(s.order for s in scenarios)
    for scenario in scenarios:
        assert scenario.steps[0].who == "scammer"
        assert {step.who for step in scenario.steps} == {"scammer", "resident"}, scenario.code
        assert scenario.scam_type in knowledge.scam_types


def test_each_scenario_ends_with_the_checker_naming_its_scam_type(outreach, checker):
    for scenario in outreach.scenarios.values():
        text, _ = scenario.conversation(len(scenario.steps))
        verdict = checker.check(text)
        assert verdict.risk == "high", (scenario.code, verdict.risk)
        assert verdict.scam_type == scenario.scam_type, (scenario.code, verdict.scam_type)


def test_quiz_mixes_scams_and_ordinary_messages_and_the_checker_agrees(outreach, checker):
    kinds = [q.scam for q in outreach.quiz]
    assert kinds.count(True) >= 4 and kinds.count(False) >= 4
    for question in outreach.quiz:
        verdict = checker.check(question.text)
        assert (verdict.risk in ("high", "medium")) == question.scam, (question.number, verdict.risk)
        if question.scam:
            assert verdict.scam_type == question.scam_type, question.number


def test_conversation_joins_the_steps_and_knows_where_each_starts(outreach):
    scenario = next(iter(outreach.scenarios.values()))
    text, offsets = scenario.conversation(3)
    assert text.split("\n") == [s.text for s in scenario.steps[:3]]
    assert [text[o:o + len(s.text)] for o, s in zip(offsets, scenario.steps)] == [s.text for s in scenario.steps[:3]]
    with pytest.raises(ValueError):
        scenario.conversation(len(scenario.steps) + 1)


def test_a_scenario_is_found_by_number_or_code(outreach):
    codes = list(outreach.scenarios)
    assert outreach.scenario("2").code == codes[1]
    assert outreach.scenario(codes[-1]).code == codes[-1]
    for bad in ("0", str(len(codes) + 1), "no_such"):
        with pytest.raises(KeyError):
            outreach.scenario(bad)


# --- loader errors: file, field, reason ----------------------------------------------------------

@pytest.mark.parametrize("change, field_name, reason", [
    (("scam_type: shuadan", "scam_type: lottery"), "scam_type", "unknown scam type 'lottery'"),
    (("{who: resident, text: 真的吗}", "{who: victim, text: 真的吗}"), "steps[1].who", "must be one of scammer, resident"),
    (("{who: scammer, via: 微信, text: 先垫付再返佣金}", "{who: scammer, text: 先垫付再返佣金}"), "steps[2].via", "say how"),
    (("order: 1", "order: first"), "order", "whole number"),
    (("title: 标题", "title: ''"), "title", "non-empty text"),
    (("  - {who: scammer, via: 微信, text: 先垫付再返佣金}\n", ""), "steps", "at least 3 steps"),
    (("code: sample", "code: other"), "code", "must match the file name"),
])
def test_a_malformed_scenario_names_file_field_and_reason(tmp_path, knowledge, change, field_name, reason):
    path = tmp_path / "sample.yml"
    path.write_text(SCENARIO.format(code="sample", order=1).replace(*change), encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_scenario(path, knowledge)
    assert error.value.path == str(path)
    assert error.value.field == field_name
    assert reason in error.value.reason


def test_two_scenarios_may_not_share_a_place_in_the_order(tmp_path, knowledge):
    for code in ("first", "second"):
        (tmp_path / f"{code}.yml").write_text(SCENARIO.format(code=code, order=3), encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_scenarios(tmp_path, knowledge)
    assert error.value.field == "order" and "already used by 'first'" in error.value.reason


@pytest.mark.parametrize("questions, field_name, reason", [
    ("  - {from: 短信, text: 你好, scam: yes please, why: 因为}\n", "questions[0].scam", "must be true"),
    ("  - {from: 短信, text: 刷单, scam: true, why: 因为}\n", "questions[0].scam_type", "non-empty text"),
    ("  - {from: 短信, text: 你好, scam: false, scam_type: shuadan, why: 因为}\n", "questions[0].scam_type",
     "no scam type"),
    ("  - {from: 短信, text: 刷单, scam: true, scam_type: shuadan, why: 因为}\n", "questions", "mix scams"),
])
def test_a_malformed_quiz_names_file_field_and_reason(tmp_path, knowledge, questions, field_name, reason):
    path = tmp_path / "quiz.yml"
    path.write_text(
        "source: {publisher: 公安部刑侦局, title: 手册, date: 2025-06-18}\nquestions:\n" + questions, encoding="utf-8"
    )
    with pytest.raises(KnowledgeError) as error:
        load_quiz(path, knowledge)
    assert (error.value.path, error.value.field) == (str(path), field_name)
    assert reason in error.value.reason


@pytest.mark.parametrize("change, field_name, reason", [
    ("numbers: [police_110, antifraud_96110]", "handout.numbers[1]", "unknown contact"),
    ("type_title: 警惕「{name}」诈骗", "handout.type_title", "must use exactly {name}"),
    ("general_advice_count: 3", "verdict.general_advice_count", "whole number"),
    ("scam_answer: 这是诈骗", "quiz.scam_answer", "non-empty text"),
])
def test_malformed_outreach_wording_names_file_field_and_reason(tmp_path, knowledge, change, field_name, reason):
    broken = {
        "numbers: [police_110, antifraud_96110]": "numbers: [police_110, lawyer_hotline]",
        "type_title: 警惕「{name}」诈骗": "type_title: 警惕「{type}」诈骗",
        "general_advice_count: 3": "general_advice_count: 99",
        "scam_answer: 这是诈骗": "scam_answer: ''",
    }[change]
    text = (KNOWLEDGE_DIR / "outreach.yml").read_text(encoding="utf-8")
    assert change in text
    path = tmp_path / "outreach.yml"
    path.write_text(text.replace(change, broken), encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_wording(path, knowledge)
    assert (error.value.path, error.value.field) == (str(path), field_name)
    assert reason in error.value.reason


def test_load_outreach_stops_at_a_broken_scenario_file(tmp_path, knowledge):
    for name in ("outreach.yml", "quiz.yml"):
        shutil.copy(KNOWLEDGE_DIR / name, tmp_path / name)
    shutil.copytree(KNOWLEDGE_DIR / "scenarios", tmp_path / "scenarios")
    (tmp_path / "scenarios" / "broken.yml").write_text("code: broken\n- not a mapping\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_outreach(tmp_path, knowledge)
    assert error.value.path.endswith("broken.yml") and "not valid YAML" in error.value.reason


# --- the verdict view ----------------------------------------------------------------------------

def test_the_view_highlights_every_red_flag_and_marks_the_new_ones(outreach, knowledge, checker):
    from knowledge.outreach_view import verdict_view

    scenario = outreach.scenarios["police_medical_card"]
    text, offsets = scenario.conversation(len(scenario.steps) - 1)
    verdict = checker.check(text)
    view = verdict_view(verdict, knowledge, outreach, new_from=offsets[-1])

    def covered(spans):
        return {i for start, end in spans for i in range(start, end)}

    assert covered(view["highlights"]) == covered((h.start, h.end) for h in verdict.red_flags)
    assert all(a[1] < b[0] for a, b in zip(view["highlights"], view["highlights"][1:]))  # merged, ordered
    hits = {(h.flag, h.text, h.label, h.start) for h in verdict.red_flags}
    assert {(f["flag"], f["text"], f["label"], f["start"]) for f in view["flags"]} <= hits
    assert len({f["flag"] for f in view["flags"]}) == len(view["flags"])
    assert {f["flag"] for f in view["flags"]} >= {h.flag for h in verdict.red_flags if h.scam_type is None}
    assert all(f["new"] == (f["start"] >= offsets[-1]) for f in view["flags"])
    scam = knowledge.scam_types[verdict.scam_type]
    assert view["advice"] == list(scam.advice_not_paid) and view["official_line"] == scam.official_line
    assert scam.name in view["headline"]


def test_the_view_of_an_ordinary_message_says_nothing_was_found(outreach, knowledge, checker):
    from knowledge.outreach_view import verdict_view

    ordinary = next(q for q in outreach.quiz if not q.scam)
    view = verdict_view(checker.check(ordinary.text), knowledge, outreach)
    assert view["risk"] == "none" and view["headline"] == outreach.verdict.none_found
    assert view["flags"] == [] and view["highlights"] == []
    assert view["advice"] == list(
        knowledge.procedures.situations["not_paid"].say[: outreach.verdict.general_advice_count]
    )


# --- the channel ---------------------------------------------------------------------------------

def _app(checker, **settings) -> Sanic:
    from bot.channels.outreach.channel import OutreachChannel

    channel = OutreachChannel(checker=checker, **settings)
    app = Sanic(f"outreach_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(None), url_prefix=channel.url_prefix())
    return app


@pytest.fixture(scope="module")
def app(checker):
    return _app(checker, public_url="http://192.0.2.10:5005/")


def qr_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules of a segno SVG path (absolute M, relative m, horizontal h runs)."""
    path = re.search(r' d="([^"]+)"', svg).group(1)
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark.update((int(x) + i, int(y)) for i in range(int(float(a))))
            x += float(a)
    return dark


def matrix_modules(url: str, border: int = 2) -> set[tuple[int, int]]:
    qr = segno.make(url, error="m")
    return {(x + border, y + border) for y, row in enumerate(qr.matrix) for x, bit in enumerate(row) if bit}


async def test_pages_are_served_with_a_strict_policy_and_nothing_from_outside(app, outreach, knowledge):
    paths = ["/demo", "/demo/quiz", "/demo/handout"]
    paths += [f"/demo/scenario/{code}" for code in outreach.scenarios]
    paths += [f"/demo/handout/{code}" for code in knowledge.scam_types]
    for path in paths:
        _, resp = await app.asgi_client.get(path)
        assert resp.status == 200, path
        assert resp.headers["content-type"] == "text/html; charset=utf-8"
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        for ref in re.findall(r'(?:src|href)="([^"]*)"', resp.text):
            assert ref.startswith("/") or ref.startswith("data:"), (path, ref)
        for ref in re.findall(r'(?:src|href)="(/demo/static/[^"]+)"', resp.text):
            _, asset = await app.asgi_client.get(ref)
            assert asset.status == 200, ref
            assert asset.headers["x-content-type-options"] == "nosniff", ref
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable", ref  # ?v=<its hash>
    _, index = await app.asgi_client.get("/demo")
    for scenario in outreach.scenarios.values():
        assert f'href="/demo/scenario/{scenario.code}"' in index.text and scenario.title in index.text
    for path in ("/demo/scenario/nope", "/demo/handout/nope", "/demo/static/index.html", "/demo/static/../outreach.py"):
        _, missing = await app.asgi_client.get(path)
        assert missing.status == 404, path


async def test_the_step_api_answers_with_the_live_checker(app, outreach, knowledge, checker):
    scenario = outreach.scenarios["loan_frozen"]
    for upto in range(1, len(scenario.steps) + 1):
        _, resp = await app.asgi_client.get(f"/demo/api/scenarios/{scenario.code}/steps/{upto}")
        assert resp.status == 200
        data = resp.json
        text, offsets = scenario.conversation(upto)
        verdict = checker.check(text)
        assert data["text"] == text and [m["start"] for m in data["messages"]] == offsets
        assert [m["text"] for m in data["messages"]] == [s.text for s in scenario.steps[:upto]]
        shown = data["verdict"]
        assert (shown["risk"], shown["risk_colour"], shown["scam_type"]) == (
            verdict.risk, verdict.risk_colour, verdict.scam_type)
        assert {(f["flag"], f["start"], f["end"]) for f in shown["flags"]} <= {
            (h.flag, h.start, h.end) for h in verdict.red_flags}
    for bad in (f"/demo/api/scenarios/{scenario.code}/steps/0",
                f"/demo/api/scenarios/{scenario.code}/steps/{len(scenario.steps) + 1}",
                "/demo/api/scenarios/nope/steps/1"):
        _, resp = await app.asgi_client.get(bad)
        assert resp.status == 404 and "error" in resp.json


async def test_the_quiz_api_keeps_the_answer_until_the_reveal(app, outreach, checker):
    _, listing = await app.asgi_client.get("/demo/api/quiz")
    assert [q["text"] for q in listing.json] == [q.text for q in outreach.quiz]
    assert all(set(q) == {"number", "from", "text"} for q in listing.json)
    for question in outreach.quiz:
        _, resp = await app.asgi_client.get(f"/demo/api/quiz/{question.number}")
        data = resp.json
        assert data["scam"] is question.scam and data["why"] == question.why
        wording = outreach.quiz_wording
        assert data["answer"] == (wording.scam_answer if question.scam else wording.ordinary_answer)
        assert data["verdict"]["risk"] == checker.check(question.text).risk
    _, missing = await app.asgi_client.get(f"/demo/api/quiz/{len(outreach.quiz) + 1}")
    assert missing.status == 404


async def test_handouts_carry_the_knowledge_and_a_qr_code_of_the_configured_chat(app, outreach, knowledge):
    _, general = await app.asgi_client.get("/demo/handout")
    for line in (*outreach.handout.slogan, *knowledge.procedures.situations["already_paid"].say):
        assert line in general.text
    for contact_id in outreach.handout.numbers:
        assert knowledge.contacts[contact_id].voice in general.text
    svg = re.search(r"<svg.*?</svg>", general.text, re.S).group(0)
    assert qr_modules(svg) == matrix_modules("http://192.0.2.10:5005/chat")
    assert qr_modules(svg) != matrix_modules("http://127.0.0.1:5005/chat")

    scam = knowledge.scam_types["impersonate_police"]
    _, handout = await app.asgi_client.get("/demo/handout/impersonate_police")
    assert outreach.handout.type_title.format(name=scam.name) in handout.text
    for line in (scam.official_line, *scam.advice_not_paid, *scam.stages, *(f.label for f in scam.red_flags)):
        assert escape(line) in handout.text


async def test_rasa_mounts_the_channel_from_credentials_yml(monkeypatch, tmp_path, outreach):
    """The project's credentials.yml entry, loaded and mounted the way `rasa run` does it."""
    from rasa.core.channels.channel import register
    from rasa.core.run import create_http_input_channels

    from bot.channels.outreach.channel import OutreachChannel
    from tests.conftest import ROOT

    monkeypatch.delenv("FANZHA_PUBLIC_URL", raising=False)
    name = "bot.channels.outreach.channel.OutreachChannel"
    entry = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))[name]
    only_ours = tmp_path / "credentials.yml"
    only_ours.write_text(yaml.safe_dump({name: entry}), encoding="utf-8")
    channels = create_http_input_channels(None, str(only_ours))
    assert [type(c) for c in channels] == [OutreachChannel]
    assert channels[0].public_url == "http://127.0.0.1:5005"
    app = Sanic(f"outreach_rasa_{uuid.uuid4().hex}")
    register(channels, app, route="/webhooks/")
    _, resp = await app.asgi_client.get("/demo")
    assert resp.status == 200 and all(s.title in resp.text for s in outreach.scenarios.values())


def test_the_qr_address_comes_from_credentials_then_the_environment(monkeypatch, checker):
    from bot.channels.outreach.channel import OutreachChannel

    monkeypatch.setenv("FANZHA_PUBLIC_URL", "https://fanzha.example.org")
    assert OutreachChannel.from_credentials({"public_url": "http://10.0.0.5:5005"}).public_url == "http://10.0.0.5:5005"
    assert OutreachChannel.from_credentials({"public_url": ""}).public_url == "https://fanzha.example.org"
    monkeypatch.delenv("FANZHA_PUBLIC_URL")
    assert OutreachChannel.from_credentials(None).public_url == "http://127.0.0.1:5005"
    with pytest.raises(ValueError, match="public_url"):
        OutreachChannel(public_url="fanzha.example.org")


# --- fanzha demo ---------------------------------------------------------------------------------

def test_fanzha_demo_lists_every_scenario(capsys, outreach):
    from bot.cli.main import main

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for number, scenario in enumerate(outreach.scenarios.values(), 1):
        assert re.search(rf"^\s*{number}\. {scenario.code}\s+{re.escape(scenario.title)}", out, re.M)


def test_fanzha_demo_auto_plays_every_step_with_the_checkers_answers(capsys, outreach, checker):
    from bot.cli.main import main

    assert main(["demo", "2", "--auto"]) == 0
    out = capsys.readouterr().out
    scenario = outreach.scenario("2")
    for upto, step in enumerate(scenario.steps, 1):
        assert f"[{upto}/{len(scenario.steps)}]" in out and step.text in out
    blocks = re.split(r"\n\[\d+/\d+\] ", out)[1:]
    assert len(blocks) == len(scenario.steps)
    for upto, block in enumerate(blocks, 1):
        verdict = checker.check(scenario.conversation(upto)[0])
        assert f"风险等级: {verdict.risk_colour}" in block
        for hit in verdict.red_flags:
            if hit.scam_type in (None, verdict.scam_type):
                assert hit.label in block, (upto, hit)
    assert "\x1b[" not in out  # no terminal colours when the output is not a terminal


def test_fanzha_demo_waits_for_enter_and_stops_on_q(monkeypatch, capsys, outreach):
    from bot.cli.main import main

    answers = iter(["", "", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    code = list(outreach.scenarios)[0]
    assert main(["demo", code]) == 0
    out = capsys.readouterr().out
    assert "[2/" in out and "[3/" not in out and "演示结束" not in out


def test_fanzha_demo_rejects_an_unknown_scenario(capsys):
    from bot.cli.main import main

    assert main(["demo", "no_such_scenario"]) == 2
    assert "no scenario 'no_such_scenario'" in capsys.readouterr().err


def test_terminal_marks_the_spans_when_coloured():
    from bot.cli.outreach import MARK_OFF, MARK_ON, marked

    assert marked("把钱转到安全账户", 10, [[2, 5], [14, 18]], colour=True) == f"把钱转到{MARK_ON}安全账户{MARK_OFF}"
    assert marked("把钱转到安全账户", 10, [[14, 18]], colour=False) == "把钱转到安全账户"
