"""Replay a JSONL or CSV file of posts (``lingting connect file PATH``); ``--follow`` tails it like ``tail -f``.

The position is the line number (for CSV: the data row number), so a restart resumes after the last
checkpointed line. An invalid line is reported with its number and kept on the dead-letter topic.
"""
from __future__ import annotations

import csv
import io
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pydantic import ValidationError

from connectors.base import ConnectorError, Source, register
from schemas import RawPost

log = logging.getLogger("lingting.connect.file")

#: CSV columns besides the RawPost top-level fields: flat names for the nested author and metrics.
CSV_NESTED = {"author_id": ("author", "id"), "author_name": ("author", "name"),
              "followers": ("author", "followers"), "verified": ("author", "verified"),
              "reposts": ("metrics", "reposts"), "comments": ("metrics", "comments"), "likes": ("metrics", "likes")}


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


@register
class FileSource(Source):
    name = "file"

    def __init__(self, path: Path, *, fmt: str | None = None, follow: bool = False,
                 stop: threading.Event | None = None,
                 report: Callable[[int, str, bytes], None] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConnectorError(f"no such file: {self.path}")
        self.fmt = fmt or ("csv" if self.path.suffix.lower() == ".csv" else "jsonl")
        if self.fmt not in {"csv", "jsonl"}:
            raise ConnectorError(f"unknown format {self.fmt!r}: use jsonl or csv")
        self.follow = follow
        self.stop = stop or threading.Event()
        self.report = report or (lambda n, err, raw: log.error("line %d: %s", n, err))

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

    def items(self, resume: Any) -> Iterable[tuple[RawPost | None, int]]:
        start = int(resume or 0)
        lines = self._lines()
        header: list[str] | None = None
        if self.fmt == "csv":
            first = next(lines, "")
            header = next(csv.reader([first]), [])
        for number, line in enumerate(lines, start=1):
            if number <= start or not line.strip():
                if number > start:
                    yield None, number
                continue
            raw = line.encode("utf-8", "surrogateescape")
            try:
                if header is not None:
                    values = next(csv.reader(io.StringIO(line)))
                    data = csv_row_to_post(dict(zip(header, values)))
                    post = RawPost.model_validate(data)
                else:
                    post = RawPost.model_validate_json(raw)
            except (ValidationError, ValueError) as err:
                self.report(number, _short(err), raw)
                yield None, number
                continue
            yield post, number


def _short(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in err.errors()[:5])
    return str(err)


