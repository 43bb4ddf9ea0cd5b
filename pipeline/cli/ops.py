"""Operating commands: ``worker``, ``demo``, ``config check``, ``config docs``, ``schemas``."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli.options import LogLevelOpt, config_option

ConfigOpt = config_option("brands, notify, ...")

config_app = typer.Typer(help="Inspect and validate configuration.", no_args_is_help=True)


def worker(config: Path | None = ConfigOpt, loglevel: str = LogLevelOpt) -> None:
    """Run the stream worker (enrich → index → detect → alert) until SIGTERM. Scale out: run more workers
    with the same config; Kafka spreads the partitions among them."""
    from pipeline import cli
    from pipeline.worker.app import run_worker

    settings = cli.start(config, loglevel)
    typer.echo(
        f"lingting worker: kafka={settings.kafka.bootstrap} es={settings.elasticsearch.url} "
        f"brands={len(settings.brands)} group={settings.worker.app_id}",
        err=True,
    )
    run_worker(settings, loglevel=loglevel)


def demo(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Demo config (default: deploy/demo/lingting.yaml)."
    ),
    timeout: float = typer.Option(170.0, help="Seconds to wait for the alert before giving up."),
    clean: bool = typer.Option(
        False,
        "--clean",
        help="Delete what demo runs created (lingting-demo-* indices, topics, consumer groups) instead.",
    ),
) -> None:
    """Bring the local stack up (unless LINGTING_KAFKA/LINGTING_ES point elsewhere), start a worker, replay a
    bundled synthetic stream with one crisis, and print the alert(s) and how to query them. Everything it
    writes is under lingting-demo names, never beside your own data; --clean deletes it."""
    from pipeline import cli
    from pipeline.demo import clean as clean_demo
    from pipeline.demo import demo_settings, run_demo

    cli.setup_logging("WARNING")
    if clean:
        deleted = clean_demo(demo_settings(config))
        for what in deleted:
            typer.echo(f"deleted {what}")
        typer.echo(f"{len(deleted)} demo objects deleted" if deleted else "nothing to delete: no demo data found")
        return
    raise typer.Exit(run_demo(config, timeout=timeout))


@config_app.command("check")
def config_check(config: Path = typer.Argument(..., help="The YAML file to validate.")) -> None:
    """Validate a config file: every error names its key; exit 2 when invalid."""
    from pipeline.settings import load_settings

    settings = load_settings(config)
    from processors.brands import BrandMatcher

    BrandMatcher(settings.brands)  # compiles queries: reports rule errors with brand and position
    typer.echo(
        f"ok: {len(settings.brands)} brands, kafka {settings.kafka.bootstrap}, "
        f"elasticsearch {settings.elasticsearch.url}"
    )


@config_app.command("docs")
def config_docs(
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write here (e.g. docs/configuration.md) instead of printing."
    ),
) -> None:
    """Print the configuration reference (every key, type, default and description) from the config models."""
    from pipeline.config_docs import render

    text = render()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


def schemas(out: Path | None = typer.Option(None, help="Directory (default: schemas/json in the package).")) -> None:
    """Write the JSON Schema files of every wire message (RawPost, EnrichedPost, Alert, DeadLetter)."""
    from schemas.export import SCHEMA_DIR, export

    for path in export(out or SCHEMA_DIR):
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("demo")(demo)
    app.command("schemas")(schemas)
    app.add_typer(config_app, name="config")
