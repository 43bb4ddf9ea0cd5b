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
CheckpointOpt = typer.Option(None, help="Checkpoint file (default under .lingting/).")
RateOpt = typer.Option(None, help="At most this many posts per second.")
MetricsPortOpt = typer.Option(None, "--metrics-port", help="Serve Prometheus metrics (lingting_connector_*) on "
                                                           "http://0.0.0.0:PORT/metrics.")


def open_publisher(settings, client_id: str, *, stop: threading.Event | None = None, log_every: float = 30.0):
    """What a ``lingting connect`` command does first: wait for Kafka, create the topics, open the producer."""
    from connectors.base import Publisher, retry_kafka
    from pipeline.topics import ensure_topics

    retry_kafka(lambda: ensure_topics(settings), bootstrap=settings.kafka.servers, what="creating the topics",
                stop=stop, log_every=log_every)
    return Publisher(settings.kafka, client_id=client_id, stop=stop, log_every=log_every)


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@connect_app.command("file")
def file(path: Path = typer.Argument(..., help="JSONL (one RawPost per line) or CSV with a header row."),
         config: Optional[Path] = ConfigOpt,
         rate: Optional[float] = RateOpt,
         follow: bool = typer.Option(False, "--follow", "-f", help="Keep reading lines appended to the file."),
         fmt: Optional[str] = typer.Option(None, "--format", help="jsonl | csv (default: by file extension)."),
         checkpoint: Optional[Path] = CheckpointOpt,
         from_start: bool = typer.Option(False, "--from-start", help="Ignore the checkpoint: replay everything."),
         metrics_port: Optional[int] = MetricsPortOpt,
         ) -> None:
    """Replay a file of posts into Kafka, keyed platform:id (acks=all). Restartable: resumes after the last
    checkpointed line without sending a post twice. Invalid lines: error on stderr, kept on the dead-letter topic."""
    from connectors.base import Checkpoint, default_checkpoint_path, run_source, serve_metrics
    from connectors.file import FileSource
    from pipeline import cli
    from pipeline.settings import load_settings

    cli.setup_logging()
    settings = load_settings(config)
    if metrics_port is not None:
        serve_metrics(metrics_port)
    stop = _stop_event()
    publisher = open_publisher(settings, "lingting-connect-file", stop=stop)  # waits for Kafka, never exits
    invalid = 0

    def report(number: int, error: str, raw: bytes) -> None:
        nonlocal invalid
        invalid += 1
        typer.echo(json.dumps({"line": number, "error": error}, ensure_ascii=False), err=True)
        publisher.dead_letter(raw, stage="connect.file", error=f"{path}:{number}: {error}",
                              topic=settings.kafka.raw_topic)

    source = FileSource(path, fmt=fmt, follow=follow, stop=stop, report=report)
    store = Checkpoint(checkpoint or default_checkpoint_path(settings.kafka, "file", str(path.resolve())))
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
              checkpoint: Optional[Path] = CheckpointOpt,
              rate: Optional[float] = typer.Option(None, help="At most this many posts per second (wall clock)."),
              metrics_port: Optional[int] = MetricsPortOpt,
              ) -> None:
    """Publish a realistic synthetic Chinese stream with injected crises, campaigns and outages."""
    from connectors.base import Checkpoint, default_checkpoint_path, run_source, serve_metrics
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
    settings = load_settings(config)
    if metrics_port is not None:
        serve_metrics(metrics_port)
    stop = _stop_event()
    publisher = open_publisher(settings, "lingting-connect-synthetic", stop=stop)  # waits for Kafka
    ident = f"{scenario.resolve()}|{seed}|{start.isoformat() if start else 'now'}"
    store = Checkpoint(checkpoint or default_checkpoint_path(settings.kafka, "synthetic", ident))
    if start is None:
        store.path.unlink(missing_ok=True)  # "ending now" is a new stream on every run
    try:
        sent = run_source(source, publisher, store, rate=rate, stop=stop)
    finally:
        publisher.close()
    typer.echo(f"published {sent} synthetic posts to {settings.kafka.raw_topic}", err=True)


