"""Replay a JSONL or CSV file of posts (``lingting connect file PATH``); ``--follow`` tails it like ``tail -f``.

The position is the line number (for CSV: the data row number), so a restart resumes after the last
checkpointed line. An invalid line is reported with its number and kept on the dead-letter topic.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from connectors.source import ConnectorError, Emit, Idle, Invalid, Item, Launch, Source
from schemas import RawPost
from schemas.errors import validation_summary

#: CSV columns besides the RawPost top-level fields: flat names for the nested author and metrics.
CSV_NESTED = {
    "author_id": ("author", "id"),
    "author_name": ("author", "name"),
    "followers": ("author", "followers"),
    "verified": ("author", "verified"),
    "reposts": ("metrics", "reposts"),
    "comments": ("metrics", "comments"),
    "likes": ("metrics", "likes"),
}


def csv_row_to_post(row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for column, value in row.items():
        if column is None or value in (None, ""):
            continue
        if column in CSV_NESTED:
            group, field = CSV_NESTED[column]
            data.setdefault(group, {})[field] = value
        else:
            data[column] = value
    return data


class FileSource(Source[int]):
    """The position is the number of the last line done."""

    name = "file"

    def __init__(
        self, path: Path, *, fmt: str | None = None, follow: bool = False, stop: threading.Event | None = None
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConnectorError(f"no such file: {self.path}")
        self.fmt = fmt or ("csv" if self.path.suffix.lower() == ".csv" else "jsonl")
        if self.fmt not in {"csv", "jsonl"}:
            raise ConnectorError(f"unknown format {self.fmt!r}: use jsonl or csv")
        self.follow = follow
        self.stop = stop or threading.Event()

    def _lines(self) -> Iterator[str]:
        with open(self.path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            while not self.stop.is_set():
                line = fh.readline()
                if line.endswith("\n") or (line and not self.follow):
                    yield line
                elif self.follow:
                    if line:  # a partial line being written: wait for the rest
                        fh.seek(fh.tell() - len(line.encode("utf-8", "surrogateescape")))
                    time.sleep(0.2)
                else:
                    return

    def items(self, resume: int | None) -> Iterator[Item[int]]:
        start = int(resume or 0)
        lines = self._lines()
        header: list[str] | None = None
        if self.fmt == "csv":
            first = next(lines, "")
            header = next(csv.reader([first]), [])
        for number, line in enumerate(lines, start=1):
            if number <= start or not line.strip():
                if number > start:
                    yield Idle(number)
                continue
            raw = line.encode("utf-8", "surrogateescape")
            try:
                if header is not None:
                    values = next(csv.reader(io.StringIO(line)))
                    data = csv_row_to_post(dict(zip(header, values, strict=False)))
                    post = RawPost.model_validate(data)
                else:
                    post = RawPost.model_validate_json(raw)
            except ValidationError as err:
                yield Invalid(number, validation_summary(err, top="line"), raw, {"line": number})
                continue
            except ValueError as err:
                yield Invalid(number, str(err), raw, {"line": number})
                continue
            yield Emit(post, number)


def command(
    stop: threading.Event,
    path: Path = typer.Argument(..., help="JSONL (one RawPost per line) or CSV with a header row."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep reading lines appended to the file."),
    fmt: str | None = typer.Option(None, "--format", help="jsonl | csv (default: by file extension)."),
    from_start: bool = typer.Option(False, "--from-start", help="Ignore the checkpoint: replay everything."),
) -> Launch:
    """Replay a file of posts into Kafka, keyed platform:id (acks=all). Restartable: resumes after the last
    checkpointed line without sending a post twice. Invalid lines: error on stderr, kept on the dead-letter topic."""
    return Launch(FileSource(path, fmt=fmt, follow=follow, stop=stop), ident=str(path.resolve()), fresh=from_start)
