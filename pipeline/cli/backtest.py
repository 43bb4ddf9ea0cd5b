"""``lingting backtest``: run the production crisis detector over a history of counts (CSV in, CSV out)."""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path

import typer

from schemas.errors import LingtingError


class BacktestInputError(LingtingError):
    """The backtest CSV is malformed; the message names the line and column."""


def parse_timestamp(text: str):
    """ISO 8601 (``2015-02-26 21:42:53``, ``2024-05-01T08:00:00+08:00``) or Unix epoch seconds/milliseconds.
    Timestamps without an offset are taken as UTC."""
    from datetime import datetime

    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


COLUMNS = "timestamp,value[,negative][,label]"
TRUE, FALSE = ("1", "1.0", "true", "True"), ("0", "0.0", "false", "False")


def read_series(path: Path, need_label: bool = False, keep_repeats: bool = False):
    """Points of a ``timestamp,value[,negative][,label]`` CSV, sorted by time, with the raw timestamp strings.
    A repeated timestamp is an error unless ``keep_repeats`` (then the rows stay in file order)."""
    import csv

    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as err:
        raise BacktestInputError(f"cannot read {path}: {err.strerror}") from None
    points, raw = [], []
    try:
        with handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames = [h.strip() for h in (reader.fieldnames or [])]
            for required in ("timestamp", "value") + (("label",) if need_label else ()):
                if required not in header:
                    what = "--report needs a 0/1 'label' column" if required == "label" else "expected columns"
                    raise BacktestInputError(
                        f"{path}: line 1: missing column '{required}' ({what}: {COLUMNS}; "
                        f"found: {','.join(header) or 'nothing'})"
                    )
            for row in reader:
                if any((v or "").strip() for v in row.values() if isinstance(v, str)):  # skip blank lines
                    points.append(_parse_row(path, reader.line_num, row, header))
                    raw.append((row.get("timestamp", "").strip(), reader.line_num))
    except UnicodeDecodeError as err:
        raise BacktestInputError(f"{path}: not UTF-8 text (byte {err.start}); save the CSV as UTF-8") from None
    if len(points) < 2:
        raise BacktestInputError(f"{path}: need at least two rows of data, found {len(points)}")
    order = sorted(range(len(points)), key=lambda i: points[i].timestamp)
    for a, b in zip(order, order[1:], strict=False):
        if points[a].timestamp == points[b].timestamp and not keep_repeats:
            raise BacktestInputError(
                f"{path}: line {raw[b][1]}: timestamp {raw[b][0]} repeats line {raw[a][1]} "
                "(pass --keep-repeats to score such rows in file order, e.g. a clock change)"
            )
    if "negative" in header and any(p.negative is None for p in points):
        line = next(raw[i][1] for i, p in enumerate(points) if p.negative is None)
        raise BacktestInputError(f"{path}: line {line}, column 'negative': empty (fill it or drop the column)")
    return [points[i] for i in order], [raw[i][0] for i in order]


def _parse_row(path: Path, line: int, row: dict, header: list[str]):
    from processors.detection.backtest import Point

    def bad(column: str, why: str) -> BacktestInputError:
        return BacktestInputError(f"{path}: line {line}, column '{column}': {why} (got {row.get(column)!r})")

    try:
        ts = parse_timestamp(row.get("timestamp") or "")
    except (ValueError, OverflowError, OSError):
        raise bad("timestamp", "not a timestamp (ISO 8601 like 2024-05-01 08:00:00, or epoch seconds)") from None
    value = _number(row, "value", bad, signed=True)
    negative = None
    if "negative" in header and (row.get("negative") or "").strip():
        negative = _number(row, "negative", bad)
        if negative > value:
            raise bad("negative", f"more negative mentions than the total ({value:g})")
    label = None
    if "label" in header:
        text = (row.get("label") or "").strip()
        if text not in TRUE + FALSE:
            raise bad("label", "must be 0 or 1")
        label = int(text in TRUE)
    return Point(ts, value, negative, label)