@connect_app.command("http")
def http(config: Optional[Path] = ConfigOpt,
         host: Optional[str] = typer.Option(None, help="Bind address (default connectors.http.host)."),
         port: Optional[int] = typer.Option(None, help="Port (default connectors.http.port, 8090)."),
         token: Optional[str] = typer.Option(None, envvar="LINGTING_HTTP_TOKEN",
                                             help="Bearer token clients must send (or connectors.http.token)."),
         access_log: bool = typer.Option(False, "--access-log", help="Log every request (one line each; off: "
                                         "the totals line every minute and /metrics say how it goes)."),
         ) -> None:
    """Serve POST /v1/posts for data vendors (JSON object, array or NDJSON; bearer token; per-item errors;
    429 when Kafka is behind), plus /healthz, /metrics and /openapi.json."""
    from aiohttp import web

    from connectors.http_push import create_push_app
    from pipeline import cli
    from pipeline.settings import load_settings

    cli.setup_logging()
    settings = load_settings(config)
    cfg = settings.connectors.http.model_copy(update={k: v for k, v in
                                                      {"host": host, "port": port, "token": token}.items() if v})
    if not cfg.token:
        typer.secho("warning: no bearer token set (LINGTING_HTTP_TOKEN): anyone who reaches the port can push",
                    fg=typer.colors.YELLOW, err=True)
    publisher = open_publisher(settings, "lingting-connect-http")  # waits for Kafka instead of exiting
    try:
        web.run_app(create_push_app(publisher, cfg), host=cfg.host, port=cfg.port, print=None,
                    **({} if access_log else {"access_log": None}))
    finally:
        publisher.close()


@connect_app.command("rss")
def rss(config: Optional[Path] = ConfigOpt,
        feed: Optional[list[str]] = typer.Option(None, "--feed", help="Feed url (repeatable), added to "
                                                 "connectors.rss.feeds, e.g. https://rsshub.app/weibo/user/1195230310"),
        interval: Optional[float] = typer.Option(None, help="Seconds between polls of the --feed feeds (min 10, "
                                                             "default 300); config feeds keep their own."),
        once: bool = typer.Option(False, "--once", help="Poll each feed once and exit (cron, tests); exit 1 "
                                                       "if a feed still failed after retries."),
        checkpoint: Optional[Path] = CheckpointOpt,
        rate: Optional[float] = RateOpt,
        metrics_port: Optional[int] = MetricsPortOpt,
        ) -> None:
    """Poll RSS/Atom feeds (RSSHub routes or any feed) and publish new entries, keyed platform:id. Conditional
    GET (ETag/Last-Modified), per-feed interval, retries with backoff; restartable without sending an entry twice."""
    import logging

    from pydantic import ValidationError

    from connectors.base import Checkpoint, default_checkpoint_path, run_source, serve_metrics
    from connectors.config import RssFeedConfig
    from connectors.rss import RssSource
    from pipeline import cli
    from pipeline.settings import format_validation_error, load_settings
    from schemas.errors import ConfigError

    cli.setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    settings = load_settings(config)
    cfg = settings.connectors.rss
    try:
        extra = [RssFeedConfig(url=url, **({"interval": interval} if interval is not None else {}))
                 for url in feed or [] if url not in {f.url for f in cfg.feeds}]
        cfg = cfg.model_copy(update={"feeds": [*cfg.feeds, *extra]})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, "--feed/--interval")) from None
    stop = _stop_event()
    source = RssSource(cfg, once=once, stop=stop)  # checks the feeds before waiting for Kafka
    if metrics_port is not None:
        serve_metrics(metrics_port)  # connector totals + per-feed lingting_rss_polls / lingting_rss_entries
    publisher = open_publisher(settings, "lingting-connect-rss", stop=stop)  # waits for Kafka
    ident = str(config.resolve()) if config and not feed else "|".join(sorted(f.url for f in cfg.feeds))
    store = Checkpoint(checkpoint or default_checkpoint_path(settings.kafka, "rss", ident))
    try:
        sent = run_source(source, publisher, store, rate=rate, stop=stop)
    finally:
        publisher.close()
    for url, stats in source.stats.items():
        typer.echo(json.dumps({"feed": url, "polls": stats.polls, "not_modified": stats.not_modified,
                               "failures": stats.failures, "new_entries": stats.entries,
                               "last_error": stats.last_error}, ensure_ascii=False), err=True)
    typer.echo(f"published {sent} posts from {len(cfg.feeds)} feeds to {settings.kafka.raw_topic}", err=True)
    if source.failed:
        typer.secho(f"error: feeds still failing after retries (see the log above for why): "
                    f"{', '.join(sorted(source.failed))}", fg=typer.colors.RED, err=True)
        sys.exit(1)
    sys.exit(0)


