"""Commands of this area (placeholder until its owner fills it in)."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main app."""
