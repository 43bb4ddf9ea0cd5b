"""The figures of a report, gathered from Elasticsearch through pipeline/web/queries.py (the same numbers as the
command center shows) into one plain dict: the renderer draws it, the ``.json`` beside the report keeps it.

Sections of the 日报/周报 (fixed): summary, KPI strip with 环比, volume and sentiment trend, key events (alerts),
hot terms, KOLs, competitors, risks. Sections of the 专报 (one crisis): characterisation, first post and timeline
of states, spread and key nodes, opinions with sample posts, response record.
The numbers depend only on the data and the period: the same index gives the same report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pipeline.web import queries
from schemas.errors import LingtingError

if TYPE_CHECKING:
    from pipeline.settings import Settings

KINDS = ("daily", "weekly", "crisis")
TITLES = {"daily": "舆情日报", "weekly": "舆情周报", "crisis": "危机专报"}
#: risk rules: a brand's negative share this much above its previous period, or net sentiment this far below
RISK_NEGATIVE_RISE = 0.25
RISK_NET_DROP = 15.0


class ReportError(LingtingError):
    pass


@dataclass(frozen=True)
class ReportPeriod:
    kind: str
    day: date  # the local day the report is filed under (daily: that day; weekly: the week's Monday)
    period: queries.Period

    @property
    def label(self) -> str:
        if self.kind == "weekly":
            return f"{self.day:%Y-%m-%d} – {self.day + timedelta(days=6):%Y-%m-%d}"
        return f"{self.day:%Y-%m-%d}"


def report_period(kind: str, tz: str, day: date | None = None, now: datetime | None = None) -> ReportPeriod:
    """Daily: the local day ``day`` (default yesterday). Weekly: Monday–Sunday of the week holding ``day``
    (default last week). Both in the report time zone."""
    zone = ZoneInfo(tz)
    today = (now or queries.utcnow()).astimezone(zone).date()
    if kind == "daily":
        d = day or today - timedelta(days=1)
        start = datetime.combine(d, time(), zone)
        return ReportPeriod(kind, d, queries.Period(start, datetime.combine(d + timedelta(days=1), time(), zone)))
    if kind == "weekly":
        d = day or today - timedelta(days=7)
        monday = d - timedelta(days=d.weekday())
        start = datetime.combine(monday, time(), zone)
        return ReportPeriod(
            kind, monday, queries.Period(start, datetime.combine(monday + timedelta(days=7), time(), zone))
        )
    raise ReportError(f"unknown report {kind!r} (daily, weekly, crisis ALERT_ID)")


async def periodic(es, settings: Settings, rp: ReportPeriod, brands: list[str] | None = None) -> dict[str, Any]:
    """The 日报/周报 figures for the brands (default reports.brands, else every configured brand)."""
    names = settings.elasticsearch.names
    tz = settings.reports.timezone
    brands = brands or settings.reports.brands or [b.name for b in settings.brands]
    if not brands:
        raise ReportError("no brands to report on: configure brands: (or reports.brands)")
    per_brand = []
    for brand in brands:
        rule = settings.brand(brand)
        competitors = [c for c in (getattr(rule, "competitors", None) or []) if c != brand]
        o = await queries.overview(es, names, [brand], competitors, rp.period, tz)
        per_brand.append(
            {
                "brand": brand,
                "kpi": o["kpi"],
                "previous": o["previous"],
                "change": o["change"],
                "trend": o["trend"],
                "terms": o["terms"][:8],
                "kols": o["kols"][:5],
                "competitors": o["competitors_table"] if competitors else [],
            }
        )
    events = await queries.alerts(es, names, brands=brands, period=rp.period, size=200)
    events.sort(key=lambda a: (a.get("opened") or "", a["id"]))
    report = {
        "kind": rp.kind,
        "title": f"{TITLES[rp.kind]} {rp.label}",
        "label": rp.label,
        "day": rp.day.isoformat(),
        "timezone": tz,
        "start": rp.period.start.isoformat(),
        "end": rp.period.end.isoformat(),
        "interval": rp.period.interval(),
        "brands": per_brand,
        "events": [_event(a) for a in events],
    }
    report["risks"] = risks(report)
    report["summary"] = summary(report)
    return report


def _event(a: dict[str, Any]) -> dict[str, Any]:
    wf = a.get("workflow") or {}
    return {
        "id": a["id"],
        "brand": a["brand"],
        "severity": a["severity"],
        "status": a["status"],
        "opened": a.get("opened"),
        "observed": a.get("observed"),
        "expected": a.get("expected"),
        "state": wf.get("state", "new"),
        "assignee": wf.get("assignee"),
        "summary": a.get("summary", ""),
    }


def risks(report: dict[str, Any]) -> list[str]:
    """Plain rules, stated in each line: unhandled alerts, a rising negative share, a falling net sentiment,
    suspected coordination."""
    out = []
    for e in report["events"]:
        if e["state"] == "new" and e["status"] != "resolved":
            out.append(f"{e['brand']}：告警未处理（{_sev(e['severity'])}，{e['id']}）")
    for b in report["brands"]:
        now, before = b["kpi"], b["previous"]
        if now["negative_share"] is not None and before["negative_share"]:
            rise = (now["negative_share"] - before["negative_share"]) / before["negative_share"]
            if rise >= RISK_NEGATIVE_RISE:
                out.append(f"{b['brand']}：负面占比 {now['negative_share']:.1%}，较上一周期上升 {rise:.0%}")
        if (
            now["net_sentiment"] is not None
            and before["net_sentiment"] is not None
            and before["net_sentiment"] - now["net_sentiment"] >= RISK_NET_DROP
        ):
            out.append(
                f"{b['brand']}：净情感值 {now['net_sentiment']:.1f}，较上一周期下降 "
                f"{before['net_sentiment'] - now['net_sentiment']:.1f}"
            )
    return out


def _sev(s: str) -> str:
    return {"low": "低", "medium": "中", "high": "高", "critical": "严重"}.get(s, s)


def summary(report: dict[str, Any]) -> str:
    """The opening paragraph, built from the figures only (so it is as deterministic as they are)."""
    parts = []
    total = sum(b["kpi"]["volume"] for b in report["brands"])
    parts.append(f"{report['label']} 共监测 {len(report['brands'])} 个品牌、{total:,} 条提及。")
    for b in report["brands"]:
        k, c = b["kpi"], b["change"]
        ch = "" if c.get("volume") is None else f"（环比 {c['volume']:+.0%}）"
        net = "—" if k["net_sentiment"] is None else f"{k['net_sentiment']:.1f}"
        neg = "—" if k["negative_share"] is None else f"{k['negative_share']:.1%}"
        parts.append(f"{b['brand']} 声量 {k['volume']:,}{ch}，负面占比 {neg}，净情感值 {net}。")
    n = len(report["events"])
    parts.append(f"期间告警 {n} 起。" if n else "期间无告警。")
    if report["risks"]:
        parts.append(f"需关注风险 {len(report['risks'])} 项。")
    return "".join(parts)


async def crisis(es, settings: Settings, alert_id: str) -> dict[str, Any]:
    """The 专报 of one crisis, from its alert document and the posts of its window."""
    names = settings.elasticsearch.names
    tz = settings.reports.timezone
    a = await queries.alert(es, names, alert_id)
    if a is None:
        raise ReportError(
            f"no alert {alert_id!r} in {names.alerts_alias} (the ids are on the 危机看板 and in the chat messages)"
        )
    d = await queries.crisis_detail(es, names, a, tz)
    opened = queries._parse(a.get("opened"))
    zone = ZoneInfo(tz)
    day = (opened or queries.utcnow()).astimezone(zone).date()
    wf = a.get("workflow") or {}
    history = wf.get("history") or []
    timeline = [{"at": a.get("opened"), "what": "告警发出（新危机）", "by": "lingting", "note": ""}]
    timeline += [
        {
            "at": h["at"],
            "what": {"acknowledge": "确认", "assign": f"认领 → {h.get('assignee', '')}", "resolve": "解除"}.get(
                h["action"], h["action"]
            ),
            "by": h["by"],
            "note": h.get("note") or "",
        }
        for h in history
    ]
    if a["status"] == "resolved":
        timeline.append({"at": a.get("updated_at"), "what": "检测器判定恢复正常", "by": "lingting", "note": ""})
    first_ack = min((queries._parse(h["at"]) for h in history), default=None)
    resolved = min((queries._parse(h["at"]) for h in history if h["action"] == "resolve"), default=None)
    peak = max(d["series"], key=lambda p: p["negative"], default=None)
    report = {
        "kind": "crisis",
        "title": f"{TITLES['crisis']} {a['brand']} {day:%Y-%m-%d}",
        "label": a["id"],
        "day": day.isoformat(),
        "timezone": tz,
        "alert": {
            k: a.get(k)
            for k in (
                "id",
                "brand",
                "severity",
                "status",
                "window_start",
                "window_end",
                "crisis_start",
                "observed",
                "expected",
                "score",
                "negative_share",
                "expected_negative_share",
                "growth",
                "reach",
                "engagement",
                "summary",
                "opened",
            )
        },
        "coordination": a.get("coordination") or {},
        "top_terms": [t for t in d["terms"][:10]]
        or [
            {"term": t["term"], "count": t["count"], "baseline": None, "lift": t.get("lift")}
            for t in (a.get("top_terms") or [])[:10]
        ],
        "top_authors": (a.get("top_authors") or [])[:8],
        "series": d["series"],
        "crisis_start": d["crisis"].start.isoformat(),
        "crisis_end": d["crisis"].end.isoformat(),
        "peak": peak,
        "first_post": d["first_post"],
        "chains": d["chains"],
        "samples": d["samples"][:6],
        "timeline": timeline,
        "response": {
            "state": wf.get("state", "new"),
            "assignee": wf.get("assignee"),
            "ack_seconds": (first_ack - opened).total_seconds() if first_ack and opened else None,
            "resolve_seconds": (resolved - opened).total_seconds() if resolved and opened else None,
            "escalation": (a.get("escalation") or {}).get("status"),
        },
    }
    report["summary"] = crisis_summary(report)
    return report


def crisis_summary(r: dict[str, Any]) -> str:
    a = r["alert"]
    terms = "、".join(t["term"] for t in r["top_terms"][:5]) or "—"
    peak = r["peak"]
    text = (
        f"{a['brand']} 负面舆情（严重程度：{_sev(a['severity'])}），负面提及 {a['observed']:.0f}，基线预期 "
        f"{a['expected']:.1f}，负面占比 {a['negative_share']:.1%}（最新窗口）。主要议题：{terms}。"
    )
    if peak:
        text += f"负面峰值 {peak['negative']} 条/时段。"
    share = (r["coordination"] or {}).get("share") or 0
    if share:
        text += f"疑似水军占比 {share:.0%}。"
    resp = r["response"]
    text += {
        "new": "尚未处理。",
        "acknowledged": "已确认。",
        "assigned": f"已由 {resp['assignee']} 认领。",
        "resolved": "已解除。",
    }.get(resp["state"], "")
    return text