@connect_app.command("weibo")
def weibo(config: Optional[Path] = ConfigOpt,
          keyword: Optional[list[str]] = typer.Option(None, "--keyword", "-k", help="Search term to follow "
                                                      "(repeatable), added to connectors.weibo.streams."),
          uid: Optional[list[str]] = typer.Option(None, "--uid", help="Account id whose timeline to follow "
                                                  "(repeatable)."),
          screen_name: Optional[list[str]] = typer.Option(None, "--screen-name", help="Account nickname whose "
                                                          "timeline to follow (repeatable)."),
          interval: Optional[float] = typer.Option(None, help="Seconds between polls of the streams given here "
                                                              "(default 60); config streams keep their own."),
          token: Optional[str] = typer.Option(None, envvar="LINGTING_WEIBO_TOKEN", show_default=False,
                                              help="OAuth2 access token (or connectors.weibo.token)."),
          base_url: Optional[str] = typer.Option(None, "--base-url", help="API root (default "
                                                 "connectors.weibo.base_url, https://api.weibo.com)."),
          once: bool = typer.Option(False, "--once", help="Read each stream until caught up, then exit (cron, "
                                                         "tests); exit 1 if a stream could not be read."),
          checkpoint: Optional[Path] = CheckpointOpt,
          rate: Optional[float] = RateOpt,
          metrics_port: Optional[int] = MetricsPortOpt,
          ) -> None:
    """Poll the Weibo open API (keyword search, account timelines) with since_id paging and publish new statuses
    (and the originals they repost), keyed weibo:id. Backs off on rate limits; restartable without duplicates."""
    from pydantic import ValidationError

    from connectors.base import (Checkpoint, Publisher, default_checkpoint_path, run_source,
                                 serve_metrics)
    from connectors.config import WeiboStream
    from connectors.weibo import WeiboSource
    from pipeline import cli
    from pipeline.settings import format_validation_error, load_settings
    from schemas.errors import ConfigError

    cli.setup_logging()
    settings = load_settings(config)
    cfg = settings.connectors.weibo
    given = [("keyword", v) for v in keyword or []] + [("uid", v) for v in uid or []] \
        + [("screen_name", v) for v in screen_name or []]
    try:
        extra = [WeiboStream(**{kind: value}, **({"interval": interval} if interval is not None else {}))
                 for kind, value in given]
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, "--keyword/--uid/--screen-name/--interval")) from None
    known = {s.key for s in cfg.streams}
    cfg = cfg.model_copy(update={"streams": [*cfg.streams, *(s for s in extra if s.key not in known)],
                                 **{k: v for k, v in {"token": token, "base_url": base_url}.items() if v}})
    stop = _stop_event()
    publisher: Publisher | None = None

    def report(stream: str, error: str, status: dict) -> None:
        typer.echo(json.dumps({"stream": stream, "id": status.get("idstr"), "error": error}, ensure_ascii=False),
                   err=True)
        if publisher is not None:
            publisher.dead_letter(json.dumps(status, ensure_ascii=False).encode(), stage="connect.weibo",
                                  error=f"{stream}: {error}", topic=settings.kafka.raw_topic)

    source = WeiboSource(cfg, once=once, stop=stop, report=report)  # checks token and streams before Kafka
    if metrics_port is not None:
        serve_metrics(metrics_port)
    publisher = open_publisher(settings, "lingting-connect-weibo", stop=stop)  # waits for Kafka, never exits
    store = Checkpoint(checkpoint or default_checkpoint_path(settings.kafka, "weibo", cfg.base_url))
    try:
        sent = run_source(source, publisher, store, rate=rate, stop=stop)
    finally:
        publisher.close()
    typer.echo(f"published {sent} posts from {len(cfg.streams)} Weibo streams to {settings.kafka.raw_topic}",
               err=True)
    if source.failed:
        for stream, why in sorted(source.failed.items()):
            typer.secho(f"error: {stream}: {why}", fg=typer.colors.RED, err=True)
        sys.exit(1)
    sys.exit(0)


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
