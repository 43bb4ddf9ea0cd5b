"""ECharts options built from query results (the page only hands them to ``echarts.setOption``).

Each option carries a ``drill`` hint that static/app.js turns into a /drill request when a point is clicked:
``time`` (series id = sentiment, x = bucket start), ``brand`` (category = brand) or ``platform``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.web.queries import SENTIMENTS

COLORS = {"positive": "#52c41a", "neutral": "#bfbfbf", "negative": "#f5222d"}
_STEP_MS = {
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "3h": 10_800_000,
    "6h": 21_600_000,
    "1d": 86_400_000,
    "7d": 604_800_000,
}


def _offset_ms(ms: int, tz: str) -> int:
    """The zone's UTC offset at ``ms``: the time axes show wall-clock time of the configured zone, not of the
    browser (ECharts knows only local time or UTC, so the points are shifted and the axis is told UTC)."""
    dt = datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(tz))
    return int(dt.utcoffset().total_seconds() * 1000)


def _time_chart(drill: dict[str, Any], series: list[dict[str, Any]]) -> dict[str, Any]:
    """The frame of a chart over time: the axis in UTC (the points come shifted to the configured zone, see
    ``_offset_ms``), a click drills into the time range; ``drill`` adds the step, offset and filters."""
    return {
        "useUTC": True,
        "drill": {"kind": "time", **drill},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 48, "right": 16, "top": 32, "bottom": 28},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value"},
        "series": series,
    }


def sentiment_trend(data: dict[str, Any], t: Callable[[str], str], interval: str, tz: str) -> dict[str, Any]:
    off = _offset_ms(data["trend"][0]["ms"], tz) if data["trend"] else 0
    return _time_chart(
        {"step_ms": _STEP_MS[interval], "offset_ms": off},
        [
            {
                "id": s,
                "name": t(s),
                "type": "bar",
                "stack": "v",
                "color": COLORS[s],
                "data": [[p["ms"] + off, p[s]] for p in data["trend"]],
            }
            for s in SENTIMENTS
        ],
    )


def competitors(data: dict[str, Any], t: Callable[[str], str]) -> dict[str, Any]:
    rows = data["competitors_table"]
    return {
        "drill": {"kind": "brand"},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 56, "right": 48, "top": 32, "bottom": 28},
        "xAxis": {"type": "category", "data": [r["brand"] for r in rows]},
        "yAxis": [{"type": "value", "name": "%", "max": 100}, {"type": "value", "min": -100, "max": 100}],
        "series": [
            {
                "name": t("share_of_voice"),
                "type": "bar",
                "color": "#1677ff",
                "data": [round((r["share_of_voice"] or 0) * 100, 1) for r in rows],
            },
            {
                "name": t("net_sentiment"),
                "type": "line",
                "yAxisIndex": 1,
                "color": "#fa8c16",
                "data": [None if r["net_sentiment"] is None else round(r["net_sentiment"], 1) for r in rows],
            },
        ],
    }


def platforms(data: dict[str, Any], t: Callable[[str], str]) -> dict[str, Any]:
    return {
        "drill": {"kind": "platform"},
        "tooltip": {"trigger": "item"},
        "series": [
            {
                "type": "pie",
                "radius": ["40%", "70%"],
                "name": t("platform_mix"),
                "data": [{"name": p["platform"], "value": p["count"]} for p in data["platforms"]],
            }
        ],
    }


def crisis_volume(detail: dict[str, Any], a: dict[str, Any], t: Callable[[str], str], tz: str) -> dict[str, Any]:
    """Volume and negative volume around the crisis; the window shaded, the detector's expected negatives per
    window drawn as a band over it, the alert's states and workflow actions as markers."""
    crisis = detail["crisis"]
    window_ms = max(1, int((crisis.end - crisis.start).total_seconds() * 1000))
    step_ms = detail["series"][1]["ms"] - detail["series"][0]["ms"] if len(detail["series"]) > 1 else window_ms
    # the detector's figures are per detection window: scaled to the histogram's step to share the axis
    per_step = step_ms / max(1, _ms(a["window_end"]) - _ms(a["window_start"]))
    expected = (a.get("expected") or 0) * per_step
    off = _offset_ms(_ms(crisis.start), tz)
    markers = [{"name": t("status_open"), "xAxis": _ms(a.get("crisis_start") or a["window_start"]) + off}]
    for h in (a.get("workflow") or {}).get("history") or []:
        markers.append({"name": t(h["action"]), "xAxis": _ms(h["at"]) + off})
    return _time_chart(
        {"step_ms": step_ms, "brand": a["brand"], "offset_ms": off},
        [
            {
                "id": "",
                "name": t("volume"),
                "type": "line",
                "color": "#1677ff",
                "showSymbol": False,
                "data": [[p["ms"] + off, p["total"]] for p in detail["series"]],
                "markArea": {
                    "itemStyle": {"color": "rgba(245,34,45,0.08)"},
                    "data": [[{"xAxis": _ms(crisis.start) + off}, {"xAxis": _ms(crisis.end) + off}]],
                },
                "markLine": {"symbol": "none", "label": {"formatter": "{b}"}, "data": markers},
            },
            {
                "id": "negative",
                "name": t("negative"),
                "type": "line",
                "color": COLORS["negative"],
                "showSymbol": False,
                "data": [[p["ms"] + off, p["negative"]] for p in detail["series"]],
                "markArea": {
                    "itemStyle": {"color": "rgba(250,140,22,0.15)"},
                    "label": {"show": False},
                    "data": [
                        [
                            {"name": t("expected"), "xAxis": _ms(crisis.start) + off, "yAxis": 0},
                            {"xAxis": _ms(crisis.end) + off, "yAxis": round(expected, 2)},
                        ]
                    ],
                },
            },
        ],
    )


def _ms(ts: Any) -> int:
    dt = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    return int(dt.timestamp() * 1000)
