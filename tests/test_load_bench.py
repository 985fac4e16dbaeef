"""The load bench's pure parts: its conversations file and its figures."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.load_bench import (
    CONVERSATIONS,
    ConversationsError,
    Turn,
    TurnResult,
    by_window,
    cpu_share,
    load_conversations,
    memory_summary,
    percentile,
    rate_notice,
    summarize,
    turn_error,
)


def test_the_conversations_cover_checks_reports_faqs_and_money_going_out():
    conversations = {c.name: c for c in load_conversations(CONVERSATIONS)}
    said = {name: [t.say for t in c.turns] for name, c in conversations.items()}
    everything = "\n".join("\n".join(lines) for lines in said.values())
    assert any("短信" in line for line in everything.splitlines())  # a pasted SMS
    for words in ("96110", "国家反诈中心", "公检法", "我被骗了", "算了不填了", "我正在转"):
        assert words in everything, words
    # One report goes through all nine questions of the form, one stops halfway.
    assert max(len(c.turns) for c in conversations.values()) >= 10
    assert all(t.say.strip() for c in conversations.values() for t in c.turns)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("other: 1\n", "non-empty list 'conversations'"),
        ("conversations: []\n", "non-empty list 'conversations'"),
        ("conversations:\n  - name: a\n    turns: []\n", "non-empty list 'turns'"),
        ("conversations:\n  - name: a\n    turns: [{say: 你好}]\n  - name: a\n    turns: [{say: 你好}]\n", "unique"),
        ("conversations:\n  - name: a\n    turns: [{say: ''}]\n", "turn 1: 'say' is a text"),
        ("conversations:\n  - name: a\n    turns: [{say: 你好, wait: 3}]\n", "turn 1"),
        ("conversations:\n  - name: a\n    turns: [你好]\n", "turn 1"),
        ("conversations:\n  - name: a\n    extra: 1\n    turns: [{say: 你好}]\n", "name, about and turns only"),
    ],
)
def test_a_malformed_conversations_file_names_the_place(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "conversations.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConversationsError, match=problem):
        load_conversations(path)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    assert (percentile(values, 0.50), percentile(values, 0.95), percentile(values, 0.99)) == (50, 95, 99)
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


def test_summary_leaves_failed_turns_out_of_latency_and_throughput():
    results = [TurnResult("rest", 0, float(ms), float(ms) + 5) for ms in range(1, 101)]
    results += [TurnResult("rest", 1, 30_000, 30_000, "timeout"), TurnResult("rest", 2, 3, 3, "HTTP 500"),
                TurnResult("rest", 3, 4, 4, "HTTP 500")]
    figures = summarize(results, window_s=10)
    assert figures["turns"] == 103 and figures["errors"] == 3
    assert figures["error_kinds"] == {"timeout": 1, "HTTP 500": 2}
    assert (figures["p50_ms"], figures["p95_ms"], figures["p99_ms"]) == (50, 95, 99)
    assert figures["turns_per_s"] == 10.0
    assert summarize(results, window_s=10, last=True)["p50_ms"] == 55
    assert summarize([], window_s=10)["p95_ms"] is None


def test_memory_growth_compares_the_first_and_last_minute():
    # 300 s of samples growing 0.1 MB/s from 1000 MB: first minute mean ~1003, last ~1027.
    samples = [(float(t), 1000 + 0.1 * t) for t in range(301)]
    m = memory_summary(samples, window_s=300)
    assert m["span_s"] == 60 and m["peak_mb"] == 1030.0
    assert m["start_mb"] == 1003.0 and m["end_mb"] == 1027.0 and m["growth_mb"] == 24.0
    flat = memory_summary([(float(t), 500.0) for t in range(31)], window_s=30)
    assert flat["span_s"] == 10 and flat["growth_mb"] == 0
    assert memory_summary([], window_s=30) == {}


def test_cpu_share_counts_only_the_measured_window():
    # 1 CPU second per second during the warm-up (t < 0) and after the end, half a second inside.
    samples = [(float(t), t * 1.0 if t < 0 else t * 0.5) for t in range(-10, 21)]
    assert cpu_share(samples, window_s=20) == 50
    assert cpu_share(samples + [(25.0, 100.0)], window_s=20) == 50
    assert cpu_share([(1.0, 3.0)], window_s=20) is None


def test_a_long_run_is_also_reported_window_by_window():
    # 10 turns a second for 600 s: 20 ms each in the first 300 s, 200 ms in the last 300 s (one a
    # timeout); the server uses 40% of a core, then 80%.
    results = [TurnResult("rest", t / 10, 20.0 if t < 3000 else 200.0, 0) for t in range(6000)]
    results[4000].error = "timeout"
    cpu = {"Rasa server": [(float(t), 0.4 * t if t <= 300 else 120 + 0.8 * (t - 300)) for t in range(-5, 601)]}
    rss = {"Rasa server": [(float(t), 700.0 if t < 240 else 710.0 if t < 540 else 712.0) for t in range(601)]}
    first, second = by_window(results, cpu, rss, duration_s=600, window_s=300)
    assert (first["from_s"], first["to_s"], second["from_s"], second["to_s"]) == (0, 300, 300, 600)
    assert (first["turns"], first["errors"], first["p95_ms"], first["turns_per_s"]) == (3000, 0, 20, 10)
    assert (second["turns"], second["errors"], second["p95_ms"]) == (3000, 1, 200)
    assert first["cpu_percent_of_one_core"] == {"Rasa server": 40}
    assert second["cpu_percent_of_one_core"] == {"Rasa server": 80}
    assert first["rss_mb_at_end"] == {"Rasa server": 710.0} and second["rss_mb_at_end"] == {"Rasa server": 712.0}
    # A last, shorter window counts its own length; a run shorter than two windows has none.
    assert [w["to_s"] for w in by_window(results, cpu, rss, duration_s=600, window_s=250)] == [250, 500, 600]
    assert by_window(results, cpu, rss, duration_s=500, window_s=300) == []


def test_turn_errors():
    notice = rate_notice()
    assert notice and "{" not in notice
    turn = Turn("钱被骗走了", expect="110")
    assert turn_error([], turn, notice) == "empty reply"
    assert turn_error([{"text": notice + "马上拨打110。"}], turn, notice) == "rate limited"
    assert turn_error([{"text": "您好"}], turn, notice) == "unexpected reply"
    assert turn_error([{"text": "先做最要紧的事"}, {"text": "请拨打110"}], turn, notice) is None
    assert turn_error([{"image": "x"}], Turn("你好"), notice) is None
