"""``lingting stack up|down|status|build|kill|pause|resume|restart``: the local Kafka + Elasticsearch started from
Maven Central jars (pipeline/stack/). The one command line of the stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

stack_app = typer.Typer(
    help="Run a local Kafka 4 + Elasticsearch 8 on 127.0.0.1 (jars from Maven Central).", no_args_is_help=True
)

KafkaPort = typer.Option(None, "--kafka-port", help="Kafka port (default 9092 or $LINGTING_STACK_KAFKA_PORT).")
EsPort = typer.Option(None, "--es-port", help="Elasticsearch port (default 9200 or $LINGTING_STACK_ES_PORT).")
DataDir = typer.Option(
    None, "--data-dir", help="Where jars' data and logs go (default .stack/ or $LINGTING_STACK_DIR)."
)


def _call(name: str, *args: Any, **kwargs: Any) -> Any:
    """Log like every command and call ``pipeline.stack.<name>``; imported here so ``lingting --help`` stays fast."""
    from pipeline import cli, stack

    cli.setup_logging()
    return getattr(stack, name)(*args, **kwargs)


def _show(status) -> None:
    for name, svc in status.items():
        typer.echo(f"{name:14} {svc}")


@stack_app.command("up")
def up(
    kafka_port: int | None = KafkaPort,
    es_port: int | None = EsPort,
    data_dir: Path | None = DataDir,
    secure: bool = typer.Option(
        False,
        "--secure",
        help="Also SSL (+2), SASL_PLAINTEXT (+3) and SASL_SSL (+4) "
        "listeners; certificates and SASL users in <data-dir>/secure/.",
    ),
) -> None:
    """Build (first time: Maven downloads the jars) and start the stack; wait until both are healthy."""
    from pipeline import cli, stack

    cli.setup_logging()
    result = stack.up(kafka_port=kafka_port, es_port=es_port, data_dir=data_dir, secure=secure)
    _show(result)
    typer.echo(result.summary())


ServiceOpt = typer.Option(None, "--service", help="Only this service: kafka or elasticsearch.")
ServiceArg = typer.Argument(..., help="kafka or elasticsearch")


@stack_app.command("down")
def down(data_dir: Path | None = DataDir, service: str | None = ServiceOpt) -> None:
    """Stop Kafka and Elasticsearch cleanly (SIGTERM, then SIGKILL after a grace period); --service: one of them."""
    from pipeline import cli, stack

    cli.setup_logging()
    if service:
        typer.echo(f"{service}: {stack.stop_service(service, data_dir=data_dir)}")
        return
    _show(stack.down(data_dir=data_dir))


@stack_app.command("build")
def build() -> None:
    """Resolve the jars with Maven again, even when they look up to date."""
    typer.echo(f"built in {_call('build', force=True):.1f} s")


def _signal_command(action: str, said: str, doc: str) -> None:
    """Register ``lingting stack ACTION SERVICE``: send one service a signal, print what ``said`` the result is."""

    def command(service: str = ServiceArg, data_dir: Path | None = DataDir) -> None:
        typer.echo(f"{service}: {said}{_call(action, service, data_dir=data_dir)}")

    command.__doc__ = doc
    stack_app.command(action)(command)


for _action, _said, _doc in (
    ("kill", "", "SIGKILL one service, as a crash would (fault drills)."),
    (
        "pause",
        "paused pid ",
        "SIGSTOP one service: it hangs with its port open (fault drills). Undo with `stack resume`.",
    ),
    ("resume", "resumed pid ", "SIGCONT a paused service."),
):
    _signal_command(_action, _said, _doc)


@stack_app.command("restart")
def restart(service: str = ServiceArg, data_dir: Path | None = DataDir) -> None:
    """Stop one service and start it again on its ports; wait until the stack is healthy."""
    _show(_call("restart", service, data_dir=data_dir))


@stack_app.command("status")
def status(data_dir: Path | None = DataDir) -> None:
    """Show whether Kafka and Elasticsearch are running and healthy. Exit 1 when not."""
    from pipeline import stack

    result = stack.status(data_dir=data_dir)
    _show(result)
    raise typer.Exit(0 if result.healthy else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
