"""``lingting report``: 日报 / 周报 / 专报 as HTML, PNG (chat, email) and optionally PDF, drawn with matplotlib.

build.py gathers the figures (through pipeline/web/queries.py), render.py draws them, send.py delivers them to
the configured channels, schedule.py sends them at a set local time.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.settings import Settings


async def make_report(
    settings: Settings,
    kind: str,
    *,
    alert_id: str | None = None,
    day: date | None = None,
    out_dir: Path | None = None,
    pdf: bool | None = None,
    es: Any = None,
) -> dict[str, Any]:
    """Build and write one report; returns {"report": figures, "files": {kind: path}, "seconds": ...}."""
    from elasticsearch import AsyncElasticsearch

    from pipeline.report import build, render
    from pipeline.report.fonts import cjk_font

    cjk_font()  # a missing font fails before any query
    started = time.monotonic()
    own = es is None
    if own:
        e = settings.elasticsearch
        es = AsyncElasticsearch(e.url, basic_auth=e.basic_auth, request_timeout=60)
    try:
        if kind == "crisis":
            if not alert_id:
                raise build.ReportError("lingting report crisis needs the ALERT_ID (see the 危机看板)")
            report = await build.crisis(es, settings, alert_id)
        else:
            report = await build.periodic(es, settings, build.report_period(kind, settings.reports.timezone, day))
    finally:
        if own:
            await es.close()
    queried = time.monotonic() - started
    files = render.write_report(
        report, out_dir or Path(settings.reports.dir), pdf=settings.reports.pdf if pdf is None else pdf
    )
    return {"report": report, "files": files, "query_seconds": queried, "seconds": time.monotonic() - started}
