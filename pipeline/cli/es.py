"""``lingting es prune``: retention of the monthly post indices, once or as a daemon (``--every``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from pipeline.cli.options import config_option
from schemas.errors import ConfigError

ConfigOpt = config_option("elasticsearch: url, index_prefix, retention_days")

es_app = typer.Typer(help="Elasticsearch housekeeping: retention of the monthly post indices.", no_args_is_help=True)


def _span(option: str, value: str) -> float:
    from sinks.notify.options import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ConfigError(f"{option} {value!r}: write a span such as 180d, 12h or 90m") from None
    if seconds <= 0:
        raise ConfigError(f"{option} {value!r}: must be longer than 0")
    return seconds


@es_app.command("prune")
def prune(
    config: Path | None = ConfigOpt,
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        help="Delete months entirely older than this span (180d; units d, h, m, s). "
        "Default: elasticsearch.retention_days.",
    ),
    dry_run: bool = typer.Option(
        True,
        "--dry-run/--apply",
        help="Dry run is the default: it lists what would be deleted and deletes "
        "nothing, because a deleted index cannot be brought back and a typo "
        "in --older-than must not cost months of posts. --apply deletes.",
    ),
    every: str | None = typer.Option(
        None, "--every", help="Run as a daemon: prune now and then every span (e.g. 1d) until SIGTERM."
    ),
) -> None:
    """Delete whole monthly post indices (<prefix>-posts-YYYY.MM behind the <prefix>-posts alias) whose month
    ends before the cutoff and whose newest post is older too. Never the current month's index, never an index
    not named like lingting's. No ILM needed."""
    from elasticsearch import Elasticsearch

    from pipeline import cli
    from sinks import retention

    settings = cli.start(config)
    e = settings.elasticsearch
    if older_than is not None:
        keep = _span("--older-than", older_than)
    elif e.retention_days:
        keep = e.retention_days * 86400.0
    else:
        raise ConfigError("--older-than is required (or set elasticsearch.retention_days in the config)")
    interval = _span("--every", every) if every else None
    client = Elasticsearch(**e.client_options(request_timeout=60))
    try:
        while True:
            now = datetime.now(UTC)
            cutoff = now - timedelta(seconds=keep)
            plans = retention.plan(client, e.index_prefix, cutoff, now)
            mode = "dry run, nothing deleted" if dry_run else "deleting"
            typer.echo(f"{e.names.posts_alias}: cutoff {cutoff:%Y-%m-%d %H:%M} UTC ({mode})")
            for p in plans:
                action = ("would delete" if dry_run else "delete") if p.delete else "keep"
                newest = f"{p.newest:%Y-%m-%d}" if p.newest else "-"
                typer.echo(f"  {action:12} {p.index:40} {p.docs:>10} posts  newest {newest:10}  {p.reason}")
            doomed = [p for p in plans if p.delete]
            if not dry_run:
                retention.apply(client, plans)
            verb = "would be deleted" if dry_run else "deleted"
            typer.echo(
                f"{len(doomed)} of {len(plans)} indices {verb} "
                f"({sum(p.docs for p in doomed)} posts)"
                + (": run with --apply to delete" if dry_run and doomed else "")
            )
            if interval is None:
                return
            time.sleep(interval)
    finally:
        client.close()


def register(app: typer.Typer) -> None:
    app.add_typer(es_app, name="es")
