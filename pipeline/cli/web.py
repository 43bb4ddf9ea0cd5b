"""The command center and reports: ``lingting web``, ``lingting report daily|weekly|crisis``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

ConfigOpt = typer.Option(None, "--config", "-c", envvar="LINGTING_CONFIG",
                         help="YAML config file (brands, api.token, web:, reports:). Default: $LINGTING_CONFIG.")


def web(config: Optional[Path] = ConfigOpt,
        host: Optional[str] = typer.Option(None, help="Listen address (default api.host)."),
        port: Optional[int] = typer.Option(None, help="Port (default api.port, 8088)."),
        loglevel: str = typer.Option("info", help="debug | info | warning | error")) -> None:
    """Serve the command center (危机看板, overview, search, response KPIs, reports) and the acknowledge API on
    one port. Sign in with api.token (operator) or web.viewer_token (read only)."""
    from pipeline import cli
    from pipeline.settings import load_settings
    from pipeline.web.app import run_web

    cli.setup_logging(loglevel)
    settings = load_settings(config)
    typer.echo(f"聆听指挥中心 on http://{host or settings.api.host}:{port or settings.api.port}/crisis "
               f"(es {settings.elasticsearch.url}, prefix {settings.elasticsearch.index_prefix})", err=True)
    run_web(settings, host, port)


def register(app: typer.Typer) -> None:
    app.command("web")(web)
