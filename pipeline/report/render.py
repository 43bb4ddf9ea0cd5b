"""Draw a report: the HTML page (sections as tables, charts as PNG beside it), one PNG of the whole report for
chat and email, optionally a PDF of the same; and the ``.json`` of its figures. matplotlib (Agg) only.

Files, under ``<reports.dir>/<day>/``: ``<stem>.html``, ``<stem>.png``, ``<stem>.pdf``, ``<stem>.json`` and
the charts ``<stem>-trend.png`` (the HTML's images).
"""

from __future__ import annotations

import hashlib
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from pipeline.report.fonts import cjk_font, drawable
from pipeline.report.store import write_meta

TEMPLATES = Path(__file__).resolve().parent / "templates"
COLORS = {"positive": "#52c41a", "neutral": "#bfbfbf", "negative": "#f5222d"}
SENT_ZH = {"positive": "正面", "neutral": "中性", "negative": "负面"}
DPI = 110


def stem_for(report: dict[str, Any]) -> str:
    if report["kind"] == "crisis":
        return "crisis-" + hashlib.sha1(report["alert"]["id"].encode()).hexdigest()[:10]
    return report["kind"]


def _setup() -> tuple[Any, frozenset[int]]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    family, cmap = cjk_font()
    plt.rcParams.update(
        {
            "font.family": [family],
            "axes.unicode_minus": False,
            "svg.hashsalt": "lingting",
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt, cmap


def _local(ts: Any, tz: str, fmt: str = "%m-%d %H:%M") -> str:
    if not ts:
        return "—"
    dt = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    return dt.astimezone(ZoneInfo(tz)).strftime(fmt)


def _ms_to_dt(ms: int, tz: str) -> datetime:
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------- charts
def _trend_axes(ax, report: dict[str, Any], tz: str, cmap) -> None:
    """Periodic: each brand's volume as a line, the negatives of all brands as a shaded area."""
    import matplotlib.dates as mdates

    for b in report["brands"]:
        xs = [_ms_to_dt(p["ms"], tz) for p in b["trend"]]
        ax.plot(
            xs,
            [p["positive"] + p["neutral"] + p["negative"] for p in b["trend"]],
            label=drawable(b["brand"], cmap),
            linewidth=1.6,
        )
    if report["brands"] and report["brands"][0]["trend"]:
        xs = [_ms_to_dt(p["ms"], tz) for p in report["brands"][0]["trend"]]
        neg = [sum(b["trend"][i]["negative"] for b in report["brands"] if i < len(b["trend"])) for i in range(len(xs))]
        ax.fill_between(xs, neg, color=COLORS["negative"], alpha=0.18, label="负面（全部品牌）")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M" if report["kind"] == "daily" else "%m-%d"))
    ax.set_ylabel("提及数")
    ax.legend(loc="upper left", fontsize=8, ncol=3, frameon=False)
    ax.set_title(f"声量与情感走势（每 {report['interval']}，{report['timezone']}）", fontsize=11, loc="left")


def _crisis_axes(ax, report: dict[str, Any], tz: str, cmap) -> None:
    import matplotlib.dates as mdates

    xs = [_ms_to_dt(p["ms"], tz) for p in report["series"]]
    ax.plot(xs, [p["total"] for p in report["series"]], color="#1677ff", label="声量", linewidth=1.6)
    ax.plot(xs, [p["negative"] for p in report["series"]], color=COLORS["negative"], label="负面", linewidth=1.6)
    start = datetime.fromisoformat(report["crisis_start"]).astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    end = datetime.fromisoformat(report["crisis_end"]).astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    ax.axvspan(start, end, color=COLORS["negative"], alpha=0.08, label="危机窗口")
    for t in report["timeline"]:
        if t["at"]:
            at = datetime.fromisoformat(str(t["at"]).replace("Z", "+00:00")).astimezone(ZoneInfo(tz))
            ax.axvline(at.replace(tzinfo=None), color="#8c8c8c", linewidth=0.8, linestyle="--")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_title("危机前后声量（虚线：告警与处理记录）", fontsize=11, loc="left")


def _chart_png(report: dict[str, Any], path: Path, tz: str) -> None:
    plt, cmap = _setup()
    fig, ax = plt.subplots(figsize=(9, 3.4), dpi=DPI)
    (_crisis_axes if report["kind"] == "crisis" else _trend_axes)(ax, report, tz, cmap)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- the one-image report
def _wrap(text: str, width: int = 52) -> str:
    return "\n".join(textwrap.wrap(text, width=width)) if text else ""


def _kpi_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["品牌", "声量", "环比", "负面占比", "净情感值", "声量份额", "互动", "告警 处理/新增"]
    rows = []
    for b in report["brands"]:
        k, c = b["kpi"], b["change"]
        rows.append(
            [
                b["brand"],
                f"{k['volume']:,}",
                _signed(c.get("volume")),
                _pct(k["negative_share"]),
                _f1(k["net_sentiment"]),
                _pct(k["share_of_voice"]),
                f"{k['engagement']:,}",
                f"{k['alerts_handled']}/{k['alerts_opened']}",
            ]
        )
    return head, rows


def _sections_lines(report: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The text sections of the one-image report, as (heading, lines)."""
    if report["kind"] == "crisis":
        a = report["alert"]
        return [
            ("危机定性", [_wrap(report["summary"])]),
            (
                "首发与时间线",
                (
                    [
                        f"首发：{(report['first_post'] or {}).get('author', {}).get('name', '—')} "
                        f"{_local((report['first_post'] or {}).get('created_at'), report['timezone'])} "
                        f"{((report['first_post'] or {}).get('text') or '')[:40]}"
                    ]
                    + [
                        f"{_local(t['at'], report['timezone'])}  {t['what']}  {t['by']}  {t['note']}"
                        for t in report["timeline"]
                    ]
                ),
            ),
            (
                "传播与关键节点",
                [
                    f"{(c.get('post') or {}).get('author', {}).get('name', c['original'])}：转发 {c['reposts']}，"
                    f"关键转发者 " + "、".join((r.get("author") or {}).get("name", "—") for r in c["key_reposters"])
                    for c in report["chains"][:4]
                ]
                + [
                    "主要传播者："
                    + "、".join(
                        f"{x.get('name') or x.get('id')}（粉丝 {x.get('followers', 0):,}）"
                        for x in report["top_authors"][:4]
                    )
                ],
            ),
            (
                "观点与样本",
                ["议题：" + "、".join(f"{t['term']}" for t in report["top_terms"][:8])]
                + [f"· {p['text'][:48]}" for p in report["samples"][:4]],
            ),
            (
                "响应记录",
                [
                    f"状态 {report['response']['state']}，负责人 {report['response']['assignee'] or '—'}，"
                    f"确认用时 {_dur(report['response']['ack_seconds'])}，"
                    f"解除用时 {_dur(report['response']['resolve_seconds'])}，窗口 "
                    f"{_local(a['window_start'], report['timezone'])}–{_local(a['window_end'], report['timezone'])}"
                ],
            ),
        ]
    lines = [
        ("摘要", [_wrap(report["summary"])]),
        (
            "重点事件（告警）",
            [
                f"{_local(e['opened'], report['timezone'])}  {e['brand']}  {_sevzh(e['severity'])}  "
                f"负面 {e['observed']:.0f}/预期 {e['expected']:.1f}  {e['state']}"
                for e in report["events"][:8]
            ]
            or ["期间无告警"],
        ),
        (
            "热词（提升度）",
            [
                f"{b['brand']}："
                + (
                    "、".join(f"{t['term']}" + (f"×{t['lift']:.1f}" if t["lift"] else "") for t in b["terms"][:6])
                    or "—"
                )
                for b in report["brands"]
            ],
        ),
        (
            "KOL",
            [
                f"{b['brand']}："
                + ("、".join(f"{k['name']}（互动 {k['engagement']:,}）" for k in b["kols"][:3]) or "—")
                for b in report["brands"]
            ],
        ),
        (
            "竞品",
            [
                f"{b['brand']}："
                + "；".join(
                    f"{r['brand']} 份额 {_pct(r['share_of_voice'])} 净情感 {_f1(r['net_sentiment'])}"
                    for r in b["competitors"]
                )
                for b in report["brands"]
                if b["competitors"]
            ]
            or ["未配置竞品"],
        ),
        ("风险", report["risks"] or ["无"]),
    ]
    return lines


def _summary_figure(report: dict[str, Any], tz: str):
    plt, cmap = _setup()
    sections = _sections_lines(report)
    n_lines = sum(1 + sum(s.count("\n") + 1 for s in body) for _, body in sections)
    kpi = report["kind"] != "crisis"
    head, rows = _kpi_rows(report) if kpi else ([], [])
    table_h = (0.32 * (len(rows) + 1) + 0.5) if kpi else 0
    text_h = 0.25 * n_lines + 0.4
    fig = plt.figure(figsize=(9, 1.0 + table_h + 3.4 + text_h), dpi=DPI)
    heights = [1.0] + ([table_h] if kpi else []) + [3.4, text_h]
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.35)
    i = 0
    ax = fig.add_subplot(grid[i])
    ax.axis("off")
    ax.text(0, 0.75, drawable(f"聆听 · {report['title']}", cmap), fontsize=17, weight="bold", va="center")
    sub = f"{report['label']}（{report['timezone']}）" if kpi else report["alert"]["id"]
    ax.text(0, 0.2, drawable(sub, cmap), fontsize=9, color="#595959", va="center")
    if kpi:
        i += 1
        ax = fig.add_subplot(grid[i])
        ax.axis("off")
        ax.set_title("核心指标（环比上一周期）", fontsize=11, loc="left")
        table = ax.table(
            cellText=[[drawable(c, cmap) for c in r] for r in rows],
            colLabels=head,
            loc="upper left",
            cellLoc="center",
            bbox=[0, 0, 1, 1],
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        for (r, _c), cell in table.get_celld().items():
            cell.set_edgecolor("#f0f0f0")
            if r == 0:
                cell.set_facecolor("#fafafa")
    i += 1
    ax = fig.add_subplot(grid[i])
    (_crisis_axes if report["kind"] == "crisis" else _trend_axes)(ax, report, tz, cmap)
    i += 1
    ax = fig.add_subplot(grid[i])
    ax.axis("off")
    y, step = 1.0, 1.0 / max(1, n_lines)
    for heading, body in sections:
        ax.text(0, y, drawable(heading, cmap), fontsize=11, weight="bold", va="top")
        y -= step
        for line in body:
            ax.text(0.01, y, drawable(line, cmap), fontsize=9, va="top", color="#262626")
            y -= step * (line.count("\n") + 1)
    return plt, fig


# ---------------------------------------------------------------------------------------------- files
def write_report(report: dict[str, Any], root: Path, *, pdf: bool = False) -> dict[str, Path]:
    """Write every file of the report; returns them by kind (html, png, pdf, json, chart)."""
    tz = report["timezone"]
    _setup()  # fail on a missing font before writing anything
    day_dir = root / report["day"]
    day_dir.mkdir(parents=True, exist_ok=True)
    stem = stem_for(report)
    out = {
        "chart": day_dir / f"{stem}-trend.png",
        "png": day_dir / f"{stem}.png",
        "html": day_dir / f"{stem}.html",
        "json": day_dir / f"{stem}.json",
    }
    _chart_png(report, out["chart"], tz)
    plt, fig = _summary_figure(report, tz)
    fig.savefig(out["png"], metadata={"Software": None})
    if pdf:
        out["pdf"] = day_dir / f"{stem}.pdf"
        fig.savefig(out["pdf"], metadata={"Creator": "lingting", "Producer": None, "CreationDate": None})
    plt.close(fig)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(
        local=lambda ts, fmt="%m-%d %H:%M": _local(ts, tz, fmt),
        pct=_pct,
        f1=_f1,
        signed=_signed,
        dur=_dur,
        sev=_sevzh,
        sent=lambda s: SENT_ZH.get(s, s),
    )
    out["html"].write_text(
        env.get_template(f"{'crisis' if report['kind'] == 'crisis' else 'periodic'}.html.j2").render(
            r=report, chart=out["chart"].name, png=out["png"].name
        ),
        encoding="utf-8",
    )
    previous = {}
    if out["json"].exists():  # keep the send record of an earlier run of the same report
        from pipeline.report.store import read_meta

        previous = {k: v for k, v in read_meta(out["json"]).items() if k == "sent"}
    write_meta(out["json"], {**report, **previous})
    return out


def _pct(v: Any) -> str:
    return "—" if v is None else f"{v:.1%}"


def _f1(v: Any) -> str:
    return "—" if v is None else f"{v:.1f}"


def _signed(v: Any) -> str:
    return "—" if v is None else f"{v:+.1%}"


def _dur(s: Any) -> str:
    if s is None:
        return "—"
    s = int(s)
    return f"{s // 60} 分 {s % 60} 秒" if s < 3600 else f"{s // 3600} 小时 {(s % 3600) // 60} 分"


def _sevzh(s: str) -> str:
    return {"low": "低", "medium": "中", "high": "高", "critical": "严重"}.get(s, s)
