"""``lingting connect NAME``: run a source connector that publishes RawPost to the raw topic."""
from __future__ import annotations

import json
import signal
import sys
import threading
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


def register(app: typer.Typer) -> None:
    app.add_typer(connect_app, name="connect")
