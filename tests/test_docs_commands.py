"""The README and docs/ show what a user types: each ``lingting …`` command in their code blocks exists, with
the flags shown (checked against its ``--help``), and docs/configuration.md says what the config models say."""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INVOCATION = re.compile(r"(?:^|[\s;&|(`$])(?:\S*/)?lingting\s")  # lingting, .venv/bin/lingting; not lingting.yaml


def commands_in(text: str) -> list[str]:
    """``lingting …`` invocations in the fenced code blocks of a Markdown text (continuations joined)."""
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            for match in INVOCATION.finditer(" " + line):
                rest = (" " + line)[match.end() :]
                found.append("lingting " + re.split(r"\s(?:\||&&|&|;|>|2>)\s?|\s&$|\)$", rest)[0].strip())
    return found


INLINE = re.compile(r"(?<!`)`((?:\S*/)?lingting [^`]+)`(?!`)")


def inline_commands_in(text: str) -> list[str]:
    """```lingting …``` spans in the prose and tables, alternatives (``up \\| down``, ``file|rss``) expanded and
    optional parts (``[--text]``) kept as flags."""
    found = []
    for span in INLINE.findall(text):
        span = span.replace("\\|", "|").replace("[", " ").replace("]", " ").replace("…", " ")
        words = span.split()
        alt = next((i for i, w in enumerate(words) if "|" in w or (i + 1 < len(words) and words[i + 1] == "|")), None)
        if alt is None:
            found.append(" ".join(words))
            continue
        tail = " ".join(words[alt:])
        choices = [c.strip() for c in tail.split("|")]
        last = choices[-1].split()
        choices[-1], rest = last[0], last[1:]
        found += [" ".join([*words[:alt], choice, *rest]) for choice in choices]
    return found


@cache
def root_command():
    cli._register_all()
    import typer

    return typer.main.get_command(cli.app)


def resolve(words: list[str]) -> tuple[list[str], list[str]]:
    """(the command path, the rest of the arguments) of ``lingting WORDS``."""
    import typer

    command, path = root_command(), []
    while words and hasattr(command, "get_command"):
        sub = command.get_command(typer.Context(command), words[0])
        if sub is None:
            break
        command, path, words = sub, [*path, words[0]], words[1:]
    placeholder = bool(words) and words[0].isupper()  # `lingting connect NAME`: the prose names a choice
    assert not words or placeholder or not hasattr(command, "get_command"), (
        f"`lingting {' '.join(path)} {' '.join(words)}`: no such command"
    )
    return path, words


@cache
def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli.app, [*path, "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    return result.output


CASES = [
    (doc.relative_to(ROOT).as_posix(), command)
    for doc in DOCS
    for text in [doc.read_text(encoding="utf-8")]
    for command in dict.fromkeys([*commands_in(text), *inline_commands_in(text)])
]


def test_the_docs_show_commands_at_all():
    docs = {doc for doc, _ in CASES}
    assert {"README.md", "docs/connectors.md", "docs/alerts.md"} <= docs and len(CASES) > 30


@pytest.mark.parametrize("doc, command", CASES, ids=[f"{d}: {c}" for d, c in CASES])
def test_each_documented_command_exists_with_its_flags(doc, command):
    words = shlex.split(command, comments=True)[1:]
    path, rest = resolve(words)
    text = help_text(tuple(path))
    shown = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text))
    for arg in rest:
        if re.match(r"^--?[A-Za-z]", arg):
            flag = arg.split("=", 1)[0]
            assert flag in shown, f"{doc}: `{command}`: `lingting {' '.join(path)}` has no {flag}"


def test_every_connector_takes_rate_and_metrics_port_as_the_readme_says():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`--rate` and `--metrics-port`" in readme
    for name in root_command().get_command(None, "connect").list_commands(None):
        text = help_text(("connect", name))
        assert "--rate" in text and "--metrics-port" in text, f"lingting connect {name}"


def test_configuration_reference_is_up_to_date():
    result = CliRunner().invoke(cli.app, ["config", "docs"])
    assert result.exit_code == 0, result.output
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == result.stdout, (
        "docs/configuration.md is stale: run lingting config docs --out docs/configuration.md"
    )
    for key in ("`topic_prefix`", "`index_prefix`", "`data_dir`", "`web_port`", "`app_id`"):
        assert key in committed
