"""The command center and reports: ``lingting web``, ``lingting report daily|weekly|crisis``."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli.options import HostOpt, LogLevelOpt, PortOpt, config_option

ConfigOpt = config_option("brands, api.token, web:, reports:")


def web(
    config: Path | None = ConfigOpt,
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    loglevel: str = LogLevelOpt,
) -> None:
    """Serve the command center (危机看板, overview, search, response KPIs, reports) and the acknowledge API on
    one port. Sign in with api.token (operator) or web.viewer_token (read only)."""
    from pipeline import cli
    from pipeline.web.app import run_web

    settings = cli.start(config, loglevel)
    typer.echo(
        f"聆听指挥中心 on http://{host or settings.api.host}:{port or settings.api.port}/crisis "
        f"(es {settings.elasticsearch.url}, prefix {settings.elasticsearch.index_prefix})",
        err=True,
    )
    run_web(settings, host, port)


def register(app: typer.Typer) -> None:
    app.command("web")(web)
    app.command("report")(report)


def report(
    kind: str | None = typer.Argument(None, help="daily | weekly | crisis"),
    alert_id: str | None = typer.Argument(None, help="For crisis: the alert id (from the 危机看板)."),
    config: Path | None = ConfigOpt,
    day: str | None = typer.Option(
        None, "--date", help="YYYY-MM-DD (local): the day, or a day of the week. Default: yesterday / last week."
    ),
    out: Path | None = typer.Option(None, "--out", help="Directory (default reports.dir)."),
    pdf: bool | None = typer.Option(None, "--pdf/--no-pdf", help="Also write a PDF (default reports.pdf)."),
    send: bool = typer.Option(False, "--send", help="Send it to the configured channels (reports.channels)."),
    schedule: bool = typer.Option(
        False, "--schedule", help="Run as a daemon: send the 日报/周报 at reports.schedule (local time) until stopped."
    ),
    loglevel: str = LogLevelOpt,
) -> None:
    """Write a 日报 (daily), 周报 (weekly) or 专报 (crisis ALERT_ID): HTML + PNG (+ PDF) under
    reports.dir/<date>/, browsable on the command center's 报告 page."""
    import asyncio
    from datetime import date

    from pipeline import cli
    from pipeline.report import make_report
    from pipeline.report.build import KINDS, ReportError

    settings = cli.start(config, loglevel)
    if schedule:
        from pipeline.report.schedule import run_schedule

        asyncio.run(run_schedule(settings))
        return
    if kind not in KINDS:
        raise ReportError(f"say which report: lingting report daily | weekly | crisis ALERT_ID (got {kind!r})")
    try:
        the_day = date.fromisoformat(day) if day else None
    except ValueError:
        raise ReportError(f"--date must be YYYY-MM-DD, got {day!r}") from None

    async def run():
        result = await make_report(settings, kind, alert_id=alert_id, day=the_day, out_dir=out, pdf=pdf)
        if send:
            from pipeline.report.send import send_report

            result["sent"] = await send_report(settings, result)
        return result

    result = asyncio.run(run())
    for name, path in result["files"].items():
        typer.echo(f"{name:5} {path}")
    for s in result.get("sent", []):
        typer.echo(f"sent  {s['channel']}: {s['status']}{' — ' + s['error'] if s.get('error') else ''}")
    typer.echo(
        f"{result['report']['title']}: {result['seconds']:.1f} s (queries {result['query_seconds']:.1f} s)", err=True
    )
