"""``lingting connect NAME``: run a source connector that publishes RawPost to the raw topic.

The commands come from ``connectors.REGISTRY``. A connector module's ``command`` function declares its own
options and builds a :class:`~connectors.source.Launch`; the options every connector takes (``--config``,
``--rate``, ``--metrics-port``, ``--checkpoint``) and the set-up they share live here, in :func:`run_connector`.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import typer
from typer.core import TyperGroup

from connectors import REGISTRY
from pipeline.cli.options import config_option

#: Parameters of a connector's ``command`` that run_connector fills in; all others are command-line options.
INJECTED = ("connectors", "stop", "config_path")


def _option(name: str, annotation: Any, info: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


SHARED = {
    "config": _option("config", Path | None, config_option("connectors, kafka")),
    "rate": _option("rate", float | None, typer.Option(None, help="At most this many posts per second.")),
    "metrics_port": _option(
        "metrics_port",
        int | None,
        typer.Option(
            None,
            "--metrics-port",
            help="Serve Prometheus metrics (lingting_connector_*) on http://0.0.0.0:PORT/metrics.",
        ),
    ),
    "checkpoint": _option(
        "checkpoint", Path | None, typer.Option(None, help="Checkpoint file (default under .lingting/).")
    ),
}


def run_connector(
    name: str,
    command: Callable[..., Any],
    options: dict[str, Any],
    *,
    config: Path | None,
    rate: float | None,
    metrics_port: int | None,
    checkpoint: Path | None = None,
) -> None:
    """What every ``lingting connect`` command does: logging, the config, the stop signal, the source (which
    checks its own options before Kafka is waited for), metrics, the publisher, the checkpoint, the run."""
    from connectors.checkpoint import Checkpoint, default_checkpoint_path
    from connectors.kafka import retry_kafka
    from connectors.metrics import serve_metrics
    from connectors.publisher import Publisher
    from connectors.ratelimit import RateLimiter
    from connectors.run import run_source
    from pipeline import cli
    from pipeline.settings import load_settings
    from pipeline.topics import ensure_topics

    cli.setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    settings = load_settings(config)
    stop = _stop_event()
    wanted = inspect.signature(command).parameters
    given = {"connectors": settings.connectors, "stop": stop, "config_path": config}
    launch = command(**{k: v for k, v in given.items() if k in wanted}, **options)
    if launch is None:  # the command did its work without Kafka (e.g. synthetic --out)
        return
    if metrics_port is not None:
        serve_metrics(metrics_port)
    kafka = settings.kafka
    retry_kafka(lambda: ensure_topics(settings), bootstrap=kafka.servers, what="creating the topics", stop=stop)
    publisher = Publisher(kafka, client_id=f"lingting-connect-{name}", stop=stop)  # waits for Kafka, never exits
    invalid = 0

    def report(item: Any) -> None:
        nonlocal invalid
        invalid += 1
        typer.echo(json.dumps({**item.where, "error": item.error}, ensure_ascii=False), err=True)

    try:
        if launch.serve is not None:
            launch.serve(publisher, RateLimiter(rate))
            return
        store = Checkpoint(checkpoint or default_checkpoint_path(kafka, name, launch.ident))
        if launch.fresh:
            store.path.unlink(missing_ok=True)
        sent = run_source(launch.source, publisher, store, rate=rate, stop=stop, on_invalid=report)
    finally:
        publisher.close()
    typer.echo(
        f"{name}: published {sent} posts to {kafka.raw_topic}"
        + (f"; {invalid} invalid items sent to {kafka.deadletter_topic}" if invalid else ""),
        err=True,
    )
    sys.exit(launch.finish() if launch.finish is not None else 0)


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def connector_command(name: str) -> click.Command:
    """The click command of one registered connector: its own options, then the shared ones."""
    module = importlib.import_module(REGISTRY[name])
    command = module.command
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name not in INJECTED]
    checkpointed = getattr(module, "CHECKPOINTED", True)  # False for a server that acknowledges each post itself
    shared = [p for key, p in SHARED.items() if key != "checkpoint" or checkpointed]

    def run(**kwargs: Any) -> None:
        common = {key: kwargs.pop(key) for key in SHARED if key in kwargs}
        run_connector(name, command, kwargs, **common)

    run.__signature__ = inspect.Signature([*own, *shared])  # what typer reads the options from
    run.__annotations__ = {}
    run.__doc__ = command.__doc__
    app = typer.Typer(add_completion=False)
    app.command(name)(run)
    return typer.main.get_command(app)


class _Registry(TyperGroup):
    """``lingting connect``'s sub-commands, read from the registry when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(REGISTRY)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return connector_command(cmd_name) if cmd_name in REGISTRY else None


connect_app = typer.Typer(
    cls=_Registry, no_args_is_help=True, help="Run a source connector (publishes RawPost JSON to <prefix>.posts.raw)."
)


def register(app: typer.Typer) -> None:
    app.add_typer(connect_app, name="connect")
