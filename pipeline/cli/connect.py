"""``lingting connect NAME``: run a source connector that publishes RawPost to the raw topic."""
from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

connect_app = typer.Typer(help="Run a source connector (publishes RawPost JSON to <prefix>.posts.raw).",
                          no_args_is_help=True)
ConfigOpt = typer.Option(None, "--config", "-c", envvar="LINGTING_CONFIG", help="YAML config file.")


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@connect_app.command("file")
def file(path: Path = typer.Argument(..., help="JSONL (one RawPost per line) or CSV with a header row."),
         config: Optional[Path] = ConfigOpt,
         rate: Optional[float] = typer.Option(None, help="At most this many posts per second."),
         follow: bool = typer.Option(False, "--follow", "-f", help="Keep reading lines appended to the file."),
         fmt: Optional[str] = typer.Option(None, "--format", help="jsonl | csv (default: by file extension)."),
         checkpoint: Optional[Path] = typer.Option(None, help="Checkpoint file (default under .lingting/)."),
         from_start: bool = typer.Option(False, "--from-start", help="Ignore the checkpoint: replay everything."),
         ) -> None:
    """Replay a file of posts into Kafka, keyed platform:id (acks=all). Restartable: resumes after the last
    checkpointed line without sending a post twice. Invalid lines: error on stderr, kept on the dead-letter topic."""
    from connectors.base import Checkpoint, Publisher, default_checkpoint_path, run_source
    from connectors.file import FileSource
    from pipeline import cli
    from pipeline.settings import load_settings
    from pipeline.topics import ensure_topics

    cli.setup_logging()
    settings = load_settings(config)
    ensure_topics(settings)
    publisher = Publisher(settings, client_id="lingting-connect-file")
    invalid = 0

    def report(number: int, error: str, raw: bytes) -> None:
        nonlocal invalid
        invalid += 1
        typer.echo(json.dumps({"line": number, "error": error}, ensure_ascii=False), err=True)
        publisher.dead_letter(raw, stage="connect.file", error=f"{path}:{number}: {error}",
                              topic=settings.kafka.raw_topic)

    stop = _stop_event()
    source = FileSource(path, fmt=fmt, follow=follow, stop=stop, report=report)
    store = Checkpoint(checkpoint or default_checkpoint_path(settings, "file", str(path.resolve())))
    if from_start:
        store.path.unlink(missing_ok=True)
    try:
        sent = run_source(source, publisher, store, rate=rate, stop=stop)
    finally:
        publisher.close()
    typer.echo(f"published {sent} posts from {path} to {settings.kafka.raw_topic}"
               + (f"; {invalid} invalid lines sent to {settings.kafka.deadletter_topic}" if invalid else ""),
               err=True)
    sys.exit(0)


@connect_app.command("synthetic")
def synthetic(scenario: Path = typer.Option(..., "--scenario", "-s", help="Scenario YAML (see deploy/demo/)."),
              config: Optional[Path] = ConfigOpt,
              seed: int = typer.Option(7, help="Same seed + scenario + start = the same posts."),
              start: Optional[datetime] = typer.Option(None, help="Event time of the first minute (default: the "
                                                                  "history ends now)."),
              speed: str = typer.Option("max", help="'max' (as fast as Kafka takes it) or an event-time "
                                                    "multiplier, e.g. 60 = one hour of history per minute."),
              out: Optional[Path] = typer.Option(None, help="Write JSONL here instead of publishing to Kafka."),
              checkpoint: Optional[Path] = typer.Option(None, help="Checkpoint file (default under .lingting/)."),
              ) -> None:
    """Publish a realistic synthetic Chinese stream with injected crises, campaigns and outages."""
    from connectors.base import Checkpoint, Publisher, default_checkpoint_path, run_source
    from connectors.synthetic import SyntheticSource, load_scenario
    from pipeline import cli
    from pipeline.settings import load_settings

    cli.setup_logging()
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    source = SyntheticSource(load_scenario(scenario), seed=seed, start=start)
    if speed != "max":
        source = _Paced(source, float(speed))
    if out is not None:
        with open(out, "w", encoding="utf-8") as fh:
            count = 0
            for post, _ in source.items(None):
                fh.write(post.model_dump_json(exclude_unset=True) + "\n")
                count += 1
        typer.echo(f"wrote {count} posts to {out}", err=True)
        return
    from pipeline.topics import ensure_topics

    settings = load_settings(config)
    ensure_topics(settings)
    publisher = Publisher(settings, client_id="lingting-connect-synthetic")
    ident = f"{scenario.resolve()}|{seed}|{start.isoformat() if start else 'now'}"
    store = Checkpoint(checkpoint or default_checkpoint_path(settings, "synthetic", ident))
    if start is None:
        store.path.unlink(missing_ok=True)  # "ending now" is a new stream on every run
    try:
        sent = run_source(source, publisher, store, stop=_stop_event())
    finally:
        publisher.close()
    typer.echo(f"published {sent} synthetic posts to {settings.kafka.raw_topic}", err=True)


@connect_app.command("http")
def http(config: Optional[Path] = ConfigOpt,
         host: Optional[str] = typer.Option(None, help="Bind address (default connectors.http.host)."),
         port: Optional[int] = typer.Option(None, help="Port (default connectors.http.port, 8090)."),
         token: Optional[str] = typer.Option(None, envvar="LINGTING_HTTP_TOKEN",
                                             help="Bearer token clients must send (or connectors.http.token)."),
         ) -> None:
    """Serve POST /v1/posts for data vendors (JSON object, array or NDJSON; bearer token; per-item errors;
    429 when Kafka is behind), plus /healthz, /metrics and /openapi.json."""
    from aiohttp import web

    from connectors.base import Publisher
    from connectors.http_push import create_push_app
    from pipeline import cli
    from pipeline.settings import load_settings
    from pipeline.topics import ensure_topics

    cli.setup_logging()
    settings = load_settings(config)
    cfg = settings.connectors.http.model_copy(update={k: v for k, v in
                                                      {"host": host, "port": port, "token": token}.items() if v})
    if not cfg.token:
        typer.secho("warning: no bearer token set (LINGTING_HTTP_TOKEN): anyone who reaches the port can push",
                    fg=typer.colors.YELLOW, err=True)
    ensure_topics(settings)
    publisher = Publisher(settings, client_id="lingting-connect-http")
    try:
        web.run_app(create_push_app(publisher, cfg), host=cfg.host, port=cfg.port, print=None)
    finally:
        publisher.close()


class _Paced:
    """Wrap a source so event time advances ``factor`` times faster than the wall clock."""

    def __init__(self, source, factor: float) -> None:
        self.source, self.factor, self.name = source, factor, source.name

    def items(self, resume):
        import time

        first_event, first_wall = None, time.monotonic()
        for post, position in self.source.items(resume):
            first_event = first_event or post.created_at
            due = first_wall + (post.created_at - first_event).total_seconds() / self.factor
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield post, position


def register(app: typer.Typer) -> None:
    app.add_typer(connect_app, name="connect")
