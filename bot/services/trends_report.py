"""The trends dashboard's figures from the daily counts (bot/services/trends.py): per day or per week,
"rising this week", and the CSV of each chart. Counts and sums only; in the CSV a count of
1 to 4, and a sum or average made of 1 to 4 events, is written "<5".
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable, Mapping

from sqlalchemy import func, literal, select
from sqlalchemy.engine import Engine

from bot.services import trends
from bot.services.trends import trend_table

PERIODS = {"day": (30, 366), "week": (12, 53)}  # default and largest span
RISING_DAYS, BEFORE_WEEKS, RISING_SHOWN = 7, 4, 5
SMALL = 5  # under this, an export says "<5"
# Words for codes that no knowledge file names (scam types, payment channels and handoff
# reasons come from knowledge/, see labels_from_knowledge in bot/channels/console/channel.py).
LABELS = {
    "high": "高风险", "medium": "中风险", "low": "低风险", "none": "无明显风险/未分类",
    "unknown": "未知", "other": "其他", "answered": "有人接手", "unanswered": "超时无人接",
    "socketio": "网页聊天", "rest": "接口", "wechat": "微信公众号", "voice": "电话",
    "check": "核查", "report": "报案", "handoff": "转人工", "callback": "回电请求",
}


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    metric: str
    series_key: str  # key1 or key2
    value: str  # count, sum (of total) or mean (total per event)
    unit: str


CHARTS = (
    Chart("checks_by_type", "核查次数（按诈骗类型）", trends.CHECK, "key1", "count", "次"),
    Chart("checks_by_risk", "核查次数（按风险等级）", trends.CHECK, "key2", "count", "次"),
    Chart("reports_by_type", "报案数（按诈骗类型）", trends.REPORT, "key1", "count", "件"),
    Chart("loss_by_type", "报案被骗金额（按诈骗类型）", trends.REPORT, "key1", "sum", "元"),
    Chart("reports_by_payment", "报案数（按付款方式）", trends.REPORT, "key2", "count", "件"),
    Chart("loss_by_payment", "报案被骗金额（按付款方式）", trends.REPORT, "key2", "sum", "元"),
    Chart("handoffs", "转人工（按原因）", trends.HANDOFF, "key1", "count", "次"),
    Chart("handoff_wait", "转人工平均等待时间", trends.WAIT, "key1", "mean", "秒"),
    Chart("callbacks", "回电请求（按渠道）", trends.CALLBACK, "key1", "count", "次"),
    Chart("channels", "使用的渠道", trends.CHANNEL, "key1", "count", "次"),
)
CHART_IDS = {chart.id: chart for chart in CHARTS}
RISING_ID = "rising"


def buckets(today: date, period: str, span: int) -> list[date]:
    """The first day of each bucket, oldest first, the last one holding ``today``."""
    if period == "day":
        return [today - timedelta(days=n) for n in range(span - 1, -1, -1)]
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=n) for n in range(span - 1, -1, -1)]


# Rows of settled days, per (database, first day, first unsettled day). Events are counted on the
# day they happen, so a day before yesterday never changes again: a year's rows are read once,
# and each answer reads only yesterday and today from the database.
_settled: dict[tuple[str, str, str], list[tuple[str, str, str, str, int, float]]] = {}
_SETTLED_KEEP = 8  # a few spans (30 days, 12 weeks, a year …) of the current day


def _rows(engine: Engine, since: date, today: date) -> list[tuple[str, str, str, str, int, float]]:
    """(day, metric, "key1" or "key2", key, events, total) from ``since`` to ``today``: summed in
    the database over the other key, so a year is a few tens of thousands of rows to read."""
    unsettled = (today - timedelta(days=1)).isoformat()
    key = (str(engine.url), since.isoformat(), unsettled)
    if key not in _settled:
        if len(_settled) >= _SETTLED_KEEP or any(k[2] != unsettled for k in _settled):
            _settled.clear()  # a new day, or more spans than anyone looks at: start again
        _settled[key] = _query(engine, since.isoformat(), unsettled)
    return _settled[key] + _query(engine, unsettled, None)


def _query(engine: Engine, first: str, before: str | None) -> list[tuple[str, str, str, str, int, float]]:
    c = trend_table.c
    by_key2 = sorted({chart.metric for chart in CHARTS if chart.series_key == "key2"})
    days = (c.day >= first,) + ((c.day < before,) if before else ())
    queries = [
        select(c.day, c.metric, literal(name), key, func.sum(c.events), func.sum(c.total))
        .where(*days, *condition)
        .group_by(c.day, c.metric, key)
        for name, key, condition in (("key1", c.key1, ()), ("key2", c.key2, (c.metric.in_(by_key2),)))
    ]
    with engine.connect() as conn:
        return [tuple(row) for query in queries for row in conn.execute(query)]


def dashboard(engine: Engine, today: date, period: str, span: int, labels: Mapping[str, str]) -> dict[str, Any]:
    """Every chart's numbers for ``span`` days or weeks up to ``today``, and what is rising."""
    starts = buckets(today, period, span)
    rising_from = today - timedelta(days=RISING_DAYS * (1 + BEFORE_WEEKS) - 1)
    rows = _rows(engine, min(starts[0], rising_from), today)
    index = {start.isoformat(): i for i, start in enumerate(starts)}
    slots: dict[str, int | None] = {}

    def bucket_of(day: str) -> int | None:
        """The day's bucket: the day itself, or the Monday of its week (cached: few distinct days)."""
        if day not in slots:
            parsed = date.fromisoformat(day)
            first = parsed if period == "day" else parsed - timedelta(days=parsed.weekday())
            slots[day] = index.get(first.isoformat())
        return slots[day]

    # One pass over the rows, each added to the charts of its metric.
    by_metric: dict[str, list[tuple[Chart, dict[str, list[int]], dict[str, list[float]]]]] = {}
    for chart in CHARTS:
        by_metric.setdefault(chart.metric, []).append((chart, {}, {}))
    width = len(starts)
    for day, metric, which, key, count, total in rows:
        slot = bucket_of(day)
        if slot is None:
            continue
        for chart, events, totals in by_metric.get(metric, ()):
            if chart.series_key != which:
                continue
            if key not in events:
                events[key], totals[key] = [0] * width, [0.0] * width
            events[key][slot] += count
            totals[key][slot] += total

    charts = []
    for chart in CHARTS:
        _, events, totals = next(entry for entry in by_metric[chart.metric] if entry[0] is chart)
        series = []
        for key in sorted(events, key=lambda k: -sum(events[k])):
            entry: dict[str, Any] = {"key": key, "label": labels.get(key) or LABELS.get(key, key), "events": events[key]}
            if chart.value == "sum":
                entry["values"] = [round(t, 2) for t in totals[key]]
            elif chart.value == "mean":
                entry["values"] = [round(t / n, 1) if n else 0 for t, n in zip(totals[key], events[key])]
            else:
                entry["values"] = events[key]
            series.append(entry)
        charts.append({"id": chart.id, "title": chart.title, "unit": chart.unit, "value": chart.value, "series": series})
    return {
        "period": period,
        "labels": [start.isoformat() for start in starts],
        "charts": charts,
        "rising": rising(rows, today, labels),
    }


