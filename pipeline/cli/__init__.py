"""The ``lingting`` command. Each sub-module registers its commands; heavy imports stay inside commands
so ``lingting --help`` is instant."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer.core import TyperOption

from schemas.errors import LingtingError

if TYPE_CHECKING:
    from pipeline.settings import Settings


def _flag_type(self: TyperOption, ctx: typer.Context) -> str | None:
    """A switch (``--html``, ``--help``, ``--fresh/--no-fresh``) takes no value, so its help row shows no type:
    typer's rich help would print ``<bool>`` there, which reads as if the flag wanted ``true`` or ``false``."""
    return None if self.is_flag else _value_type(self, ctx)


_value_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]

app = typer.Typer(
    name="lingting",
    help="聆听 lingting — brand listening for Chinese social media (Kafka → Faust → Elasticsearch → alerts).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_all() -> None:
    from pipeline.cli import backtest, connect, es, nlp, notify, ops, posts, stack, web

    for module in (stack, ops, nlp, backtest, connect, notify, posts, es, web):
        module.register(app)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # client libraries narrate every connection at INFO; an operator needs their warnings only
    for noisy in ("kafka", "aiokafka", "elastic_transport", "faust.transport", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # kafka-python's I/O loop warns whenever one of its tasks ran > 100 ms (GIL contention under load): a
    # diagnostic for its developers, several lines a second under a push load, nothing an operator can act on
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    # the Elasticsearch client logs each failed try with its traceback (several a second in an outage); the
    # worker's own line says what matters: for how long, how many posts held, nothing acknowledged
    for chatty in ("elastic_transport.transport", "elastic_transport.node_pool"):
        logging.getLogger(chatty).setLevel(max(logging.ERROR, logging.getLogger().level))


def start(config: Path | None, loglevel: str = "INFO") -> Settings:
    """Set up logging, then load the settings: how every command that runs a service begins."""
    from pipeline.settings import load_settings

    setup_logging(loglevel)
    return load_settings(config)


def spawn(
    args: list[str], log: Path, env: dict[str, str], *, cwd: Path | None = None, detach: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``lingting ARGS`` in the background (from the repository root unless ``cwd``), its stdout and stderr
    appended to ``log`` (a restarted process adds to the same file); ``detach``: in a session of its own, so it
    outlives the caller's terminal."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
            cwd=cwd or Path(__file__).resolve().parents[2],
        )


def main() -> None:
    _register_all()
    try:
        app()
    except LingtingError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
