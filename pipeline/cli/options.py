"""The options several ``lingting`` commands take, declared once so their flags, variables and help read alike.

typer reads an option from a parameter's default; one ``OptionInfo`` may serve as the default of many commands.
"""

from __future__ import annotations

from typing import Any

import typer


def config_option(reads: str) -> Any:
    """``--config`` / ``-c`` (or $LINGTING_CONFIG); ``reads`` names the sections the command uses."""
    return typer.Option(
        None,
        "--config",
        "-c",
        envvar="LINGTING_CONFIG",
        help=f"YAML config file ({reads}). Default: $LINGTING_CONFIG.",
    )


def model_dir_option(default: str) -> Any:
    """``--model-dir`` (enrich, eval-sentiment): a trained sentiment model; ``default``: what is used without it."""
    return typer.Option(
        None,
        "--model-dir",
        help=f"A model written by train-sentiment --out to use instead of the shipped one (default: {default}).",
    )


LogLevelOpt = typer.Option("info", help="debug | info | warning | error")
HostOpt = typer.Option(None, help="Listen address (default api.host).")
PortOpt = typer.Option(None, help="Port (default api.port, 8088).")