def rising(rows: Iterable[Any], today: date, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Scam types whose share of checks in the last 7 days grew most against the 4 weeks before."""
    week_start = (today - timedelta(days=RISING_DAYS - 1)).isoformat()
    before_start = (today - timedelta(days=RISING_DAYS * (1 + BEFORE_WEEKS) - 1)).isoformat()
    now: dict[str, int] = {}
    before: dict[str, int] = {}
    last = today.isoformat()
    for day, metric, which, key1, count, _ in rows:
        if metric != trends.CHECK or which != "key1" or day > last or day < before_start:
            continue
        into = now if day >= week_start else before
        into[key1] = into.get(key1, 0) + count
    total_now, total_before = sum(now.values()), sum(before.values())
    if not total_now:
        return []
    found: list[dict[str, Any]] = []
    for key, count in now.items():
        if key in (trends.NO_TYPE, trends.OTHER):
            continue  # no type: nothing to warn about
        share_now = count / total_now
        share_before = before.get(key, 0) / total_before if total_before else 0.0
        if share_now > share_before:
            found.append({
                "key": key, "label": labels.get(key) or LABELS.get(key, key),
                "this_week": count, "before": before.get(key, 0),
                "share_this_week": round(100 * share_now, 1), "share_before": round(100 * share_before, 1),
                "change": round(100 * (share_now - share_before), 1),
            })
    found.sort(key=lambda item: -item["change"])
    return found[:RISING_SHOWN]


def _small(events: int) -> bool:
    return 0 < events < SMALL


def chart_csv(data: Mapping[str, Any], chart_id: str) -> str:
    """One chart of ``dashboard()`` as CSV: a row per day or week, a column per series."""
    out = io.StringIO()
    writer = csv.writer(out)
    if chart_id == RISING_ID:
        writer.writerow(["诈骗类型", "近7天核查", "此前4周核查", "近7天占比%", "此前4周占比%", "变化（百分点）"])
        for item in data["rising"]:
            hidden = _small(item["this_week"]) or _small(item["before"])
            writer.writerow([
                item["label"], "<5" if _small(item["this_week"]) else item["this_week"],
                "<5" if _small(item["before"]) else item["before"],
                "<5" if hidden else item["share_this_week"], "<5" if hidden else item["share_before"],
                "<5" if hidden else item["change"],
            ])
        return out.getvalue()
    chart = next((c for c in data["charts"] if c["id"] == chart_id), None)
    if chart is None:
        raise KeyError(chart_id)
    writer.writerow(["日期" if data["period"] == "day" else "周（起始日）"]
                    + [f"{s['label']}（{chart['unit']}）" for s in chart["series"]])
    for i, label in enumerate(data["labels"]):
        writer.writerow([label] + ["<5" if _small(s["events"][i]) else s["values"][i] for s in chart["series"]])
    return out.getvalue()
