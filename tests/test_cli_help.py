"""Every command's ``--help``, as a user reads it: switches show no value type, options that take a value do."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.core import TyperOption
from typer.testing import CliRunner

from pipeline import cli


def _commands() -> list[tuple[list[str], Any]]:
    """Every command of ``lingting``, as (argv path, command object), walking the groups."""
    cli._register_all()
    root = typer.main.get_command(cli.app)
    out: list[tuple[list[str], Any]] = []

    def walk(path: list[str], command: Any) -> None:
        out.append((path, command))
        if hasattr(command, "list_commands"):
            ctx = typer.Context(command)
            for name in command.list_commands(ctx):
                walk([*path, name], command.get_command(ctx, name))

    walk([], root)
    return out


COMMANDS = _commands()


def test_the_walk_finds_the_commands_users_type():
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"demo", "config check", "notify test", "connect http", "connect weibo", "stack up"} <= paths


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "lingting")
def test_help_shows_no_type_on_switches(path):
    result = CliRunner().invoke(cli.app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    command = dict((tuple(p), c) for p, c in COMMANDS)[tuple(path)]
    for param in command.params:
        if isinstance(param, TyperOption) and not param.is_flag and not param.hidden:
            name = max(param.opts, key=len)
            row = next(
                line for line in result.output.splitlines() if re.match(rf"^│\s*\*?\s*{re.escape(name)}\s", line)
            )
            assert (param.metavar or "<") in row, f"{name} takes a value but its row shows no type: {row}"
