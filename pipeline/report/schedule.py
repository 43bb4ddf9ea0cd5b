"""``lingting report --schedule``: send the 日报 and 周报 at ``reports.schedule`` (local time of
``reports.timezone``, Asia/Shanghai by default) until stopped.

The daemon wakes every ``CHECK_SECONDS`` and sends what fell due since its last look (:func:`due`), so a
sleep that overran (a busy machine, a suspended laptop) still sends each report exactly once per run. A report
already sent for its day (its ``.json`` records it) is not sent again after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pipeline.web.config import WEEKDAYS, ReportSchedule

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger("lingting.report")
CHECK_SECONDS = 20.0


def _at(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def due(schedule: ReportSchedule, tz: str, since: datetime, now: datetime) -> list[tuple[str, date]]:
    """The reports whose send time lies in (since, now]: [(kind, day the report covers)]."""
    zone = ZoneInfo(tz)
    out: list[tuple[str, date]] = []
    start, end = since.astimezone(zone), now.astimezone(zone)
    d = start.date()
    while d <= end.date():
        if schedule.daily:
            at = datetime.combine(d, _at(schedule.daily), zone)
            if start < at <= end:
                out.append(("daily", d - timedelta(days=1)))
        if schedule.weekly:
            weekday, hhmm = schedule.weekly.split()
            if d.weekday() == WEEKDAYS.index(weekday):
                at = datetime.combine(d, _at(hhmm), zone)
                if start < at <= end:
                    out.append(("weekly", d - timedelta(days=7)))
        d += timedelta(days=1)
    return out


def already_sent(settings: Settings, kind: str, day: date) -> bool:
    from pipeline.report.build import report_period
    from pipeline.report.store import read_meta

    filed = report_period(kind, settings.reports.timezone, day).day
    meta = Path(settings.reports.dir) / filed.isoformat() / f"{kind}.json"
    try:
        return any(s.get("status") == "sent" for s in read_meta(meta).get("sent") or [])
    except (OSError, ValueError):
        return False


async def tick(settings: Settings, since: datetime, now: datetime, es: Any = None) -> list[dict[str, Any]]:
    """Write and send every report due in (since, now]; returns the results."""
    from pipeline.report import make_report
    from pipeline.report.send import send_report

    results = []
    for kind, day in due(settings.reports.schedule, settings.reports.timezone, since, now):
        if already_sent(settings, kind, day):
            log.info("%s report for %s was already sent", kind, day)
            continue
        try:
            result = await make_report(settings, kind, day=day, es=es)
            result["sent"] = await send_report(settings, result)
        except Exception:
            log.exception("%s report for %s failed", kind, day)
            continue
        log.info(
            "%s: %s",
            result["report"]["title"],
            ", ".join(f"{s['channel']} {s['status']}" for s in result["sent"]) or "no channel configured",
        )
        results.append(result)
    return results


async def run_schedule(settings: Settings) -> None:
    s = settings.reports.schedule
    log.info(
        "report schedule: daily %s, weekly %s (%s); reports in %s",
        s.daily or "off",
        s.weekly or "off",
        settings.reports.timezone,
        settings.reports.dir,
    )

    since = datetime.now(UTC)
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        now = datetime.now(UTC)
        await tick(settings, since, now)
        since = now