def _number(row: dict, column: str, bad, signed: bool = False) -> float:
    """A finite number; ``signed``: below zero allowed (a metric such as NAB's temperatures, not a count)."""
    import math

    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise bad(column, "not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise bad(column, "must be a finite number")
    if value < 0 and not signed:
        raise bad(column, "must be a count ≥ 0")
    return value


def format_report(result: dict) -> str:
    def fmt(v) -> str:
        return "n/a" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

    rows = [
        ("labelled crises", result["crises"]),
        ("detected", result["detected"]),
        ("recall", result["recall"]),
        ("alerts opened", result["alerts_opened"]),
        ("false alerts", result["false_alerts"]),
        ("precision", result["precision"]),
        ("series length (weeks)", result["weeks"]),
        ("false alerts per brand-week", result["false_alerts_per_week"]),
        ("median detection delay (windows)", result["median_delay_windows"]),
        ("interval (seconds)", result["interval_seconds"]),
    ]
    return "\n".join(f"{name:<34}{fmt(value)}" for name, value in rows)


def register(app: typer.Typer) -> None:
    """Attach ``lingting backtest``."""

    @app.command("backtest")
    def backtest(
        input_csv: Path = typer.Argument(
            ...,
            metavar="IN.csv",
            help="CSV with columns timestamp,value[,negative][,label]: a brand's "
            "mention count per interval (interval inferred).",
        ),
        output: Path | None = typer.Option(
            None,
            "-o",
            "--output",
            metavar="OUT.csv",
            help="Write timestamp,value,anomaly_score,alert here (default: standard output, unless --report).",
        ),
        report: bool = typer.Option(
            False,
            "--report",
            help="Print recall, precision, false alerts per week and detection delay "
            "against the 'label' column (1 = crisis).",
        ),
        config: Path | None = typer.Option(
            None, "--config", "-c", help="Take the detection settings from this lingting config."
        ),
        brand: str | None = typer.Option(None, "--brand", help="Apply this brand's detection overrides."),
        interval: int | None = typer.Option(
            None, "--interval", min=1, help="Interval in seconds (default: inferred from the data)."
        ),
        keep_repeats: bool = typer.Option(
            False,
            "--keep-repeats",
            help="Score rows with a repeated timestamp (a clock change) in file "
            "order instead of stopping with an error.",
        ),
    ) -> None:
        """Replay a count history through the production detector: anomaly_score in [0,1], alert=1 where an
        alert would be opened or updated."""
        import csv

        from processors.detection.backtest import report as make_report
        from processors.detection.backtest import run
        from processors.detection.settings import DetectionSettings

        settings = DetectionSettings()
        if brand is not None and config is None:
            raise BacktestInputError(
                f"--brand {brand} needs the configuration that defines the brand: pass "
                f"--config lingting.yaml (or -c) as well"
            )
        if config is not None:
            from pipeline.settings import load_settings

            cfg = load_settings(config)
            if brand and cfg.brand(brand) is None:
                known = ", ".join(b.name for b in cfg.brands) or "none"
                raise BacktestInputError(f"--brand {brand}: no such brand in the configuration (brands: {known})")
            settings = cfg.detection_for(brand) if brand else cfg.detection
        points, stamps = read_series(input_csv, need_label=report, keep_repeats=keep_repeats)
        verdicts, used = run(points, settings, interval)
        if output is not None or not report:
            out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
            try:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(["timestamp", "value", "anomaly_score", "alert"])
                for stamp, p, v in zip(stamps, points, verdicts, strict=False):
                    writer.writerow([stamp, f"{p.value:g}", f"{v.score:.6f}", int(v.alerted)])
            finally:
                if output:
                    out.close()
        if report:
            result = make_report(points, verdicts, used)
            typer.echo(format_report(result))
