"""Reports against the real Elasticsearch with the demo data: every section of the 日报 and the 专报, numbers that
match Elasticsearch and repeat exactly, the PNG/PDF, the font check, and the schedule sending to a channel."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from pipeline.demo import AlertReceiver
from tests.web.conftest import OPERATOR_TOKEN

pytestmark = pytest.mark.integration

DAILY_SECTIONS = ("summary", "kpis", "trend", "events", "terms", "kols", "competitors", "risks")
CRISIS_SECTIONS = ("characterisation", "timeline", "spread", "opinions", "response")
PNG = b"\x89PNG\r\n\x1a\n"


def demo_day(demo_data, tz: str = "Asia/Shanghai"):
    """The local day holding the demo crisis (the stream ends at the time the tests started)."""
    return demo_data.alerts[0].window_end.astimezone(ZoneInfo(tz)).date()


def make(settings, kind, **kw):
    from pipeline.report import make_report

    return asyncio.run(make_report(settings, kind, **kw))


def test_daily_report_has_every_section_with_elasticsearch_numbers(web_settings, demo_data, es, tmp_path):
    day = demo_day(demo_data)
    first = make(web_settings, "daily", day=day, out_dir=tmp_path / "a", pdf=True)
    again = make(web_settings, "daily", day=day, out_dir=tmp_path / "b", pdf=False)
    files, report = first["files"], first["report"]
    html = files["html"].read_text(encoding="utf-8")
    for section in DAILY_SECTIONS:
        assert f'<section id="{section}">' in html, section
    assert files["png"].read_bytes().startswith(PNG) and files["chart"].read_bytes().startswith(PNG)
    assert files["pdf"].read_bytes().startswith(b"%PDF")
    assert [b["brand"] for b in report["brands"]] == ["海底捞", "呷哺呷哺", "蜜雪冰城", "蔚来", "小米"]
    # the same figures on a second run, and the same image
    assert json.loads(files["json"].read_text()) == json.loads(again["files"]["json"].read_text())
    assert files["png"].read_bytes() == again["files"]["png"].read_bytes()
    # the volume is Elasticsearch's count for the brand and the local day
    start = datetime.combine(day, datetime.min.time(), ZoneInfo("Asia/Shanghai"))
    count = es.count(
        index=web_settings.elasticsearch.posts_alias,
        query={
            "bool": {
                "filter": [
                    {"term": {"brands": "海底捞"}},
                    {
                        "range": {
                            "created_at": {"gte": start.isoformat(), "lt": (start + timedelta(days=1)).isoformat()}
                        }
                    },
                ]
            }
        },
    )
    haidilao = report["brands"][0]
    assert haidilao["kpi"]["volume"] == count["count"] > 0
    assert f"{count['count']:,}" in html
    # the crisis is a key event; its words are the brand's hot terms; the competitor is compared
    assert any(e["id"] == demo_data.alerts[0].id for e in report["events"])
    assert {"后厨", "老鼠"} <= {t["term"] for t in haidilao["terms"]}
    assert [c["brand"] for c in haidilao["competitors"]] == ["海底捞", "呷哺呷哺"]
    assert "海底捞" in report["summary"] and "净情感值" in html


def test_crisis_report_from_one_alert(web_settings, demo_data, tmp_path):
    result = make(web_settings, "crisis", alert_id=demo_data.alerts[0].id, out_dir=tmp_path)
    html = result["files"]["html"].read_text(encoding="utf-8")
    for section in CRISIS_SECTIONS:
        assert f'<section id="{section}">' in html, section
    r = result["report"]
    assert r["first_post"] and r["first_post"]["created_at"] >= r["crisis_start"][:19]
    assert r["timeline"][0]["what"].startswith("告警发出")
    assert {"后厨", "老鼠"} & {t["term"] for t in r["top_terms"]}
    assert all(t["lift"] and t["lift"] > 1 for t in r["top_terms"][:3])  # against the hours before the crisis
    assert r["samples"] and all(p["sentiment"]["label"] == "negative" for p in r["samples"])
    assert result["files"]["png"].read_bytes().startswith(PNG)
    from pipeline.report.build import ReportError

    with pytest.raises(ReportError, match="no alert"):
        make(web_settings, "crisis", alert_id="海底捞:nope", out_dir=tmp_path)


def test_without_a_cjk_font_reports_fail_clearly(web_settings, monkeypatch, tmp_path):
    from pathlib import Path

    import matplotlib

    from pipeline.report.fonts import FontMissing, cjk_font, drawable

    latin = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    monkeypatch.setenv("LINGTING_REPORT_FONT", str(latin))
    with pytest.raises(FontMissing, match="no Chinese characters"):
        make(web_settings, "daily", out_dir=tmp_path)
    monkeypatch.setenv("LINGTING_REPORT_FONT", str(tmp_path / "none.otf"))
    with pytest.raises(FontMissing, match="does not exist"):
        cjk_font()
    assert not any(tmp_path.rglob("*.png"))
    monkeypatch.delenv("LINGTING_REPORT_FONT")
    _, cmap = cjk_font()
    # the shipped subset has simplified and traditional hanzi; what it lacks is dropped, never drawn as a box
    assert drawable("海底捞後廚老鼠 呷哺 臺灣 😡", cmap) == "海底捞後廚老鼠 呷哺 臺灣 "


def test_cli_writes_the_report(web_settings, demo_data, tmp_path):
    import yaml

    from pipeline.cli import _register_all, app

    _register_all()
    config = tmp_path / "lingting.yaml"
    config.write_text(
        yaml.safe_dump(web_settings.model_dump(mode="json", exclude={"notify"}), allow_unicode=True), encoding="utf-8"
    )
    out = CliRunner().invoke(
        app,
        ["report", "daily", "-c", str(config), "--date", demo_day(demo_data).isoformat(), "--out", str(tmp_path / "r")],
    )
    assert out.exit_code == 0, out.output
    assert (tmp_path / "r" / demo_day(demo_data).isoformat() / "daily.html").exists()
    bad = CliRunner().invoke(app, ["report", "monthly", "-c", str(config)])
    assert bad.exit_code != 0


def test_schedule_sends_the_daily_report_to_the_channels_and_the_page_lists_it(
    web_settings, demo_data, server, browser, tmp_path
):
    from pipeline.report.schedule import due, tick
    from pipeline.settings import Settings

    tz = ZoneInfo("Asia/Shanghai")
    day = demo_day(demo_data)
    nine = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).replace(hour=9)
    assert due(web_settings.reports.schedule, "Asia/Shanghai", nine - timedelta(seconds=20), nine) == [("daily", day)]
    assert due(web_settings.reports.schedule, "Asia/Shanghai", nine, nine + timedelta(hours=1)) == []
    with AlertReceiver() as receiver:
        data = web_settings.model_dump(mode="json")
        data["notify"] = {"webhooks": [{"url": receiver.url}]}
        data["api"]["public_url"] = server.url
        settings = Settings.model_validate(data)
        results = asyncio.run(tick(settings, nine - timedelta(seconds=20), nine + timedelta(seconds=5)))
        again = asyncio.run(tick(settings, nine - timedelta(seconds=20), nine + timedelta(seconds=5)))
        body = receiver.alerts.get(timeout=10)
    assert [s["status"] for s in results[0]["sent"]] == ["sent"] and again == []
    assert body["kind"] == "report" and body["title"] == f"舆情日报 {day:%Y-%m-%d}"
    assert base64.b64decode(body["png_base64"]).startswith(PNG)
    assert body["links"]["html"] == f"{server.url}/reports/{day:%Y-%m-%d}/daily.html"
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as client:
        page = client.get("/reports")
        assert f"舆情日报 {day:%Y-%m-%d}" in page.text and "webhook sent" in page.text
        html = client.get(f"/reports/{day:%Y-%m-%d}/daily.html")
        assert html.status_code == 200 and '<section id="risks">' in html.text
        assert client.get("/reports/..%2F..%2Fetc/passwd").status_code == 404
    from tests.web.test_pages import drain_logs, screenshot_dir, visit

    shots = screenshot_dir(tmp_path)

    visit(browser, f"{server.url}/reports")
    browser.find_element("link text", f"舆情日报 {day:%Y-%m-%d}")
    browser.save_screenshot(str(shots / "web-reports.png"))
    visit(browser, f"{server.url}/reports/{day:%Y-%m-%d}/daily.html", wait_for="section#risks")
    browser.save_screenshot(str(shots / "report-daily.png"))
    errors, urls = drain_logs(browser)
    assert not errors and not [u for u in urls if not u.startswith((server.url, "data:"))], urls


def test_periods_and_schedule_in_local_time():
    from datetime import date

    from pipeline.report.build import report_period
    from pipeline.report.schedule import due
    from pipeline.web.config import ReportSchedule

    tz = ZoneInfo("Asia/Shanghai")
    week = report_period("weekly", "Asia/Shanghai", date(2026, 12, 2))  # a Wednesday
    assert week.day == date(2026, 11, 30) and week.label == "2026-11-30 – 2026-12-06"
    assert week.period.start == datetime(2026, 11, 30, tzinfo=tz) and week.period.end == datetime(
        2026, 12, 7, tzinfo=tz
    )
    # yesterday, local: at 07:30 in Shanghai it is still the previous evening in UTC
    daily = report_period("daily", "Asia/Shanghai", now=datetime(2026, 12, 2, 23, 30, tzinfo=ZoneInfo("UTC")))
    assert daily.day == date(2026, 12, 2)
    schedule = ReportSchedule(daily="09:00", weekly="mon 09:00")
    monday_nine = datetime(2026, 12, 7, 9, 0, tzinfo=tz)
    assert due(schedule, "Asia/Shanghai", monday_nine - timedelta(minutes=1), monday_nine) == [
        ("daily", date(2026, 12, 6)),
        ("weekly", date(2026, 11, 30)),
    ]
    # a sleep that overran two days still sends each day's report once
    assert [k for k, _ in due(schedule, "Asia/Shanghai", monday_nine, monday_nine + timedelta(days=2))] == [
        "daily",
        "daily",
    ]
