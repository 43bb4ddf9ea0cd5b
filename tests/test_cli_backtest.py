"""``lingting backtest``: CSV in, CSV out, --report, and errors that name the line and column."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.scenarios import Event, Scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app():
    from pipeline.cli import _register_all, app

    if not any(c.name == "backtest" for c in app.registered_commands):
        _register_all()
    return app


def write_series(path: Path, *, negative: bool, label: bool, interval: int = 300, fmt: str = "%Y-%m-%d %H:%M:%S"):
    scenario = Scenario(
        "cli",
        windows=3000,
        interval=interval,
        rate=60,
        seed=3,
        events=[Event("sudden", 2000, 12, 2.5), Event("outage", 2500, 6)],
    )
    labels = scenario.labels()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"] + (["negative"] if negative else []) + (["label"] if label else []))
        for (t, v, n), lab in zip(scenario.counts(), labels, strict=False):
            w.writerow([t.strftime(fmt), v] + ([n] if negative else []) + ([lab] if label else []))
    return path


def read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _backtest(*args: str) -> subprocess.CompletedProcess[str]:
    """``lingting backtest ARGS`` in a child process: its exit code and stderr, as a user sees them."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "backtest", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("negative", [False, True])
def test_backtest_writes_scores_and_alerts_for_every_row(app, tmp_path, negative):
    src = write_series(tmp_path / "in.csv", negative=negative, label=False)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["backtest", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = read(out)
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score", "alert"]
    assert len(rows) == 3000
    assert rows[0]["timestamp"] == read(src)[0]["timestamp"]  # timestamps written back as given
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    alerts = [i for i, r in enumerate(rows) if r["alert"] == "1"]
    assert any(i in range(2000, 2004) for i in alerts)  # the crisis, within 3 windows of its onset
    if negative:  # volume alone also flags a few of the generator's heavy-tailed noise bursts (see the bench)
        assert [i for i in alerts if not 2000 <= i < 2020] == []
    assert all(float(rows[i]["anomaly_score"]) >= 0.5 for i in alerts)
    assert not any(2500 <= i < 2520 for i in alerts)  # the outage


def test_backtest_report_prints_the_metrics(app, tmp_path):
    src = write_series(tmp_path / "in.csv", negative=False, label=True)
    result = CliRunner().invoke(app, ["backtest", str(src), "--report"])
    assert result.exit_code == 0, result.output
    assert "recall" in result.output and "false alerts per brand-week" in result.output
    line = next(row for row in result.output.splitlines() if row.startswith("recall"))
    assert line.split()[-1] == "1"
    assert "timestamp,value" not in result.output  # --report alone prints only the report


def test_backtest_reads_iso_timestamps_with_offsets_and_epoch_seconds(app, tmp_path):
    src = write_series(tmp_path / "iso.csv", negative=False, label=False, interval=3600, fmt="%Y-%m-%dT%H:%M:%S+00:00")
    result = CliRunner().invoke(app, ["backtest", str(src)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "timestamp,value,anomaly_score,alert"
    epoch = tmp_path / "epoch.csv"
    epoch.write_text("timestamp,value\n" + "".join(f"{1700000000 + 60 * i},{5 + i % 3}\n" for i in range(30)))
    result = CliRunner().invoke(app, ["backtest", str(epoch)])
    assert result.exit_code == 0 and len(result.output.splitlines()) == 31


@pytest.mark.parametrize(
    "content, expected",
    [
        ("time,value\n2024-01-01 00:00:00,1\n", "missing column 'timestamp'"),
        ("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,abc\n", "line 3, column 'value': not a number"),
        ("timestamp,value\n2024-01-01 00:00:00,1\nyesterday,2\n", "line 3, column 'timestamp'"),
        (
            "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,inf\n",
            "line 3, column 'value': must be a finite",
        ),
        (
            "timestamp,value,negative\n2024-01-01 00:00:00,1,0\n2024-01-01 00:01:00,4,-1\n",
            "line 3, column 'negative': must be a count",
        ),
        (
            "timestamp,value,negative\n2024-01-01 00:00:00,1,3\n2024-01-01 00:01:00,4,1\n",
            "line 2, column 'negative': more negative",
        ),
        (
            "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:00,2\n",
            "line 3: timestamp 2024-01-01 00:00:00 repeats",
        ),
        ("timestamp,value\n2024-01-01 00:00:00,1\n", "need at least two rows"),
    ],
)
def test_bad_csv_is_a_clear_error_naming_line_and_column(tmp_path, content, expected):
    src = tmp_path / "bad.csv"
    src.write_text(content, encoding="utf-8")
    proc = _backtest(str(src))
    assert proc.returncode == 2
    assert expected in proc.stderr and "Traceback" not in proc.stderr


def test_non_utf8_file_is_a_clear_error(tmp_path):
    src = tmp_path / "gbk.csv"
    src.write_bytes("timestamp,value,备注\n2024-01-01 00:00:00,1,海底捞\n".encode("gbk"))
    proc = _backtest(str(src))
    assert proc.returncode == 2 and "UTF-8" in proc.stderr and "Traceback" not in proc.stderr


def test_report_without_label_column_says_so(tmp_path):
    src = tmp_path / "nolabel.csv"
    src.write_text("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,2\n", encoding="utf-8")
    proc = _backtest(str(src), "--report")
    assert proc.returncode == 2 and "'label'" in proc.stderr


def test_brand_overrides_from_the_config_apply(app, tmp_path):
    import yaml

    src = write_series(tmp_path / "in.csv", negative=True, label=False)
    config = tmp_path / "lingting.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "brands": [
                    {"name": "海底捞", "keywords": ["捞捞"]},
                    {
                        "name": "蜜雪冰城",
                        "keywords": ["蜜雪"],
                        "detection": {
                            "threshold_low": 30,
                            "threshold_medium": 40,
                            "threshold_high": 50,
                            "threshold_critical": 60,
                        },
                    },
                ]
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    normal = CliRunner().invoke(app, ["backtest", str(src), "--config", str(config), "--brand", "海底捞"])
    strict = CliRunner().invoke(app, ["backtest", str(src), "--config", str(config), "--brand", "蜜雪冰城"])
    assert normal.exit_code == strict.exit_code == 0
    assert any(line.endswith(",1") for line in normal.output.splitlines()[1:])
    assert not any(line.endswith(",1") for line in strict.output.splitlines()[1:])
    proc = _backtest(str(src), "--config", str(config), "--brand", "小米")
    assert proc.returncode == 2 and "no such brand" in proc.stderr and "海底捞" in proc.stderr


def test_brand_without_config_says_to_pass_config(tmp_path):
    src = write_series(tmp_path / "in.csv", negative=False, label=False)
    proc = _backtest(str(src), "--brand", "海底捞")
    assert proc.returncode == 2 and "--config" in proc.stderr and "Traceback" not in proc.stderr


def test_warm_up_rows_score_zero_and_metric_series_are_accepted(app, tmp_path):
    import random

    rnd = random.Random(1)  # a temperature-like metric: signed, not a count
    src = tmp_path / "metric.csv"
    lines = ["timestamp,value"] + [
        f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00,{rnd.gauss(-5.5, 0.4):.2f}" for i in range(600)
    ]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["backtest", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = read(out)
    from processors.detection.settings import DetectionSettings

    warm = DetectionSettings().warmup_windows
    assert all(float(r["anomaly_score"]) == 0.0 for r in rows[:warm])
    assert any(float(r["anomaly_score"]) > 0.0 for r in rows[warm:])


def test_repeated_timestamps_are_kept_in_file_order_when_asked(app, tmp_path):
    src = tmp_path / "dst.csv"
    src.write_text(
        "timestamp,value\n2024-03-10 01:00:00,5\n2024-03-10 01:00:00,6\n2024-03-10 02:00:00,7\n", encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["backtest", str(src), "--keep-repeats"])
    assert result.exit_code == 0 and len(result.output.splitlines()) == 4
